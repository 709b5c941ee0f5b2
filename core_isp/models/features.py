"""The input features LocalNet and GlobalNet share, as pure functions on ``(B, 3, H, W)`` images.

Channel order: image (3), normalised Sobel d/dx, d/dy per channel (6), soft histograms with 4, 8 and 16 bins
(3 x bins each, colour-major), over-exposure mask (3): 96 channels for bins (4, 8, 16).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from kornia.filters import spatial_gradient

from core_isp.tensor_checks import check_shape

#: Level above which a channel counts as over-exposed; the mask reaches 1 at 1.0 and keeps rising.
OVEREXPOSURE_KNEE = 0.95


def overexposure_mask(x: torch.Tensor) -> torch.Tensor:
    """``max(0, (x - 0.95) / 0.05)`` per channel, no upper clip: ``(B, 3, H, W)`` -> ``(B, 3, H, W)``."""
    check_shape(x, "B,3,H,W", "x")
    return ((x - OVEREXPOSURE_KNEE) / (1.0 - OVEREXPOSURE_KNEE)).clamp(min=0.0)


def soft_histogram(x: torch.Tensor, bins: int) -> torch.Tensor:
    """Triangular soft binning per channel: ``(B, C, H, W)`` -> ``(B, C * bins, H, W)``, colour-major.

    Bin k is centred on ``k / (bins - 1)`` with half-width ``1 / (bins - 1)``, so a value in [0, 1] spreads
    over its two nearest bins and values outside fade out instead of piling up in the end bins.
    """
    check_shape(x, "B,C,H,W", "x")
    centres = torch.arange(bins, device=x.device, dtype=x.dtype).view(1, 1, bins, 1, 1)
    offset = torch.addcmul(-centres, x.unsqueeze(2), torch.tensor(bins - 1.0, device=x.device, dtype=x.dtype))
    return torch.relu_(1.0 - offset.abs()).flatten(1, 2)


def isp_features(x: torch.Tensor, mask: torch.Tensor, hist_bins: Sequence[int] = (4, 8, 16)) -> torch.Tensor:
    """Image, gradients, soft histograms and a given over-exposure mask: ``(B, 3, H, W)`` x 2 -> ``(B, F, H, W)``.

    ``mask`` is passed in rather than recomputed because the paper computes it once, from the image entering
    the learned part, and reuses it for the second sub-network.
    """
    check_shape(x, "B,3,H,W", "x")
    check_shape(mask, "B,3,H,W", "mask")
    gradients = spatial_gradient(x, mode="sobel", order=1, normalized=True).flatten(1, 2)
    return torch.cat([x, gradients, *(soft_histogram(x, n) for n in hist_bins), mask.to(x.dtype)], dim=1)
