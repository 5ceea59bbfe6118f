#!/usr/bin/env bash
# TDX quote verification with full collateral: ccgpu (release, in process; cold and with a warm
# VerifierCache) against Phala's dcap-qvl 0.7.0 (PyPI wheel, its Rust core, in process) on the same quote and
# collateral at the same pinned time, interleaved round by round so both see the same machine load; then
# dcap-qvl's verdict on every quote of ../shared/testdata/tdx (SOURCES.md's table) for parity.
# Needs python3 with `pip install dcap-qvl==0.7.0` (DCAP_QVL_PYTHON names that interpreter).
# Usage: bench/tdx-vs-dcap-qvl.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
py=${DCAP_QVL_PYTHON:-python3}
export CCGPU_TESTDATA=${CCGPU_TESTDATA:-$(cd .. && pwd)/shared/testdata}
T=$CCGPU_TESTDATA/tdx
cargo test -q --release -p ccgpu-attestation --test tdx_bench --no-run 2>/dev/null
theirs() {
  "$py" - "$T" <<'PY'
import sys, time, statistics, dcap_qvl
t = sys.argv[1]
q = open(f"{t}/dcap-qvl/tdx_quote", "rb").read()
j = open(f"{t}/dcap-qvl/tdx_quote_collateral.json").read()
now = 1751328000  # 2025-07-01T00:00:00Z
runs = []
for _ in range(5):
    s = time.perf_counter()
    for _ in range(300):
        dcap_qvl.verify(q, dcap_qvl.QuoteCollateralV3.from_json(j), now)
    runs.append((time.perf_counter() - s) / 300 * 1e6)
print(f"{statistics.median(runs):.1f}")
PY
}
for round in $(seq "$rounds"); do
  dq=$(theirs)
  ours=$(cargo test -q --release -p ccgpu-attestation --test tdx_bench -- --ignored --nocapture --exact tdx_appraisal_timing 2>/dev/null | grep -o "{\"cold_us.*}")
  cold=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["cold_us"])' "$ours")
  cached=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["cached_us"])' "$ours")
  python3 -c 'import sys; c,k,d=map(float,sys.argv[1:4]); print(f"round {sys.argv[4]}: ccgpu cold {c:.0f} us, cached {k:.0f} us; dcap-qvl {d:.0f} us; cold/dcap-qvl {c/d:.3f}, cached/dcap-qvl {k/d:.3f}; load {sys.argv[5]}")' \
    "$cold" "$cached" "$dq" "$round" "$(cut -d' ' -f1 /proc/loadavg)"
done
"$py" - "$T" <<'PY'
import sys, dcap_qvl
t = sys.argv[1]
cases = [
    ("dcap-qvl/tdx_quote", "dcap-qvl/tdx_quote_collateral.json", 1751328000),
    ("dcap-qvl/tdx_quote_outdated", "dcap-qvl/tdx_quote_outdated_collateral.json", 1772323200),
    ("dcap-qvl/tdx-quote.hex", "dcap-qvl/tdx_quote_collateral.json", 1751328000),
    ("go-tdx-guest/tdx_prod_quote_SPR_E4.dat", "go-tdx-guest/collateral-50806f-2023-06.dcap-qvl.json", 1688173200),
    ("go-tdx-guest/quote_v5_sample.dat", "dcap-qvl/tdx_quote_outdated_collateral.json", 1772323200),
    ("go-tdx-guest/cos-113-tdx-quote.dat", "zkdcap/collateral-00806f-2025-01.dcap-qvl.json", 1738756800),
    ("zkdcap/quote_tdx_00806f050000.dat", "zkdcap/collateral-00806f-2025-01.dcap-qvl.json", 1738756800),
    ("zkdcap/quote_v4.dat", "zkdcap/collateral-00806f-2025-01.dcap-qvl.json", 1738756800),
    ("trustee/tdx_quote_4.dat", "go-tdx-guest/collateral-50806f-2023-06.dcap-qvl.json", 1688173200),
    ("trustee/tdx_quote_5.dat", "dcap-qvl/tdx_quote_outdated_collateral.json", 1772323200),
    ("trustee/az-tdx-vtpm/td-quote.bin", "zkdcap/collateral-00806f-2025-01.dcap-qvl.json", 1738756800),
]
for qf, cf, now in cases:
    q = open(f"{t}/{qf}", "rb").read()
    if qf.endswith(".hex"):
        q = bytes.fromhex(q.decode().strip().removeprefix("0x"))
    c = dcap_qvl.QuoteCollateralV3.from_json(open(f"{t}/{cf}").read())
    try:
        r = dcap_qvl.verify(q, c, now)
        print(f"dcap-qvl {qf}: {r.status} {list(r.advisory_ids)}")
    except Exception as e:
        print(f"dcap-qvl {qf}: reject: {e}")
PY
