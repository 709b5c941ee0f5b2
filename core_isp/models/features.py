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
    over its two nearest bins and values outside fade out instead of piling up in the end bins. Computed with the
    bins innermost, so the result is laid out channels-last (a colour-major channel index ``c * bins + k`` is the
    innermost position) without a copy.
    """
    check_shape(x, "B,C,H,W", "x")
    centres = torch.arange(bins, device=x.device, dtype=x.dtype)
    scale = torch.tensor(bins - 1.0, device=x.device, dtype=x.dtype)
    offset = torch.addcmul(-centres, x.permute(0, 2, 3, 1).unsqueeze(-1), scale)  # (B, H, W, C, bins)
    return torch.relu_(1.0 - offset.abs()).flatten(3, 4).permute(0, 3, 1, 2)


def isp_features(
    x: torch.Tensor, mask: torch.Tensor, hist_bins: Sequence[int] = (4, 8, 16), dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Image, gradients, soft histograms and a given over-exposure mask: ``(B, 3, H, W)`` x 2 -> ``(B, F, H, W)``,
    in ``x``'s memory format (a channels-last network then gets its 96 channels without a layout conversion) and in
    ``dtype`` (default ``x``'s; each part is computed in ``x``'s and converted as it is laid out, not afterwards).

    ``mask`` is passed in rather than recomputed because the paper computes it once, from the image entering
    the learned part, and reuses it for the second sub-network.
    """
    check_shape(x, "B,3,H,W", "x")
    check_shape(mask, "B,3,H,W", "mask")
    channels_last = not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    gradients = spatial_gradient(x, mode="sobel", order=1, normalized=True).flatten(1, 2)
    parts = [x, gradients, *(soft_histogram(x, n) for n in hist_bins), mask.to(x.dtype)]
    return torch.cat([part.to(dtype=dtype or x.dtype, memory_format=layout) for part in parts], dim=1)
