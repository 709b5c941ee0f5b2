"""The machine a result was measured on, and the memory it took (recorded beside every benchmark and in the demo
report).

Peak memory is ``VmHWM`` (the high-water mark of a process's own address space), not ``ru_maxrss``: Linux keeps
``ru_maxrss`` across ``exec``, so a process started from a large parent would report the parent's peak.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def machine_line() -> str:
    """CPU model, core count, torch version and threads (and the GPU when one is used)."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return f"{model}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads{gpu}"


def peak_rss_mib(pid: int | str = "self") -> float:
    """A process's peak resident memory in MiB (0 when it has gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
