"""``ShotParams``: the per-sample metadata a ParamISP network consumes, as tensors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from core_isp.canonical import CanonicalParams
from core_isp.cfa import cfa_to_indices
from core_isp.errors import BadInputError
from core_isp.metadata import CameraMetadata

#: The optical parameters ParamNet embeds, in the column order of ``ShotParams.optics``.
OPTICAL_PARAMETERS: tuple[str, ...] = ("focal_length_mm", "f_number", "exposure_time_s", "iso")

#: White minus black (DN) assumed when a shot has no black/white level: a 14-bit sensor with zero black.
DEFAULT_RAW_LEVELS_DN = 2.0**14 - 1

#: Largest deviation of a colour-matrix row sum from 1 that is accepted as rounding.
CCM_ROW_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ShotParams:
    """Camera parameters of a batch of B shots.

    ``cfa`` ``(B, 2, 2)`` long; ``wb_gains`` ``(B, 3)`` with G = 1; ``ccm`` ``(B, 3, 3)`` white-balanced camera
    RGB -> linear sRGB, rows summing to 1; ``optics`` ``(B, 4)`` in :data:`OPTICAL_PARAMETERS` order and units,
    ``optics_known`` ``(B, 4)`` bool (an unknown value's entry in ``optics`` is meaningless);
    ``raw_levels_dn`` ``(B, 3)`` white minus black level per colour in DN (DN steps from black to white);
    ``gain_held`` ``(B,)`` 1.0 where the body held its sensor's gain a stop below the recorded ISO
    (:attr:`~core_isp.metadata.CameraMetadata.gain_held`), else 0.0 (not held, or the body's rule not known).
    """

    cfa: torch.Tensor
    wb_gains: torch.Tensor
    ccm: torch.Tensor
    optics: torch.Tensor
    optics_known: torch.Tensor
    raw_levels_dn: torch.Tensor
    gain_held: torch.Tensor

    def __post_init__(self) -> None:
        b = self.cfa.shape[0]
        shapes = {
            "cfa": (b, 2, 2),
            "wb_gains": (b, 3),
            "ccm": (b, 3, 3),
            "optics": (b, 4),
            "optics_known": (b, 4),
            "raw_levels_dn": (b, 3),
            "gain_held": (b,),
        }
        for name, shape in shapes.items():
            if tuple(getattr(self, name).shape) != shape:
                raise BadInputError(
                    f"ShotParams.{name} must have shape {shape}, got {tuple(getattr(self, name).shape)}"
                )
        # DECIDE(3): the colour matrix follows dcraw/LibRaw (rows sum to 1, neutral stays neutral). A matrix
        # normalised by its row mean (rows sum to 3, as the upstream code builds it) is refused, not rescaled,
        # so a wrong convention cannot slip into the colour embedding unnoticed.
        row_sums = self.ccm.detach().double().sum(dim=-1)
        worst = (row_sums - 1.0).abs().max().item() if b else 0.0
        if not worst <= CCM_ROW_SUM_TOLERANCE:
            raise BadInputError(
                f"colour matrix rows must sum to 1 (dcraw convention); found row sums {row_sums.flatten().tolist()}"
            )

    @property
    def batch_size(self) -> int:
        """Number of shots B."""
        return self.cfa.shape[0]

    def to(self, device: torch.device | str) -> ShotParams:
        """The same parameters on ``device``."""
        return ShotParams(**{name: getattr(self, name).to(device) for name in self.__dataclass_fields__})

    @classmethod
    def from_metadata(cls, metas: Sequence[CameraMetadata], device: torch.device | str | None = None) -> ShotParams:
        """Stack the shots' metadata. CFA and white balance are required; a missing colour matrix is the
        identity (with a warning, as in :class:`~core_isp.canonical.CanonicalParams`); a missing optical
        value is marked unknown (DECIDE(11)); missing levels assume :data:`DEFAULT_RAW_LEVELS_DN`."""
        if not metas:
            raise BadInputError("no shots given")
        canonical = CanonicalParams.from_metadata(metas, device)
        optics = [[getattr(m, name) for name in OPTICAL_PARAMETERS] for m in metas]
        return cls(
            cfa=canonical.cfa,
            wb_gains=canonical.wb_gains,
            ccm=canonical.ccm,
            optics=torch.tensor([[math.nan if v is None else v for v in row] for row in optics], device=device),
            optics_known=torch.tensor([[v is not None for v in row] for row in optics], device=device),
            raw_levels_dn=torch.tensor([_levels_per_colour(m) for m in metas], device=device),
            gain_held=torch.tensor([float(m.gain_held) for m in metas], device=device),
        )


def _levels_per_colour(meta: CameraMetadata) -> tuple[float, float, float]:
    """White minus black per colour (R, G, B); the two green sites' blacks are averaged."""
    if meta.white_level is None or meta.black_level_per_site is None or meta.cfa_pattern is None:
        return (DEFAULT_RAW_LEVELS_DN,) * 3
    colours = cfa_to_indices(meta.cfa_pattern).flatten().tolist()
    levels = []
    for c in range(3):
        blacks = [b for b, site in zip(meta.black_level_per_site, colours, strict=True) if site == c]
        levels.append(meta.white_level - sum(blacks) / len(blacks))
    return levels[0], levels[1], levels[2]
