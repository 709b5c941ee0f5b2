"""Bayer mosaic <-> RGB: ``mosaic`` and ``demosaic`` (bilinear, Malvar-He-Cutler 2004).

Both demosaicers are linear filters followed by a per-site choice of which filter response (or the
sample itself) gives each output colour. The choice depends only on the site's colour and, for a
green site, on whether its row holds red or blue neighbours, so one selection routine serves both
filter sets and every Bayer phase, per sample.

Borders are mirror-padded without repeating the edge sample, which keeps the CFA phase (a sample
two pixels away has the same colour), so outputs keep the input's H x W for any size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core_isp.cfa import colour_index_map
from core_isp.tensor_checks import check_shape

# Filter responses, in the order of the selection codes below.
_RAW, _G_AT_RB, _RB_ROW, _RB_COL, _RB_DIAG = range(5)


def _malvar_kernels() -> torch.Tensor:
    g_at_rb = [
        [0, 0, -2, 0, 0],
        [0, 0, 4, 0, 0],
        [-2, 4, 8, 4, -2],
        [0, 0, 4, 0, 0],
        [0, 0, -2, 0, 0],
    ]
    rb_row = [
        [0, 0, 1, 0, 0],
        [0, -2, 0, -2, 0],
        [-2, 8, 10, 8, -2],
        [0, -2, 0, -2, 0],
        [0, 0, 1, 0, 0],
    ]
    rb_diag = [
        [0, 0, -3, 0, 0],
        [0, 4, 0, 4, 0],
        [-3, 0, 12, 0, -3],
        [0, 4, 0, 4, 0],
        [0, 0, -3, 0, 0],
    ]
    row = torch.tensor(rb_row, dtype=torch.float64)
    return (
        torch.stack(
            [
                torch.tensor(g_at_rb, dtype=torch.float64),
                row,
                row.T,
                torch.tensor(rb_diag, dtype=torch.float64),
            ]
        )
        / 16
    )


def _bilinear_kernels() -> torch.Tensor:
    k = torch.zeros(4, 5, 5, dtype=torch.float64)
    k[0, 1, 2] = k[0, 3, 2] = k[0, 2, 1] = k[0, 2, 3] = 0.25
    k[1, 2, 1] = k[1, 2, 3] = 0.5
    k[2, 1, 2] = k[2, 3, 2] = 0.5
    k[3, 1, 1] = k[3, 1, 3] = k[3, 3, 1] = k[3, 3, 3] = 0.25
    return k


_KERNELS = {"malvar": _malvar_kernels(), "bilinear": _bilinear_kernels()}
DEMOSAIC_METHODS = tuple(_KERNELS)


def mirror_index(n: int, start: int, end: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Source index of each position ``start .. end - 1`` of an axis of size ``n`` mirrored on both sides without
    repeating the edge (``d c b | a b c d | c b a``), periodically when the range exceeds the mirror: ``(end - start,)``
    long."""
    i = torch.arange(start, end, device=device)
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    i = i.remainder(period)
    return torch.where(i >= n, period - i, i)


def mirror_pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Mirror-pad the last two dims without repeating the edge (``d c b | a b c d``), any size.

    Unlike ``F.pad(mode="reflect")`` this works when the pad exceeds the size (the mirror repeats
    periodically), so 1- and 2-pixel images are handled too.
    """
    h, w = x.shape[-2:]
    x = x.index_select(-2, mirror_index(h, -top, h + bottom, x.device))
    return x.index_select(-1, mirror_index(w, -left, w + right, x.device))


def mosaic(rgb: torch.Tensor, cfa: torch.Tensor) -> torch.Tensor:
    """Sample an RGB image through a Bayer CFA: ``(B, 3, H, W)``, ``(B, 2, 2)`` -> ``(B, 1, H, W)``."""
    check_shape(rgb, "B,3,H,W", "rgb")
    check_shape(cfa, "B,2,2", "cfa")
    idx = colour_index_map(cfa.to(rgb.device), rgb.shape[-2], rgb.shape[-1])
    return torch.gather(rgb, 1, idx)


def _selection_table(cfa: torch.Tensor) -> torch.Tensor:
    """Per sample, output colour and 2x2 phase -> which response to take: ``(B, 3, 4)`` long."""
    b = cfa.shape[0]
    flat = cfa.reshape(b, 4)
    # Colour of the other site in the same row of the 2x2 cell (phase p -> p ^ 1).
    row_mate = flat[:, [1, 0, 3, 2]]
    table = torch.empty(b, 3, 4, dtype=torch.long, device=cfa.device)
    for c in range(3):
        site = flat
        if c == 1:
            choice = torch.where(site == 1, _RAW, _G_AT_RB)
        else:
            at_green = torch.where(row_mate == c, _RB_ROW, _RB_COL)
            choice = torch.where(site == c, _RAW, torch.where(site == 1, at_green, _RB_DIAG))
        table[:, c] = choice
    return table


def demosaic(raw: torch.Tensor, cfa: torch.Tensor, method: str = "malvar") -> torch.Tensor:
    """Interpolate a Bayer mosaic to RGB: ``(B, 1, H, W)``, ``(B, 2, 2)`` -> ``(B, 3, H, W)``.

    ``method`` is ``"malvar"`` (Malvar, He & Cutler 2004, the 5x5 gradient-corrected filters
    ParamISP's CanoNet uses) or ``"bilinear"``. Differentiable; no clipping.
    """
    check_shape(raw, "B,1,H,W", "raw")
    check_shape(cfa, "B,2,2", "cfa")
    if method not in _KERNELS:
        raise ValueError(f"unknown demosaic method {method!r}; choose from {DEMOSAIC_METHODS}")
    b, _, h, w = raw.shape
    cfa = cfa.to(raw.device)
    # Pad to even size (phase-preserving mirror) so the 2x2 phases can be unshuffled.
    ph, pw = h % 2, w % 2
    padded = mirror_pad(raw, 2, 2 + ph, 2, 2 + pw)
    kernels = _KERNELS[method].to(device=raw.device, dtype=raw.dtype).unsqueeze(1)
    responses = torch.cat([padded[..., 2:-2, 2:-2], F.conv2d(padded, kernels)], dim=1)  # (B, 5, H', W')
    phases = F.pixel_unshuffle(responses, 2).view(b, 5, 4, (h + ph) // 2, (w + pw) // 2)
    table = _selection_table(cfa)  # (B, 3, 4)
    index = table[..., None, None].expand(b, 3, 4, *phases.shape[-2:])
    picked = torch.gather(phases, 1, index)  # (B, 3, 4, h/2, w/2)
    rgb = F.pixel_shuffle(picked.reshape(b, 12, *phases.shape[-2:]), 2)
    return rgb[..., :h, :w]
