"""CanoNet: the fixed, differentiable, invertible camera operations (no learned weights)."""

from core_isp.canonical.colour_ops import (
    apply_ccm,
    apply_wb,
    apply_wb_mosaic,
    clip_highlights,
    grey_world_gains,
    highlight_threshold,
    invert_ccm,
    invert_wb,
)
from core_isp.canonical.demosaic import DEMOSAIC_METHODS, demosaic, mirror_index, mirror_pad, mosaic
from core_isp.canonical.develop import CanonicalParams, develop, undevelop, undevelop_rgb
from core_isp.canonical.tone import srgb_decode, srgb_encode

__all__ = [
    "DEMOSAIC_METHODS",
    "CanonicalParams",
    "apply_ccm",
    "apply_wb",
    "apply_wb_mosaic",
    "clip_highlights",
    "demosaic",
    "develop",
    "grey_world_gains",
    "highlight_threshold",
    "invert_ccm",
    "invert_wb",
    "mirror_index",
    "mirror_pad",
    "mosaic",
    "srgb_decode",
    "srgb_encode",
    "undevelop",
    "undevelop_rgb",
]
