"""sRGB transfer function (IEC 61966-2-1), via kornia: differentiable, batched ``(*, 3, H, W)``."""

from __future__ import annotations

import torch
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb


def srgb_encode(linear: torch.Tensor) -> torch.Tensor:
    """Linear sRGB -> gamma-encoded sRGB, ``(*, 3, H, W)``."""
    return linear_rgb_to_rgb(linear)


def srgb_decode(encoded: torch.Tensor) -> torch.Tensor:
    """Gamma-encoded sRGB -> linear sRGB, ``(*, 3, H, W)``."""
    return rgb_to_linear_rgb(encoded)
