#!/usr/bin/env bash
# Full GPU verification of the real H100 evidence: ccgpu (criterion, in process) against NVIDIA's reference
# verifier (nv-local-gpu-verifier 2.7.3, in process, OCSP stubbed), measured in the same run, printed as
# ratios; then both command lines end to end (hyperfine). Needs ../shared beside the repository.
# Usage: bench/gpu-vs-nvtrust.sh [nvtrust-iterations]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${CCGPU_SHARED:-../shared}
n=${1:-200}
bash "$shared/baseline/nvtrust/setup.sh" >/dev/null

cargo bench -p ccgpu-attestation --bench verify_gpu -- --warm-up-time 2 --measurement-time 5 'gpu/' >/dev/null
median_ms() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['median']['point_estimate']/1e6)" "$1"; }
cold=$(median_ms target/criterion/gpu/cold/new/estimates.json)
cached=$(median_ms target/criterion/gpu/cached/new/estimates.json)
nv_line=$(bash "$shared/baseline/nvtrust/bench.sh" "$n")
nv=$(sed -E 's/.*median=([0-9.]+) ms.*/\1/' <<<"$nv_line")
python3 - "$cold" "$cached" "$nv" <<'PY'
import sys
cold, cached, nv = map(float, sys.argv[1:])
print(f"nvtrust in process (anchor): {nv:.2f} ms median")
print(f"ccgpu cold:   {cold:.3f} ms  -> {nv/cold:.1f}x faster (target >= 20x)")
print(f"ccgpu cached: {cached:.3f} ms  -> {nv/cached:.1f}x faster (target >= 100x)")
PY

# End to end, process start included.
cargo build --release --bin ccgpu >/dev/null 2>&1
E=$shared/testdata/nvidia/h100-550.90.07
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
hyperfine -N --warmup 3 --runs 20 \
  "target/release/ccgpu verify gpu --report $E/attestation-report.hex --cert-chain $E/cert-chain.pem --rim-dir $E/rims --nonce $(cat "$E/nonce.hex") --at 2025-09-01T00:00:00Z --ocsp off --format json" \
  "bash $shared/baseline/nvtrust/run.sh --no-ocsp"
