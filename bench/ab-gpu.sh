#!/usr/bin/env bash
# Before/after for a verifier change: the GPU appraisal (criterion medians, cold and cached) of two checkouts
# of this repository, interleaved round by round so that both see the same machine load, with NVIDIA's
# reference verifier (in process) measured in every round as the anchor. Needs ../shared beside the
# checkouts (CCGPU_SHARED overrides). Each checkout keeps its own target directory.
# Usage: bench/ab-gpu.sh OLD_CHECKOUT NEW_CHECKOUT [rounds]
set -euo pipefail
old=$(cd "$1" && pwd)
new=$(cd "$2" && pwd)
rounds=${3:-3}
shared=${CCGPU_SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
export CCGPU_TESTDATA=${CCGPU_TESTDATA:-$shared/testdata}
bash "$shared/baseline/nvtrust/setup.sh" >/dev/null
med() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['median']['point_estimate']/1e6)" "$1"; }
for round in $(seq "$rounds"); do
  for side in new old; do
    dir=$new; [ "$side" = old ] && dir=$old
    (cd "$dir" && cargo bench -q -p ccgpu-attestation --bench verify_gpu -- --warm-up-time 1 --measurement-time 4 'gpu/' >/dev/null 2>&1)
    echo "round $round $side: cold $(med "$dir/target/criterion/gpu/cold/new/estimates.json") ms," \
      "cached $(med "$dir/target/criterion/gpu/cached/new/estimates.json") ms, load $(cut -d' ' -f1 /proc/loadavg)"
  done
  echo "round $round anchor: $(bash "$shared/baseline/nvtrust/bench.sh" 100)"
done
