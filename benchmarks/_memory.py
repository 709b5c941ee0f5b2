"""Peak resident memory of a process and of its descendants, as benchmarks report it.

``VmHWM`` (the high-water mark of a process's own address space), not ``ru_maxrss``: Linux keeps ``ru_maxrss``
across ``exec``, so a process started from a large parent reports the parent's peak, and ``RUSAGE_CHILDREN`` covers
only children that have been waited for.
"""

from __future__ import annotations

import threading
from pathlib import Path

from paramisp.machine import peak_rss_mib


def _descendants(root: int) -> set[int]:
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


class DescendantPeaks:
    """While open, polls this process's descendants (worker pools, Ray's processes) for their peak memory.

    ``largest_mib`` is the largest peak seen in any one of them; a descendant that lives less than the polling
    interval may be missed.
    """

    def __init__(self, interval_s: float = 0.25) -> None:
        self.interval_s = interval_s
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        import os

        me = os.getpid()
        while not self._stop.wait(self.interval_s):
            for pid in _descendants(me):
                self.peaks[pid] = max(self.peaks.get(pid, 0.0), peak_rss_mib(pid))

    @property
    def largest_mib(self) -> float:
        return max(self.peaks.values(), default=0.0)

    def __enter__(self) -> DescendantPeaks:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
