"""Full-resolution inference: any image size, in overlapping tiles, in bounded memory.

An image is mirror-padded at the bottom and right to a multiple of 4 (the mirror does not repeat the edge
sample, so the CFA phase is kept and the top-left pattern is unchanged: DECIDE(8), any Bayer phase works
without RGGB alignment because demosaic and mosaic take each sample's pattern), its context is computed once
(DECIDE(12), :mod:`core_isp.models.context`), and the purely local full-resolution pass runs over windows of
``tile + 2 * halo`` pixels whose centres are kept. Windows start on multiples of 4, so the U-Net's stride-2
grids and the Bayer phase coincide with the untiled pass; at the image border a window takes no halo beyond
the image (it is shifted inward instead), so its padding is the untiled pass's padding. With a halo at least
the network's reach the result equals the untiled pass to float precision. All windows of an image have one
shape, which suits ``torch.compile`` and CUDA graphs.

The image, the forward direction's linear intermediate and the output stay on the input's device (host
memory); only one window at a time is on the compute device. Inputs are in sensor orientation (DECIDE(9)).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext

import torch

from core_isp.canonical import mirror_pad
from core_isp.errors import BadInputError
from core_isp.metadata import CameraMetadata
from core_isp.models.paramisp import CANONICAL_HALO, SIZE_MULTIPLE, Direction, ParamISP
from core_isp.models.shot import ShotParams
from core_isp.tensor_checks import check_shape

#: Default tile (kept centre of a window), in pixels: a 24 MP `base` image then peaks at about 2.1 GiB on CPU.
DEFAULT_TILE = 512
#: Default overlap of the user-level API (:class:`core_isp.isp.InferenceOptions`), in pixels. The exact overlap is
#: the model's reach (112 for ``base``), but what lies beyond 32 pixels barely reaches the output: with the shipped
#: weights a 32-pixel halo moves it by at most 3e-4 (one 8-bit code in 250 000 moves by one) and cuts a tile's work from
#: 2.07x to 1.27x its area (``python -m benchmarks.bench_isp halo``). These functions stay exact by default.
DEFAULT_HALO = 32

#: ``(start, end, window_start, window_end)`` of one tile along one axis.
Span = tuple[int, int, int, int]


def round_up(n: int, multiple: int = SIZE_MULTIPLE) -> int:
    """Smallest multiple of ``multiple`` that is >= ``n``."""
    return -(-n // multiple) * multiple


def tile_spans(size: int, tile: int, halo: int) -> list[Span]:
    """Tiles of ``tile`` pixels covering ``[0, size)``, each in a window of ``min(size, tile + 2 halo)`` pixels
    that holds at least ``halo`` pixels on each side of the tile, or reaches the image border there."""
    window = min(size, tile + 2 * halo)
    spans = []
    for start in range(0, size, tile):
        window_start = min(max(start - halo, 0), size - window)
        spans.append((start, min(start + tile, size), window_start, window_start + window))
    return spans


def run_tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    out_channels: int,
    tile: int | None,
    halo: int,
    device: torch.device,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> torch.Tensor:
    """Apply a local map ``fn`` (reach <= ``halo``) window by window: ``(B, C, H, W)`` -> ``(B, out_channels, H, W)``
    fp32 on ``x``'s device. ``tile`` None is one window over the whole image."""
    b, _, h, w = x.shape
    out = torch.empty(b, out_channels, h, w, dtype=torch.float32, device=x.device)
    tile_h, tile_w = (h, w) if tile is None else (tile, tile)
    for y0, y1, wy0, wy1 in tile_spans(h, tile_h, halo):
        for x0, x1, wx0, wx1 in tile_spans(w, tile_w, halo):
            window = x[..., wy0:wy1, wx0:wx1].to(device).contiguous(memory_format=memory_format)
            out[..., y0:y1, x0:x1] = fn(window)[..., y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0].float().to(x.device)
    return out


def forward_isp(
    model: ParamISP,
    raw: torch.Tensor,
    shots: ShotParams | Sequence[CameraMetadata],
    *,
    tile: int | None = DEFAULT_TILE,
    halo: int | None = None,
    device: torch.device | str | None = None,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = True,
) -> torch.Tensor:
    """RAW -> sRGB for whole images: normalised mosaic ``(B, 1, H, W)``, any H x W -> ``(B, 3, H, W)`` fp32.

    ``tile`` is the kept centre of each window (a multiple of 4; None: untiled), ``halo`` the overlap on each
    side (default: the model's reach rounded up to a multiple of 4). ``device`` is where the networks run
    (default: the model's); ``autocast_dtype`` e.g. ``torch.bfloat16`` runs the convolutions under autocast;
    ``channels_last`` (the default) runs the convolutions in that memory format, 1.4-1.5x faster for ``base`` on an
    AVX-512 CPU (``benchmarks/RESULTS.md``); the model's weights are converted to the format of the call in place,
    and the numbers do not change. The output is not clipped.
    """
    check_shape(raw, "B,1,H,W", "raw")
    return _run(model, "forward", raw, shots, tile, halo, device, autocast_dtype, channels_last)


def inverse_isp(
    model: ParamISP,
    srgb: torch.Tensor,
    shots: ShotParams | Sequence[CameraMetadata],
    *,
    tile: int | None = DEFAULT_TILE,
    halo: int | None = None,
    device: torch.device | str | None = None,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = True,
    mosaic: bool = True,
) -> torch.Tensor:
    """sRGB -> RAW for whole images: ``(B, 3, H, W)`` in [0, 1], any H x W -> normalised mosaic ``(B, 1, H, W)``
    fp32 in the shots' CFA patterns, not clipped. Without ``mosaic``, the camera RGB ``(B, 3, H, W)`` the mosaic
    samples (:meth:`ParamISP.from_network`). Options as in :func:`forward_isp`."""
    check_shape(srgb, "B,3,H,W", "srgb")
    return _run(model, "inverse", srgb, shots, tile, halo, device, autocast_dtype, channels_last, mosaic)


def _run(
    model: ParamISP,
    direction: Direction,
    x: torch.Tensor,
    shots: ShotParams | Sequence[CameraMetadata],
    tile: int | None,
    halo: int | None,
    device: torch.device | str | None,
    autocast_dtype: torch.dtype | None,
    channels_last: bool,
    mosaic: bool = True,
) -> torch.Tensor:
    if model.direction != direction:
        raise BadInputError(f"{direction} ISP needs a {direction} model, got an {model.direction} one")
    # More overlap than the reach is wasted work: the output is already exact.
    halo = round_up(model.reach) if halo is None else min(halo, round_up(model.reach))
    if (tile is not None and (tile <= 0 or tile % SIZE_MULTIPLE)) or halo < 0 or halo % SIZE_MULTIPLE:
        raise BadInputError(f"tile and halo must be multiples of {SIZE_MULTIPLE}, got tile={tile}, halo={halo}")
    compute = torch.device(device) if device is not None else next(model.parameters()).device
    if not isinstance(shots, ShotParams):
        shots = ShotParams.from_metadata(list(shots))
    if shots.batch_size != x.shape[0]:
        raise BadInputError(f"{shots.batch_size} shots for a batch of {x.shape[0]} images")
    shots = shots.to(compute)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    # Inputs in one format with weights in the other are slower than either format alone.
    model.to(memory_format=memory_format)
    autocast = torch.autocast(compute.type, dtype=autocast_dtype) if autocast_dtype is not None else nullcontext()
    height, width = x.shape[-2:]
    x = x.float()
    if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
        x = mirror_pad(x, 0, round_up(height) - height, 0, round_up(width) - width)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), autocast:
            h = model.embed(shots)
            if direction == "forward":
                x = run_tiled(lambda t: model.to_network(t, shots), x, 3, tile, CANONICAL_HALO, compute, memory_format)
            one_window = tile is None or tile >= max(x.shape[-2:])
            context = None if one_window and model.fits_context(*x.shape[-2:]) else model.context(x, h)
            out = run_tiled(
                lambda t: model.from_network(model.learned(t, h, context)[0], shots, mosaic),
                x,
                1 if direction == "inverse" and mosaic else 3,
                tile,
                halo,
                compute,
                memory_format,
            )
    finally:
        model.train(was_training)
    return out[..., :height, :width]
