"""The global context: every globally pooled vector of a ParamISP network, recorded in a low-resolution pass.

DECIDE(12) (tiling semantics). Each global pooling (GlobalNet's pooled vector g, each LocalNet block's
channel-attention average and max) is taken in a *context pass*: the network runs on the whole network input
area-resized so its longer side is at most ``context_size`` (never upscaled unless a side is below
GlobalNet's minimum), and the pooled vectors are recorded here. The full-resolution pass then uses the
recorded vectors instead of pooling, so it is purely local and tiles with a halo wider than its reach
reproduce one untiled pass. Training runs the same two passes on its crops; a crop that already fits is its
own context, i.e. the paper's plain global pooling. Why not exact whole-image statistics: they need one
sequential pass over the image per attention block (10 for ``base``), and the paper itself pools over
448-pixel crops in training but over whole 2400 x 3600 images at test, so no exact semantics is consistent
between training and test. The context pass costs a fixed small image and is identical in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core_isp.models.globalnet import MIN_INPUT_SIDE
from core_isp.models.localnet import Pooled
from core_isp.tensor_checks import check_shape


@dataclass(frozen=True)
class GlobalContext:
    """Per-sample pooled vectors: ``pooled`` ``(B, global_channels)`` for GlobalNet and, per LocalNet block in
    execution order, its channel-attention (average, max) ``((B, channels), (B, channels))``."""

    pooled: torch.Tensor
    blocks: tuple[Pooled, ...]


def context_shape(height: int, width: int, context_size: int) -> tuple[int, int]:
    """Size ``(h, w)`` of the context image for an input of ``height x width``.

    Scaled so the longer side is at most ``context_size``, each side a multiple of 4 (resized straight to it,
    not padded, so no padding enters the pooled statistics) and at least GlobalNet's minimum side. An input
    that already satisfies this is its own context.
    """
    scale = min(1.0, context_size / max(height, width))

    def side(n: int) -> int:
        return max(MIN_INPUT_SIDE, 4 * max(1, round(n * scale / 4)))

    return side(height), side(width)


def area_columns(x: torch.Tensor, width: int) -> torch.Tensor:
    """Area-resample the columns only: ``(B, C, H, W)`` -> ``(B, C, H, width)``. Each row is resampled on its own,
    so a strip of rows gives exactly those rows of the whole image's result."""
    return F.adaptive_avg_pool2d(x, (x.shape[-2], width))


def area_rows(x: torch.Tensor, height: int) -> torch.Tensor:
    """Area-resample the rows only: ``(B, C, H, W)`` -> ``(B, C, height, W)``."""
    return F.adaptive_avg_pool2d(x, (height, x.shape[-1]))


def resize_for_context(x: torch.Tensor, context_size: int) -> torch.Tensor:
    """Area-resample the network input to :func:`context_shape`: ``(B, 3, H, W)`` -> ``(B, 3, h, w)``.

    Columns first, then rows (area resampling is separable), so whole-image inference can resample its input a
    strip of rows at a time and get the same numbers (:func:`core_isp.inference.context_input`).
    """
    check_shape(x, "B,3,H,W", "x")
    size = context_shape(x.shape[-2], x.shape[-1], context_size)
    if size == tuple(x.shape[-2:]):
        return x
    return area_rows(area_columns(x, size[1]), size[0])
