"""White balance, colour matrix and highlight clipping on batched tensors, each with its inverse."""

from __future__ import annotations

import torch

from core_isp.cfa import colour_index_map, colour_masks
from core_isp.tensor_checks import check_shape


def apply_wb(rgb: torch.Tensor, wb_gains: torch.Tensor) -> torch.Tensor:
    """Multiply each channel by its gain: ``(B, 3, H, W)``, ``(B, 3)`` -> ``(B, 3, H, W)``."""
    check_shape(rgb, "B,3,H,W", "rgb")
    check_shape(wb_gains, "B,3", "wb_gains")
    return rgb * wb_gains[:, :, None, None].to(rgb)


def invert_wb(rgb: torch.Tensor, wb_gains: torch.Tensor) -> torch.Tensor:
    """Undo :func:`apply_wb` (divide by the gains)."""
    check_shape(wb_gains, "B,3", "wb_gains")
    return apply_wb(rgb, 1.0 / wb_gains)


def apply_wb_mosaic(raw: torch.Tensor, wb_gains: torch.Tensor, cfa: torch.Tensor) -> torch.Tensor:
    """White-balance a Bayer mosaic site by site: ``(B, 1, H, W)``, ``(B, 3)``, ``(B, 2, 2)``."""
    check_shape(raw, "B,1,H,W", "raw")
    check_shape(wb_gains, "B,3", "wb_gains")
    idx = colour_index_map(cfa.to(raw.device), raw.shape[-2], raw.shape[-1])
    gains = torch.gather(wb_gains.to(raw)[:, :, None, None].expand(-1, -1, *raw.shape[-2:]), 1, idx)
    return raw * gains


def apply_ccm(rgb: torch.Tensor, ccm: torch.Tensor) -> torch.Tensor:
    """Per-pixel ``y = M x``: ``(B, 3, H, W)``, ``(B, 3, 3)`` -> ``(B, 3, H, W)``."""
    check_shape(rgb, "B,3,H,W", "rgb")
    check_shape(ccm, "B,3,3", "ccm")
    return torch.einsum("bij,bjhw->bihw", ccm.to(rgb), rgb)


def invert_ccm(rgb: torch.Tensor, ccm: torch.Tensor) -> torch.Tensor:
    """Undo :func:`apply_ccm` with the matrix inverse."""
    check_shape(ccm, "B,3,3", "ccm")
    return apply_ccm(rgb, torch.linalg.inv(ccm.to(torch.float64)).to(rgb.dtype))


def highlight_threshold(wb_gains: torch.Tensor, clip_level: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Level ``(B,)`` above which a white-balanced pixel may have a clipped channel.

    A channel clips at ``clip_level * gain`` after white balance; beyond the smallest of those the
    hue of a highlight is unknown.
    """
    check_shape(wb_gains, "B,3", "wb_gains")
    clip = torch.as_tensor(clip_level, dtype=wb_gains.dtype, device=wb_gains.device)
    return (clip.reshape(-1, 1) * wb_gains).amin(dim=1)


def clip_highlights(rgb: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Clip a white-balanced image to ``[0, threshold]`` per sample, so clipped highlights are neutral.

    ``(B, 3, H, W)``, ``(B,)`` -> ``(B, 3, H, W)``.
    """
    check_shape(rgb, "B,3,H,W", "rgb")
    t = threshold.to(rgb).view(-1, 1, 1, 1)
    return torch.minimum(rgb.clamp(min=0.0), t)


def grey_world_gains(raw: torch.Tensor, cfa: torch.Tensor, clip_level: float = 1.0) -> torch.Tensor:
    """Estimate white-balance gains (G = 1) from a mosaic by the grey-world assumption.

    Sites within 5 % of clipping or below 0.2 % of it are left out, so blown highlights and
    read-noise-dominated shadows do not bias the means. ``(B, 1, H, W)``, ``(B, 2, 2)`` -> ``(B, 3)``.
    """
    check_shape(raw, "B,1,H,W", "raw")
    masks = colour_masks(cfa.to(raw.device), raw.shape[-2], raw.shape[-1], raw.dtype)
    valid = ((raw < 0.95 * clip_level) & (raw > 0.002 * clip_level)).to(raw.dtype)
    w = masks * valid
    means = (raw * w).sum(dim=(2, 3)) / w.sum(dim=(2, 3)).clamp(min=1.0)
    means = means.clamp(min=1e-8)
    return means[:, 1:2] / means
