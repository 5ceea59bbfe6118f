//! The real multi-GPU evidence in the shared data, one GPU at a time and as one VM's bundle:
//! - `test_ppcie_data.json` (go-nvattest-tools): 8× H100 of an HGX board in protected-PCIe mode, driver
//!   570.124.06;
//! - `test_mpt_data.json` (go-nvattest-tools): 8× GB100 (Blackwell) in multi-GPU passthrough, driver 590.48.01;
//! - `gpu_evidence.json` (nvtrust ppcie-verifier tests): 8× H100, driver 590.12, with the nonce each was
//!   asked for.
//!
//! SOURCES.md: "signatures and chains verify". So every device check passes for every GPU — report,
//! architecture, chain to NVIDIA's root, FWID, signature, nonce — at a time inside the chain's validity
//! (an hour after the chain's latest notBefore). No RIMs come with these sets: the RIM
//! checks fail as "not present", and that is all that fails. Eight GPUs of a board are eight devices (no
//! device identity key repeats); as one VM, a board whose reports say protected PCIe (driver 590) without
//! its NVSwitches fails the bundle's topology check, driver 570's reports state no mode, and the Blackwell
//! set is one multi-GPU mode with a distinct DICE FWID per GPU. The boards with their switches:
//! `real_ppcie.rs` and `bundle_ppcie.rs`.

use base64::Engine as _;
use ccgpu_attestation::{
    Anchors, AttestationReport, BundleCheck, CertChain, EvidenceBundle, GpuAppraise, GpuBundleEvidence, GpuCheck,
    GpuEvidence, Outcome, Policy, Revocation, appraise_gpu,
};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};

struct Gpu {
    report: Vec<u8>,
    chain: CertChain,
    /// The nonce the GPU was asked for, when the set records it.
    nonce: Option<[u8; 32]>,
}

fn b64(s: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s.as_str().expect("base64 string")).expect("base64")
}

fn read(name: &str) -> Option<serde_json::Value> {
    let bytes = ccgpu_test_support::read_testdata(&format!("nvidia/multi-gpu/{name}"))?;
    Some(serde_json::from_slice(&bytes).expect("JSON"))
}

/// go-nvattest-tools' shape: `gpus[].AttestationReport["py/b64"]`, `CertificateChains.GpuAttestationCertificateChain[].pem`.
fn go_nvattest(name: &str) -> Option<Vec<Gpu>> {
    let v = read(name)?;
    Some(
        v["gpus"]
            .as_array()
            .expect("gpus")
            .iter()
            .map(|g| {
                let pems: Vec<u8> = g["CertificateChains"]["GpuAttestationCertificateChain"]
                    .as_array()
                    .expect("chain")
                    .iter()
                    .flat_map(|c| b64(&c["pem"]))
                    .collect();
                Gpu {
                    report: b64(&g["AttestationReport"]["py/b64"]),
                    chain: CertChain::from_pem(&pems).expect("chain"),
                    nonce: None,
                }
            })
            .collect(),
    )
}

/// nvtrust's shape: `[].evidence` (base64 report), `[].certificate` (base64 PEM chain), `[].nonce` (hex).
fn nvtrust() -> Option<Vec<Gpu>> {
    let v = read("gpu_evidence.json")?;
    Some(
        v.as_array()
            .expect("list")
            .iter()
            .map(|g| Gpu {
                report: b64(&g["evidence"]),
                chain: CertChain::from_pem(&b64(&g["certificate"])).expect("chain"),
                nonce: Some(hex::decode(g["nonce"].as_str().expect("nonce")).expect("hex").try_into().expect("32")),
            })
            .collect(),
    )
}

/// An hour after the latest notBefore of the chain: inside every certificate's validity (NVIDIA's Hopper
/// attestation certificates carry a fixed 2020 notBefore, so the latest one is an intermediate's).
fn inside_validity(chain: &CertChain) -> OffsetDateTime {
    let latest = chain
        .ders()
        .iter()
        .map(|d| X509Certificate::from_der(d).expect("certificate").1.validity().not_before.to_datetime())
        .max()
        .expect("a certificate");
    latest + Duration::hours(1)
}

/// Appraises every GPU of a set, asserting the device checks pass and only the absent RIMs fail.
fn every_device_check_passes(set: &str, gpus: &[Gpu]) {
    assert_eq!(gpus.len(), 8, "{set}");
    let anchors = Anchors::nvidia();
    let policy = Policy::default();
    for (i, g) in gpus.iter().enumerate() {
        let report = AttestationReport::parse(&g.report).unwrap_or_else(|e| panic!("{set} GPU {i}: {e}"));
        let asked = report.request().nonce;
        if let Some(n) = g.nonce {
            assert_eq!(asked, n, "{set} GPU {i}: the report answers the recorded nonce");
        }
        let a = appraise_gpu(
            &GpuEvidence { report: &g.report, chain: &g.chain, driver_rim: None, vbios_rim: None },
            &GpuAppraise {
                nonce: &asked,
                at: inside_validity(&g.chain),
                anchors: &anchors,
                policy: &policy,
                revocation: Revocation::NotChecked,
                cache: None,
            },
        );
        for check in [
            GpuCheck::ReportParsed,
            GpuCheck::Arch,
            GpuCheck::DeviceChain,
            GpuCheck::Fwid,
            GpuCheck::ReportSignature,
            GpuCheck::Nonce,
        ] {
            assert!(a.checks.passed(check), "{set} GPU {i}: {check} {:?}", a.checks.get(check));
        }
        assert!(
            matches!(a.checks.get(GpuCheck::DriverRimPresent), Some(Outcome::Failed { .. })),
            "{set} GPU {i}: no RIMs come with the set"
        );
        let failed = a.checks.failures();
        assert!(
            failed
                .iter()
                .all(|c| c.name().contains("rim") || matches!(c, GpuCheck::Measurements | GpuCheck::IndexConflict)),
            "{set} GPU {i}: only what needs the RIMs may fail: {failed:?}"
        );
    }
}

/// The eight GPUs as one VM's bundle (no CPU evidence: only the bundle-level GPU checks are looked at).
fn as_one_vm(gpus: &[Gpu]) -> ccgpu_attestation::CompositeAppraisal {
    let bundle = EvidenceBundle {
        nonce: [0; 32],
        cpu: None,
        gpus: gpus
            .iter()
            .map(|g| GpuBundleEvidence {
                uuid: None,
                bdf: None,
                report: g.report.clone(),
                chain: g.chain.clone(),
                driver_rim: None,
                vbios_rim: None,
                ocsp: Vec::new(),
            })
            .collect(),
    };
    let anchors = Anchors::nvidia();
    let roots = ccgpu_attestation::AmdRoots::amd();
    let policy = Policy::default();
    ccgpu_attestation::appraise_bundle(
        &bundle,
        &ccgpu_attestation::BundleAppraise {
            expected_nonce: None,
            at: inside_validity(&gpus[0].chain),
            anchors: &anchors,
            amd_roots: &roots,
            policy: &policy,
            revocation: ccgpu_attestation::BundleRevocation::NotChecked,
            cache: None,
        },
    )
}

/// Driver 570's reports carry no topology flag: the PPCIe board's GPUs are eight distinct devices and the
/// reports alone cannot say the board is in PPCIe mode. Only the switches' presence tells (the guest agent
/// refuses NVSwitches in the VM today; issue 13 binds switch evidence into the bundle).
#[test]
fn hgx_h100_protected_pcie_board_every_gpu_verifies_as_eight_devices() {
    let Some(gpus) = go_nvattest("test_ppcie_data.json") else { return };
    every_device_check_passes("ppcie", &gpus);
    let a = as_one_vm(&gpus);
    let check = a.checks.get(BundleCheck::Gpus).expect("recorded");
    assert_eq!(check, &Outcome::Passed { detail: "8 distinct GPU(s)".into() }, "no mode stated by driver 570");
}

#[test]
fn blackwell_multi_gpu_set_every_gpu_verifies_as_eight_devices_in_one_mode() {
    let Some(gpus) = go_nvattest("test_mpt_data.json") else { return };
    every_device_check_passes("mpt", &gpus);
    let a = as_one_vm(&gpus);
    let check = a.checks.get(BundleCheck::Gpus).expect("recorded");
    assert!(check.passed() && check.text().starts_with("8 distinct GPU(s)"), "{check:?}");
}

#[test]
fn nvtrust_ppcie_gpus_answer_their_recorded_nonces_and_are_eight_devices() {
    let Some(gpus) = nvtrust() else { return };
    every_device_check_passes("nvtrust", &gpus);
    let keys: std::collections::BTreeSet<Vec<u8>> =
        gpus.iter().map(|g| g.chain.public_key(1).expect("device key").to_vec()).collect();
    assert_eq!(keys.len(), 8, "eight distinct device identity keys");
    // Driver 590 states the topology mode in the report: protected PCIe, which requires a full, consistent
    // NVSwitch set (tests/bundle_ppcie.rs carries the board's switches).
    let a = as_one_vm(&gpus);
    let check = a.checks.get(BundleCheck::Gpus).expect("recorded");
    assert_eq!(check, &Outcome::Passed { detail: "8 distinct GPU(s), all in ProtectedPcie mode".into() });
    let check = a.checks.get(BundleCheck::Topology).expect("recorded for a PPCIe bundle");
    assert!(
        check.blocks() && check.text().contains("protected-PCIe") && check.text().contains("NVSwitch"),
        "{check:?}"
    );
    assert!(a.topology.is_none() && a.switches.is_empty());
}

/// Blackwell multi-GPU: each GPU is attested on its own, its report bound to its own attestation
/// certificate by the FWID of the DICE TcbInfo form (the `fwid` check, passed for every GPU by
/// `every_device_check_passes`). The FWID names the firmware, not the GPU: the eight GPUs run one firmware
/// and report one FWID, while their device identity keys are eight.
#[test]
fn blackwell_multi_gpu_each_gpu_bound_by_its_dice_fwid() {
    let Some(gpus) = go_nvattest("test_mpt_data.json") else { return };
    every_device_check_passes("mpt", &gpus);
    let fwids: std::collections::BTreeSet<[u8; 48]> = gpus
        .iter()
        .map(|g| AttestationReport::parse(&g.report).expect("report").opaque().fwid.expect("FWID in the report"))
        .collect();
    assert_eq!(fwids.len(), 1, "one firmware on the board");
    let keys: std::collections::BTreeSet<Vec<u8>> =
        gpus.iter().map(|g| g.chain.public_key(1).expect("device key").to_vec()).collect();
    assert_eq!(keys.len(), 8, "eight devices");
    for (i, g) in gpus.iter().enumerate() {
        let report = AttestationReport::parse(&g.report).expect("report");
        assert_eq!(report.opaque().feature_flag, Some(ccgpu_attestation::FeatureFlag::MultiPassthrough), "GPU {i}");
        assert!(report.opaque().switch_pdis.is_none() || report.opaque().connected_switch_pdis() == Some(vec![]));
    }
    // As one VM: no switches, one mode, no topology check.
    let a = as_one_vm(&gpus);
    assert!(a.checks.get(BundleCheck::Topology).is_none());
}
