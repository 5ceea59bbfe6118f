#!/usr/bin/env bash
# Read-only survey of a real NVIDIA host with ccgpu's production binaries (issue 16). Runnable on any
# NVIDIA host: nothing here changes a GPU setting — no CC mode or ready-state change, no persistence-mode
# change, no driver unbind or vfio binding, no reset. The node layer runs with its checkpoint and CDI
# directories under a scratch folder, and only its read-only commands (discover, slices, preflight) run.
#
# Usage: bench/real-gpu/probe.sh BIN_DIR OUT_DIR [RIM_DIR]
#   BIN_DIR  holds ccgpu, ccgpu-node and ccgpu-guest-agent (release builds without the `sim` feature)
#   OUT_DIR  receives probe.log (everything printed, in order) and probe.tar.gz (every file it wrote)
#   RIM_DIR  optional RIMs for `ccgpu verify gpu` (RIMs are fetched nowhere: the host may be offline)
#
# Each step is bounded by `timeout` and recorded with its exit status and duration; a failing step does
# not stop the survey.
set -u
BIN=$(cd "$1" && pwd)
OUT=$(mkdir -p "$2" && cd "$2" && pwd)
RIMS=${3:-}
WORK=$(mktemp -d /tmp/ccgpu-probe.XXXXXX)
mkdir -p "$WORK/files"
LOG="$OUT/probe.log"
: >"$LOG"

step() { # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    local start end rc
    echo "===== $name: $*" >>"$LOG"
    start=$(date +%s%N)
    timeout --kill-after=5 "$limit" "$@" >>"$LOG" 2>&1
    rc=$?
    end=$(date +%s%N)
    echo "----- $name: exit $rc in $(((end - start) / 1000000)) ms" >>"$LOG"
}

save() { # save NAME SECONDS COMMAND... : stdout to files/NAME, stderr to the log
    local name=$1 limit=$2
    shift 2
    local start end rc
    echo "===== $name (stdout in files/$name): $*" >>"$LOG"
    start=$(date +%s%N)
    timeout --kill-after=5 "$limit" "$@" >"$WORK/files/$name" 2>>"$LOG"
    rc=$?
    end=$(date +%s%N)
    echo "----- $name: exit $rc in $(((end - start) / 1000000)) ms, $(wc -c <"$WORK/files/$name") bytes" >>"$LOG"
}

pci_facts() {
    for d in /sys/bus/pci/devices/*; do
        [ "$(cat "$d/vendor" 2>/dev/null)" = "0x10de" ] || continue
        echo "## $d -> $(readlink -f "$d")"
        for f in vendor device class subsystem_vendor subsystem_device revision numa_node local_cpulist \
            current_link_speed current_link_width max_link_speed max_link_width sriov_totalvfs sriov_numvfs \
            d3cold_allowed reset_method enable power_state irq; do
            [ -e "$d/$f" ] && echo "$f: $(cat "$d/$f" 2>&1)"
        done
        echo "driver: $(readlink "$d/driver" 2>&1)"
        echo "iommu_group: $(readlink "$d/iommu_group" 2>&1)"
        [ -d "$d/iommu_group/devices" ] && echo "group members: $(ls "$d/iommu_group/devices")"
        echo "resource:"
        cat "$d/resource" 2>&1 | head -8
        ls "$d" | tr '\n' ' '
        echo
    done
}

{
    echo "ccgpu real-GPU probe, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(uname -a)"
    grep -E '^(PRETTY_NAME|VERSION_ID)=' /etc/os-release 2>/dev/null
    echo "cpus: $(nproc), memory: $(grep MemTotal /proc/meminfo)"
} >>"$LOG"

step environment 10 sh -c 'cat /proc/cmdline; echo; ls -l /dev/nvidia* /dev/vfio /dev/iommu 2>&1; grep -E "^(nvidia|vfio|iommufd)" /proc/modules; ls /sys/kernel/iommu_groups 2>&1 | head; ls /sys/class/iommu 2>&1; ls /sys/bus/pci/devices 2>&1 | head -40'
step binaries 10 sh -c "ls -l '$BIN'; ldd '$BIN/ccgpu-guest-agent'; '$BIN/ccgpu' --version; '$BIN/ccgpu-node' --version; '$BIN/ccgpu-guest-agent' --version"
export -f pci_facts
save pci-sysfs.txt 20 bash -c pci_facts
save lspci.txt 20 sh -c 'lspci -nn -vvv -d 10de: 2>&1 || echo "lspci: not available"'
save dmesg.txt 10 sh -c 'dmesg 2>&1 | grep -iE "nvrm|nvidia|iommu|vfio|dmar|AMD-Vi" | tail -80'
save nvidia-smi.txt 30 nvidia-smi
save nvidia-smi-q.txt 30 nvidia-smi -q
step nvidia-smi-conf-compute-help 10 nvidia-smi conf-compute -h
# Only the query options of `nvidia-smi conf-compute` (never -srs, -sm, -skr: those set things).
for q in -f -grs -e -d -gc -gg -gm -mgm -gkr -q; do
    step "nvidia-smi-conf-compute$q" 10 nvidia-smi conf-compute "$q"
done

# The host side, exactly as an operator runs it (scratch checkpoint and CDI directories).
NODE=("$BIN/ccgpu-node" --checkpoint-dir "$WORK/checkpoint" --cdi-dir "$WORK/cdi")
save node-discover.json 60 "${NODE[@]}" discover
save node-slices.json 90 "${NODE[@]}" slices --node-name probe-node --preflight
save node-preflight.json 90 "${NODE[@]}" preflight

# The guest agent's GpuManagement backend (NVML), read-only, three times for timing spread.
for i in 1 2 3; do
    mkdir -p "$WORK/files/evidence-agent-$i"
    save "agent-probe-$i.json" 90 "$BIN/ccgpu-guest-agent" --probe --probe-evidence "$WORK/files/evidence-agent-$i"
done

# NVIDIA's own binding, the same questions plus the raw return codes.
mkdir -p "$WORK/files/evidence-py"
save pynvml.json 90 env PYTHONUNBUFFERED=1 python3 "$(dirname "$0")/nvml_crosscheck.py" "$WORK/files/evidence-py"

# The verifier on whatever evidence came back.
for dir in "$WORK"/files/evidence-*/*/; do
    [ -s "$dir/attestation-report.hex" ] && [ -s "$dir/cert-chain.pem" ] || continue
    tag=$(echo "$dir" | sed "s|$WORK/files/||; s|/$||; s|/|_|g")
    args=(verify gpu --report "$dir/attestation-report.hex" --cert-chain "$dir/cert-chain.pem"
        --nonce "$(cat "$dir/nonce.hex")" --ocsp off)
    [ -n "$RIMS" ] && args+=(--rim-dir "$RIMS")
    save "verify-$tag.txt" 60 "$BIN/ccgpu" "${args[@]}"
    save "verify-$tag.json" 60 "$BIN/ccgpu" "${args[@]}" --format json
done

echo "===== done $(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$LOG"
tar -C "$WORK" -czf "$OUT/probe.tar.gz" files
cat "$LOG"
