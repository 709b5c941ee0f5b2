"""One line naming the machine a result was measured on (recorded beside every benchmark and in the demo report)."""

from __future__ import annotations

import os
import platform

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
