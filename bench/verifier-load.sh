#!/usr/bin/env bash
# ccgpu-verifier under load from a second process on loopback (verifier/benches/load.rs: 1-GPU and 8-GPU
# simulated bundles, cold and warm, 1 and 2 worker threads, p50/p99, saturation throughput, appraisals
# per service CPU-second; anchors: one fsync'd append on the same disk, fsync per record vs group commit),
# then NVIDIA's reference verifier in process on the real H100 evidence (per GPU) in the same run.
# Bounded: CCGPU_LOAD_COUNT requests / CCGPU_LOAD_SECS seconds per phase, CCGPU_LOAD_COLD cold samples.
# Usage: bench/verifier-load.sh [nvtrust-iterations]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${CCGPU_SHARED:-../shared}
export CCGPU_TESTDATA=${CCGPU_TESTDATA:-$shared/testdata}
cargo bench -p ccgpu-verifier --bench load
if [ -x "$shared/baseline/nvtrust/bench.sh" ] || [ -f "$shared/baseline/nvtrust/bench.sh" ]; then
  bash "$shared/baseline/nvtrust/setup.sh" >/dev/null 2>&1 || true
  echo "anchor: NVIDIA verifier in process, one GPU: $(bash "$shared/baseline/nvtrust/bench.sh" "${1:-50}")"
  # CPU per GPU without the interpreter's start-up: user+sys of 90 iterations minus that of 10, over 80.
  cpu() { TIMEFORMAT='%U %S'; { time bash "$shared/baseline/nvtrust/bench.sh" "$1" >/dev/null 2>&1; } 2>&1 | awk '{print $1 + $2}'; }
  c10=$(cpu 10); c90=$(cpu 90)
  echo "anchor: NVIDIA verifier CPU per GPU: $(awk -v a="$c10" -v b="$c90" 'BEGIN {printf "%.1f ms", (b - a) / 80 * 1000}')"
fi
