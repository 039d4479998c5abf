"""Where a model runs: the onnxruntime execution providers a device name stands for, and how
many threads the machine's physical cores allow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import onnxruntime as ort

from app.core.errors import UserError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
COREML = "CoreMLExecutionProvider"
DIRECTML = "DmlExecutionProvider"
DEVICES = {
    "cpu": CPU,
    "cuda": CUDA,
    "gpu": CUDA,
    "coreml": COREML,
    "directml": DIRECTML,
    "dml": DIRECTML,
}
_HOW_TO_GET = {
    CUDA: "For NVIDIA GPUs install the GPU build of onnxruntime: `pip install photoseek[gpu]` "
    "(uninstall the plain `onnxruntime` package first; the two cannot live side by side).",
    COREML: "CoreML is offered by onnxruntime on macOS only.",
    DIRECTML: "DirectML needs Windows and the `onnxruntime-directml` package.",
}


def available_providers() -> list[str]:
    """The execution providers this onnxruntime build offers, in its order of preference."""
    return list(ort.get_available_providers())


def choose_providers(device: str = "auto") -> list[str | tuple[str, dict[str, Any]]]:
    """Providers for a session, best first; CPU always last as the fallback for any node.

    "auto": CUDA, then CoreML / DirectML where onnxruntime offers them, then CPU. "cpu" forces
    CPU. "cuda[:N]", "coreml", "directml" demand that provider and fail clearly without it.
    """
    available = set(available_providers())
    name, _, index = device.strip().lower().partition(":")
    if name == "auto":
        chosen = [p for p in (CUDA, COREML, DIRECTML) if p in available]
    elif name in DEVICES:
        provider = DEVICES[name]
        if provider not in available:
            raise UserError(
                f"Device {device!r} is not available: this onnxruntime offers "
                f"{', '.join(sorted(available))}. {_HOW_TO_GET.get(provider, '')} "
                "Or use --device cpu."
            )
        chosen = [] if provider == CPU else [provider]
    else:
        raise UserError(
            f"Unknown device {device!r}: use auto, cpu, cuda (or cuda:N), coreml or directml."
        )
    if index and (not index.isdigit() or chosen != [CUDA]):
        raise UserError(f"Device {device!r}: only cuda takes a device number, e.g. cuda:1.")
    out: list[str | tuple[str, dict[str, Any]]] = []
    for p in chosen:
        if p == CUDA:
            # Grow the memory arena only as needed; heuristic conv search avoids a slow first
            # call per batch shape (the ViT's patch embedding is the only convolution).
            options = {
                "device_id": int(index or 0),
                "arena_extend_strategy": "kSameAsRequested",
                "cudnn_conv_algo_search": "HEURISTIC",
            }
            out.append((CUDA, options))
        else:
            out.append(p)
    out.append(CPU)
    return out


def physical_cores() -> int:
    """Physical cores this process may use (hyper-threads share one core's matmul units)."""
    if sys.platform.startswith("linux"):
        cpus = os.sched_getaffinity(0)  # respects taskset / container cpusets
        try:
            topo = "/sys/devices/system/cpu/cpu{}/topology/thread_siblings_list"
            return max(1, len({Path(topo.format(c)).read_text() for c in cpus}))
        except OSError:
            return max(1, len(cpus))
    if sys.platform == "darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "hw.physicalcpu"], capture_output=True, text=True, timeout=2
            )
            return max(1, int(out.stdout.strip()))
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    try:
        import psutil  # optional (Windows): not a dependency

        n = psutil.cpu_count(logical=False)
        if n:
            return int(n)
    except ImportError:
        pass
    return max(1, os.cpu_count() or 1)


def provider_name(provider: str | tuple[str, dict[str, Any]]) -> str:
    """The provider's name, with or without its options."""
    return provider if isinstance(provider, str) else provider[0]
