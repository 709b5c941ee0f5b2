"""The fixed "unprocessing" pipeline of Brooks et al. (CVPR 2019), the classic non-learned baseline.

``upi_process`` (RAW -> sRGB): white balance -> demosaic -> colour matrix -> clip -> gamma 1/2.2 ->
smoothstep tone curve; ``upi_unprocess`` (sRGB -> RAW) mirrors it step by step (``upi_unprocess_rgb`` stops
before the mosaic). Both take the shot's true white balance and matrix, so what they miss is only the camera's
own rendering (tone, noise reduction, sharpening, saturation, shot-dependent choices).
"""

from __future__ import annotations

import torch

from core_isp.canonical.colour_ops import apply_ccm, apply_wb_mosaic, invert_ccm, invert_wb
from core_isp.canonical.demosaic import demosaic, mosaic
from core_isp.canonical.develop import CanonicalParams
from core_isp.tensor_checks import check_shape

GAMMA = 2.2


def smoothstep(x: torch.Tensor) -> torch.Tensor:
    """The global tone curve ``3x^2 - 2x^3`` on [0, 1]."""
    x = x.clamp(0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def inverse_smoothstep(y: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`smoothstep` on [0, 1]: ``1/2 - sin(asin(1 - 2y) / 3)``."""
    y = y.clamp(0.0, 1.0)
    return 0.5 - torch.sin(torch.asin(1.0 - 2.0 * y) / 3.0)


def upi_process(raw: torch.Tensor, params: CanonicalParams) -> torch.Tensor:
    """``(B, 1, H, W)`` normalised mosaic -> ``(B, 3, H, W)`` sRGB in [0, 1]."""
    check_shape(raw, "B,1,H,W", "raw")
    rgb = demosaic(apply_wb_mosaic(raw, params.wb_gains, params.cfa), params.cfa, "malvar")
    rgb = apply_ccm(rgb.clamp(0.0, 1.0), params.ccm).clamp(min=1e-8)
    return smoothstep(rgb ** (1.0 / GAMMA))


def upi_unprocess_rgb(srgb: torch.Tensor, params: CanonicalParams) -> torch.Tensor:
    """``(B, 3, H, W)`` sRGB in [0, 1] -> ``(B, 3, H, W)`` normalised camera RGB, before the mosaic."""
    check_shape(srgb, "B,3,H,W", "srgb")
    rgb = inverse_smoothstep(srgb).clamp(min=1e-8) ** GAMMA
    return invert_wb(invert_ccm(rgb, params.ccm), params.wb_gains)


def upi_unprocess(srgb: torch.Tensor, params: CanonicalParams) -> torch.Tensor:
    """``(B, 3, H, W)`` sRGB in [0, 1] -> ``(B, 1, H, W)`` normalised mosaic: :func:`upi_unprocess_rgb` sampled
    through the CFA."""
    return mosaic(upi_unprocess_rgb(srgb, params), params.cfa)
