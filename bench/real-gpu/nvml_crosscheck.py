#!/usr/bin/env python3
"""Read-only NVML cross-check with NVIDIA's own Python binding (nvidia-ml-py / pynvml).

Asks NVML the same questions ccgpu asks (and the CC-state calls nvml-wrapper does not expose), each
timed, recording the raw NVML return code of every failure. Nothing is set: no ready state, no CC mode,
no persistence mode, no memory size. Prints one JSON document on stdout.

Usage: nvml_crosscheck.py [EVIDENCE_DIR]   (EVIDENCE_DIR: where to write report/chain per GPU)
"""
import json
import os
import sys
import time

try:
    import pynvml as N
except ImportError as e:  # pragma: no cover - depends on the host
    print(json.dumps({"error": f"pynvml not importable: {e}"}))
    sys.exit(0)


def call(name, fn, *args, conv=lambda v: v):
    t = time.perf_counter()
    try:
        v = fn(*args)
        us = int((time.perf_counter() - t) * 1e6)
        return {"call": name, "micros": us, "ok": conv(v)}
    except N.NVMLError as e:
        us = int((time.perf_counter() - t) * 1e6)
        return {"call": name, "micros": us, "nvml_return": e.value, "error": str(e)}
    except Exception as e:  # noqa: BLE001 - record anything else as it came
        us = int((time.perf_counter() - t) * 1e6)
        return {"call": name, "micros": us, "exception": f"{type(e).__name__}: {e}"}


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def struct(v):
    return {f[0]: getattr(v, f[0]) for f in v._fields_ if not f[0].startswith("_")}


def settings():
    s = N.c_nvmlSystemConfComputeSettings_v1_t()
    ret = N.nvmlSystemGetConfComputeSettings(N.byref(s))
    if ret != 0:
        raise N.NVMLError(ret)
    return s


def warm_timings(nonce, runs=200):
    """Median of `runs` back-to-back calls of each read-only query on GPU 0, failures included (a refused
    call costs time too)."""
    h = N.nvmlDeviceGetHandleByIndex(0)
    queries = {
        "nvmlDeviceGetCount": lambda: N.nvmlDeviceGetCount(),
        "nvmlDeviceGetHandleByPciBusId": lambda: N.nvmlDeviceGetHandleByPciBusId(N.nvmlDeviceGetPciInfo(h).busId),
        "nvmlDeviceGetPciInfo": lambda: N.nvmlDeviceGetPciInfo(h),
        "nvmlDeviceGetUUID": lambda: N.nvmlDeviceGetUUID(h),
        "nvmlDeviceGetVbiosVersion": lambda: N.nvmlDeviceGetVbiosVersion(h),
        "nvmlSystemGetDriverVersion": lambda: N.nvmlSystemGetDriverVersion(),
        "nvmlSystemGetConfComputeSettings": settings,
        "nvmlSystemGetConfComputeState": lambda: N.nvmlSystemGetConfComputeState(),
        "nvmlSystemGetConfComputeGpusReadyState": lambda: N.nvmlSystemGetConfComputeGpusReadyState(),
        "nvmlDeviceGetConfComputeGpuCertificate": lambda: N.nvmlDeviceGetConfComputeGpuCertificate(h),
        "nvmlDeviceGetConfComputeGpuAttestationReport":
            lambda: N.nvmlDeviceGetConfComputeGpuAttestationReport(h, nonce),
    }
    out = {}
    for name, q in queries.items():
        samples = []
        for _ in range(runs):
            t = time.perf_counter()
            try:
                q()
            except N.NVMLError:
                pass
            samples.append((time.perf_counter() - t) * 1e6)
        samples.sort()
        out[name] = {"median": round(samples[len(samples) // 2], 1), "min": round(samples[0], 1),
                     "max": round(samples[-1], 1), "runs": runs}
    return out


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else None
    nonce = os.urandom(32)
    res = {"nonce": nonce.hex(), "pynvml": getattr(N, "__version__", "?"), "system": [], "gpus": []}
    res["system"].append(call("nvmlInit", N.nvmlInit))
    if "error" in res["system"][-1] or "exception" in res["system"][-1]:
        print(json.dumps(res, indent=1))
        return
    sysc = res["system"]
    sysc.append(call("nvmlSystemGetDriverVersion", N.nvmlSystemGetDriverVersion, conv=text))
    sysc.append(call("nvmlSystemGetNVMLVersion", N.nvmlSystemGetNVMLVersion, conv=text))
    sysc.append(call("nvmlSystemGetCudaDriverVersion", N.nvmlSystemGetCudaDriverVersion))
    sysc.append(call("nvmlSystemGetConfComputeCapabilities", N.nvmlSystemGetConfComputeCapabilities, conv=struct))
    sysc.append(call("nvmlSystemGetConfComputeState", N.nvmlSystemGetConfComputeState, conv=struct))
    sysc.append(call("nvmlSystemGetConfComputeSettings(v1)", settings, conv=struct))
    sysc.append(call("nvmlSystemGetConfComputeGpusReadyState", N.nvmlSystemGetConfComputeGpusReadyState))
    sysc.append(call("nvmlSystemGetConfComputeKeyRotationThresholdInfo",
                     N.nvmlSystemGetConfComputeKeyRotationThresholdInfo, conv=struct))
    count = call("nvmlDeviceGetCount", N.nvmlDeviceGetCount)
    sysc.append(count)
    for i in range(count.get("ok", 0)):
        h = N.nvmlDeviceGetHandleByIndex(i)
        g = [
            call("nvmlDeviceGetName", N.nvmlDeviceGetName, h, conv=text),
            call("nvmlDeviceGetUUID", N.nvmlDeviceGetUUID, h, conv=text),
            call("nvmlDeviceGetPciInfo", N.nvmlDeviceGetPciInfo, h,
                 conv=lambda p: {"busId": text(p.busId), "pciDeviceId": hex(p.pciDeviceId),
                                 "pciSubSystemId": hex(p.pciSubSystemId)}),
            call("nvmlDeviceGetBoardId", N.nvmlDeviceGetBoardId, h),
            call("nvmlDeviceGetVbiosVersion", N.nvmlDeviceGetVbiosVersion, h, conv=text),
            call("nvmlDeviceGetArchitecture", N.nvmlDeviceGetArchitecture, h),
            call("nvmlDeviceGetNumaNodeId", getattr(N, "nvmlDeviceGetNumaNodeId", None) or (lambda _h: None), h),
            call("nvmlDeviceGetPersistenceMode", N.nvmlDeviceGetPersistenceMode, h),
            call("nvmlDeviceGetConfComputeMemSizeInfo", N.nvmlDeviceGetConfComputeMemSizeInfo, h, conv=struct),
            call("nvmlDeviceGetConfComputeProtectedMemoryUsage", N.nvmlDeviceGetConfComputeProtectedMemoryUsage, h,
                 conv=struct),
        ]
        cert = call("nvmlDeviceGetConfComputeGpuCertificate", N.nvmlDeviceGetConfComputeGpuCertificate, h,
                    conv=lambda c: {"certChainSize": c.certChainSize,
                                    "attestationCertChainSize": c.attestationCertChainSize,
                                    "attestationCertChain": bytes(c.attestationCertChain[:c.attestationCertChainSize]).decode("latin-1")})
        g.append(cert)
        rep = call("nvmlDeviceGetConfComputeGpuAttestationReport", N.nvmlDeviceGetConfComputeGpuAttestationReport,
                   h, nonce,
                   conv=lambda r: {"attestationReportSize": r.attestationReportSize,
                                   "isCecAttestationReportPresent": r.isCecAttestationReportPresent,
                                   "cecAttestationReportSize": r.cecAttestationReportSize,
                                   "attestationReport": bytes(r.attestationReport[:r.attestationReportSize]).hex()})
        g.append(rep)
        res["gpus"].append(g)
        if out_dir:
            d = os.path.join(out_dir, f"py-gpu{i}")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "nonce.hex"), "w") as f:
                f.write(nonce.hex())
            if "ok" in rep:
                with open(os.path.join(d, "attestation-report.hex"), "w") as f:
                    f.write(rep["ok"]["attestationReport"])
            if "ok" in cert:
                with open(os.path.join(d, "cert-chain.pem"), "w") as f:
                    f.write(cert["ok"]["attestationCertChain"])
    res["warm_median_micros"] = warm_timings(nonce) if count.get("ok", 0) else {}
    call("nvmlShutdown", N.nvmlShutdown)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
