//! Command-line definitions.
//!
//! Help text: every paragraph is one line in the string (the `\` continuations), so clap wraps it to the
//! terminal's width; examples keep their own lines, at most 60 columns, so a narrow terminal does not
//! re-wrap them.

use std::num::NonZeroU64;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::{self, Exit};
use crate::ocsp_plan::OcspArgs;
use crate::rim_source::RimSource;

/// Confidential-computing GPU passthrough for Kata Containers: verify GPU evidence.
#[derive(Debug, Parser)]
#[command(name = "ccgpu", version, about, long_about = None, propagate_version = true, after_help = exit::status_table())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify attestation evidence.
    Verify {
        #[command(subcommand)]
        what: VerifyCommand,
    },
    /// Audit, read or repair a tamper-evident attestation log.
    Log {
        #[command(subcommand)]
        what: LogCommand,
    },
    /// Run the whole pipeline on this machine: the real plugin, agent and verifier around simulated hardware.
    #[cfg(feature = "demo")]
    #[command(long_about = crate::demo::long_about(), after_long_help = crate::demo::EXAMPLES)]
    Demo(crate::demo::DemoArgs),
}

#[derive(Debug, Subcommand)]
pub enum VerifyCommand {
    /// Verify an NVIDIA GPU's confidential-computing evidence (SPDM report, certificate chain, RIMs).
    #[command(long_about = exit::with_status_line(GPU_LONG_ABOUT, Exit::verify), after_long_help = GPU_EXAMPLES)]
    Gpu(Box<GpuArgs>),
    /// Verify an AMD SEV-SNP attestation report (VCEK or VLEK, AMD's roots built in).
    #[command(long_about = exit::with_status_line(SNP_LONG_ABOUT, Exit::verify), after_long_help = SNP_EXAMPLES)]
    Snp(Box<SnpArgs>),
    /// Verify an Intel TDX quote (v4/v5) with Intel's DCAP collateral (Intel's SGX root built in).
    #[command(long_about = exit::with_status_line(TDX_LONG_ABOUT, Exit::verify), after_long_help = TDX_EXAMPLES)]
    Tdx(Box<TdxArgs>),
    /// Verify an NVIDIA NVSwitch's (LS10) confidential-computing evidence (SPDM report, certificate chain,
    /// switch VBIOS RIM).
    #[command(long_about = SWITCH_LONG_ABOUT)]
    Switch(Box<SwitchArgs>),
    /// Verify a composite evidence bundle (CPU report + GPUs, bound through REPORT_DATA).
    #[command(long_about = exit::with_status_line(BUNDLE_LONG_ABOUT, Exit::verify))]
    Bundle(Box<BundleArgs>),
}

const SNP_LONG_ABOUT: &str = "\
Verify an AMD SEV-SNP attestation report.

Checks, in the order they run, each reported separately (as in --json and the attestation log):\n\
 1. The report decodes (versions 2, 3, 5).\n\
 2. Its reserved fields hold their required values.\n\
 3. The VCEK/VLEK chains to AMD's ARK for its product (Milan, Genoa, Turin; roots built in), every certificate valid at the verification time, and the ASK/ASVK is not on the ARK's CRL (--crl).\n\
 4. The chain, the VCEK/VLEK and the report name one product.\n\
 5. The report names ECDSA P-384/SHA-384 and the certificate's kind of key.\n\
 6. The report signature verifies with the VCEK/VLEK's key, over the bytes as received.\n\
 7. The VCEK/VLEK certifies REPORTED_TCB, and a VCEK's hwID is the report's CHIP_ID.\n\
 8. REPORT_DATA equals --report-data.\n\
 9. The guest policy bits (debug, migration agent, SMT) are acceptable.\n\
10. The VMPL is the required one.\n\
11. REPORTED_TCB meets the policy's minimum.\n\
12. The measurement and HOST_DATA are ones the policy allows.

A policy that pins no launch measurement (snp.measurements) accepts any non-debug guest image: every check \
may pass, but the verdict is `warning` (exit 3), never affirming.";

const SNP_EXAMPLES: &str = "\
Examples:
  S=../shared/testdata/snp/lunal
  # REPORT_DATA: \"hello-attestation\", zero-padded to 64 bytes
  D=68656c6c6f2d6174746573746174696f6e$(printf '%094d' 0)
  # Every check passes; the policy pins no launch measurement, so: warning (exit 3).
  # --crl off: offline (by default AMD's CRL is fetched from its KDS).
  ccgpu verify snp --report $S/live-report-v5-genoa.bin \\
      --vcek $S/live-vcek-genoa.der \\
      --at 2026-03-01T00:00:00Z --report-data $D --crl off";

const TDX_LONG_ABOUT: &str = "\
Verify an Intel TDX quote with Intel's DCAP collateral (TCB info, QE identity, PCK CRL, root CA CRL).

Checks, in the order they run, each reported separately (as in --json and the attestation log):\n\
 1. The quote parses: version 4 or 5, ECDSA P-256 key, TEE type 0x81, QE report certification data; sizes and reserved fields strict. Unsigned bytes after the signature data are ignored and counted.\n\
 2. The PCK chain in the quote validates to Intel's SGX Root CA (built in) at the verification time.\n\
 3. The root CA CRL lists neither the PCK CA nor the TCB Signing certificate; the PCK CRL does not list the PCK; both are current.\n\
 4. The PCK signed the QE report, whose REPORT_DATA is SHA-256(attestation key || QE authentication data).\n\
 5. The attestation key signed the quote's header and body as received.\n\
 6. The TCB info and the QE identity are signed by a TCB Signing certificate chaining to the root.\n\
 7. The TCB info and the QE identity are current (issueDate <= time <= nextUpdate).\n\
 8. The QE is the QE identity's enclave: its TCB status.\n\
 9. The TCB info is for the PCK's FMSPC, and a TCB level covers the PCK's SVNs and TEE_TCB_SVN.\n\
10. The TDX module's signer and attributes are the TCB info's: its TCB status.\n\
11. The merged TCB status and advisories are ones the policy accepts (default: UpToDate, no advisory).\n\
12. TD attributes: DEBUG off (always), SEPT_VE_DISABLE on, attributes and XFAM as pinned.\n\
13. No service TD (MRSERVICETD zero) unless the policy allows one.\n\
14. REPORTDATA equals --report-data.\n\
15. MRTD, RTMR0-3, MRCONFIGID, MROWNER, MROWNERCONFIG are ones the policy pins.

A policy that pins no MRTD (tdx.mrtd) accepts any TD image: every check may pass, but the verdict is \
`warning` (exit 3), never affirming; so is an accepted TCB status other than UpToDate.";

const TDX_EXAMPLES: &str = "\
Examples:
  T=../shared/testdata/tdx/dcap-qvl
  # Collateral in dcap-qvl's JSON form, at a time inside it:
  ccgpu verify tdx --quote $T/tdx_quote \\
      --collateral $T/tdx_quote_collateral.json \\
      --at 2025-07-01T00:00:00Z --no-report-data
  # Online from a PCCS, cached:
  ccgpu verify tdx --quote quote.bin --pccs https://pccs:8081 \\
      --report-data $D";

const BUNDLE_LONG_ABOUT: &str = "\
Verify a composite evidence bundle: the JSON document ccgpu-guest-agent produces, holding the nonce, the \
SEV-SNP report and VCEK, and per GPU the SPDM report and certificate chain (optionally RIMs and recorded OCSP \
responses, so an air-gapped verifier has everything). Every GPU is verified as `verify gpu` does, with the \
bundle's nonce; the SNP report's REPORT_DATA must equal SHA-512 over a domain tag, the nonce and each GPU's \
evidence digest in order, so GPU evidence cannot be moved between VMs, dropped, added or reordered; and the \
bundle must carry the nonce you issued (--nonce), so it cannot be a replay.

A protected-PCIe bundle also carries the board's NVSwitches: each is verified as `verify switch` does, \
REPORT_DATA binds their evidence too, and the topology must be the board's (8 GPUs and 4 switches naming \
one another exactly); GPUs that report PPCIe mode without their switches are refused.

--format ear prints an IETF EAT Attestation Result (one submodule per GPU, per switch, `topology`, `cpu`, \
`bundle`) as JSON, or as a signed JWT (ES384) with --ear-key.

The bundle's verdict is its worst part's: contraindicated if any check or submodule failed, else `warning` \
(exit 3) if any submodule carries a warning, else affirming.";

/// `verify snp` arguments.
#[derive(Debug, Args)]
pub struct SnpArgs {
    /// The attestation report: 1184 bytes raw, or hex text.
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,

    /// The VCEK or VLEK certificate (DER or PEM).
    #[arg(long, value_name = "FILE")]
    pub vcek: PathBuf,

    /// AMD's cert_chain for the product (ASK or ASVK, then ARK; PEM). Default: the built-in AMD roots.
    #[arg(long, value_name = "FILE")]
    pub ask_ark: Option<PathBuf>,

    /// The 64-byte REPORT_DATA the guest was asked to bind, as 128 hex digits.
    #[arg(long, value_name = "HEX")]
    pub report_data: Option<String>,

    /// Verification time (RFC 3339). Default: now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,

    /// Policy file (TOML or JSON; the `[snp]` table applies, and `ocsp.require = "required"` makes AMD's CRL
    /// mandatory).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// AMD's certificate revocation list for the ASK/ASVK: `online` (AMD's KDS, or --crl-service; cached
    /// until its nextUpdate), a DER file, or `off` (recorded as not checked; refused when the policy requires
    /// revocation). A CRL that cannot be had fails the check.
    #[arg(long, value_name = "online|FILE|off", default_value = "online")]
    pub crl: String,

    /// AMD's Key Distribution Service, or a mirror: the CRL's URL is <URL>/vcek/v1/<product>/crl (vlek for
    /// a VLEK chain).
    #[arg(long, value_name = "URL", env = "CCGPU_AMD_KDS", default_value = ccgpu_fetch::DEFAULT_KDS)]
    pub crl_service: String,

    /// Cache of fetched CRLs, or `off`. Default: $XDG_CACHE_HOME/ccgpu/amd-crl, else ~/.cache/ccgpu/amd-crl.
    #[arg(long, value_name = "DIR|off")]
    pub crl_cache: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `verify tdx` arguments.
#[derive(Debug, Args)]
pub struct TdxArgs {
    /// The quote: raw bytes, or hex text.
    #[arg(long, value_name = "FILE")]
    pub quote: PathBuf,

    /// DCAP collateral: a dcap-qvl `QuoteCollateralV3` JSON file, or a directory laid out as the PCCS
    /// cache (tcbinfo-<fmspc>.json, qe-identity.json, pckcrl-<ca>.crl, rootcacrl.crl and the issuer chains).
    #[arg(long, value_name = "FILE|DIR", conflicts_with = "pccs")]
    pub collateral: Option<PathBuf>,

    /// Fetch the collateral from Intel's PCS or a PCCS at this URL (cached until nextUpdate).
    #[arg(long, value_name = "URL", env = "CCGPU_PCCS")]
    pub pccs: Option<String>,

    /// Cache of fetched collateral, or `off`. Default: $XDG_CACHE_HOME/ccgpu/tdx-collateral.
    #[arg(long, value_name = "DIR|off")]
    pub pccs_cache: Option<String>,

    /// The 64-byte REPORTDATA the TD was asked to bind, as 128 hex digits.
    #[arg(long, value_name = "HEX")]
    pub report_data: Option<String>,

    /// Appraise without an expected REPORTDATA (sets `tdx.require_report_data = false`): the quote is then
    /// not bound to this verification and could be a replay.
    #[arg(long)]
    pub no_report_data: bool,

    /// Verification time (RFC 3339). Default: now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,

    /// Policy file (TOML or JSON; its `[tdx]` table applies).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `verify bundle` arguments.
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The bundle (JSON).
    #[arg(value_name = "FILE")]
    pub bundle: PathBuf,

    /// The 32-byte nonce you issued for this evidence, as 64 hex digits; the bundle must carry it. Without
    /// it a replayed bundle cannot be told from a fresh one, so the default policy refuses
    /// (`bundle.require_nonce = false` leaves freshness to whoever checks `eat_nonce` in the result).
    #[arg(long, value_name = "HEX")]
    pub nonce: Option<String>,

    /// Verification time (RFC 3339). Default: now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,

    /// Policy file (TOML or JSON).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    #[command(flatten)]
    pub ocsp: OcspArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = BundleFormat::Text)]
    pub format: BundleFormat,

    /// Sign the EAR as a JWT (ES384) with this PKCS#8 P-384 private key (PEM); only with --format ear.
    #[arg(long, value_name = "FILE")]
    pub ear_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BundleFormat {
    /// A table per submodule.
    Text,
    /// One JSON object: verdict, failures, per-GPU and CPU appraisals.
    Json,
    /// An IETF EAR (JSON, or a JWT with --ear-key).
    Ear,
}

const GPU_LONG_ABOUT: &str = "\
Verify an NVIDIA GPU's confidential-computing evidence.

Checks, in the order they run, each reported separately (as in --json and the attestation log):\n\
 1. The SPDM report parses.\n\
 2. The GPU architecture is known and matches the evidence's layout.\n\
 3. The device certificate chain validates to NVIDIA's Device Identity root (shipped in this binary) at the verification time, and is not revoked.\n\
 4. The FWID in the attestation certificate equals the FWID in the report.\n\
 5. The report signature (ECDSA P-384) verifies with the attestation key.\n\
 6. The report carries your nonce.\n\
 7. The driver RIM is present, is signed by NVIDIA (XML-DSig, chain to NVIDIA's RIM root, not revoked) and is for this GPU's chip and driver.\n\
 8. The VBIOS RIM is signed by NVIDIA in the same way and is for this GPU's chip and VBIOS.\n\
 9. No golden index is active in both RIMs, and every active golden measurement matches the report.\n\
10. The policy's own rules hold: driver and VBIOS versions, and the RIMs used (NVIDIA's known test RIMs are refused; gpu.accepted_rims pins digests or tag ids).

A RIM that is not found is a failed check (driver-rim-present, vbios-rim-present): every device check still \
runs and is reported, and the verdict is contraindicated (exit 1). Settings the policy tolerates without \
establishing them (an OCSP hold or unknown status it accepts) make the verdict `warning` (exit 3), never \
affirming.

Revocation: by default every certificate's OCSP status is fetched (--ocsp online); --ocsp DIR judges \
recorded responses and --ocsp off skips revocation (recorded as not checked in the claims).";

const GPU_EXAMPLES: &str = "\
Examples:
  # The real H100 sample, at a time when all of its
  # certificates were valid:
  E=../shared/testdata/nvidia/h100-550.90.07
  ccgpu verify gpu --report $E/attestation-report.hex \\
      --cert-chain $E/cert-chain.pem --rims $E/rims \\
      --nonce $(cat $E/nonce.hex) \\
      --at 2025-09-01T00:00:00Z --ocsp off

  # Machine-readable output (NVIDIA v3 claim names under
  # \"claims\"):
  ccgpu verify gpu ... --format json \\
      | jq '.verdict, .failures'";

#[derive(Debug, Args)]
pub struct GpuArgs {
    /// Attestation report: hex text (as NVML tools write it) or raw bytes.
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,

    /// Device certificate chain as concatenated PEM, attestation certificate first.
    #[arg(long, value_name = "FILE")]
    pub cert_chain: PathBuf,

    /// Where the RIMs come from: `online` (NVIDIA's RIM service, or --rim-service; cached in --rim-cache), or a
    /// directory holding RIMs named by id (NV_GPU_DRIVER_<chip>_<version>, NV_GPU_VBIOS_<project>_<sku>_<chip
    /// sku>_<vbios>, optionally with .xml or .swidtag). The ids are derived from the report. A fetched RIM is
    /// verified exactly like a local one. Default: online, unless --driver-rim and --vbios-rim are given.
    #[arg(long, value_name = "online|DIR", alias = "rim-dir", conflicts_with_all = ["driver_rim", "vbios_rim"])]
    pub rims: Option<RimSource>,

    /// The RIM service (or an air-gapped site's mirror of it): a RIM's URL is this followed by its id.
    #[arg(long, value_name = "URL", env = "CCGPU_RIM_SERVICE", default_value = ccgpu_fetch::DEFAULT_RIM_SERVICE)]
    pub rim_service: String,

    /// Cache of fetched RIMs (by id and SHA-384; a cached RIM is verified like any other), or `off`.
    /// Default: $XDG_CACHE_HOME/ccgpu/rims, else ~/.cache/ccgpu/rims.
    #[arg(long, value_name = "DIR|off")]
    pub rim_cache: Option<String>,

    /// Timeout of one request to the RIM service, in seconds; all requests together get four times this.
    /// No request is retried.
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=120))]
    pub rim_timeout: u64,

    /// Driver RIM file (use with --vbios-rim instead of --rims).
    #[arg(long, value_name = "FILE", requires = "vbios_rim")]
    pub driver_rim: Option<PathBuf>,

    /// VBIOS RIM file (use with --driver-rim instead of --rims).
    #[arg(long, value_name = "FILE", requires = "driver_rim")]
    pub vbios_rim: Option<PathBuf>,

    /// The 32-byte nonce the report must carry, as 64 hex digits.
    #[arg(long, value_name = "HEX")]
    pub nonce: String,

    /// Verification time (RFC 3339, e.g. 2025-09-01T00:00:00Z); certificates must be valid then. Default: now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,

    #[command(flatten)]
    pub ocsp: OcspArgs,

    /// Policy file (TOML or JSON; see deploy/policy.example.toml). Default: the built-in strict policy.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

const SWITCH_LONG_ABOUT: &str = "\
Verify an NVIDIA NVSwitch's (LS10, HGX protected PCIe) confidential-computing evidence.

Checks, in the order they run:\n\
 1. The SPDM report parses, with the LS10 opaque layout.\n\
 2. The device certificate names an LS10.\n\
 3. The device certificate chain validates to NVIDIA's Device Identity root and is not revoked.\n\
 4. The PDI the report states is the one ending the device certificate's serial number.\n\
 5. The report is bound to the attestation certificate (an LS10 report has no FWID: by its signature).\n\
 6. The report signature (ECDSA P-384) verifies with the attestation key.\n\
 7. The report carries your nonce.\n\
 8. The switch VBIOS RIM is present, signed by NVIDIA, and a SWITCH RIM for LS10 and this VBIOS.\n\
 9. Every active golden measurement matches the report.\n\
10. The policy accepts that RIM (NVIDIA's test RIMs refused; gpu.accepted_rims, when set, lists it).

A whole board (8 GPUs, 4 switches, the topology) is verified from a bundle: `ccgpu verify bundle`.";

/// `verify switch` arguments.
#[derive(Debug, Args)]
pub struct SwitchArgs {
    /// Attestation report: hex text or raw bytes.
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,

    /// Device certificate chain as concatenated PEM, attestation certificate first.
    #[arg(long, value_name = "FILE")]
    pub cert_chain: PathBuf,

    /// Switch VBIOS RIM file (NV_SWITCH_BIOS_…). Without it the RIM checks fail.
    #[arg(long, value_name = "FILE")]
    pub vbios_rim: Option<PathBuf>,

    /// The 32-byte nonce the report must carry, as 64 hex digits.
    #[arg(long, value_name = "HEX")]
    pub nonce: String,

    /// Verification time (RFC 3339). Default: now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,

    #[command(flatten)]
    pub ocsp: OcspArgs,

    /// Policy file (TOML or JSON; its `ocsp` table applies).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table a person can scan: one line per check.
    Text,
    /// One JSON object: verdict, NVIDIA v3 claims, failures, checks, identity.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Prove the log's hash chain and name the first broken, reordered or missing line.
    #[command(long_about = exit::with_status_line(LOG_VERIFY_LONG_ABOUT, |e| match e {
        Exit::Affirming => Some("chain intact"),
        Exit::NotAffirming => Some("chain broken"),
        Exit::UnusableInput => Some(e.meaning()),
        Exit::Warning => None,
    }))]
    Verify(LogVerifyArgs),
    /// Print the log's records, filtered, verifying the chain as it goes.
    Show(LogShowArgs),
    /// Move a torn last line (left by a crash mid-append) aside to FILE.torn so appends can resume.
    Repair {
        /// The log.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

const LOG_VERIFY_LONG_ABOUT: &str = "\
Prove an attestation log's hash chain: every line well-formed, numbered in sequence and carrying the \
SHA-384 of the line before it, back to the header. On a break, names the first broken line and what \
happened (edited, deleted, swapped, inserted, replayed, torn) and exits 1.

The chain alone cannot show that lines were cut from the end or that the last line changed: keep the head \
this command prints somewhere else and pass it back with --anchor, or sign checkpoints (the appender's \
operator key) and pass the public key with --checkpoint-key. With a key, a log must carry signed checkpoints \
at the stated cadence (--checkpoint-every, default 64 records): a log whose checkpoints were stripped and \
whose chain was recomputed fails at the first record over; the records after the last checkpoint, at most \
that many, are vouched for by the chain alone.

Several files: each is verified on its own, then grouped by log id and ordered by the link a rotated file's \
header carries to the file before it; a missing, forked or unlinked file breaks its chain. --anchor takes \
one file (a chain's last).";

/// `log verify` arguments.
#[derive(Debug, Args)]
pub struct LogVerifyArgs {
    /// The log, or several: the files of rotated logs and of several appenders (e.g. verifier replicas),
    /// in any order; each chain (`log_id`) is reported on its own.
    #[arg(value_name = "FILE", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,

    /// Public key (SPKI, PEM or DER) that signed the log's checkpoints; every checkpoint is then checked,
    /// and the log must carry them at the cadence --checkpoint-every states.
    #[arg(long, value_name = "FILE")]
    pub checkpoint_key: Option<PathBuf>,

    /// With --checkpoint-key: at most N records may follow the header or a checkpoint before the next
    /// checkpoint (the appender's cadence); a log with more fails at the first record over.
    #[arg(long, value_name = "N", requires = "checkpoint_key", default_value_t = NonZeroU64::new(ccgpu_attestation::DEFAULT_CHECKPOINT_EVERY).unwrap_or(NonZeroU64::MIN))]
    pub checkpoint_every: NonZeroU64,

    /// A head recorded earlier (LINE:SHA384, as this command prints it): the log must still contain it.
    #[arg(long, value_name = "LINE:SHA384")]
    pub anchor: Option<String>,
}

/// `log show` arguments.
#[derive(Debug, Args)]
pub struct LogShowArgs {
    /// The log.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Only records at or after this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub since: Option<String>,

    /// Only records at or before this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub until: Option<String>,

    /// Only records naming this GPU (UUID or PCI address).
    #[arg(long, value_name = "ID")]
    pub gpu: Option<String>,

    /// Only records with this verdict (affirming, warning, contraindicated).
    #[arg(long, value_name = "VERDICT")]
    pub verdict: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = LogShowFormat::Table)]
    pub format: LogShowFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogShowFormat {
    /// One line per record.
    Table,
    /// The records as JSON Lines (without the chain fields' meaning changed).
    Json,
}
