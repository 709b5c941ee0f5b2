"""Hand-held camera shake during one exposure: a smooth random path of image translation and in-plane rotation.

The path is a random walk of the velocity with inertia (a hand drifts and corrects rather than jumping), made
zero-mean in time so the exposure's middle instant sees the unmoved image, then scaled so its largest excursion
from the start point is a drawn length. Lengths are a fraction of the image diagonal, so a path means the same blur
at any resolution. :data:`DEFAULT_SHAKE` spans what hand-held shots at 1/60-1/4 s show: from a few pixels of
smear to about 2 % of the diagonal (~30 px at 1280x720), with up to 0.6 degrees of roll.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class ShakeRanges:
    """Ranges paths are drawn from (uniform within each)."""

    #: Largest excursion of the path, as a fraction of the image diagonal.
    length_fraction: tuple[float, float] = (0.002, 0.02)
    #: Largest roll away from the middle instant, degrees (either sign).
    roll_deg: tuple[float, float] = (0.0, 0.6)
    #: Share of each step's velocity kept from the previous one: higher is smoother, straighter.
    inertia: tuple[float, float] = (0.6, 0.95)

    def to_dict(self) -> dict[str, list[float]]:
        return {k: list(v) for k, v in asdict(self).items()}


DEFAULT_SHAKE = ShakeRanges()


@dataclass(frozen=True)
class ShakePath:
    """Positions of the image at ``T`` equally spaced instants of one exposure (image pixels, degrees)."""

    #: ``(T, 2)`` as (x, y): where the image content has moved, x right, y down.
    shift_px: np.ndarray
    #: ``(T,)`` roll about the image centre, degrees, positive counter-clockwise on screen.
    roll_deg: np.ndarray

    def __len__(self) -> int:
        return len(self.roll_deg)

    def affines(self, size_hw: tuple[int, int]) -> torch.Tensor:
        """``(T, 2, 3)`` float64 affines mapping the unmoved image to each instant's, about the image centre, in
        the convention of :func:`kornia.geometry.transform.warp_affine` and :func:`core_isp.raw_domain.warp_planes`."""
        h, w = size_hw
        cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
        theta = -np.deg2rad(self.roll_deg)  # y points down: a counter-clockwise roll on screen is a negative angle
        c, s = np.cos(theta), np.sin(theta)
        m = np.zeros((len(self), 2, 3))
        m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
        m[:, 0, 2] = cx - c * cx + s * cy + self.shift_px[:, 0]
        m[:, 1, 2] = cy - s * cx - c * cy + self.shift_px[:, 1]
        return torch.from_numpy(m)

    def extent_px(self, size_hw: tuple[int, int]) -> float:
        """Largest distance any image corner travels between two instants (pixels): the blur's reach."""
        h, w = size_hw
        corners = torch.tensor([[0.0, 0.0, 1.0], [w - 1, 0.0, 1.0], [0.0, h - 1, 1.0], [w - 1, h - 1, 1.0]],
                               dtype=torch.float64)  # fmt: skip
        moved = torch.einsum("tij,cj->tci", self.affines(size_hw), corners)  # (T, 4, 2)
        return float(torch.cdist(moved.permute(1, 0, 2), moved.permute(1, 0, 2)).max())

    def to_dict(self) -> dict[str, list]:
        return {"shift_px": np.round(self.shift_px, 4).tolist(), "roll_deg": np.round(self.roll_deg, 5).tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, list]) -> ShakePath:
        return cls(np.asarray(d["shift_px"], dtype=np.float64), np.asarray(d["roll_deg"], dtype=np.float64))


def sample_shake(
    rng: np.random.Generator, steps: int, size_hw: tuple[int, int], ranges: ShakeRanges = DEFAULT_SHAKE
) -> ShakePath:
    """Draw one shake path of ``steps`` instants for an image of ``size_hw``; all randomness from ``rng``."""
    if steps < 1:
        raise ValueError(f"a path needs at least one instant, got {steps}")
    inertia = rng.uniform(*ranges.inertia)
    velocity = np.zeros(3)
    walk = np.zeros((steps, 3))  # x, y, roll (unit-free until scaled)
    for t in range(1, steps):
        velocity = inertia * velocity + math.sqrt(1.0 - inertia**2) * rng.standard_normal(3)
        walk[t] = walk[t - 1] + velocity
    walk -= _middle(walk)
    diagonal = math.hypot(*size_hw)
    shift = walk[:, :2]
    reach = np.linalg.norm(shift - shift[0], axis=1).max()
    length = rng.uniform(*ranges.length_fraction) * diagonal
    shift = shift * (length / reach) if reach > 0 else shift
    roll = walk[:, 2]
    roll_reach = np.abs(roll).max()
    roll = roll * (rng.uniform(*ranges.roll_deg) / roll_reach) if roll_reach > 0 else roll
    return ShakePath(shift_px=shift, roll_deg=roll)


def _middle(walk: np.ndarray) -> np.ndarray:
    """The path's position at the exposure's middle instant (interpolated between steps for an even count)."""
    t = (len(walk) - 1) / 2.0
    lo, hi = math.floor(t), math.ceil(t)
    return 0.5 * (walk[lo] + walk[hi])
