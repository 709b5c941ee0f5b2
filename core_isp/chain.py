"""The chain every app runs: photo -> inverse ISP -> an operation in RAW -> forward ISP.

``run_chain`` keeps the metadata of each step with its pixels (:class:`~core_isp.image.CameraImage`): the RAW
the inverse produced, the RAW the operation produced (its exposure, ISO or geometry may have changed, and the
forward ISP renders with *those* parameters), and the final render. Any ISP meeting :class:`~core_isp.isp.ISP`
can stand at either end, so a benchmark compares methods by swapping them (learned, canonical, UPI-style, or a
learned inverse of one camera with the forward of another).

A learned round trip is not the identity: ``forward(inverse(photo))`` misses the photo by the errors of both
networks (about 1 dB on the shipped pair), more than many RAW operations change. ``run_chain(..., residual=True)``
renders the RAW before the operation as well and keeps the photo's own pixels wherever the operation changed
nothing (:func:`correct_round_trip`): the chain's errors then reach the output only through what the operation
changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from core_isp.cameras import Camera, WhiteBalance, photo_white_balance, resolve_camera
from core_isp.errors import BadInputError
from core_isp.image import CameraImage, from_codes
from core_isp.isp import ISP, InferenceOptions, LearnedISP, load_isp
from core_isp.metadata import CameraMetadata

#: A RAW-domain operation: ``(raw (B, 1, H, W), metadata) -> (raw, metadata)`` (see :mod:`core_isp.raw_domain`).
RawOp = Callable[[torch.Tensor, Sequence[CameraMetadata]], tuple[torch.Tensor, Sequence[CameraMetadata]]]


def identity_op(raw: torch.Tensor, meta: Sequence[CameraMetadata]) -> tuple[torch.Tensor, list[CameraMetadata]]:
    """The operation that changes nothing (the chain is then a round trip)."""
    return raw, list(meta)


@dataclass(frozen=True)
class ChainResult:
    """Every intermediate of one run of the chain."""

    raw_in: CameraImage
    raw_out: CameraImage
    rendered: CameraImage
    #: ``forward(raw_in)`` when the chain ran with ``residual=True``, else None.
    round_trip: CameraImage | None = None


def to_raw(
    photo: CameraImage, isp: ISP, raw_meta: Sequence[CameraMetadata], options: InferenceOptions | None = None
) -> CameraImage:
    """sRGB photo -> the RAW described by ``raw_meta`` (one record per image, e.g. :meth:`Camera.raw_metadata`)."""
    if photo.space != "srgb":
        raise BadInputError(f"the inverse ISP takes an sRGB photo, got {photo.space}")
    return CameraImage(isp.inverse(photo.pixels, list(raw_meta), options), tuple(raw_meta), "raw")


def to_srgb(raw: CameraImage, isp: ISP, options: InferenceOptions | None = None) -> CameraImage:
    """RAW -> sRGB with the RAW's own metadata (which stays with the render)."""
    if raw.space != "raw":
        raise BadInputError(f"the forward ISP takes a RAW mosaic, got {raw.space}")
    return CameraImage(isp.forward(raw.pixels, list(raw.metadata), options), raw.metadata, "srgb")


@dataclass(frozen=True)
class PhotoRaw:
    """An sRGB photo taken back to a camera's RAW, with what was assumed to get there."""

    #: ``(1, 1, H, W)`` normalised mosaic with the camera's RAW metadata for the shot.
    raw: CameraImage
    camera: Camera
    isp: LearnedISP
    white: WhiteBalance

    def describe(self) -> str:
        """One phrase for logs and DNG descriptions: the sensor, the weights, the light and the unknown EXIF."""
        unknown = ", ".join(self.raw.meta.missing_optics()) or "none"
        return (f"sensor of camera {self.camera.name}, {self.isp.description}, {self.white.describe()}; "
                f"unknown EXIF: {unknown}")


def photo_to_raw(
    photo: CameraImage,
    camera: str | None = None,
    *,
    wb: str | None = None,
    iso: float | None = None,
    exposure_time_s: float | None = None,
    f_number: float | None = None,
    focal_length_mm: float | None = None,
    inverse_weights: str | Path | None = None,
    options: InferenceOptions | None = None,
) -> PhotoRaw:
    """A photo ``(1, 3, H, W)`` (sensor orientation, with its EXIF) -> its camera's RAW, as ``paramisp to-raw`` does.

    A JPEG carries no white balance, matrix or CFA, so they come from ``camera`` (a shipped or stored name; default:
    the camera matching the photo's make/model, else the default body with the camera-agnostic weights, with a
    warning). The light is estimated from the exposure *as recorded* (or ``wb``, see
    :func:`~core_isp.cameras.photo_white_balance`); the EXIF overrides change only the value they name, so "as if
    shot at ISO 1600" changes the shot's noise and rendering, not the colour of the light.
    """
    found = resolve_camera(camera, photo.meta)
    white = photo_white_balance(found, photo.meta, wb)
    shot = photo.meta.with_exif(iso=iso, exposure_time_s=exposure_time_s, f_number=f_number,
                                focal_length_mm=focal_length_mm)  # fmt: skip
    meta = found.raw_metadata(shot, white.gains, white.source)
    device = options.device if options is not None else "cpu"
    isp = load_isp(found, inverse_weights=inverse_weights, directions=("inverse",), device=device)
    mosaic = isp.inverse(photo.pixels, [meta], options)
    raw = CameraImage(mosaic, (meta.replace(image_size_hw=tuple(mosaic.shape[-2:])),), "raw")
    return PhotoRaw(raw, found, isp, white)


def apply_op(raw: CameraImage, op: RawOp) -> CameraImage:
    """Run a RAW-domain operation on a carrier."""
    pixels, meta = op(raw.pixels, list(raw.metadata))
    return CameraImage(pixels, tuple(meta), "raw")


def correct_round_trip(photo: torch.Tensor, rendered: torch.Tensor, round_trip: torch.Tensor) -> torch.Tensor:
    """The photo plus what a RAW operation changed in the render: ``photo + rendered - round_trip`` in [0, 1].

    ``rendered`` is the forward render after the operation and ``round_trip`` the render of the same RAW without
    it, so an error of the inverse or forward ISP that both renders share cancels; an operation that changes
    nothing gives the photo back exactly. To first order what remains of an inverse error ``d`` is
    ``(J_rendered - J_round_trip) d``, the difference of the two renders' sensitivities, instead of
    ``J_rendered d``. Noise the inverse left out stays in the photo's share.

    Args:
        photo, rendered, round_trip: ``(B, 3, H, W)`` sRGB of the same size (the photo may be code values).
    """
    if not photo.shape == rendered.shape == round_trip.shape:
        raise BadInputError(f"the round-trip correction needs images of one size, got {tuple(photo.shape)}, "
                            f"{tuple(rendered.shape)} and {tuple(round_trip.shape)}")  # fmt: skip
    return (from_codes(photo).to(rendered.dtype) + (rendered - round_trip)).clamp(0.0, 1.0)


def run_chain(
    photo: CameraImage,
    inverse: ISP,
    raw_meta: Sequence[CameraMetadata],
    forward: ISP,
    op: RawOp = identity_op,
    options: InferenceOptions | None = None,
    residual: bool = False,
) -> ChainResult:
    """photo -> ``inverse`` -> ``op`` -> ``forward``, each step with its metadata.

    ``residual``: also render the RAW before ``op`` and return the photo plus the change ``op`` made to the render
    (:func:`correct_round_trip`); needs an ``op`` that keeps the image's size. Costs one more forward pass.
    """
    raw_in = to_raw(photo, inverse, raw_meta, options)
    raw_out = apply_op(raw_in, op)
    rendered = to_srgb(raw_out, forward, options)
    if not residual:
        return ChainResult(raw_in, raw_out, rendered)
    round_trip = to_srgb(raw_in, forward, options)
    corrected = correct_round_trip(photo.pixels, rendered.pixels, round_trip.pixels)
    return ChainResult(raw_in, raw_out, rendered.with_pixels(corrected), round_trip)


#: :func:`fit_raw_level` compares up to this many crops of this side (mosaic pixels, even) on a grid over the image,
#: ignoring a margin where the forward ISP sees past the crop's edge.
LEVEL_FIT_CROPS = 4
LEVEL_FIT_CROP_PX = 96
LEVEL_FIT_MARGIN_PX = 8
#: Search range of the level correction, in stops either way, and the number of forward renders it may spend.
LEVEL_FIT_STOPS = 1.5
LEVEL_FIT_RENDERS = 10
#: sRGB values outside this range carry no level information (crushed or clipped).
_INFORMATIVE = (0.02, 0.98)


def _crops(raw: CameraImage, photo: CameraImage) -> tuple[CameraImage, torch.Tensor]:
    """Full-resolution crops ``(K, 1, c, c)`` of a RAW ``(1, 1, H, W)`` and ``(K, 3, c, c)`` of its photo.

    Crops, not a thumbnail: a shrunken photo averages *encoded* values, which no render of the shrunken RAW matches.
    """
    height, width = raw.size_hw
    side = min(LEVEL_FIT_CROP_PX, height // 2 * 2, width // 2 * 2)
    per_axis = max(1, int(LEVEL_FIT_CROPS**0.5))
    tops = torch.linspace(0, height - side, per_axis).tolist() if height > side else [0.0]
    lefts = torch.linspace(0, width - side, per_axis).tolist() if width > side else [0.0]
    corners = {(int(t) // 2 * 2, int(left) // 2 * 2) for t in tops for left in lefts}
    corners = sorted(corners)
    meta = raw.meta.replace(image_size_hw=(side, side))
    raws = torch.cat([raw.pixels[..., t : t + side, x : x + side] for t, x in corners])
    photos = torch.cat([photo.pixels[..., t : t + side, x : x + side] for t, x in corners])
    return CameraImage(raws, (meta,) * len(corners), "raw"), photos


def fit_raw_level(raw: CameraImage, photo: CameraImage, forward: ISP, options: InferenceOptions | None = None) -> float:
    """The gain that makes ``forward`` re-render the photo from the RAW an inverse ISP gave for it.

    An inverse ISP can miss a shot's RAW *level* while getting its content right: a learned one conditioned on the
    recorded ISO does not see, for instance, a body that runs its sensor a stop below the recorded ISO
    (highlight-tone priority). The forward ISP of the same camera is the referee: the gain ``g`` minimising the mean
    absolute difference between ``forward(g * raw)`` and the photo (on informative pixels of four 96-pixel crops, a
    golden-section search over +-1.5 stops in log gain, 10 renders) is the level at which the pair agrees. Apps
    that add light across shots (blur synthesis, HDR) need the level right; a single-shot round trip does not.

    Args:
        raw: the inverse ISP's output ``(1, 1, H, W)`` with its metadata.
        photo: the sRGB photo it came from ``(1, 3, H, W)``.

    Returns:
        The gain to multiply ``raw`` by (1.0 when the photo has no informative pixels).
    """
    if raw.pixels.shape[0] != 1 or photo.pixels.shape[0] != 1:
        raise BadInputError("fit_raw_level takes one image at a time")
    small, target = _crops(raw, photo)
    informative = ((target > _INFORMATIVE[0]) & (target < _INFORMATIVE[1])).all(dim=1, keepdim=True)
    margin = LEVEL_FIT_MARGIN_PX if small.size_hw[0] > 4 * LEVEL_FIT_MARGIN_PX else 0
    if margin:
        inner = torch.zeros_like(informative)
        inner[..., margin:-margin, margin:-margin] = True
        informative &= inner
    if not bool(informative.any()):
        return 1.0
    unclipped = InferenceOptions(tile=None, device=(options or InferenceOptions()).device, clip=False)

    def mismatch(log2_gain: float) -> float:
        rendered = forward.forward(small.pixels * 2.0**log2_gain, list(small.metadata), unclipped)
        return float((rendered - target).abs().mean(dim=1, keepdim=True)[informative].mean())

    inside = (5**0.5 - 1) / 2
    low, high = -LEVEL_FIT_STOPS, LEVEL_FIT_STOPS
    a, b = high - inside * (high - low), low + inside * (high - low)
    fa, fb = mismatch(a), mismatch(b)
    for _ in range(LEVEL_FIT_RENDERS - 2):
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - inside * (high - low)
            fa = mismatch(a)
        else:
            low, a, fa = a, b, fb
            b = low + inside * (high - low)
            fb = mismatch(b)
    return float(2.0 ** ((low + high) / 2))
