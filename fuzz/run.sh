#!/usr/bin/env bash
# Seeds each fuzz target's corpus from the real evidence in ../shared/testdata and runs the targets one at
# a time, each for SECONDS, in a single process (one core).
#
#   fuzz/run.sh [SECONDS] [TARGET...]      default: 60 seconds, every target
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain the nightly flags cargo-fuzz passes
# (-Zsanitizer=address, sancov) are enabled with RUSTC_BOOTSTRAP=1. CCGPU_TESTDATA overrides where the
# shared test data is; FUZZ_TARGET_DIR sets another build directory (for a build beside another one
# holding the lock on fuzz/target). Corpora, crashes and logs stay under fuzz/corpus, fuzz/artifacts and fuzz/logs
# (all git-ignored); each run's final libFuzzer stats are the last lines of fuzz/logs/TARGET.log.
set -euo pipefail
cd "$(dirname "$0")"

secs=${1:-60}
shift || true
all=(spdm_report switch_report gpu_appraisal rim rim_mutate cert_chain fwid_extension ocsp_response snp_report bundle rim_service_answer amd_crl log_reader verifier_request tdx_quote tdx_collateral snp_cert_table)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

export RUSTC_BOOTSTRAP=1
data=${CCGPU_TESTDATA:-$(cd .. && pwd)/../shared/testdata}
[ -d "$data/nvidia" ] || { echo "shared test data not found at $data (set CCGPU_TESTDATA)" >&2; exit 2; }
export CCGPU_TESTDATA=$data
nv=$data/nvidia
sdk=$nv/attestation-sdk/nv-attestation-sdk-cpp/unit-tests/testdata

# hex text -> bytes
unhex() { perl -0777 -ne 's/\s+//g; print pack("H*", $_)' "$1"; }
# every certificate of a PEM bundle, DER, concatenated
pem2der() { perl -MMIME::Base64 -0777 -ne 'print decode_base64($1) while /-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----/sg' "$1"; }
# the content of extension OID (hex of the OID TLV) in the first certificate of a PEM bundle
ext_value() {
    pem2der "$1" | perl -0777 -ne '
        my $oid = pack("H*", "'"$2"'");
        my $at = index($_, $oid); exit 1 if $at < 0; $at += length $oid;
        $at += 3 if substr($_, $at, 3) eq "\x01\x01\xff";
        my ($tag, $l) = unpack("CC", substr($_, $at, 2)); my $h = 2;
        if ($l & 0x80) { my $n = $l & 0x7f; $l = 0; $l = $l * 256 + $_ for unpack("C*", substr($_, $at + 2, $n)); $h += $n }
        print substr($_, $at + $h, $l);'
}

reports=("$nv/h100-550.90.07/attestation-report.hex" "$nv/h100-545.00-2023/attestationReport.txt"
    "$nv/trustee/hopper_coco_report1.txt" "$sdk/hopperAttestationReport.txt"
    "$sdk/sample_attestation_data/gpu/hopperAttestationReport.txt"
    "$sdk/sample_attestation_data/gpu/blackwellAttestationReport.txt")
chains=("$nv/h100-550.90.07/cert-chain.pem" "$nv/h100-545.00-2023/gpuAkCertChain.txt"
    "$sdk/sample_attestation_data/gpu/blackwellCertChain.txt" "$sdk/hopperCertChain.txt" "$nv/trustee/hopper_coco_certs1.txt")

seed() {
    local t=$1 dir=corpus/$1 i=0 f
    mkdir -p "$dir"
    case $t in
    spdm_report | gpu_appraisal)
        for f in "${reports[@]}"; do unhex "$f" >"$dir/seed-$i" && i=$((i + 1)); done ;;
    switch_report)
        unhex "$sdk/switchAttestationReport.txt" >"$dir/seed-0"
        python3 -c 'import base64,json,sys
for i,s in enumerate(json.load(open(sys.argv[1]))): open(sys.argv[2]+"/seed-%d" % (i + 1),"wb").write(base64.b64decode(s["evidence"]))' \
            "$nv/multi-gpu/switch_evidence.json" "$dir" ;;
    rim)
        for f in "$nv"/rims-prod/* "$nv"/h100-550.90.07/rims/* "$sdk"/*.xml; do cp "$f" "$dir/seed-$i" && i=$((i + 1)); done ;;
    rim_mutate)
        # an empty edit list on each base RIM
        printf '\0' >"$dir/seed-0"
        printf '\1' >"$dir/seed-1" ;;
    cert_chain)
        for f in "${chains[@]}" "$nv"/roots/*.pem; do
            cp "$f" "$dir/seed-$i"
            pem2der "$f" >"$dir/seed-$((i + 1))"
            i=$((i + 2))
        done ;;
    fwid_extension)
        { printf '\0'; ext_value "$nv/h100-550.90.07/cert-chain.pem" 0606678105050401; } >"$dir/seed-hopper"
        { printf '\1'; ext_value "$sdk/sample_attestation_data/gpu/blackwellCertChain.txt" 060767810505040101; } >"$dir/seed-blackwell" ;;
    ocsp_response)
        for f in "$nv"/h100-550.90.07/ocsp/*.b64; do base64 -d "$f" >"$dir/seed-$i" && i=$((i + 1)); done ;;
    snp_report)
        printf '\0' >"$dir/seed-0"
        { printf '\1'; cat "$data/snp/lunal/live-report-v5-genoa.bin" "$data/snp/lunal/live-vcek-genoa.der"; } >"$dir/seed-1" ;;
    tdx_quote)
        printf '\0' >"$dir/seed-0"
        for f in "$data"/tdx/*/*.dat "$data"/tdx/dcap-qvl/tdx_quote "$data"/tdx/dcap-qvl/tdx_quote_outdated; do
            { printf '\1'; cat "$f"; } >"$dir/seed-$i" && i=$((i + 1))
        done ;;
    tdx_collateral)
        for f in "$data"/tdx/go-tdx-guest/sample_tcbInfo_response "$data"/tdx/go-tdx-guest/sample_tcbinfo_response_v5; do
            { printf '\1'; cat "$f"; } >"$dir/seed-$i" && i=$((i + 1))
        done
        for f in "$data"/tdx/*/*.json; do { printf '\0'; cat "$f"; } >"$dir/seed-$i" && i=$((i + 1)); done
        { printf '\3'; cat "$data/tdx/go-tdx-guest/pckcrl"; } >"$dir/seed-$i" ;;
    rim_service_answer)
        # each real H100 RIM in the service's JSON shape
        for f in "$nv"/h100-550.90.07/rims/*; do
            printf '{"id":"NV_GPU_DRIVER_GH100_550.90.07","rim":"%s"}' "$(base64 -w0 "$f")" >"$dir/seed-$i" && i=$((i + 1))
        done ;;
    bundle)
        [ -n "${CCGPU_BUNDLE_SEEDS:-}" ] && cp "$CCGPU_BUNDLE_SEEDS"/*.json "$dir/" 2>/dev/null || true ;;
    snp_cert_table)
        # a table with the real Genoa VCEK: one header (VCEK GUID, offset 48, length), the terminator, the DER
        f="$data/snp/lunal/live-vcek-genoa.der"
        perl -e 'my $d = do { local $/; open my $h, "<", $ARGV[0] or die; <$h> };
            print pack("H32VV", "63da758de6644564adc5f4b93be8accd", 48, length $d), "\0" x 24, $d' "$f" >"$dir/seed-0" ;;
    *) ;; # no seeds here: the target starts from what fuzz/corpus/<target> holds, or from nothing
    esac
}

max_len() {
    case $1 in
    rim | rim_service_answer) echo 65536 ;;
    rim_mutate) echo 1024 ;;
    cert_chain) echo 16384 ;;
    *) echo 8192 ;;
    esac
}

mkdir -p logs
for t in "${targets[@]}"; do
    seed "$t"
    dict=()
    [ -f "dict/$t.dict" ] && dict=(-dict="dict/$t.dict")
    echo "== $t: $secs s" >&2
    cargo fuzz run ${FUZZ_TARGET_DIR:+--target-dir "$FUZZ_TARGET_DIR"} "$t" -- -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "${dict[@]}" 2>&1 | tee "logs/$t.log" | grep -E '^(#[0-9]+.*(DONE|pulse)|==|stat::|SUMMARY|Done)' || true
    grep -q '^Done' "logs/$t.log" || { echo "$t stopped abnormally; see fuzz/logs/$t.log and fuzz/artifacts/$t" >&2; exit 1; }
done
