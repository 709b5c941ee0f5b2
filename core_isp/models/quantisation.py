"""Quantisation and training-time dequantisation noise, as pure functions.

The noise stands in for the rounding the network's input went through: 0.4 DN at each RAW site (in units of
that site's white - black range) and 0.4 of an 8-bit level for sRGB. The training data adds it to the
networks' inputs; the networks themselves draw no random numbers. A caller that needs reproducible noise per
sample passes its own standard-normal draw.
"""

from __future__ import annotations

import torch

from core_isp.cfa import colour_index_map
from core_isp.tensor_checks import check_shape

RAW_NOISE_DN = 0.4
SRGB_NOISE_LEVELS = 0.4
SRGB_LEVELS = 255.0


def add_raw_dequantisation_noise(
    raw: torch.Tensor,
    cfa: torch.Tensor,
    levels_dn: torch.Tensor,
    standard_normal: torch.Tensor | None = None,
    noise_dn: float = RAW_NOISE_DN,
) -> torch.Tensor:
    """Add N(0, (noise_dn / levels[c])^2) at each site of colour c: ``(B, 1, H, W)``, ``(B, 2, 2)``, ``(B, 3)``.

    ``standard_normal`` ``(B, 1, H, W)`` is the N(0, 1) draw to scale (default: drawn here).
    """
    check_shape(raw, "B,1,H,W", "raw")
    check_shape(levels_dn, "B,3", "levels_dn")
    idx = colour_index_map(cfa.to(raw.device), raw.shape[-2], raw.shape[-1])
    std = torch.gather((noise_dn / levels_dn.to(raw))[:, :, None, None].expand(-1, -1, *raw.shape[-2:]), 1, idx)
    return raw + std * (torch.randn_like(raw) if standard_normal is None else standard_normal)


def add_srgb_dequantisation_noise(
    srgb: torch.Tensor,
    standard_normal: torch.Tensor | None = None,
    noise_levels: float = SRGB_NOISE_LEVELS,
    levels: float = SRGB_LEVELS,
) -> torch.Tensor:
    """Add N(0, (noise_levels / levels)^2) to every value of an sRGB image ``(B, 3, H, W)``.

    ``standard_normal`` ``(B, 3, H, W)`` is the N(0, 1) draw to scale (default: drawn here).
    """
    check_shape(srgb, "B,3,H,W", "srgb")
    return srgb + (noise_levels / levels) * (torch.randn_like(srgb) if standard_normal is None else standard_normal)


def quantise_raw(raw: torch.Tensor, bits: int = 14) -> torch.Tensor:
    """Clip a normalised RAW to [0, 1] and round it to ``bits`` bits, any shape.

    DECIDE(7): scale and unscale by the same ``2**bits - 1`` (the upstream evaluation multiplies by 2^14 but
    divides by 2^14 - 1, which brightens by 1/16383 and maps 1 above 1), so 0 and 1 are fixed points.
    """
    top = float(2**bits - 1)
    return torch.round(raw.clamp(0.0, 1.0) * top) / top
