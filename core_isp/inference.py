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

Nothing image-sized is made besides the input and the output, which stay on the input's device (host memory):
the bottom-right padding is mirrored inside each window, the forward direction's canonical steps run on each
window (with :data:`~core_isp.models.paramisp.CANONICAL_HALO` more around it) rather than over the image, the
context's area resampling reads the network input a strip of rows at a time, and only one window at a time is on
the compute device. The input may be 8- or 16-bit code values (converted window by window,
:func:`core_isp.image.from_codes`) and the output may be requested as codes (``output_dtype``, quantised tile by
tile, :func:`core_isp.image.to_codes`): a 60 MP photo then never exists as floats, and since both conversions are
elementwise the codes equal those of the float path converted afterwards. Inputs are in sensor orientation
(DECIDE(9)).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext

import torch

from core_isp.canonical import mirror_index
from core_isp.errors import BadInputError
from core_isp.image import CODE_DTYPES, from_codes, to_codes
from core_isp.metadata import CameraMetadata
from core_isp.models.context import area_columns, area_rows, context_shape
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

#: What LocalNet may run in (:meth:`~core_isp.models.paramisp.ParamISP.with_localnet_dtype`).
LOCALNET_DTYPES = (torch.float32, torch.bfloat16, torch.float16)

#: The context's area resampling reads the network input in full-width strips of about this many pixels.
CONTEXT_STRIP_PIXELS = 1 << 20

#: ``(start, end, window_start, window_end)`` of one tile along one axis.
Span = tuple[int, int, int, int]


def round_up(n: int, multiple: int = SIZE_MULTIPLE) -> int:
    """Smallest multiple of ``multiple`` that is >= ``n``."""
    return -(-n // multiple) * multiple


def tile_spans(size: int, tile: int, halo: int, multiple: int = SIZE_MULTIPLE) -> list[Span]:
    """Tiles of at most ``tile`` pixels covering ``[0, size)``, each in a window of ``min(size, tile + 2 halo)``
    pixels that holds at least ``halo`` pixels on each side of the tile, or reaches the image border there.

    The tiles are as even as multiples of ``multiple`` allow: as many as ``tile`` needs, each shrunk to share the
    size, since a short last tile costs a whole window (772 rows in tiles of 512 cost two 576-row windows; in tiles
    of 388, two of 452). A network that takes sizes on a grid passes its grid: with ``size``, ``tile`` and ``halo``
    on it, every window is too.
    """
    count = -(-size // tile)
    tile = min(tile, round_up(-(-size // count), multiple))
    window = min(size, tile + 2 * halo)
    spans = []
    for start in range(0, size, tile):
        window_start = min(max(start - halo, 0), size - window)
        spans.append((start, min(start + tile, size), window_start, window_start + window))
    return spans


def tiles(
    height: int, width: int, tile: int | None, halo: int, multiple: int = SIZE_MULTIPLE
) -> Iterator[tuple[Span, Span]]:
    """The tiles of an image in raster order, each as its row and column :data:`Span` (:func:`tile_spans`);
    ``tile`` None is one."""
    tile_h, tile_w = (height, width) if tile is None else (tile, tile)
    for rows in tile_spans(height, tile_h, halo, multiple):
        for cols in tile_spans(width, tile_w, halo, multiple):
            yield rows, cols


def run_tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    out_channels: int,
    tile: int | None,
    halo: int,
    device: torch.device,
    memory_format: torch.memory_format = torch.contiguous_format,
    multiple: int = SIZE_MULTIPLE,
) -> torch.Tensor:
    """Apply a local map ``fn`` (reach <= ``halo``) window by window: ``(B, C, H, W)`` -> ``(B, out_channels, H, W)``
    fp32 on ``x``'s device. ``tile`` None is one window over the whole image; ``multiple``: the size grid ``fn``
    needs (the image, ``tile`` and ``halo`` on it keep every window on it)."""
    b, _, h, w = x.shape
    out = torch.empty(b, out_channels, h, w, dtype=torch.float32, device=x.device)
    for (y0, y1, wy0, wy1), (x0, x1, wx0, wx1) in tiles(h, w, tile, halo, multiple):
        window = x[..., wy0:wy1, wx0:wx1].to(device).contiguous(memory_format=memory_format)
        out[..., y0:y1, x0:x1] = fn(window)[..., y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0].float().to(x.device)
    return out


def padded_window(x: torch.Tensor, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
    """Rows ``[y0, y1)`` and columns ``[x0, x1)`` of ``x`` ``(B, C, H, W)`` mirror-padded past its bottom and right
    edges (:func:`~core_isp.canonical.mirror_index`), as fp32 (:func:`~core_isp.image.from_codes`): equal to the same
    window of the padded, converted image, without making that image."""
    height, width = x.shape[-2:]
    rows, cols = mirror_index(height, y0, y1), mirror_index(width, x0, x1)
    top, left = int(rows.min()), int(cols.min())
    block = x[..., top : int(rows.max()) + 1, left : int(cols.max()) + 1]
    if y1 > height:
        block = block.index_select(-2, rows - top)
    if x1 > width:
        block = block.index_select(-1, cols - left)
    return from_codes(block)


def context_input(
    read: Callable[[int, int, int, int], torch.Tensor], height: int, width: int, context_size: int
) -> torch.Tensor:
    """The context pass's input (:func:`~core_isp.models.context.resize_for_context`) of a ``height x width``
    network input that ``read(y0, y1, x0, x1)`` gives window by window ``(B, 3, y1 - y0, x1 - x0)``: the columns
    are resampled a full-width strip of rows at a time, then the rows, so the whole input is never made."""
    size = context_shape(height, width, context_size)
    if size == (height, width):
        return read(0, height, 0, width)
    rows = max(SIZE_MULTIPLE, CONTEXT_STRIP_PIXELS // width // SIZE_MULTIPLE * SIZE_MULTIPLE)
    strips = [area_columns(read(top, min(top + rows, height), 0, width), size[1]) for top in range(0, height, rows)]
    return area_rows(torch.cat(strips, dim=-2), size[0])


def forward_isp(
    model: ParamISP,
    raw: torch.Tensor,
    shots: ShotParams | Sequence[CameraMetadata],
    *,
    tile: int | None = DEFAULT_TILE,
    halo: int | None = None,
    device: torch.device | str | None = None,
    autocast_dtype: torch.dtype | None = None,
    localnet_dtype: torch.dtype = torch.float32,
    channels_last: bool = True,
    output_dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """RAW -> sRGB for whole images: normalised mosaic ``(B, 1, H, W)``, any H x W -> ``(B, 3, H, W)`` fp32.

    ``tile`` is the kept centre of each window (a multiple of 4; None: untiled), ``halo`` the overlap on each
    side (default: the model's reach rounded up to a multiple of 4). ``device`` is where the networks run
    (default: the model's); ``autocast_dtype`` e.g. ``torch.bfloat16`` runs the convolutions under autocast;
    ``localnet_dtype`` ``torch.bfloat16`` runs LocalNet, nearly all of the arithmetic, with bf16 weights and
    activations (:meth:`~core_isp.models.paramisp.ParamISP.with_localnet_dtype`: 1.6-1.7x faster on an AVX512-BF16 CPU,
    output within about 5e-3, ``benchmarks/RESULTS.md``);
    ``channels_last`` (the default) runs the convolutions in that memory format, 1.4-1.5x faster for ``base`` on an
    AVX-512 CPU (``benchmarks/RESULTS.md``); the model's weights are converted to the format of the call in place,
    and the numbers do not change. The output is not clipped, unless ``output_dtype`` is ``torch.uint8`` or
    ``torch.uint16``: then it is the sRGB as code values (:func:`~core_isp.image.to_codes`), a quarter (half) of the
    memory of floats.
    """
    check_shape(raw, "B,1,H,W", "raw")
    return _run(model, "forward", raw, shots, tile, halo, device, autocast_dtype, localnet_dtype, channels_last, True,
                output_dtype)


def inverse_isp(
    model: ParamISP,
    srgb: torch.Tensor,
    shots: ShotParams | Sequence[CameraMetadata],
    *,
    tile: int | None = DEFAULT_TILE,
    halo: int | None = None,
    device: torch.device | str | None = None,
    autocast_dtype: torch.dtype | None = None,
    localnet_dtype: torch.dtype = torch.float32,
    channels_last: bool = True,
    mosaic: bool = True,
) -> torch.Tensor:
    """sRGB -> RAW for whole images: ``(B, 3, H, W)`` in [0, 1] (or uint8 / uint16 code values, converted window
    by window), any H x W -> normalised mosaic ``(B, 1, H, W)`` fp32 in the shots' CFA patterns, not clipped.
    Without ``mosaic``, the camera RGB ``(B, 3, H, W)`` the mosaic samples (:meth:`ParamISP.from_network`).
    Options as in :func:`forward_isp`."""
    check_shape(srgb, "B,3,H,W", "srgb")
    return _run(model, "inverse", srgb, shots, tile, halo, device, autocast_dtype, localnet_dtype, channels_last,
                mosaic)


def _run(
    model: ParamISP,
    direction: Direction,
    x: torch.Tensor,
    shots: ShotParams | Sequence[CameraMetadata],
    tile: int | None,
    halo: int | None,
    device: torch.device | str | None,
    autocast_dtype: torch.dtype | None,
    localnet_dtype: torch.dtype,
    channels_last: bool,
    mosaic: bool = True,
    output_dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    if model.direction != direction:
        raise BadInputError(f"{direction} ISP needs a {direction} model, got an {model.direction} one")
    # More overlap than the reach is wasted work: the output is already exact.
    halo = round_up(model.reach) if halo is None else min(halo, round_up(model.reach))
    if (tile is not None and (tile <= 0 or tile % SIZE_MULTIPLE)) or halo < 0 or halo % SIZE_MULTIPLE:
        raise BadInputError(f"tile and halo must be multiples of {SIZE_MULTIPLE}, got tile={tile}, halo={halo}")
    if localnet_dtype not in LOCALNET_DTYPES:
        raise BadInputError(f"localnet_dtype {localnet_dtype}: LocalNet runs in torch.float32, bfloat16 or float16")
    if output_dtype != torch.float32 and (direction != "forward" or output_dtype not in CODE_DTYPES):
        raise BadInputError(f"output_dtype {output_dtype}: the forward ISP gives float32, uint8 or uint16 sRGB, "
                            "the inverse float32 RAW")  # fmt: skip
    compute = torch.device(device) if device is not None else next(model.parameters()).device
    if not isinstance(shots, ShotParams):
        shots = ShotParams.from_metadata(list(shots))
    if shots.batch_size != x.shape[0]:
        raise BadInputError(f"{shots.batch_size} shots for a batch of {x.shape[0]} images")
    shots = shots.to(compute)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    # Inputs in one format with weights in the other are slower than either format alone.
    model.to(memory_format=memory_format)
    net = model.with_localnet_dtype(localnet_dtype)
    autocast = torch.autocast(compute.type, dtype=autocast_dtype) if autocast_dtype is not None else nullcontext()
    height, width = x.shape[-2:]
    padded_h, padded_w = round_up(height), round_up(width)

    def network_input(y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
        """The network input over a window of the padded image, on the compute device."""
        if direction == "inverse":
            return padded_window(x, y0, y1, x0, x1).to(compute)
        # The canonical steps see CANONICAL_HALO past the window, or the image border as the whole image does.
        cy0, cy1 = max(y0 - CANONICAL_HALO, 0), min(y1 + CANONICAL_HALO, padded_h)
        cx0, cx1 = max(x0 - CANONICAL_HALO, 0), min(x1 + CANONICAL_HALO, padded_w)
        linear = model.to_network(padded_window(x, cy0, cy1, cx0, cx1).to(compute), shots)
        return linear[..., y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]

    out_channels = 1 if direction == "inverse" and mosaic else 3
    out = torch.empty(x.shape[0], out_channels, height, width, dtype=output_dtype, device=x.device)
    was_training = model.training
    model.eval()
    net.eval()
    try:
        with torch.inference_mode(), autocast:
            h = model.embed(shots)
            one_window = tile is None or tile >= max(padded_h, padded_w)
            context = None
            if not (one_window and model.fits_context(padded_h, padded_w)):
                context = net.context(context_input(network_input, padded_h, padded_w, model.config.context_size), h)
            for (y0, y1, wy0, wy1), (x0, x1, wx0, wx1) in tiles(padded_h, padded_w, tile, halo):
                y1, x1 = min(y1, height), min(x1, width)
                window = network_input(wy0, wy1, wx0, wx1).contiguous(memory_format=memory_format)
                y = model.from_network(net.learned(window, h, context)[0], shots, mosaic)
                kept = y[..., y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0].float()
                out[..., y0:y1, x0:x1] = (kept if output_dtype == torch.float32 else to_codes(kept, output_dtype)).to(
                    x.device
                )
    finally:
        model.train(was_training)
    return out
