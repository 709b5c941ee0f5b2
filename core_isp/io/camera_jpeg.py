"""The camera's own rendering of a RAW (embedded preview or sidecar JPEG), registered to the RAW's grid.

ParamISP learns from (RAW, camera JPEG) pairs, so the JPEG must lie on the RAW's pixel grid. A camera
JPEG is the camera's development of (usually) its crop of the sensor, scaled down, stored in sensor
orientation or already rotated upright. :func:`register_camera_jpeg` finds that geometry:

* ``orientation``: the EXIF code ``o`` for which ``to_sensor(jpeg, o)`` is in sensor orientation;
* ``scale``: JPEG pixels per RAW pixel (the same along both axes);
* ``offset_px``: ``(y, x)`` position, in RAW pixels, of the top-left corner of the oriented JPEG.

Positions are *edge* coordinates: pixel ``(i, j)`` spans ``[i, i + 1) x [j, j + 1)``, so the JPEG
position ``q`` (edge coordinates of the oriented JPEG) lies at ``offset_px + q / scale`` on the RAW.
The Canon EOS D30's embedded JPEG registers at scale 2/3 and offset (4.76, 7.74): its 2160x1440 crop,
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
from PIL import Image, UnidentifiedImageError
from skimage.filters import gaussian
from skimage.registration import phase_cross_correlation
from torch.nn.functional import max_pool2d

from core_isp.canonical.develop import CanonicalParams, develop
from core_isp.errors import BadInputError
from core_isp.image import CameraImage
from core_isp.io.image_reader import read_image
from core_isp.orientation import to_sensor
from core_isp.tensor_checks import check_shape

#: A usable camera JPEG spans at least this share of the RAW's long side. Below it each JPEG pixel
#: averages 16+ RAW sites, so a pair shows little of the camera's demosaicing and denoising; this also
#: turns away thumbnails (160x120, the Kodak DC50's 96x64 of a 768x512 sensor).
MIN_JPEG_FRACTION = 0.25

#: Pairs below this gradient correlation are rejected: the true D30 pair scores 0.99, an unrelated
#: photo of the same size or the mirrored JPEG (orientation 1 only) about 0.00.
MIN_REGISTRATION_SCORE = 0.5

#: Pairs whose tile shifts depart from one scale + offset by more than this RMS (JPEG pixels) beyond
#: the tiles' own noise are rejected: the camera corrected lens distortion or the JPEG was edited, so no
#: pixel pairing holds. The D30 pair gives 0.02; a barrel distortion moving its corners by 4 px gives 0.26,
#: by 6 px 0.38; exactly aligned simulated pairs at ISO 12800 give up to 0.05 (512x768) and 0.15 (320x384
#: crops, whose small tiles show rendering differences that the tiles' noise estimate does not cover).
MAX_TILE_RESIDUAL_PX = 0.2

ALL_ORIENTATIONS = (1, 2, 3, 4, 5, 6, 7, 8)

# Coarse search size (long side, pixels): large enough for the crop/orientation guesses to show
# structure, small enough that eight orientations cost little.
_COARSE_LONG_SIDE = 320
# Refinement tiles (JPEG pixels), each giving one local shift for the scale + offset fit: at most
# _TILE_PX, and at least _TILES_ACROSS across the short side so the fit has tiles enough to judge their
# scatter; at most _MAX_TILES_PER_SIDE along a side bounds the work on large JPEGs.
_TILE_PX = 256
_MIN_TILE_PX = 32
_TILES_ACROSS = 4
_MAX_TILES_PER_SIDE = 8
# Below this many usable tiles the fit of three numbers has no noise estimate worth the name.
_MIN_TILES = 4
# Cross-correlation upsampling of the two refinement passes: the first only removes the coarse error
# (a few tenths of a pixel); the second resolves 1/20 px per tile, and the fit averages the tiles.
_REFINE_UPSAMPLES = (5, 20)
# Upsampling for a tile's quarters, whose shifts only give its noise (they scatter by 0.05 px and more).
_QUARTER_UPSAMPLE = 10
# Below this the tiles are too small for a shift estimate.
_MIN_SIDE_PX = 64
# Band-pass (Gaussian sigmas, pixels) of the luminance whose shifts are measured.
_BAND_SIGMAS_PX = (1.0, 4.0)
# Quantiles matched between the two luminances (see _comparable), taken from at most this many pixels.
_TONE_LEVELS = 256
_TONE_SAMPLES = 100_000
# Blur (pixels) before the gradients of the registration score.
_SCORE_SIGMA_PX = 1.0
# Clipped highlights: RAW sites at this share of the clip level, JPEG pixels whose luminance is at
# this level (one saturated channel of a vivid colour leaves structure in the others). Pixels within
# the margin of either are left out of the comparison (it covers 3 sigmas of the band-pass's fine blur).
_RAW_CLIPPED = 0.98
_JPEG_CLIPPED = 250 / 255
_CLIP_MARGIN_PX = 4
# A resampled usability above this counts as usable (area resampling mixes usable and clipped pixels).
_USABLE = 0.99
# A tile with a quarter less usable than this gives no shift.
_MIN_USABLE_SHARE = 0.5
# Estimates this close to unit scale (largest difference across the JPEG, pixels) are tested against
# the nearest whole-pixel crop; the tiles measured there still correlate reliably.
_CROP_SEARCH_PX = 2.0
# The crop is left for the estimate only when the correction measured from it is significant at
# p = 0.001 (chi-square, 3 degrees of freedom: two offsets and a scale) ...
_SIGNIFICANT_CHI2 = 16.27
# ... and moves some JPEG pixel by more than this. Two renderings of one mosaic disagree on where an
# edge lies by a few hundredths of a pixel, systematically across a scene (the camera's colour and
# local tone handling differ from the canonical development's): aligned simulated pairs measure up to
# 0.05 px, significant but not a misalignment. Below 0.1 px linear interpolation also blurs about as
# much as it repairs.
_MIN_CORRECTION_PX = 0.1


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
    ``score`` is the normalised cross-correlation of the (lightly blurred) luminance gradients after
    alignment, outside clipped highlights, in [-1, 1]; ``tile_residual_px`` the RMS, in JPEG pixels, of
    the local (tile) shifts about the fitted scale + offset beyond what the tiles' own noise explains
    (infinite when too few tiles without clipped highlights overlap the RAW to tell).
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
            image = read_image(path, to="sensor").pixels
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
    raw: CameraImage,
    jpeg: torch.Tensor,
    orientations: tuple[int, ...] = ALL_ORIENTATIONS,
    min_score: float = MIN_REGISTRATION_SCORE,
    max_tile_residual_px: float = MAX_TILE_RESIDUAL_PX,
) -> Registration:
    """Find where a camera JPEG ``(1, 3, h, w)`` in [0, 1] lies on the RAW's mosaic grid.

    The RAW is developed canonically and both images compared as band-passed luminance, leaving out
    clipped highlights. For each allowed orientation the JPEG is first assumed to show the camera crop
    (or the whole mosaic) scaled to its size; a coarse cross-correlation fixes the offset and picks the
    best orientation, then local shifts of tiles at the JPEG's full resolution, each with its own
    uncertainty, are fitted with one scale and offset, twice. Near unit scale, the nearest whole-pixel
    offset at scale 1 (a crop of the RAW, which needs no resampling) is kept unless the tiles measured
    there call for a correction beyond their noise, so an exactly aligned pair stays exactly aligned.

    :class:`BadInputError` when the pair scores below ``min_score`` or its tiles depart from one scale +
    offset by more than ``max_tile_residual_px`` beyond their noise (infinite when too few tiles without
    clipped highlights overlap the RAW to tell); pass ``-1`` and ``inf`` to always get the estimate.
    """
    check_shape(jpeg, "1,3,H,W", "jpeg")
    if min(jpeg.shape[-2:]) < _MIN_SIDE_PX:
        raise BadInputError(f"camera JPEG of {tuple(jpeg.shape[-2:])} is too small to register (< {_MIN_SIDE_PX} px)")
    jpeg = jpeg.detach().float().cpu()
    raw_plane = torch.cat([_raw_luma(raw), _raw_usable(raw)], 1)
    jpeg_luma = rgb_to_grayscale(jpeg)
    jpeg_plane = torch.cat([jpeg_luma, _away_from(jpeg_luma >= _JPEG_CLIPPED)], 1)
    # The coarse search needs the RAW at about twice its working size only; reducing it once keeps the
    # eight orientations cheap.
    reduction = max(1, max(raw_plane.shape[-2:]) // (2 * _COARSE_LONG_SIDE))
    reduced_hw = (math.ceil(raw_plane.shape[-2] / reduction), math.ceil(raw_plane.shape[-1] / reduction))
    reduced_raw = resample(raw_plane, 1.0 / reduction, (0.0, 0.0), reduced_hw)
    # The JPEG is shrunk once, for all orientations.
    stored_hw = (jpeg_plane.shape[-2], jpeg_plane.shape[-1])
    factor, origin, size = _coarse_grid(stored_hw)
    small_jpeg = resample(jpeg_plane, 1.0 / factor, origin, size)
    # Each guess -> (coarse score, offset, orientation, scale); the best is refined.
    guesses = [
        (*_coarse(reduced_raw, reduction, to_sensor(small_jpeg, o), hw, scale, offset), o, scale)
        for o, hw in ((o, _oriented_hw(stored_hw, o)) for o in dict.fromkeys(orientations))
        for scale, offset in _size_hypotheses(raw, hw)
    ]
    if not guesses:
        raise BadInputError("no orientation to try: orientations is empty")
    _, offset, orientation, scale = max(guesses, key=lambda g: g[0])
    oriented = to_sensor(jpeg_plane, orientation)
    scale, offset, fit = _refine(raw_plane, oriented, scale, offset)
    size_hw = (oriented.shape[-2], oriented.shape[-1])
    score = _gradient_ncc(oriented, resample(raw_plane, scale, offset, size_hw))
    best = Registration(orientation, scale, offset, size_hw, tuple(raw_plane.shape[-2:]), score, fit.departure_px)
    if best.score < min_score:
        raise BadInputError(
            f"camera JPEG does not match the RAW (gradient correlation {best.score:.2f} < {min_score:g} at the "
            f"best orientation {best.orientation}, scale {best.scale:.4f})"
        )
    if best.tile_residual_px > max_tile_residual_px and math.isinf(best.tile_residual_px):
        raise BadInputError(
            f"camera JPEG has too little unclipped structure to register (fewer than {_MIN_TILES} tiles of it "
            f"without clipped highlights overlap the RAW)"
        )
    if best.tile_residual_px > max_tile_residual_px:
        raise BadInputError(
            f"camera JPEG is not a scaled, shifted copy of the RAW (local shifts depart by "
            f"{best.tile_residual_px:.2f} px RMS beyond their noise > {max_tile_residual_px:g}: lens correction or "
            f"editing)"
        )
    return best


def _raw_luma(raw: CameraImage) -> torch.Tensor:
    """The canonical development's luminance, ``(1, 1, H, W)``: close enough to any camera rendering
    for structure to correlate, whatever its tone curve."""
    params = CanonicalParams.from_metadata([raw.meta])
    return rgb_to_grayscale(develop(raw.tensor(), params))


def _raw_usable(raw: CameraImage) -> torch.Tensor:
    """``(1, 1, H, W)``: 0 near a site at the sensor's clip level, else 1."""
    return _away_from(raw.tensor() >= _RAW_CLIPPED * raw.meta.clip_level)


def _away_from(clipped: torch.Tensor) -> torch.Tensor:
    """``(1, 1, h, w)`` bool -> 1.0 farther than :data:`_CLIP_MARGIN_PX` from every True pixel, else 0.0.

    A clipped highlight is flat in one rendering and shaped by highlight recovery or the tone curve in
    the other, so the two outlines need not coincide; the margin keeps the band-pass's reach of them out.
    """
    r = _CLIP_MARGIN_PX
    # The square's maximum as a row maximum of column maxima: the same, and far cheaper on a large image.
    near = max_pool2d(max_pool2d(clipped.float(), (2 * r + 1, 1), 1, (r, 0)), (1, 2 * r + 1), 1, (0, r))
    return 1.0 - near


def _size_hypotheses(raw: CameraImage, jpeg_hw: tuple[int, int]) -> list[tuple[float, tuple[float, float]]]:
    """(scale, offset) guesses: the JPEG shows the camera crop (else the mosaic), centred; when the
    aspect ratios differ, it is cropped along one axis, so each axis's scale is a guess."""
    top, left, h, w = raw.meta.default_crop_tlhw or (0, 0, *raw.size_hw)
    scales = {jpeg_hw[0] / h, jpeg_hw[1] / w}
    if max(scales) / min(scales) < 1.01:
        scales = {math.sqrt(jpeg_hw[0] * jpeg_hw[1] / (h * w))}
    return [(s, (top + (h - jpeg_hw[0] / s) / 2, left + (w - jpeg_hw[1] / s) / 2)) for s in sorted(scales)]


def _coarse_grid(jpeg_hw: tuple[int, int]) -> tuple[float, tuple[float, float], tuple[int, int]]:
    """(factor, offset, size) of the coarse search's grid over an image of ``jpeg_hw``: pixels ``factor``
    times larger, at most :data:`_COARSE_LONG_SIDE` along the long side, centred on the image (its edges
    overhang or fall short by under half a pixel), so that turning the small image is the same as
    shrinking the turned one."""
    factor = max(1.0, max(jpeg_hw) / _COARSE_LONG_SIDE)
    size = (round(jpeg_hw[0] / factor), round(jpeg_hw[1] / factor))
    return factor, ((jpeg_hw[0] - size[0] * factor) / 2, (jpeg_hw[1] - size[1] * factor) / 2), size


def _oriented_hw(size_hw: tuple[int, int], orientation: int) -> tuple[int, int]:
    """The size of ``to_sensor(image, orientation)`` for an image of ``size_hw``: codes 5-8 swap the axes."""
    return (size_hw[1], size_hw[0]) if orientation >= 5 else (size_hw[0], size_hw[1])


def _coarse(
    reduced_raw: torch.Tensor,
    reduction: int,
    small_jpeg: torch.Tensor,
    jpeg_hw: tuple[int, int],
    scale: float,
    offset: tuple[float, float],
) -> tuple[float, tuple[float, float]]:
    """(score, offset) by cross-correlation at a reduced size, from a (scale, offset) guess.

    ``reduced_raw`` is the RAW's plane (luminance, usable) area-reduced by ``reduction``; ``small_jpeg``
    the plane of the oriented JPEG, of ``jpeg_hw``, on its :func:`_coarse_grid`.
    """
    factor, origin, size = _coarse_grid(jpeg_hw)

    def small_raw(offset: tuple[float, float]) -> torch.Tensor:
        # Small pixel q lies at origin + factor * q on the JPEG, so at offset + that / scale on the RAW.
        start = ((offset[0] + origin[0] / scale) / reduction, (offset[1] + origin[1] / scale) / reduction)
        return resample(reduced_raw, scale * reduction / factor, start, size)

    shift = _correlation_shift(*_structure(small_jpeg, small_raw(offset)), upsample=10)
    offset = (offset[0] - shift[0] * factor / scale, offset[1] - shift[1] * factor / scale)
    return _gradient_ncc(small_jpeg, small_raw(offset)), offset


@dataclass(frozen=True)
class _LineFit:
    """Tile shifts fitted as ``shift = intercept + slope * centre`` (one slope for y and x).

    ``departure_px`` is the RMS of the kept tiles' residuals beyond what their own noise explains
    (infinite, with no correction, when there are too few tiles to tell);
    ``significance`` the chi-square (3 degrees of freedom) of the fitted line against no shift at all,
    with the noise scaled up when the residuals show more scatter than the tiles' estimates.
    """

    slope: float
    intercept: tuple[float, float]
    departure_px: float
    significance: float

    def largest_shift_px(self, size_hw: tuple[int, int]) -> float:
        """The largest shift the line gives inside a JPEG of ``size_hw``."""
        return max(abs(self.intercept[axis] + self.slope * edge) for axis in (0, 1) for edge in (0, size_hw[axis]))


def _refine(
    raw_plane: torch.Tensor, jpeg_plane: torch.Tensor, scale: float, offset: tuple[float, float]
) -> tuple[float, tuple[float, float], _LineFit]:
    """Fit scale and offset to the tiles' local shifts at full JPEG resolution, in two passes.

    With the current estimate ``(s, o)`` and the truth ``(s*, o*)``, the content at JPEG position
    ``p`` is displaced by ``d(p) = s* (o - o*) + p (s* / s - 1)``: linear in ``p`` with one slope for
    both axes, so a least-squares line through the tiles' shifts gives both corrections at once.

    The first pass removes the coarse error. Near unit scale the second measures from the nearest
    whole-pixel offset at scale 1, where the JPEG is a crop of the RAW's grid and pairs with it with no
    resampling blur, and keeps that crop unless the correction it measures is significant against the
    tiles' own scatter and large enough to be worth an interpolation: a refined estimate always differs
    from the crop a little, by noise (the sensor's, the camera's denoising and sharpening, JPEG blocks)
    as much as by any real shift. Returns the scale, the offset and the second pass's fit.
    """
    size_hw = (jpeg_plane.shape[-2], jpeg_plane.shape[-1])
    first, second = _REFINE_UPSAMPLES
    scale, offset = _corrected(scale, offset, _fit_at(raw_plane, jpeg_plane, scale, offset, first))
    crop = abs(scale - 1.0) * max(size_hw) <= _CROP_SEARCH_PX
    if crop:
        scale, offset = 1.0, (float(round(offset[0])), float(round(offset[1])))
    fit = _fit_at(raw_plane, jpeg_plane, scale, offset, second)
    if crop and (fit.significance < _SIGNIFICANT_CHI2 or fit.largest_shift_px(size_hw) < _MIN_CORRECTION_PX):
        return scale, offset, fit
    return *_corrected(scale, offset, fit), fit


def _corrected(scale: float, offset: tuple[float, float], fit: _LineFit) -> tuple[float, tuple[float, float]]:
    """The geometry after removing the shifts ``fit`` measured at ``(scale, offset)``."""
    scale = scale * (1.0 + fit.slope)
    return scale, (offset[0] - fit.intercept[0] / scale, offset[1] - fit.intercept[1] / scale)


def _fit_at(
    raw_plane: torch.Tensor, jpeg_plane: torch.Tensor, scale: float, offset: tuple[float, float], upsample: int
) -> _LineFit:
    """The line fit to the tile shifts between the JPEG and the RAW warped by ``(scale, offset)``."""
    warped = resample(raw_plane, scale, offset, (jpeg_plane.shape[-2], jpeg_plane.shape[-1]))
    return _fit_shifts(*_tile_shifts(*_structure(jpeg_plane, warped), upsample))


def _comparable(a: torch.Tensor, b: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two planes ``(1, 2, h, w)`` (luminance, usable) -> ``a``'s luminance, ``b``'s tone-mapped onto
    ``a``'s, and where both are usable, ``(h, w)`` each.

    The tone map matches the quantiles of the usable pixels. The camera's tone curve differs from the
    canonical development's, and a different curve moves the apparent place of a blurred edge towards
    its darker or brighter side; in a scene lit from its middle that reads as a scale change.
    """
    usable = ((a[0, 1] > _USABLE) & (b[0, 1] > _USABLE)).numpy()
    luma_a, luma_b = a[0, 0].numpy(), b[0, 0].numpy()
    if usable.any():
        levels = np.linspace(0.0, 1.0, _TONE_LEVELS)
        sample = np.flatnonzero(usable)[:: max(1, int(usable.sum()) // _TONE_SAMPLES)]
        luma_b = np.interp(luma_b, np.quantile(luma_b.flat[sample], levels), np.quantile(luma_a.flat[sample], levels))
    return luma_a, luma_b, usable


def _structure(a: torch.Tensor, b: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two planes -> their band-passed, tone-matched luminance and where both are usable (see :func:`_comparable`).

    The band-pass drops the finest scale, where noise and the camera's denoising and sharpening differ
    most from the canonical development, and the coarse shading, where vignetting correction and local
    tone mapping do; the edges between keep their place in any rendering.
    """
    luma_a, luma_b, usable = _comparable(a, b)
    return _band_pass(luma_a), _band_pass(luma_b), usable


def _band_pass(luma: np.ndarray) -> np.ndarray:
    fine, coarse = _BAND_SIGMAS_PX
    return _blur(luma, fine) - _blur(luma, coarse)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return gaussian(image, sigma, mode="reflect", truncate=3.0, preserve_range=True)


def _tile_shifts(
    reference: np.ndarray, moving: np.ndarray, usable: np.ndarray, upsample: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres ``(N, 2)`` (edge coordinates), shifts ``(N, 2)`` with ``moving(p) = reference(p + shift)``
    and their noise variances ``(N,)`` (px², either axis), for the tiles whose quarters are mostly usable."""
    h, w = reference.shape
    tile = max(_MIN_TILE_PX, min(_TILE_PX, min(h, w) // _TILES_ACROSS))
    centres, shifts, variances = [], [], []
    for y in _tile_starts(h, tile):
        for x in _tile_starts(w, tile):
            where = np.s_[y : y + tile, x : x + tile]
            measured = _shift_and_variance(reference[where], moving[where], usable[where], upsample)
            if measured is not None:
                centres.append((y + tile / 2, x + tile / 2))
                shifts.append(measured[0])
                variances.append(measured[1])
    return np.reshape(centres, (-1, 2)), np.reshape(shifts, (-1, 2)), np.asarray(variances)


def _tile_starts(length: int, tile: int) -> np.ndarray:
    """Tile origins along a side, evenly spread from one end to the other."""
    count = min(_MAX_TILES_PER_SIDE, max(2, round(length / tile)))
    return np.linspace(0, length - tile, count).round().astype(int)


def _shift_and_variance(
    reference: np.ndarray, moving: np.ndarray, usable: np.ndarray, upsample: int
) -> tuple[np.ndarray, float] | None:
    """A tile's shift ``(2,)`` and its noise variance (px², either axis); None when a quarter of the
    tile is mostly unusable.

    The variance is measured, not modelled, so it holds whatever the noise is (sensor noise, JPEG
    blocks, a rendering that moves some edges), and a tile with too little structure for a shift shows
    it: the four quarters' shifts, each measured alone, are combined into their twist
    ``(q00 - q01 - q10 + q11) / 4``, which has the variance of the mean of the four (about that of the
    whole tile's shift) and which a shift field linear across the tile (a scale, the local stretch of a
    lens distortion) leaves at zero, so real departures are not taken for noise. Rendering differences
    that move a whole tile's structure alike (one dominant edge) escape it, so it is a lower bound. The
    quarters need less resolution than the shift (at most :data:`_QUARTER_UPSAMPLE`), and the variance is
    never taken below the shift's resolution.
    """
    h, w = (n // 2 for n in reference.shape)
    quarters = [np.s_[:h, :w], np.s_[:h, w:], np.s_[h:, :w], np.s_[h:, w:]]
    if any(usable[q].mean() < _MIN_USABLE_SHARE for q in quarters):
        return None
    quarter_upsample = min(upsample, _QUARTER_UPSAMPLE)
    q00, q01, q10, q11 = (
        np.asarray(_correlation_shift(reference[q], moving[q], usable[q], quarter_upsample)) for q in quarters
    )
    twist = (q00 - q01 - q10 + q11) / 4.0
    variance = max(float(np.mean(twist**2)), 1.0 / (12.0 * upsample**2))
    return np.asarray(_correlation_shift(reference, moving, usable, upsample)), variance


def _fit_shifts(centres: np.ndarray, shifts: np.ndarray, variances: np.ndarray) -> _LineFit:
    """Weighted least-squares ``shift = intercept + slope * centre`` with one slope for y and x.

    Each shift weighs by its inverse variance, taken no smaller than the median: a tile's variance is a
    rough estimate, good for telling a noisy or structureless tile (down-weighted) but not for letting
    a lucky one outweigh the rest. Tiles locked onto a wrong peak (repeating texture) give arbitrary
    shifts, so residuals beyond 1 px and beyond three times the median are dropped and the line refitted.
    """
    n = len(centres)
    if n < _MIN_TILES:
        # Too few to fit three numbers and judge their noise: no correction, and the departure unknown.
        return _LineFit(0.0, (0.0, 0.0), math.inf, 0.0)
    design = np.zeros((2 * n, 3))
    design[:n, 0] = design[n:, 1] = 1.0
    design[:, 2] = np.concatenate([centres[:, 0], centres[:, 1]])
    target = np.concatenate([shifts[:, 0], shifts[:, 1]])
    variance = np.concatenate([variances, variances])
    weight = 1.0 / np.maximum(variance, np.median(variance))
    keep = np.ones(2 * n, dtype=bool)
    for _ in range(3):
        residuals = np.abs(design @ _weighted_lstsq(design[keep], target[keep], weight[keep]) - target)
        keep = residuals <= max(1.0, 3.0 * np.median(residuals))
    design, target, weight, variance = design[keep], target[keep], weight[keep], variance[keep]
    solution = _weighted_lstsq(design, target, weight)
    residuals = design @ solution - target
    dof = max(1, len(target) - 3)
    # The tiles' variances may all be off by a common factor (the quarters' noise is not quite the
    # whole tile's): the residuals' own scatter, when larger, sets the noise level of the test.
    noise_scale = max(1.0, float(np.sum(weight * residuals**2)) / dof)
    significance = float(solution @ ((design * weight[:, None]).T @ design) @ solution) / noise_scale
    # A least-squares residual keeps dof / n of its observation's noise variance on average.
    excess = float(np.mean(residuals**2) - np.mean(variance) * dof / len(target))
    return _LineFit(
        float(solution[2]), (float(solution[0]), float(solution[1])), math.sqrt(max(0.0, excess)), significance
    )


def _weighted_lstsq(design: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    root = np.sqrt(weight)
    return np.linalg.lstsq(design * root[:, None], target * root, rcond=None)[0]


def _correlation_shift(
    reference: np.ndarray, moving: np.ndarray, usable: np.ndarray, upsample: int
) -> tuple[float, float]:
    """Shift with ``moving(p) = reference(p + shift)`` of two ``(h, w)`` images, by cross-correlation
    over the ``usable`` pixels.

    Not phase-normalised: whitening gives the highest frequencies full weight, and there the RAW's
    area-downscaled development carries aliased detail that moves *against* a sub-pixel shift (on a
    synthetic pair it reversed the sign of 0.2 px shifts). Plain correlation weighs structure by its
    power. Mean removal and a Hann window keep the image borders, which do not wrap around, from
    pulling the peak to zero; the window is zero where a pixel is not usable.
    """
    taper = np.outer(np.hanning(reference.shape[-2]), np.hanning(reference.shape[-1])) * usable
    # (The epsilon keeps the weighted means defined when nothing is usable.)
    ref = (reference - np.average(reference, weights=taper + 1e-12)) * taper
    mov = (moving - np.average(moving, weights=taper + 1e-12)) * taper
    shift = phase_cross_correlation(ref, mov, upsample_factor=upsample, normalization=None)[0]
    return float(shift[0]), float(shift[1])


def _gradient_ncc(a: torch.Tensor, b: torch.Tensor) -> float:
    """Normalised cross-correlation of the luminance gradients of two planes ``(1, 2, h, w)``, in [-1, 1].

    Taken where both are usable (clipped highlights have no gradient in one rendering and an outline of
    their own in the other), with ``b`` tone-matched to ``a`` (see :func:`_comparable`), and after a blur
    of :data:`_SCORE_SIGMA_PX`, so that sensor noise, which the camera's JPEG has denoised away, does not
    dilute the structure both share.
    """
    luma_a, luma_b, usable = _comparable(a, b)
    inside = np.s_[2:-2, 2:-2]
    usable = usable[inside]
    if not usable.any():
        return 0.0
    ga = np.stack(np.gradient(_blur(luma_a, _SCORE_SIGMA_PX)))[:, *inside][:, usable].ravel()
    gb = np.stack(np.gradient(_blur(luma_b, _SCORE_SIGMA_PX)))[:, *inside][:, usable].ravel()
    ga, gb = ga - ga.mean(), gb - gb.mean()
    return float(ga @ gb / max(float(np.linalg.norm(ga) * np.linalg.norm(gb)), 1e-12))
