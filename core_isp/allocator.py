"""Keep freed blocks in malloc's heap: tiled inference frees and allocates the same activations for every window.

glibc hands out blocks above its mmap threshold (128 KiB at first, rising with use to at most 32 MiB) as fresh
memory mappings and unmaps them when freed, so every window of a tiled pass faults its activations (a 96-channel
feature map of a 576-pixel window is 127 MB) in again, page by page, and the kernel zeroes each page. In a 1 MP
``paramisp to-raw`` on this project's CPU that was 8.4 s of system time beside 40 s of user time. With the
threshold above any one activation the heap keeps freed blocks for the next window: system time fell to 1.3-2.9 s
and wall time by a fifth to a quarter, for a few hundred MB more peak memory (``benchmarks/RESULTS.md``). The
command line sets it at start; a Python program doing tiled inference can call :func:`keep_freed_blocks` once.
"""

from __future__ import annotations

import ctypes
import ctypes.util

#: ``M_MMAP_THRESHOLD`` in glibc's ``malloc.h``.
_M_MMAP_THRESHOLD = -3
#: Blocks below this come from the heap (and go back to it when freed).
DEFAULT_THRESHOLD_BYTES = 1 << 30


def keep_freed_blocks(threshold_bytes: int = DEFAULT_THRESHOLD_BYTES) -> bool:
    """Raise this process's malloc mmap threshold to ``threshold_bytes``; False where the C library has no
    ``mallopt`` or refuses (not glibc), and then nothing changes."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold_bytes))
