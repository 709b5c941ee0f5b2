"""HDR from sRGB photos through a camera's inverse ISP: brackets merged in RAW, and single photos expanded.

Merge, step by step (``docs/hdr.md`` says why each is there):

1. each frame -> the camera's RAW through the inverse ISP with the frame's own exposure, ISO and f-number (one
   white balance for all, chosen on the reference frame: one light);
2. exposure normalisation: frame ``i`` scaled by ``level_ref / level_i`` (:func:`core_isp.cameras.exposure_level`),
   the reference being the frame of middle exposure; its error variance scales by the square
   (:func:`apps.hdr.raw_merge.site_variance`), its trust falls near clipping (:func:`apps.hdr.raw_merge.clip_trust`);
3. optionally (``align``) the global translation to the reference (:mod:`apps.hdr.align`);
4. the inverse ISP's response corrected by a curve the frames' agreement determines (:mod:`apps.hdr.response`),
   then optionally (``deghost``) the sites where a frame disagrees with the reference beyond its errors dropped
   (:func:`apps.hdr.raw_merge.ghost_sites`);
5. the inverse-variance weighted mean over frames, frames further than ``outlier_stops`` from it dropped and the mean
   taken again (:func:`apps.hdr.raw_merge.robust_mean`); sites no frame is trusted at take the shortest frame's value
   where it is blown (extended as in ``expand`` only with ``extend_blown``) and the longest frame's where it is black;
6. demosaic, white balance and colour matrix to linear RGB (Rec. 709 primaries, D65), scaled to approximate
   cd/m^2 (:mod:`apps.hdr.output`).

Expand: the photo through the inverse ISP, its clipped highlights extended (:mod:`apps.hdr.highlights`), then
step 6. Frames are cropped to whole 2x2 Bayer cells (an odd last row or column is dropped).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from apps.hdr.align import estimate_shift, translate
from apps.hdr.bracket import check_bracket, check_exposures_differ, reference_index
from apps.hdr.highlights import HighlightSettings, extend_highlights
from apps.hdr.output import raw_to_linear, white_luminance_cd_m2
from apps.hdr.raw_merge import (
    REPAIRED_STOPS,
    ErrorModel,
    clip_trust,
    ghost_sites,
    inverse_variance_weights,
    raw_per_light,
    repair_failures,
    robust_mean,
    site_codes,
    site_variance,
)
from apps.hdr.response import ResponseSettings, fit_response
from core_isp.cameras import Camera, exposure_level, photo_white_balance
from core_isp.cfa import cfa_batch, colour_index_map
from core_isp.chain import to_raw
from core_isp.errors import BadInputError
from core_isp.image import CameraImage
from core_isp.isp import ISP, InferenceOptions
from core_isp.metadata import CameraMetadata
from core_isp.raw_domain import scale_exposure
from core_isp.simulation.scenes import luminance


@dataclass(frozen=True)
class MergeSettings:
    """Everything that shapes an HDR result besides the frames, the camera and its inverse ISP."""

    #: Estimate and remove a global translation of each frame to the reference (hand-held brackets).
    align: bool = False
    #: Drop a frame's sites where it disagrees with the reference beyond its errors (moving objects).
    deghost: bool = False
    #: Disagreement, in standard deviations of the combined error, beyond which a site counts as a ghost.
    ghost_threshold: float = 4.0
    #: With ``align``: the registration error (mosaic pixels) the ghost test allows an aligned frame at edges.
    registration_px: float = 0.5
    #: A frame further than this (stops) from the first merge at a site is dropped there (None: never).
    outlier_stops: float | None = 1.0
    #: The response correction fitted from the frames' agreement (None: the inverse ISP's response as it is). Never
    #: fitted for an inverse conditioned for brackets (``load_isp(pair="brackets")``, what ``paramisp hdr`` loads):
    #: its errors are small and follow the exposure, not the code value, so a curve in code value fits noise
    #: (``docs/decisions.md`` 25).
    response: ResponseSettings | None = field(default_factory=ResponseSettings)
    #: White balance (:func:`core_isp.cameras.photo_white_balance`): None estimates it from the reference's EXIF.
    white_balance: str | None = None
    errors: ErrorModel = field(default_factory=ErrorModel)
    #: How ``expand`` extends a photo's clipped areas; a merge uses it only with ``extend_blown``.
    highlights: HighlightSettings = field(default_factory=HighlightSettings)
    #: Extend the sites blown in every frame of a bracket as ``expand`` does (off: they keep the shortest frame's
    #: level, a lower bound). Off by default: what even the shortest frame clips is the core of a light source,
    #: which the light around it does not predict (``docs/decisions.md`` 21).
    extend_blown: bool = False
    demosaic_method: str = "malvar"


#: The weights ``paramisp hdr`` loads (:data:`core_isp.isp.PAIRS`): the inverse conditioned for bracket frames,
#: chosen on the validation split (``docs/decisions.md`` 25).
DEFAULT_PAIR = "brackets"


def bracket_conditioned(isp: ISP) -> bool:
    """Whether ``isp``'s inverse is conditioned for bracket frames (:attr:`core_isp.isp.LearnedISP.bracket_conditioned`;
    False for ISPs that do not say)."""
    return bool(getattr(isp, "bracket_conditioned", False))


@dataclass(frozen=True)
class HdrResult:
    """An HDR image, the RAW it was developed from, and a JSON-ready record of how it was made."""

    #: ``linear_srgb`` ``(1, 3, H, W)`` in sensor orientation, approximately cd/m^2 (``record["units"]``).
    image: CameraImage
    #: The merged (or extended) mosaic ``(1, 1, H, W)`` at the reference frame's exposure; values exceed 1.
    raw: CameraImage
    record: dict[str, object]


@dataclass(frozen=True)
class _Frame:
    """One frame at the reference exposure, each ``(1, 1, H, W)``: its level, the variance of its errors (sensor,
    code value, inverse ISP), its trust, where it is blown (bool), and each site's code value in the photo."""

    level: torch.Tensor
    variance: torch.Tensor
    trust: torch.Tensor
    blown: torch.Tensor
    codes: torch.Tensor

    def compact(self) -> _Frame:
        """The same in float32, as the frames of a bracket are held together."""
        return _Frame(self.level.float(), self.variance.float(), self.trust.float(), self.blown, self.codes.float())

    @property
    def stops_error(self) -> torch.Tensor:
        """The error of the level in stops."""
        return torch.sqrt(self.variance) / self.level.clamp(min=1e-30) / math.log(2.0)


@dataclass(frozen=True)
class HdrMaker:
    """A camera, its inverse ISP and the settings: the Python API of ``paramisp hdr``."""

    camera: Camera
    inverse: ISP
    settings: MergeSettings = field(default_factory=MergeSettings)
    options: InferenceOptions | None = None

    def merge(self, frames: Sequence[CameraImage], names: Sequence[str] | None = None) -> HdrResult:
        """Photos of one scene at different exposures (each ``(1, 3, H, W)`` sRGB with its metadata) -> HDR.

        Bad brackets are refused with a one-line :class:`BadInputError` (:func:`apps.hdr.bracket.check_bracket`).
        """
        names = list(names) if names is not None else [f"frame {k}" for k in range(len(frames))]
        metas = check_bracket(frames, names, self.camera.noise.base_iso)
        levels = [exposure_level(m, self.camera.sensor) for m in metas]
        check_exposures_differ(levels)
        ref = reference_index(levels)
        white = photo_white_balance(self.camera, metas[ref], self.settings.white_balance)
        raw_metas = [self._raw_meta(m, white.gains, white.source, frames[0].size_hw) for m in metas]
        merged, untrusted, blown, records = self._merge_raw(frames, metas, raw_metas, levels, ref)
        if bool(untrusted.all()):
            raise BadInputError("every frame is clipped (white or black) at every pixel: nothing to merge")
        if self.settings.extend_blown:
            merged, _ = extend_highlights(merged, [raw_metas[ref]], untrusted & blown, self.settings.highlights)
        frame_records = [{"file": name, **record} for name, record in zip(names, records, strict=True)]
        return self._result(merged, raw_metas[ref], {
            "kind": "merge",
            "reference": names[ref],
            "frames": frame_records,
            "white_balance": white.describe(),
            "blown_in_every_frame_share": round(float((untrusted & blown).double().mean()), 6),
            "black_in_every_frame_share": round(float((untrusted & ~blown).double().mean()), 6),
        })  # fmt: skip

    def expand(self, photo: CameraImage, name: str = "photo") -> HdrResult:
        """One photo ``(1, 3, H, W)`` sRGB with its metadata -> HDR with its clipped highlights extended."""
        meta = photo.meta
        white = photo_white_balance(self.camera, meta, self.settings.white_balance)
        raw_meta = self._raw_meta(meta, white.gains, white.source, photo.size_hw)
        h, w = raw_meta.image_size_hw  # type: ignore[misc]
        cropped = photo.with_pixels(photo.pixels[..., :h, :w])
        raw = to_raw(cropped, self.inverse, [raw_meta], self.options).pixels
        photo_px = cropped.pixels.to(raw.dtype)
        raw, failed = repair_failures(raw, [raw_meta], photo_px, raw_per_light(raw, [raw_meta], photo_px))
        clipped = cropped.pixels.amax(dim=1, keepdim=True) >= self.settings.highlights.clipped_code
        extended, gain = extend_highlights(raw, [raw_meta], clipped, self.settings.highlights)
        return self._result(extended, raw_meta, {
            "kind": "expand",
            "file": name,
            "white_balance": white.describe(),
            "clipped_share": round(float(clipped.double().mean()), 6),
            "inverse_failure_share": round(float(failed.double().mean()), 6),
            "largest_extension_stops": round(float(torch.log2(gain.max())), 3),
        })  # fmt: skip

    # -- steps ----------------------------------------------------------------------------------------

    def _merge_raw(
        self,
        frames: Sequence[CameraImage],
        metas: Sequence[CameraMetadata],
        raw_metas: Sequence[CameraMetadata],
        levels: Sequence[float],
        ref: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[dict[str, object]]]:
        """Steps 1-5 of the module notes, the reference first: the merged mosaic ``(1, 1, H, W)``, bool masks of the
        sites no frame was trusted at and of those where the shortest frame is blown, and a record per frame.

        Where no frame is trusted the shortest frame's level stands if it is blown there (the largest lower bound of a
        highlight), else the longest frame's (the smallest upper bound of a shadow).
        """
        reference: _Frame | None = None
        records: list[dict[str, object]] = [{} for _ in frames]
        gains: torch.Tensor | None = None
        kept: dict[int, _Frame] = {}
        for k in [ref, *(k for k in range(len(frames)) if k != ref)]:
            ratio = levels[ref] / levels[k]
            frame, gains, records[k]["inverse_failure_share"] = self._frame(frames[k], raw_metas[k], metas[k], ratio,
                                                                            gains)  # fmt: skip
            if reference is None:
                reference = frame
            else:
                frame = self._register(frame, reference, raw_metas[ref], ratio, records[k])
            kept[k] = frame.compact()
        by_exposure = sorted(range(len(frames)), key=lambda k: levels[k])
        colours = colour_index_map(cfa_batch([str(raw_metas[ref].cfa_pattern)]), *kept[ref].level.shape[-2:])
        correction = None
        if self.settings.response is not None and not bracket_conditioned(self.inverse):
            correction = fit_response([kept[k].level for k in by_exposure], [kept[k].stops_error for k in by_exposure],
                                      [kept[k].trust for k in by_exposure], [kept[k].codes for k in by_exposure],
                                      colours, by_exposure.index(ref), self.settings.response)  # fmt: skip
        corrected = {}
        for k in by_exposure:
            frame = kept[k]
            level, variance = frame.level, frame.variance
            if correction is not None:
                gain = torch.exp2(-correction.at(frame.codes, colours))
                level, variance = level * gain, variance * gain**2
            corrected[k] = (level, variance, frame.trust)
        if self.settings.deghost:
            corrected = self._deghosted(corrected, ref, raw_metas[ref], records)
        frame_levels = [corrected[k][0].float() for k in by_exposure]
        frame_weights = [inverse_variance_weights(corrected[k][1], corrected[k][2]).float() for k in by_exposure]
        mean, total, dropped = robust_mean(frame_levels, frame_weights, self.settings.outlier_stops)
        untrusted = total <= 0
        blown = kept[by_exposure[0]].blown
        fallback = torch.where(blown, frame_levels[0].double(), frame_levels[-1].double())
        merged = torch.where(untrusted, fallback, mean.double())
        sums = {k: float(torch.where(d, 0.0, w).double().sum()) for k, w, d in zip(by_exposure, frame_weights, dropped,
                                                                                   strict=True)}  # fmt: skip
        everything = sum(sums.values()) or 1.0
        for k, d in zip(by_exposure, dropped, strict=True):
            m = metas[k]
            records[k] = {"exposure_time_s": m.exposure_time_s, "iso": m.iso, "f_number": m.f_number,
                          "ev_from_reference": round(math.log2(levels[k] / levels[ref]), 4), **records[k],
                          "outlier_share": round(float(d.double().mean()), 6),
                          "weight_share": round(sums[k] / everything, 4)}  # fmt: skip
        if correction is not None:
            records[ref]["response_correction_stops"] = {
                "codes": [round(v, 4) for v in correction.knots],
                **{c: [round(v, 3) for v in stops] for c, stops in zip("RGB", correction.stops, strict=True)},
            }
        return merged, untrusted, blown, records

    def _raw_meta(
        self, meta: CameraMetadata, gains: tuple[float, float, float], source: str, size_hw: tuple[int, int]
    ) -> CameraMetadata:
        """The RAW metadata of a frame, its size cropped to whole Bayer cells."""
        h, w = size_hw[0] // 2 * 2, size_hw[1] // 2 * 2
        if h < 4 or w < 4:
            raise BadInputError(f"a photo of {size_hw[0]}x{size_hw[1]} pixels is too small")
        return self.camera.raw_metadata(meta, gains, source).replace(image_size_hw=(h, w))

    def _frame(
        self,
        frame: CameraImage,
        raw_meta: CameraMetadata,
        meta: CameraMetadata,
        ratio: float,
        gains: torch.Tensor | None,
    ) -> tuple[_Frame, torch.Tensor, float]:
        """One frame through the inverse ISP, at the reference exposure, with its errors and trust; the RAW per
        light ``gains`` its errors were taken with (measured here when not given: on the reference); and the share of
        its sites where the inverse failed (:func:`apps.hdr.raw_merge.repair_failures`)."""
        h, w = raw_meta.image_size_hw  # type: ignore[misc]
        photo = frame.pixels[..., :h, :w]
        raw = to_raw(frame.with_pixels(photo), self.inverse, [raw_meta], self.options).pixels.double()
        photo = photo.double()
        gains = raw_per_light(raw, [raw_meta], photo) if gains is None else gains
        raw, failed = repair_failures(raw, [raw_meta], photo, gains)
        errors = self.settings.errors
        analog_iso = self.camera.sensor.analog_iso(float(meta.iso))  # type: ignore[arg-type]
        variance = site_variance(raw, [raw_meta], photo, gains, self.camera.noise, analog_iso, errors)
        variance = torch.where(failed, variance + (math.log(2.0) * REPAIRED_STOPS * raw) ** 2, variance)
        level, _ = scale_exposure(raw, [raw_meta], math.log2(ratio))
        trust, blown = clip_trust(photo, [raw_meta], errors)
        frame = _Frame(level, variance * ratio**2, trust, blown, site_codes(photo, [raw_meta]))
        return frame, gains, float(failed.double().mean())

    def _deghosted(
        self,
        frames: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
        ref: int,
        raw_meta: CameraMetadata,
        records: list[dict[str, object]],
    ) -> dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Each frame's ``(level, variance, trust)`` with its trust taken away where it disagrees with the reference.

        Compared after the response correction: before it, the inverse ISP's systematic disagreement between
        exposures (which the correction exists to take out) would count as motion and drop whole tonal ranges.
        """
        level_ref, variance_ref, trust_ref = frames[ref]
        registration = self.settings.registration_px if self.settings.align else 0.0
        out = {}
        for k, (level, variance, trust) in frames.items():
            if k != ref:
                ghosts = ghost_sites(level, variance, level_ref, variance_ref, trust_ref, [raw_meta],
                                     self.settings.ghost_threshold, registration)  # fmt: skip
                trust = torch.where(ghosts, 0.0, trust)
                records[k]["ghost_share"] = round(float(ghosts.double().mean()), 6)
            out[k] = (level, variance, trust)
        return out

    def _register(
        self, frame: _Frame, reference: _Frame, raw_meta: CameraMetadata, ratio: float, entry: dict[str, object]
    ) -> _Frame:
        """Align a frame to the reference, as the settings ask; notes the shift in ``entry``."""
        if self.settings.align:
            # Both frames clip at 1 in their own units: at the reference's exposure the lower of 1 and ``ratio``.
            dx, dy = estimate_shift(reference.level, frame.level, [raw_meta], 0.9 * min(1.0, ratio))
            moved = (frame.level, frame.variance, frame.trust, frame.blown.double(), frame.codes)
            (level, _), (variance, _), (trust, covered), (blown, _), (codes, _) = (
                translate(x, [raw_meta], dx, dy) for x in moved
            )
            frame = _Frame(level, variance, trust * covered, blown > 0.5, codes)
            entry["shift_px"] = [round(dx, 3), round(dy, 3)]
        return frame

    def _result(self, raw: torch.Tensor, raw_meta: CameraMetadata, record: dict[str, object]) -> HdrResult:
        """Step 6 of the module notes, and the record's common fields."""
        scale = white_luminance_cd_m2(raw_meta, self.camera.sensor)
        linear = raw_to_linear(raw, [raw_meta], self.settings.demosaic_method) * (scale or 1.0)
        y = luminance(linear[0].double()).flatten()
        y = y[:: max(1, y.numel() // 1_000_000)]  # quantile's input limit; a regular subsample is as good
        low, high = (float(torch.quantile(y, q)) for q in (0.001, 0.999))
        image = CameraImage(linear.float(), (raw_meta,), "linear_srgb")
        return HdrResult(image, CameraImage(raw.float(), (raw_meta,), "raw"), {
            **record,
            "camera": self.camera.name,
            "inverse_isp": getattr(self.inverse, "description", "") or self.inverse.name,
            "units": "cd/m^2 (approximate, ISO 12232 saturation speed)" if scale else "relative (1 = RAW white level)",
            "white_luminance_cd_m2": None if scale is None else round(scale, 4),
            "dynamic_range_stops": round(math.log2(high / low), 3) if low > 0 and high > low else None,
        })  # fmt: skip
