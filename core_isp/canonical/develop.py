"""``develop``: the canonical RAW -> sRGB pipeline composed from the canonical operations."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from core_isp.canonical.colour_ops import (
    apply_ccm,
    apply_wb,
    clip_highlights,
    highlight_threshold,
    invert_ccm,
    invert_wb,
)
from core_isp.canonical.demosaic import demosaic, mosaic
from core_isp.canonical.tone import srgb_decode, srgb_encode
from core_isp.cfa import cfa_batch
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.metadata import CameraMetadata
from core_isp.tensor_checks import check_shape


@dataclass(frozen=True)
class CanonicalParams:
    """Per-sample canonical metadata as tensors, the form every canonical op takes.

    ``cfa`` ``(B, 2, 2)`` long, ``wb_gains`` ``(B, 3)``, ``ccm`` ``(B, 3, 3)`` (white-balanced
    camera RGB -> linear sRGB), ``clip_level`` ``(B,)`` (normalised level where the RAW clips).
    """

    cfa: torch.Tensor
    wb_gains: torch.Tensor
    ccm: torch.Tensor
    clip_level: torch.Tensor

    @classmethod
    def from_metadata(
        cls, metas: Sequence[CameraMetadata], device: torch.device | str | None = None
    ) -> CanonicalParams:
        """Stack the canonical fields of several shots.

        A shot without a colour matrix develops with the identity (camera RGB taken as sRGB) and a
        warning; a shot without white balance or CFA cannot be developed.
        """
        wbs, ccms = [], []
        for m in metas:
            if m.cfa_pattern is None:
                raise BadInputError("metadata has no CFA pattern: not a RAW mosaic")
            if m.wb_gains is None:
                raise BadInputError("metadata has no white balance")
            wbs.append(m.wb_gains)
            if m.ccm_wb_cam_to_srgb is None:
                warnings.warn(
                    f"{m.make} {m.model}: no colour matrix known; camera RGB is used as sRGB",
                    MetadataWarning,
                    stacklevel=2,
                )
                ccms.append(((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)))
            else:
                ccms.append(m.ccm_wb_cam_to_srgb)
        return cls(
            cfa=cfa_batch([m.cfa_pattern for m in metas], device),  # type: ignore[misc]
            wb_gains=torch.tensor(wbs, dtype=torch.float32, device=device),
            ccm=torch.tensor(ccms, dtype=torch.float32, device=device),
            clip_level=torch.tensor([m.clip_level for m in metas], dtype=torch.float32, device=device),
        )


def develop(raw: torch.Tensor, params: CanonicalParams, demosaic_method: str = "malvar") -> torch.Tensor:
    """Canonical RAW -> display sRGB: ``(B, 1, H, W)`` normalised mosaic -> ``(B, 3, H, W)`` in [0, 1].

    demosaic -> white balance -> highlight clip (rescaled so the clip point is white, as dcraw
    scales the saturation level to white) -> colour matrix -> clip -> sRGB encoding.
    Sensor orientation is kept.
    """
    check_shape(raw, "B,1,H,W", "raw")
    rgb = demosaic(raw, params.cfa, demosaic_method)
    rgb = apply_wb(rgb, params.wb_gains)
    threshold = highlight_threshold(params.wb_gains, params.clip_level)
    rgb = clip_highlights(rgb, threshold) / threshold.to(rgb).view(-1, 1, 1, 1)
    rgb = apply_ccm(rgb, params.ccm)
    return srgb_encode(rgb.clamp(0.0, 1.0))


def undevelop_rgb(srgb: torch.Tensor, params: CanonicalParams) -> torch.Tensor:
    """The canonical inverse of :func:`develop` up to the mosaic: ``(B, 3, H, W)`` sRGB -> ``(B, 3, H, W)``
    normalised camera RGB (every colour at every pixel, in the mosaic's normalisation).

    sRGB decoding -> inverse colour matrix -> inverse white balance (the highlight rescale is undone too).
    """
    check_shape(srgb, "B,3,H,W", "srgb")
    rgb = invert_ccm(srgb_decode(srgb.clamp(0.0, 1.0)), params.ccm)
    threshold = highlight_threshold(params.wb_gains, params.clip_level)
    return invert_wb(rgb * threshold.to(rgb).view(-1, 1, 1, 1), params.wb_gains)


def undevelop(srgb: torch.Tensor, params: CanonicalParams) -> torch.Tensor:
    """The canonical inverse of :func:`develop`: ``(B, 3, H, W)`` sRGB -> ``(B, 1, H, W)`` normalised mosaic.

    :func:`undevelop_rgb` sampled through the CFA, so ``undevelop(develop(x))`` returns x on unclipped sites.
    """
    return mosaic(undevelop_rgb(srgb, params), params.cfa)
