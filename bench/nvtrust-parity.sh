#!/usr/bin/env bash
# Verdict parity with NVIDIA's reference verifier (nv-local-gpu-verifier 2.7.3, offline, OCSP stubbed, clock
# pinned to 2025-09-01) on the real H100 evidence and on every case of the generated negative corpus.
# Prints a Markdown table: case, ccgpu's verdict and failing checks, NVIDIA's verdict and its last message.
# Usage: bench/nvtrust-parity.sh [OUT_DIR]   (needs ../shared beside the repository)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${CCGPU_SHARED:-../shared}
out=${1:-$(mktemp -d)}
bash "$shared/baseline/nvtrust/setup.sh" >/dev/null
cargo build -q --release --bin ccgpu
cargo run -q --release -p ccgpu-attestation --features sim --example write_negative_corpus -- "$out/cases" >/dev/null
ccgpu=$PWD/target/release/ccgpu

echo "| case | anchors | ccgpu | ccgpu failing checks | NVIDIA 2.7.3 | NVIDIA's last message | agree |"
echo "|---|---|---|---|---|---|---|"
agree=0; total=0
for d in "$out"/cases/*/; do
  name=$(basename "$d")
  set +e
  json=$("$ccgpu" verify gpu --report "$d/report.hex" --cert-chain "$d/chain.pem" --driver-rim "$d/driver.xml" \
    --vbios-rim "$d/vbios.xml" --nonce "$(cat "$d/nonce.hex")" --at 2025-09-01T00:00:00Z --ocsp off --format json 2>"$out/$name.ccgpu.err")
  ours=$?
  nv_out=$(REPORT="$d/report.hex" CERT_CHAIN="$d/chain.pem" NONCE="$(cat "$d/nonce.hex")" DRIVER_RIM="$d/driver.xml" \
    VBIOS_RIM="$d/vbios.xml" bash "$shared/baseline/nvtrust/run.sh" --no-ocsp 2>&1)
  theirs=$?
  set -e
  case $ours in 0) ov=affirming ;; 1) ov=contraindicated ;; *) ov="unusable input" ;; esac
  failing=$(jq -r '.failures | join(", ")' <<<"$json" 2>/dev/null || head -c 120 "$out/$name.ccgpu.err")
  [ "$theirs" -eq 0 ] && tv=affirming || tv="not affirming"
  last=$(grep -v '^\s*$' <<<"$nv_out" | tail -n 1 | tr '|' '/' | cut -c1-110)
  ok=no; { [ "$ours" -eq 0 ] && [ "$theirs" -eq 0 ]; } || { [ "$ours" -ne 0 ] && [ "$theirs" -ne 0 ]; } && ok=yes
  total=$((total + 1)); [ $ok = yes ] && agree=$((agree + 1))
  echo "| $name | $(cat "$d/anchors") | $ov | $failing | $tv | $last | $ok |"
done
echo
echo "verdicts agree on $agree of $total"
