#!/usr/bin/env bash
# Topology parity with NVIDIA's PPCIe verifier (PyPI nv-ppcie-verifier 3.0.0) on every real multi-GPU set
# in ../shared/testdata/nvidia/multi-gpu and its negatives (a switch missing, a switch twice, a GPU PDI
# swapped, a GPU from another board, another board's switches, 7 GPUs, a GPU twice).
#
# nv-ppcie-verifier cannot run offline on recorded evidence: its entry point initializes NVML and NSCQ
# (the GPU driver and NVIDIA's switch library) and counts the devices before it reads --gpu-evidence /
# --switch-evidence ("NVMLError_LibraryNotFound" here), and it attests each device by running the `nvattest`
# CLI of NVIDIA's C++ attestation SDK, which is not on PyPI. So this runs NVIDIA's code where it can: every
# report is parsed by NVIDIA's own Python SPDM parsers (nvtrust ppcie-verifier-sdk-cpp gpu_spdm/switch_spdm),
# turned into the claims nvattest emits, and judged by nv-ppcie-verifier's TopologyValidation; ccgpu judges
# the same evidence as a bundle (`verify bundle`, its bundle-topology check). Device attestation parity
# (signatures, chains) is bench/nvtrust-parity.sh's, per GPU.
#
# Usage: bench/nv-ppcie-parity.sh [OUT_DIR]
#   NVTRUST=<nvtrust git dir or checkout> (default: a shallow clone); CCGPU_SHARED (default ../shared).
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${CCGPU_SHARED:-../shared}
out=${1:-$(mktemp -d)}
venv=${PPCIE_VENV:-/tmp/nv-ppcie-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q nv-ppcie-verifier==3.0.0 ecdsa >/dev/null
src=$out/nvtrust
mkdir -p "$src"
if [ -z "${NVTRUST:-}" ]; then
  git clone -q --depth 1 https://github.com/NVIDIA/nvtrust "$out/nvtrust-clone"
  NVTRUST=$out/nvtrust-clone
fi
if [ -d "$NVTRUST/guest_tools" ]; then
  cp -r "$NVTRUST/guest_tools/ppcie-verifier-sdk-cpp" "$src/"
else
  git -C "$NVTRUST" archive HEAD guest_tools/ppcie-verifier-sdk-cpp/ppcie | tar -x -C "$src" --strip-components=1
fi
cargo build -q --release --bin ccgpu
mkdir -p "$out/bundles"
"$venv/bin/python" bench/nv-ppcie-parity.py "$PWD/target/release/ccgpu" "$src/ppcie-verifier-sdk-cpp" \
  "$shared/testdata" "$out/bundles"
