"""A photo as another camera would have taken it, carried physically through both cameras' RAW.

Camera A took the photo; camera B is the target. Step by step:

1. A's inverse ISP, given the photo's EXIF and its illuminant, predicts A's camera RGB: the *clean* RAW, so A's
   noise is left behind here, at full resolution with all three colours at every pixel
   (``InferenceOptions(mosaic=False)``: the inverse stops before it would sample them through A's CFA).
2. A's camera RGB -> white-balanced linear sRGB (A's white balance and colour matrix for that illuminant) -> B's
   camera RGB (B's matrix and white balance for the same illuminant): the same light, seen by B's sensor. For one
   illuminant both cameras' white balance and matrix describe the same scene colours, which is how the simulated
   cameras are built too (``core_isp.simulation.render``). B's colour at a site mixes all three of A's, so A's
   mosaic would not do: two of them would be interpolated, a softer RAW than B's sensor records.
3. Exposure: the scene's light is the same. A RAW level is proportional to the scene's light times
   ``t * ISO / N^2`` (the exposure the camera metered), the sensor's sensitivity (:attr:`SensorLayout.mid_grey_raw`,
   the level a metered mid grey reaches; unknown on either camera: taken as equal) and the share of the recorded
   ISO the sensor really ran at (highlight-tone priority holds it a stop down). B's level is A's times the ratio
   of those (:func:`exposure_gain`).
4. B's CFA (the mosaic), B's Poisson-Gaussian noise at the analogue ISO of B's shot, the clip at B's white level.
5. B's forward ISP renders that RAW with B's metadata.

B's shot is the photo's unless told otherwise ("as if B had shot it at ISO 1600", :class:`TransferSettings`):
a changed ISO or f-number moves the exposure time so the metered exposure is kept (the picture keeps its
brightness and gains B's noise for that ISO); giving the exposure time as well sets the exposure outright.

Residual (the default): the learned inverse's error is what limits a transfer rendered from B's RAW alone (its
benchmark: 2-5 dB below a perfect inverse). So A's forward ISP also renders A's RAW, and the output is the photo
plus the difference of the two renders: an error both renders share cancels, and a transfer from a camera to
itself with the same shot gives the photo back. A's render samples A's camera RGB in B's CFA phase, so that both
renders demosaic the same sites (with A's own phase, the two forward ISPs' CFA-period artefacts showed as a grid
where the cameras' phases differ). What remains of an inverse error is the difference of the two
forward ISPs' responses to it; A's noise and whatever A's forward ISP does not reproduce stay in the output, on
top of B's noise. ``TransferSettings(residual=False)`` is the plain physical chain.

The photo's illuminant: a JPEG records no white balance, so it is estimated from the photo's recorded exposure
(:func:`core_isp.cameras.photo_white_balance`: bright scenes are taken as daylight, dim ones as indoor light)
unless given. Light brighter than A's white level is unknown (A's inverse returns white there) and is carried as
exactly A's white.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from core_isp.cameras import Camera, WhiteBalance, photo_white_balance
from core_isp.canonical import apply_ccm, mosaic
from core_isp.cfa import cfa_batch
from core_isp.chain import correct_round_trip, to_srgb
from core_isp.colour import neutral_from_wb_gains, wb_gains_from_neutral
from core_isp.errors import BadInputError
from core_isp.image import CameraImage
from core_isp.isp import ISP, InferenceOptions, load_isp
from core_isp.metadata import OPTICAL_FIELDS, CameraMetadata, source_field
from core_isp.raw_domain import add_sensor_noise, clip_to_white, saturation_mask
from core_isp.tensor_checks import check_shape

#: Source recorded for B's exposure time when it moved to keep the metered exposure.
KEPT_EXPOSURE = "kept exposure"
#: Source recorded for a value the photo did not have and B's shot needs (documented, not guessed per file).
DEFAULT = "default"


@dataclass(frozen=True)
class TransferSettings:
    """How a photo is carried to the target camera, besides the cameras and their ISPs."""

    #: The photo's illuminant, as :func:`core_isp.cameras.photo_white_balance` takes it: None (estimated from the
    #: recorded exposure), ``"daylight"``, a temperature (``"3200K"``) or the photo's camera's gains (``"R,G,B"``).
    white_balance: str | None = None
    #: B's shot where it differs from the photo's ("as if B had shot it at ISO 1600"); None keeps the photo's.
    iso: float | None = None
    exposure_time_s: float | None = None
    f_number: float | None = None
    focal_length_mm: float | None = None
    #: Add B's sensor noise (False renders B's noise-free RAW).
    noise: bool = True
    #: The photo plus B's render minus A's render of A's RAW (:func:`core_isp.chain.correct_round_trip`): the learned
    #: inverse's error cancels where both forward ISPs respond to it alike, and what A's forward ISP does not model
    #: (A's noise among it) stays in the photo's share. Costs A's forward ISP and one more render; False renders B's
    #: RAW alone (module notes, "Residual").
    residual: bool = True

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ExposureGain:
    """B's RAW level over A's for the same light, and the ratios it is made of (each 1 where unknown)."""

    #: B's ``mid_grey_raw`` over A's: how much more signal B's sensor gives for the same exposure.
    sensitivity: float
    #: B's analogue share of its recorded ISO over A's (highlight-tone priority runs a sensor a stop low).
    analog_gain: float
    #: B's ``t * ISO / N^2`` over A's: 1 unless B's shot was given a different exposure.
    exposure: float

    @property
    def total(self) -> float:
        return self.sensitivity * self.analog_gain * self.exposure

    def to_dict(self) -> dict[str, float]:
        return {**{k: round(v, 6) for k, v in self.__dict__.items()}, "total": round(self.total, 6)}


@dataclass(frozen=True)
class TransferResult:
    """The photo as camera B renders it, B's RAW it was rendered from, and how it was made."""

    srgb: CameraImage  # (1, 3, H, W) in [0, 1], sensor orientation, B's metadata
    raw: CameraImage  # (1, 1, H, W) normalised, B's CFA and levels, noise added, clipped at white
    #: JSON-ready: cameras, ISPs, illuminant, both shots, exposure gain, noise ISO, unknown EXIF, defaults, seed.
    record: dict[str, object]


def same_light(source: Camera, white: WhiteBalance, target: Camera) -> WhiteBalance:
    """The target camera's white balance for the light a white balance of ``source`` describes.

    The source's neutral (its response to the light, ``1 / gains``) is taken back to XYZ through its colour matrix
    and forward through the target's: for an illuminant of known temperature this is exactly what
    :meth:`CameraColour.white_balance` gives the target for that temperature, and it serves user gains too.
    """
    xyz = np.linalg.solve(source.colour.matrix, np.asarray(neutral_from_wb_gains(white.gains)))
    return WhiteBalance(wb_gains_from_neutral(target.colour.matrix @ xyz), white.cct_k, white.source)


def sensor_to_sensor_matrix(source: CameraMetadata, target: CameraMetadata) -> np.ndarray:
    """``(3, 3)`` float64 from the source's camera RGB to the target's, for shots of the same light.

    Each RAW record's white balance and ``ccm_wb_cam_to_srgb`` take its camera RGB to the same white-balanced
    linear sRGB, so the map is ``diag(1 / wb_t) inv(ccm_t) ccm_s diag(wb_s)``; it takes the source's neutral to
    the target's (both with G = 1).
    """
    to_srgb_s = np.asarray(source.ccm_wb_cam_to_srgb) @ np.diag(source.wb_gains)  # type: ignore[arg-type]
    to_srgb_t = np.asarray(target.ccm_wb_cam_to_srgb) @ np.diag(target.wb_gains)  # type: ignore[arg-type]
    return np.linalg.solve(to_srgb_t, to_srgb_s)


def _metered_exposure(shot: CameraMetadata) -> float | None:
    """``t * ISO / N^2`` as recorded, or None when a value is unknown."""
    if None in (shot.exposure_time_s, shot.iso, shot.f_number):
        return None
    return shot.exposure_time_s * shot.iso / shot.f_number**2  # type: ignore[operator]


def _analog_share(camera: Camera, shot: CameraMetadata) -> float:
    return 1.0 if shot.iso is None else camera.sensor.analog_iso(shot.iso) / shot.iso


def exposure_gain(source: Camera, shot_a: CameraMetadata, target: Camera, shot_b: CameraMetadata) -> ExposureGain:
    """How much brighter B's RAW is than A's for the same light (module notes, step 3)."""
    mid = (source.sensor.mid_grey_raw, target.sensor.mid_grey_raw)
    e_a, e_b = _metered_exposure(shot_a), _metered_exposure(shot_b)
    return ExposureGain(
        sensitivity=1.0 if None in mid else mid[1] / mid[0],  # type: ignore[operator]
        analog_gain=_analog_share(target, shot_b) / _analog_share(source, shot_a),
        exposure=1.0 if e_a is None or e_b is None else e_b / e_a,
    )


def target_shot(
    photo: CameraMetadata, target: Camera, settings: TransferSettings
) -> tuple[CameraMetadata, dict[str, float]]:
    """B's shot parameters: the photo's EXIF with the settings' values, and the defaults it needed.

    A changed ISO or f-number without a given exposure time moves the exposure time so ``t * ISO / N^2`` stays the
    photo's. Without any ISO (a photo without EXIF), B shoots at its noise model's base ISO: the noise needs one.
    Returns ``(shot, defaults)``, ``defaults`` naming each value filled in that way.
    """
    shot = photo.with_exif(iso=settings.iso, exposure_time_s=settings.exposure_time_s, f_number=settings.f_number,
                           focal_length_mm=settings.focal_length_mm)  # fmt: skip
    defaults: dict[str, float] = {}
    if shot.iso is None:
        defaults["iso"] = float(target.noise.base_iso)
        shot = shot.replace(iso=defaults["iso"], iso_source=DEFAULT)
    e_photo, e_shot = _metered_exposure(photo), _metered_exposure(shot)
    if settings.exposure_time_s is None and e_photo is not None and e_shot is not None and e_shot != e_photo:
        shot = shot.replace(exposure_time_s=shot.exposure_time_s * e_photo / e_shot, exposure_time_source=KEPT_EXPOSURE)
    return shot, defaults


def carry_mosaic(camera_rgb: torch.Tensor, source: CameraMetadata, target: CameraMetadata, gain: float) -> torch.Tensor:
    """A's camera RGB ``(1, 3, H, W)`` -> the noise-free mosaic B records for the same light ``(1, 1, H, W)``.

    A's camera RGB -> B's (:func:`sensor_to_sensor_matrix`), times ``gain``, sampled through B's CFA: each site of
    B's mosaic is B's colour there mixed from A's three at that very pixel, nothing interpolated. Light is not
    negative (the matrix's negative terms can undershoot on saturated colours); B's clip comes after its noise.
    """
    check_shape(camera_rgb, "1,3,H,W", "camera_rgb")
    matrix = torch.from_numpy(sensor_to_sensor_matrix(source, target))[None]
    # In the camera RGB's own precision (float32 from an ISP): a full-resolution photo's RGB is the largest buffer.
    target_rgb = apply_ccm(camera_rgb, matrix) * gain
    return mosaic(target_rgb, cfa_batch([target.cfa_pattern], camera_rgb.device)).clamp(min=0.0)  # type: ignore[list-item]


@dataclass(frozen=True)
class CameraTransfer:
    """Camera A's inverse ISP and camera B's forward ISP with a transfer's settings: the Python API.

    ``source`` and ``target`` may be the same camera: the photo is then re-rendered by its own camera after a
    round trip through its RAW (its noise re-drawn, B's shot parameters applied).
    """

    source: Camera
    target: Camera
    inverse: ISP  # source's
    forward: ISP  # target's
    settings: TransferSettings = field(default_factory=TransferSettings)
    options: InferenceOptions | None = None
    #: The source's forward ISP, for ``settings.residual``.
    source_forward: ISP | None = None

    @classmethod
    def load(
        cls,
        source: Camera,
        target: Camera,
        settings: TransferSettings | None = None,
        options: InferenceOptions | None = None,
        inverse_weights: Path | None = None,
        forward_weights: Path | None = None,
    ) -> CameraTransfer:
        """The learned ISPs of both cameras (or given weight files; a file of the wrong direction is refused)."""
        device = (options or InferenceOptions()).device
        inverse = load_isp(source, inverse_weights=inverse_weights, directions=("inverse",), device=device)
        forward = load_isp(target, forward_weights=forward_weights, directions=("forward",), device=device)
        settings = settings or TransferSettings()
        source_forward = load_isp(source, directions=("forward",), device=device) if settings.residual else None
        return cls(source, target, inverse, forward, settings, options, source_forward)

    def transfer(self, photo: CameraImage, seed: int = 0) -> TransferResult:
        """A photo of camera A (sRGB ``(1, 3, H, W)`` with its EXIF) -> the same shot by camera B.

        ``seed`` draws B's noise: the same seed gives the same result.
        """
        if photo.space != "srgb":
            raise BadInputError(f"cam2cam takes an sRGB photo, got {photo.space}")
        settings = self.settings
        exif = photo.meta.replace(image_size_hw=photo.size_hw)
        # The light is estimated from the exposure as the photo recorded it, not as B's shot changes it.
        white_a = photo_white_balance(self.source, exif, settings.white_balance)
        white_b = same_light(self.source, white_a, self.target)
        shot_b, defaults = target_shot(exif, self.target, settings)
        meta_a = self.source.raw_metadata(exif, white_a.gains, white_a.source)
        meta_b = self.target.raw_metadata(shot_b, white_b.gains, white_b.source)
        # A's camera RGB, not its mosaic: B's colour at a site mixes all three of A's (module notes, step 2).
        rgb_options = replace(self.options or InferenceOptions(), mosaic=False)
        camera_rgb = self.inverse.inverse(photo.pixels, [meta_a], rgb_options)
        gain = exposure_gain(self.source, exif, self.target, shot_b)
        signal = carry_mosaic(camera_rgb, meta_a, meta_b, gain.total)
        noise_iso = self.target.sensor.analog_iso(float(shot_b.iso))  # type: ignore[arg-type]
        if settings.noise:
            generator = torch.Generator().manual_seed(seed)
            # The op records the analogue ISO; B's metadata keeps the recorded one, which its ISP is conditioned on.
            signal, _ = add_sensor_noise(signal, [meta_b], self.target.noise, noise_iso, generator)
        clipped, _ = clip_to_white(signal, [meta_b])
        raw_b = CameraImage(clipped.float(), (meta_b,), "raw")
        srgb = to_srgb(raw_b, self.forward, self.options)
        if settings.residual:
            # A's RGB sampled in B's CFA phase: both renders then demosaic the same sites, so the learned forward
            # ISPs' CFA-period artefacts are alike in both and cancel (on a real photo they showed as a grid).
            round_trip = self._source_render(camera_rgb, meta_a.replace(cfa_pattern=meta_b.cfa_pattern))
            srgb = srgb.with_pixels(correct_round_trip(photo.pixels, srgb.pixels, round_trip))
        record = {
            "from": self.source.name,
            "to": self.target.name,
            "same_camera": self.source.name == self.target.name,
            "inverse": self.inverse.name,
            "forward": self.forward.name,
            "illuminant": {"source": white_a.source, "cct_k": white_a.cct_k, "description": white_a.describe(),
                           "from_gains": _rounded(white_a.gains), "to_gains": _rounded(white_b.gains)},
            "shot_from": _shot(exif),
            "shot_to": _shot(shot_b),
            "exposure_gain": gain.to_dict(),
            "noise_iso": noise_iso if settings.noise else None,
            "clipped_share": round(float(saturation_mask(clipped, [meta_b]).float().mean()), 6),
            "unknown_exif": exif.missing_optics(),
            "defaults": defaults,
            "seed": seed,
            "settings": settings.to_dict(),
        }  # fmt: skip
        return TransferResult(srgb, raw_b, record)

    def _source_render(self, camera_rgb: torch.Tensor, meta_a: CameraMetadata) -> torch.Tensor:
        """A's forward render ``(1, 3, H, W)`` of A's camera RGB sampled through the CFA ``meta_a`` names."""
        if self.source_forward is None:
            raise BadInputError("the residual transfer needs the source camera's forward ISP")
        raw_a = mosaic(camera_rgb, cfa_batch([meta_a.cfa_pattern], camera_rgb.device))  # type: ignore[list-item]
        return to_srgb(CameraImage(raw_a.float(), (meta_a,), "raw"), self.source_forward, self.options).pixels


def _rounded(values: tuple[float, ...]) -> list[float]:
    return [round(v, 5) for v in values]


def _shot(meta: CameraMetadata) -> dict[str, object]:
    return {**{k: getattr(meta, k) for k in OPTICAL_FIELDS},
            "sources": {k: getattr(meta, source_field(k)) for k in OPTICAL_FIELDS}}  # fmt: skip
