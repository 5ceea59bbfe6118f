"""Topology parity with NVIDIA's PPCIe verifier on the real multi-GPU sets and their negatives.

NVIDIA's side, offline: every report is parsed by NVIDIA's own Python SPDM parsers (nvtrust
guest_tools/ppcie-verifier-sdk-cpp/ppcie/verifier/src/{gpu,switch}_spdm, extracted to $NV_SPDM), turned
into the claims nvattest emits (x-nvidia-gpu-switch-pdis, x-nvidia-switch-pdi, x-nvidia-switch-gpu-pdis),
and judged by nv-ppcie-verifier's (PyPI) TopologyValidation. ccgpu's side: the same evidence as a bundle
through `ccgpu verify bundle --format json`, its `bundle-topology` check.

Usage: python3 bench/nv-ppcie-parity.py CCGPU_BIN NV_SPDM_DIR TESTDATA OUT_DIR
"""

import base64
import copy
import json
import os
import subprocess
import sys

ccgpu, nv_spdm, data, out = sys.argv[1:5]
sys.path.insert(0, nv_spdm)

from ppcie.verifier.src.gpu_spdm import AttestationReport as NvGpuReport  # noqa: E402
from ppcie.verifier.src.switch_spdm import AttestationReport as NvSwitchReport  # noqa: E402
from ppcie.verifier.src.utils.config import HopperSettings  # noqa: E402
from ppcie.verifier.src.topology import validate_topology as nv_topology_raw  # noqa: E402

import logging  # noqa: E402

log = logging.getLogger("nv")
log.addHandler(logging.NullHandler())

# nv-ppcie-verifier (PyPI): the claims-level topology rules, its module's source run as is (its one
# relative import, the logger, is the only line replaced; the nvtrust tree above owns the name `ppcie`).
import site  # noqa: E402
import types  # noqa: E402

for sp in site.getsitepackages():
    pypi_path = os.path.join(sp, "ppcie/verifier/src/topology/validate_topology.py")
    if os.path.exists(pypi_path):
        break
else:
    raise SystemExit("nv-ppcie-verifier is not installed in this Python")
source = open(pypi_path).read().replace("from ..utils.logging import get_logger",
                                        "get_logger = lambda: __import__('logging').getLogger('nv-ppcie')")

class LastError(logging.Handler):
    """Keeps nv-ppcie-verifier's last error message (its checks log, then exit)."""

    last = ""

    def emit(self, record):
        if record.levelno >= logging.ERROR:
            LastError.last = record.getMessage()


nv_log = logging.getLogger("nv-ppcie")
nv_log.addHandler(LastError())
nv_log.propagate = False
pypi_topology = types.ModuleType("pypi_validate_topology")
exec(compile(source, pypi_path, "exec"), pypi_topology.__dict__)  # noqa: S102 - NVIDIA's code, pinned version


def b64(s):
    return base64.b64decode(s)


def load_boards():
    boards = {}
    v = json.load(open(f"{data}/nvidia/multi-gpu/test_ppcie_data.json"))
    boards["go-nvattest test_ppcie_data.json"] = {
        "gpus": [{"report": b64(g["AttestationReport"]["py/b64"]),
                  "chain": b"".join(b64(c["pem"]) for c in g["CertificateChains"]["GpuAttestationCertificateChain"])}
                 for g in v["gpus"]],
        "switches": [{"report": b64(s["attestation_report"]["py/b64"]),
                      "chain": b"".join(b64(c["pem"]) for c in s["attestation_cert_chain"])}
                     for s in v["nvswitches"]],
    }
    lst = lambda f: [{"report": b64(d["evidence"]), "chain": b64(d["certificate"])}
                     for d in json.load(open(f"{data}/nvidia/multi-gpu/{f}"))]
    boards["nvtrust gpu_evidence.json + switch_evidence.json"] = {
        "gpus": lst("gpu_evidence.json"), "switches": lst("switch_evidence.json")}
    return boards


def opaque_tlv(report, type_id):
    """Offset and length of a TLV's value in the report (for the PDI-swap negative)."""
    r = report[37:]
    rl = int.from_bytes(r[5:8], "little")
    p = 8 + rl + 32
    ol = int.from_bytes(r[p:p + 2], "little")
    p += 2
    base = 37 + p
    i = 0
    while i < ol:
        t = int.from_bytes(r[p + i:p + i + 2], "little")
        n = int.from_bytes(r[p + i + 2:p + i + 4], "little")
        if t == type_id:
            return base + i + 4, n
        i += 4 + n
    raise KeyError(type_id)


def negatives(boards):
    a, b = list(boards.values())
    cases = [(name, board) for name, board in boards.items()]
    cases.append(("go-nvattest, a switch missing", {"gpus": a["gpus"], "switches": a["switches"][:3]}))
    cases.append(("go-nvattest, a switch counted twice",
                  {"gpus": a["gpus"], "switches": a["switches"][:3] + [a["switches"][0]]}))
    # A PDI swapped: switch 2 lists one of the other board's GPUs in place of one of ours (report edited;
    # its signature no longer verifies, the topology is judged on what it says).
    sw = copy.deepcopy(a["switches"])
    rep = bytearray(sw[2]["report"])
    at, _ = opaque_tlv(rep, 26)
    foreign = bytes(opaque_tlv_value(b["switches"][0]["report"], 26)[:8])
    rep[at + 5 * 8: at + 6 * 8] = foreign
    sw[2]["report"] = bytes(rep)
    cases.append(("go-nvattest, a GPU PDI swapped in switch 2's list", {"gpus": a["gpus"], "switches": sw}))
    cases.append(("go-nvattest, GPU 7 from the nvtrust board",
                  {"gpus": a["gpus"][:7] + [b["gpus"][7]], "switches": a["switches"]}))
    cases.append(("go-nvattest GPUs with the nvtrust board's switches", {"gpus": a["gpus"], "switches": b["switches"]}))
    cases.append(("go-nvattest, 7 GPUs", {"gpus": a["gpus"][:7], "switches": a["switches"]}))
    cases.append(("go-nvattest, GPU 6 counted twice (GPU 7 left out)",
                  {"gpus": a["gpus"][:7] + [a["gpus"][6]], "switches": a["switches"]}))
    return cases


def opaque_tlv_value(report, type_id):
    at, n = opaque_tlv(report, type_id)
    return report[at:at + n]


def le_hex(b):
    return bytes(reversed(b)).hex().upper()


def nvidia_topology(board):
    """NVIDIA's parse of every report, the claims nvattest would emit, nv-ppcie-verifier's rules."""
    try:
        gpu_claims = []
        for g in board["gpus"]:
            r = NvGpuReport(g["report"], HopperSettings())
            pdis = r.get_response_message().get_opaque_data().get_data("OPAQUE_FIELD_ID_SWITCH_PDI")
            gpu_claims.append({"x-nvidia-gpu-switch-pdis": [le_hex(p) for p in pdis]})
        switch_claims = []
        for s in board["switches"]:
            o = NvSwitchReport(s["report"], log, log).get_response_message().get_opaque_data()
            switch_claims.append({
                "x-nvidia-switch-pdi": o.get_data("OPAQUE_FIELD_ID_DEVICE_PDI").hex().upper(),
                "x-nvidia-switch-gpu-pdis": [p.hex().upper() for p in o.get_data("OPAQUE_FIELD_ID_SWITCH_GPU_PDIS")],
            })
    except Exception as e:  # noqa: BLE001 - NVIDIA's parser raising is a failed verdict
        return "fail", f"parse: {e}"[:100]

    class Status:
        topology_checks = None

    status = Status()
    t = pypi_topology.TopologyValidation()
    try:
        t.gpu_topology_check(gpu_claims, 4, status)
        t.switch_topology_check(switch_claims, 8, status)
    except SystemExit:
        return "fail", LastError.last[:110]
    return ("pass" if status.topology_checks else "fail"), ""


def ccgpu_topology(name, board):
    doc = {"format": "ccgpu-evidence-bundle", "version": 1, "nonce": bytes(board["gpus"][0]["report"][4:36]).hex(),
           "gpus": [{"report": base64.b64encode(g["report"]).decode(), "cert_chain": g["chain"].decode()}
                    for g in board["gpus"]],
           "switches": [{"report": base64.b64encode(s["report"]).decode(), "cert_chain": s["chain"].decode()}
                        for s in board["switches"]]}
    path = os.path.join(out, name.replace(" ", "_").replace("/", "_").replace(",", "") + ".json")
    with open(path, "w") as f:
        json.dump(doc, f)
    p = subprocess.run([ccgpu, "verify", "bundle", path, "--format", "json", "--ocsp", "off",
                        "--at", "2026-06-01T00:00:00Z"], capture_output=True, text=True)
    if p.returncode == 2:
        return "error", p.stderr.strip()[:100]
    j = json.loads(p.stdout)
    checks = {c["check"]: c for c in j["bundle_checks"]}
    t = checks.get("bundle-topology", {})
    outcome = t.get("outcome", t)
    state = outcome.get("result", outcome.get("status", "?")) if isinstance(outcome, dict) else str(outcome)
    text = json.dumps(outcome)
    passed = '"passed"' in text.lower() or "'passed'" in text.lower()
    return ("pass" if passed else "fail"), ("" if passed else text[:140])


rows = []
agree = 0
for name, board in negatives(load_boards()):
    nv, nv_why = nvidia_topology(board)
    ours, why = ccgpu_topology(name, board)
    ok = nv == ours
    agree += ok
    rows.append(f"| {name} | {len(board['gpus'])}+{len(board['switches'])} | {nv}: {nv_why} | {ours}: {why} | "
                f"{'yes' if ok else 'no'} |")
print("| case | GPUs+switches | nv-ppcie-verifier topology | ccgpu bundle-topology | agree |")
print("|---|---|---|---|---|")
print("\n".join(rows))
print(f"\ntopology verdicts agree on {agree} of {len(rows)}")
