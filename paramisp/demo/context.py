"""What every step of ``paramisp demo`` is given: where to write, how large to work, and one seed.

A step is a function ``(DemoContext) -> Section`` (:mod:`paramisp.demo.report`): it runs one job of the suite on
bundled data, beside its baseline, and returns what the report shows. The runner times it and catches nothing: a
step that fails fails the demo.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

from core_isp.isp import InferenceOptions

T = TypeVar("T")

#: Bundled data the steps read: the repository's test data and the simulated cameras' scene data.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
TEST_DATA = PACKAGE_ROOT / "tests" / "data"


@dataclass(frozen=True)
class DemoContext:
    """Where a step writes and how large it works."""

    #: The demo's output folder; a step writes its files under ``out_dir / key``.
    out_dir: Path
    #: Long side in pixels of the images a step works on (the demo's default keeps it under 3 minutes on 2 cores;
    #: the test runs smaller).
    long_side_px: int = 384
    seed: int = 0
    #: A video the user passes with ``--clip`` for the blur synthesis; None uses bundled photos with drawn shake (no
    #: real clip with a licence that allows shipping it is bundled).
    clip: Path | None = None
    #: False hides the progress bars (``--json`` output stays clean on stdout either way: bars go to stderr).
    progress: bool = True

    def step_dir(self, key: str) -> Path:
        """The folder of one step's files (created)."""
        folder = self.out_dir / key
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def options(self) -> InferenceOptions:
        """Inference in one window: at the demo's sizes a whole image fits, and tiling would only add halo work."""
        return InferenceOptions(tile=None)

    def generator(self, salt: int = 0) -> torch.Generator:
        """A seeded torch generator, distinct per ``salt`` (one per step), so steps do not share noise."""
        return torch.Generator().manual_seed(self.seed * 1000 + salt)

    def rng(self, salt: int = 0) -> np.random.Generator:
        """A seeded numpy generator, distinct per ``salt``."""
        return np.random.default_rng(self.seed * 1000 + salt)

    def track(self, items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
        """``items`` with a progress bar on stderr (none when progress is off)."""
        return iter(tqdm(items, desc=desc, total=total, leave=False, disable=not self.progress))


def to_display(image: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` or ``(3, H, W)`` sRGB tensor -> ``(H, W, 3)`` float32 numpy in [0, 1] for a report panel."""
    x = image.detach().cpu().float()
    if x.ndim == 4:
        x = x[0]
    return x.clamp(0.0, 1.0).permute(1, 2, 0).numpy()


def working_size(long_side_px: int) -> tuple[int, int]:
    """A 3:2 landscape ``(H, W)`` with even sides: a transfer samples the image through a 2 x 2 CFA."""
    return 2 * round(long_side_px / 3), 2 * (long_side_px // 2)
