"""The camera's own rendering of a RAW (embedded preview or sidecar JPEG), registered to the RAW's grid.

ParamISP learns from (RAW, camera JPEG) pairs, so the JPEG must lie on the RAW's pixel grid. A camera
JPEG is the camera's development of (usually) its crop of the sensor, scaled down, stored in sensor
orientation or already rotated upright. :func:`register_camera_jpeg` finds that geometry:

* ``orientation``: the EXIF code ``o`` for which ``to_sensor(jpeg, o)`` is in sensor orientation;
* ``scale``: JPEG pixels per RAW pixel (the same along both axes);
* ``offset_px``: ``(y, x)`` position, in RAW pixels, of the top-left corner of the oriented JPEG.

Positions are *edge* coordinates: pixel ``(i, j)`` spans ``[i, i + 1) x [j, j + 1)``, so the JPEG
position ``q`` (edge coordinates of the oriented JPEG) lies at ``offset_px + q / scale`` on the RAW.
The Canon EOS D30's embedded JPEG registers at scale 2/3 and offset (4.76, 7.76): its 2160x1440 crop,
starting 1.2 rows above the crop LibRaw reports, ``(6, 8, 1440, 2160)``.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import rawpy
import torch
from kornia.color import rgb_to_grayscale
from kornia.filters import spatial_gradient
from PIL import Image, UnidentifiedImageError
from skimage.registration import phase_cross_correlation

from core_isp.canonical.develop import CanonicalParams, develop
from core_isp.errors import BadInputError
from core_isp.io.image_reader import read_image
from core_isp.io.raw_reader import RawImage
from core_isp.orientation import to_sensor
from core_isp.tensor_checks import check_shape

#: A usable camera JPEG spans at least this share of the RAW's long side. Below it each JPEG pixel
#: averages 16+ RAW sites, so a pair shows little of the camera's demosaicing and denoising; this also
#: turns away thumbnails (160x120, the Kodak DC50's 96x64 of a 768x512 sensor).
MIN_JPEG_FRACTION = 0.25

#: Pairs below this gradient correlation are rejected: the true D30 pair scores 0.97, an unrelated
#: photo of the same size or the mirrored JPEG (orientation 1 only) about 0.00.
MIN_REGISTRATION_SCORE = 0.5

#: Pairs whose tile shifts depart from one scale + offset by more than this RMS (JPEG pixels) are
#: rejected: the camera corrected lens distortion or the JPEG was edited, so no pixel pairing holds.
#: The D30 pair gives 0.02; a barrel distortion moving the corners by 4 px gives 0.28.
MAX_TILE_RESIDUAL_PX = 0.2

ALL_ORIENTATIONS = (1, 2, 3, 4, 5, 6, 7, 8)

# Coarse search size (long side, pixels): large enough for the crop/orientation guesses to show
# structure, small enough that eight orientations cost little.
_COARSE_LONG_SIDE = 320
# Refinement tiles (JPEG pixels); each gives one local shift for the scale + offset fit.
_TILE_PX = 256
# Cross-correlation upsampling per refinement pass: the first pass only removes the coarse error (a
# few tenths of a pixel); the second resolves 1/20 px per tile, and the fit averages the tiles.
_REFINE_UPSAMPLES = (5, 20)
# Below this the tiles are too small for a shift estimate.
_MIN_SIDE_PX = 64


@dataclass(frozen=True)
class CameraJpeg:
    """A camera-rendered image of a RAW: ``image`` ``(1, 3, h, w)`` float32 in [0, 1], as stored
    (no orientation applied). ``path`` is the sidecar file, or the RAW for an embedded preview."""

    image: torch.Tensor
    source: Literal["embedded", "sidecar"]
    path: Path


@dataclass(frozen=True)
class Registration:
    """A camera JPEG's geometry on its RAW's mosaic grid (conventions in the module docstring).

    ``jpeg_size_hw`` is the JPEG's size in sensor orientation, ``raw_size_hw`` the mosaic's.
    ``score`` is the normalised cross-correlation of the luminance gradients after alignment, in
    [-1, 1]; ``tile_residual_px`` the RMS, in JPEG pixels, of the local (tile) shifts about the fitted
    scale + offset.
    """

    orientation: int
    scale: float
    offset_px: tuple[float, float]
    jpeg_size_hw: tuple[int, int]
    raw_size_hw: tuple[int, int]
    score: float
    tile_residual_px: float


def find_camera_jpeg(raw_path: str | Path, min_fraction: float = MIN_JPEG_FRACTION) -> CameraJpeg:
    """The camera's rendering of a RAW: a sidecar ``<stem>.jpg``/``.jpeg`` (any case) beside it, else
    the embedded preview (JPEG or bitmap).

    The sidecar comes first: it is the camera's full-quality output, where a preview may be a
    re-compressed copy. :class:`BadInputError` names every candidate and why it is unusable (absent,
    undecodable, or its long side below ``min_fraction`` of the RAW's).
    """
    raw_path = Path(raw_path)
    if not raw_path.is_file():
        raise BadInputError(f"{raw_path}: no such file")
    try:
        with rawpy.imread(str(raw_path)) as raw:
            raw_long = max(raw.sizes.height, raw.sizes.width)
            embedded = _embedded_preview(raw)
    except rawpy.LibRawError as e:
        raise BadInputError(f"{raw_path.name}: LibRaw cannot read the file ({e})") from None

    reasons = []
    for path in sorted(p for p in raw_path.parent.iterdir() if _is_sidecar(p, raw_path)):
        try:
            image = read_image(path, to="sensor")[0]
        except BadInputError as e:
            reasons.append(str(e))
            continue
        if (why := _too_small(image, raw_long, min_fraction)) is None:
            return CameraJpeg(image=image, source="sidecar", path=path)
        reasons.append(f"{path.name}: {why}")
    if isinstance(embedded, str):
        reasons.append(f"embedded preview: {embedded}")
    elif (why := _too_small(embedded, raw_long, min_fraction)) is None:
        return CameraJpeg(image=embedded, source="embedded", path=raw_path)
    else:
        reasons.append(f"embedded preview: {why}")
    if len(reasons) == 1:
        reasons.append("no sidecar JPEG")
    raise BadInputError(f"{raw_path.name}: no usable camera JPEG ({'; '.join(reasons)})")


def _is_sidecar(path: Path, raw_path: Path) -> bool:
    return path.stem == raw_path.stem and path.suffix.lower() in (".jpg", ".jpeg") and path.is_file()


def _too_small(image: torch.Tensor, raw_long: int, min_fraction: float) -> str | None:
    h, w = image.shape[-2:]
    if max(h, w) >= min_fraction * raw_long:
        return None
    return f"{w}x{h} is too small (long side under {min_fraction:g} of the RAW's {raw_long} px)"


def _embedded_preview(raw: rawpy.RawPy) -> torch.Tensor | str:
    """The preview as ``(1, 3, h, w)`` in [0, 1], or why there is none."""
    try:
        thumb = raw.extract_thumb()
    except rawpy.LibRawNoThumbnailError:
        return "none in the file"
    except rawpy.LibRawUnsupportedThumbnailError:
        return "in a format LibRaw cannot extract"
    if thumb.format == rawpy.ThumbFormat.JPEG:
        try:
            with Image.open(io.BytesIO(thumb.data)) as im:
                pixels = np.asarray(im.convert("RGB"))
        except (UnidentifiedImageError, OSError) as e:
            return f"undecodable JPEG ({e})"
    else:
        pixels = np.asarray(thumb.data)
        pixels = np.repeat(pixels[..., None], 3, axis=-1) if pixels.ndim == 2 else pixels
    scale = np.float32(np.iinfo(pixels.dtype).max)
    return torch.from_numpy(pixels.astype(np.float32) / scale).permute(2, 0, 1)[None].contiguous()


def resample(
    image: torch.Tensor, scale: float, offset_px: tuple[float, float], size_hw: tuple[int, int]
) -> torch.Tensor:
    """Area resampling onto a scaled, shifted grid: ``(B, C, H, W)`` -> ``(B, C, h, w)``.

    Output pixel ``(i, j)`` is the mean of the input (taken constant over each pixel) over the input
    square from ``offset_px + (i, j) / scale`` to ``offset_px + (i + 1, j + 1) / scale`` (edge
    coordinates). Downscaling is thus exact area averaging at any sub-pixel offset; at ``scale`` 1 it
    is linear interpolation. Output pixels partly outside the input average the covered part; those
    wholly outside are 0. Differentiable in ``image``.
    """
    check_shape(image, "B,C,H,W", "image")
    if not scale > 0:
        raise BadInputError(f"resampling scale must be positive, got {scale}")
    out = _resample_rows(image, scale, offset_px[0], size_hw[0])
    # Gathering whole rows is several times faster than gathering columns, so columns go as rows.
    return _resample_rows(out.transpose(-1, -2), scale, offset_px[1], size_hw[1]).transpose(-1, -2)


def _resample_rows(image: torch.Tensor, scale: float, offset: float, n_out: int) -> torch.Tensor:
    index, weights = _overlap_weights(image.shape[-2], n_out, scale, offset, image)
    taps = image.index_select(-2, index.flatten()).unflatten(-2, index.shape)
    return torch.einsum("bcotw,ot->bcow", taps, weights)


def _overlap_weights(
    n_in: int, n_out: int, scale: float, offset: float, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per output pixel, the input pixels it overlaps and their normalised overlaps: ``(n_out, taps)``."""
    step = 1.0 / scale
    # float64: positions reach thousands of pixels and must stay exact to well under 0.01 px.
    start = offset + torch.arange(n_out, dtype=torch.float64, device=like.device) * step
    taps = math.ceil(step) + 1
    index = start.floor().long()[:, None] + torch.arange(taps, device=like.device)
    overlap = torch.minimum(start[:, None] + step, index + 1.0) - torch.maximum(start[:, None], index.double())
    overlap = torch.where((index >= 0) & (index < n_in), overlap.clamp_min(0.0), 0.0)
    weights = overlap / overlap.sum(1, keepdim=True).clamp_min(1e-12)
    return index.clamp(0, n_in - 1), weights.to(like.dtype)


def warp_raw_to_jpeg(image: torch.Tensor, registration: Registration) -> torch.Tensor:
    """An image on the RAW's grid onto the JPEG's grid: ``(B, C, H, W)`` -> ``(B, C, h, w)``.

    The result stays in sensor orientation, on the grid of ``to_sensor(jpeg, registration.orientation)``,
    so a re-mosaic of it keeps the RAW's CFA phase.
    """
    check_shape(image, "B,C,H,W", "image")
    if tuple(image.shape[-2:]) != registration.raw_size_hw:
        raise BadInputError(f"image is {tuple(image.shape[-2:])}, the registered RAW {registration.raw_size_hw}")
    return resample(image, registration.scale, registration.offset_px, registration.jpeg_size_hw)


def warp_jpeg_to_raw(jpeg: torch.Tensor, registration: Registration) -> torch.Tensor:
    """The JPEG as stored onto the RAW's grid (sensor orientation): ``(B, C, h, w)`` -> ``(B, C, H, W)``.

    RAW pixels outside the JPEG are 0.
    """
    check_shape(jpeg, "B,C,H,W", "jpeg")
    oriented = to_sensor(jpeg, registration.orientation)
    if tuple(oriented.shape[-2:]) != registration.jpeg_size_hw:
        raise BadInputError(
            f"JPEG is {tuple(jpeg.shape[-2:])} as stored; the registered one {registration.jpeg_size_hw} in sensor "
            f"orientation"
        )
    s = registration.scale
    offset = (-registration.offset_px[0] * s, -registration.offset_px[1] * s)
    return resample(oriented, 1.0 / s, offset, registration.raw_size_hw)


def register_camera_jpeg(
    raw: RawImage,
    jpeg: torch.Tensor,
    orientations: tuple[int, ...] = ALL_ORIENTATIONS,
    min_score: float = MIN_REGISTRATION_SCORE,
    max_tile_residual_px: float = MAX_TILE_RESIDUAL_PX,
) -> Registration:
    """Find where a camera JPEG ``(1, 3, h, w)`` in [0, 1] lies on the RAW's mosaic grid.

    The RAW is developed canonically and both images compared as luminance. For each allowed
    orientation the JPEG is first assumed to show the camera crop (or the whole mosaic) scaled to its
    size; a coarse cross-correlation fixes the offset and picks the best orientation, then local shifts
    of tiles at the JPEG's full resolution are fitted with one scale and offset, twice.

    :class:`BadInputError` when the best pair scores below ``min_score`` or its tiles depart from one
    scale + offset by more than ``max_tile_residual_px`` (pass ``-1`` and ``inf`` to always get the
    estimate).
    """
    check_shape(jpeg, "1,3,H,W", "jpeg")
    if min(jpeg.shape[-2:]) < _MIN_SIDE_PX:
        raise BadInputError(f"camera JPEG of {tuple(jpeg.shape[-2:])} is too small to register (< {_MIN_SIDE_PX} px)")
    raw_luma = _raw_luma(raw)
    jpeg_luma = rgb_to_grayscale(jpeg.detach().float().cpu())
    # The coarse search needs the RAW at about twice its working size only; reducing it once keeps the
    # eight orientations cheap.
    reduction = max(1, max(raw_luma.shape[-2:]) // (2 * _COARSE_LONG_SIDE))
    reduced_hw = (math.ceil(raw_luma.shape[-2] / reduction), math.ceil(raw_luma.shape[-1] / reduction))
    reduced_raw = resample(raw_luma, 1.0 / reduction, (0.0, 0.0), reduced_hw)
    # Each guess -> (coarse score, offset, orientation, scale); the best is refined.
    guesses = [
        (*_coarse(reduced_raw, reduction, to_sensor(jpeg_luma, o), scale, offset), o, scale)
        for o in dict.fromkeys(orientations)
        for scale, offset in _size_hypotheses(raw, to_sensor(jpeg_luma, o).shape[-2:])
    ]
    if not guesses:
        raise BadInputError("no orientation to try: orientations is empty")
    _, offset, orientation, scale = max(guesses, key=lambda g: g[0])
    best = _refine(raw_luma, to_sensor(jpeg_luma, orientation), orientation, scale, offset)
    if best.score < min_score:
        raise BadInputError(
            f"camera JPEG does not match the RAW (gradient correlation {best.score:.2f} < {min_score:g} at the "
            f"best orientation {best.orientation}, scale {best.scale:.4f})"
        )
    if best.tile_residual_px > max_tile_residual_px:
        raise BadInputError(
            f"camera JPEG is not a scaled, shifted copy of the RAW (local shifts depart by "
            f"{best.tile_residual_px:.2f} px RMS > {max_tile_residual_px:g}: lens correction or editing)"
        )
    return best


def _raw_luma(raw: RawImage) -> torch.Tensor:
    """The canonical development's luminance, ``(1, 1, H, W)``: close enough to any camera rendering
    for structure to correlate, whatever its tone curve."""
    params = CanonicalParams.from_metadata([raw.metadata])
    return rgb_to_grayscale(develop(raw.tensor(), params))


def _size_hypotheses(raw: RawImage, jpeg_hw: tuple[int, int]) -> list[tuple[float, tuple[float, float]]]:
    """(scale, offset) guesses: the JPEG shows the camera crop (else the mosaic), centred; when the
    aspect ratios differ, it is cropped along one axis, so each axis's scale is a guess."""
    top, left, h, w = raw.metadata.default_crop_tlhw or (0, 0, *raw.mosaic.shape)
    scales = {jpeg_hw[0] / h, jpeg_hw[1] / w}
    if max(scales) / min(scales) < 1.01:
        scales = {math.sqrt(jpeg_hw[0] * jpeg_hw[1] / (h * w))}
    return [(s, (top + (h - jpeg_hw[0] / s) / 2, left + (w - jpeg_hw[1] / s) / 2)) for s in sorted(scales)]


def _coarse(
    reduced_raw: torch.Tensor, reduction: int, jpeg_luma: torch.Tensor, scale: float, offset: tuple[float, float]
) -> tuple[float, tuple[float, float]]:
    """(score, offset) by cross-correlation at a reduced size, from a (scale, offset) guess;
    ``reduced_raw`` is the RAW's luminance area-reduced by ``reduction``."""
    factor = max(1.0, max(jpeg_luma.shape[-2:]) / _COARSE_LONG_SIDE)
    size = (round(jpeg_luma.shape[-2] / factor), round(jpeg_luma.shape[-1] / factor))
    small_jpeg = resample(jpeg_luma, 1.0 / factor, (0.0, 0.0), size)

    def small_raw(offset: tuple[float, float]) -> torch.Tensor:
        return resample(reduced_raw, scale * reduction / factor, (offset[0] / reduction, offset[1] / reduction), size)

    shift = _correlation_shift(small_jpeg, small_raw(offset), upsample=10)
    offset = (offset[0] - shift[0] * factor / scale, offset[1] - shift[1] * factor / scale)
    return _gradient_ncc(small_jpeg, small_raw(offset)), offset


def _refine(
    raw_luma: torch.Tensor, jpeg_luma: torch.Tensor, orientation: int, scale: float, offset: tuple[float, float]
) -> Registration:
    """Fit scale and offset to the tiles' local shifts at full JPEG resolution.

    With the current estimate ``(s, o)`` and the truth ``(s*, o*)``, the content at JPEG position
    ``p`` is displaced by ``d(p) = s* (o - o*) + p (s* / s - 1)``: linear in ``p`` with one slope for
    both axes, so a least-squares line through the tiles' shifts gives both corrections at once.
    """
    h, w = jpeg_luma.shape[-2:]
    residual = math.inf
    for upsample in _REFINE_UPSAMPLES:
        warped = resample(raw_luma, scale, offset, (h, w))
        centres, shifts = _tile_shifts(jpeg_luma, warped, upsample)
        slope, intercept, residual = _fit_shifts(centres, shifts)
        scale = scale * (1.0 + slope)
        offset = (offset[0] - intercept[0] / scale, offset[1] - intercept[1] / scale)
    score = _gradient_ncc(jpeg_luma, resample(raw_luma, scale, offset, (h, w)))
    return Registration(orientation, scale, offset, (h, w), tuple(raw_luma.shape[-2:]), score, residual)


def _tile_shifts(jpeg_luma: torch.Tensor, warped: torch.Tensor, upsample: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``(N, 2)`` (edge coordinates) and shifts ``(N, 2)`` with ``warped(p) = jpeg(p + shift)``."""
    h, w = jpeg_luma.shape[-2:]
    tile = min(_TILE_PX, h // 2, w // 2)
    ys = np.linspace(0, h - tile, max(2, round(h / tile))).round().astype(int)
    xs = np.linspace(0, w - tile, max(2, round(w / tile))).round().astype(int)
    centres, shifts = [], []
    for y in ys:
        for x in xs:
            a = jpeg_luma[..., y : y + tile, x : x + tile]
            b = warped[..., y : y + tile, x : x + tile]
            centres.append((y + tile / 2, x + tile / 2))
            shifts.append(_correlation_shift(a, b, upsample))
    return np.asarray(centres), np.asarray(shifts)


def _fit_shifts(centres: np.ndarray, shifts: np.ndarray) -> tuple[float, tuple[float, float], float]:
    """Least-squares ``shift = intercept + slope * centre`` with one slope for y and x; tiles with no
    structure (a plain wall) give arbitrary shifts, so residuals beyond 1 px and beyond three times the
    median are dropped and the line refitted.
    Returns slope, (intercept_y, intercept_x) and the RMS residual of the kept tiles."""
    n = len(centres)
    design = np.zeros((2 * n, 3))
    design[:n, 0] = design[n:, 1] = 1.0
    design[:, 2] = np.concatenate([centres[:, 0], centres[:, 1]])
    target = np.concatenate([shifts[:, 0], shifts[:, 1]])
    keep = np.ones(2 * n, dtype=bool)
    for _ in range(3):
        solution = np.linalg.lstsq(design[keep], target[keep], rcond=None)[0]
        residuals = np.abs(design @ solution - target)
        keep = residuals <= max(1.0, 3.0 * np.median(residuals))
    rms = float(np.sqrt(np.mean(residuals[keep] ** 2)))
    return float(solution[2]), (float(solution[0]), float(solution[1])), rms


def _correlation_shift(reference: torch.Tensor, moving: torch.Tensor, upsample: int) -> tuple[float, float]:
    """Shift with ``moving(p) = reference(p + shift)``, ``(1, 1, h, w)`` each, by cross-correlation.

    Not phase-normalised: whitening gives the highest frequencies full weight, and there the RAW's
    area-downscaled development carries aliased detail that moves *against* a sub-pixel shift (on a
    synthetic pair it reversed the sign of 0.2 px shifts). Plain correlation weighs structure by its
    power. Mean removal and a Hann window keep the image borders, which do not wrap around, from
    pulling the peak to zero.
    """
    taper = np.outer(np.hanning(reference.shape[-2]), np.hanning(reference.shape[-1]))
    ref, mov = reference[0, 0].numpy(), moving[0, 0].numpy()
    ref, mov = (ref - ref.mean()) * taper, (mov - mov.mean()) * taper
    shift = phase_cross_correlation(ref, mov, upsample_factor=upsample, normalization=None)[0]
    return float(shift[0]), float(shift[1])


def _gradient_ncc(a: torch.Tensor, b: torch.Tensor) -> float:
    """Normalised cross-correlation of the gradients of two ``(1, 1, h, w)`` images, in [-1, 1]."""
    ga = spatial_gradient(a)[..., 2:-2, 2:-2].flatten()
    gb = spatial_gradient(b)[..., 2:-2, 2:-2].flatten()
    ga, gb = ga - ga.mean(), gb - gb.mean()
    return float((ga @ gb) / (ga.norm() * gb.norm()).clamp_min(1e-12))
