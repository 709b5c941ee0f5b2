"""What a camera is at inference time: its sensor layout, its colour, its noise model and its learned weights.

Shipped cameras (the simulated bodies, listed in ``core_isp/weights/registry.json``) and the user's own cameras
(made by ``paramisp camera add``, kept in the camera store) are the same type and serialise to the same JSON.
A camera turns a rendered photo's EXIF into the metadata of the RAW it would have recorded
(:meth:`Camera.raw_metadata`): its CFA and levels, the white balance and colour matrix for an illuminant, and
the photo's exposure, optics and orientation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core_isp.cameras.noise import NoiseModel
from core_isp.cfa import validate_cfa
from core_isp.colour import ccm_from_xyz_to_cam, dng_xyz_to_cam_d65, neutral_from_wb_gains, wb_gains_from_neutral
from core_isp.errors import BadInputError
from core_isp.metadata import CameraMetadata, gain_held_at

#: Correlated colour temperature of the white a camera's "daylight" preset is balanced for.
DAYLIGHT_CCT_K = 5500.0
#: Below this the illuminant is taken as Planckian (tungsten-like), above it as a CIE daylight.
_DAYLIGHT_LOCUS_MIN_K = 4000.0


@dataclass(frozen=True)
class SensorLayout:
    """The mosaic a camera records: CFA phase (top-left 2x2, sensor orientation), bit depth and levels in DN."""

    cfa_pattern: str
    bit_depth: int
    black_level_per_site: tuple[float, float, float, float]
    white_level: float
    #: From this recorded ISO up the camera holds the sensor's gain a stop lower (highlight-tone priority, Active
    #: D-Lighting): its RAW is darker than the ISO says and its JPEG engine lifts it. None: never (or not known).
    highlight_priority_iso: float | None = None
    #: The normalised RAW level a correctly metered mid grey reaches (the sensor's sensitivity: at the same
    #: exposure, two sensors' levels are in the ratio of theirs). None: not known.
    mid_grey_raw: float | None = None

    def analog_iso(self, iso: float) -> float:
        """The ISO the sensor really ran at for a recorded ``iso``: what a RAW's level is proportional to."""
        return iso / 2.0 if gain_held_at(iso, self.highlight_priority_iso) else iso

    def __post_init__(self) -> None:
        object.__setattr__(self, "cfa_pattern", validate_cfa(self.cfa_pattern))
        black = tuple(float(b) for b in self.black_level_per_site)
        if len(black) != 4:
            raise BadInputError("black_level_per_site needs 4 values (row-major 2x2)")
        object.__setattr__(self, "black_level_per_site", black)
        if not min(black) >= 0 and max(black) < self.white_level <= 2**self.bit_depth - 1:
            raise BadInputError(
                f"levels must satisfy 0 <= black {black} < white {self.white_level:g} <= 2^{self.bit_depth} - 1"
            )
        if self.mid_grey_raw is not None and not 0.0 < self.mid_grey_raw < 1.0:
            raise BadInputError(f"mid_grey_raw must lie in (0, 1), got {self.mid_grey_raw}")


def exposure_level(meta: CameraMetadata, sensor: SensorLayout | None = None) -> float:
    """``t * ISO / N^2`` of a complete shot record. With the ``sensor``, the ISO is the analogue one
    (:meth:`SensorLayout.analog_iso`, a stop below the recorded one under highlight-tone priority): what the shot's RAW
    level is proportional to for a given scene. Without, the recorded exposure the camera's metering aimed for."""
    iso = float(meta.iso) if sensor is None else sensor.analog_iso(float(meta.iso))  # type: ignore[arg-type]
    return float(meta.exposure_time_s) * iso / float(meta.f_number) ** 2  # type: ignore[arg-type]


@dataclass(frozen=True)
class CameraColour:
    """A sensor's colour response: the D65-referenced XYZ -> camera matrix (Adobe ``ColorMatrix`` convention)."""

    xyz_to_cam_d65: tuple[float, ...]

    def __post_init__(self) -> None:
        m = tuple(float(v) for v in np.asarray(self.xyz_to_cam_d65, dtype=np.float64).ravel())
        if len(m) != 9 or not np.all(np.isfinite(m)) or abs(np.linalg.det(np.reshape(m, (3, 3)))) < 1e-9:
            raise BadInputError(f"xyz_to_cam_d65 must be 9 finite numbers of an invertible matrix, got {m}")
        object.__setattr__(self, "xyz_to_cam_d65", m)

    @property
    def matrix(self) -> np.ndarray:
        """``(3, 3)`` float64 XYZ (D65) -> camera RGB."""
        return np.asarray(self.xyz_to_cam_d65, dtype=np.float64).reshape(3, 3)

    def neutral(self, cct_k: float) -> np.ndarray:
        """Camera response (G = 1) to a white lit by a daylight (>= 4000 K) or Planckian illuminant of ``cct_k``."""
        import colour

        method = "CIE Illuminant D Series" if cct_k >= _DAYLIGHT_LOCUS_MIN_K else "Kang 2002"
        xyz = colour.xy_to_XYZ(colour.temperature.CCT_to_xy(cct_k, method=method))
        n = self.matrix @ xyz
        return n / n[1]

    def white_balance(self, cct_k: float) -> tuple[tuple[float, float, float], np.ndarray]:
        """As-shot white-balance gains (G = 1) and ``ccm_wb_cam_to_srgb`` ``(3, 3)`` for an illuminant, the pair
        the suite's DNG reader derives from the matching AsShotNeutral."""
        neutral = self.neutral(cct_k)
        xyz_to_cam, _ = dng_xyz_to_cam_d65(self.xyz_to_cam_d65, neutral)
        return wb_gains_from_neutral(neutral), ccm_from_xyz_to_cam(xyz_to_cam)

    def colour_matrix_for(self, wb_gains: tuple[float, float, float]) -> np.ndarray:
        """``ccm_wb_cam_to_srgb`` for a shot white-balanced with ``wb_gains`` (its neutral is ``1 / gains``)."""
        xyz_to_cam, _ = dng_xyz_to_cam_d65(self.xyz_to_cam_d65, neutral_from_wb_gains(wb_gains))
        return ccm_from_xyz_to_cam(xyz_to_cam)


@dataclass(frozen=True)
class CameraWeights:
    """The learned ISP of a camera, one checkpoint file per direction (None: that direction has none)."""

    forward: Path | None = None
    inverse: Path | None = None

    def path(self, direction: str) -> Path | None:
        """The file for ``"forward"`` or ``"inverse"``."""
        if direction not in ("forward", "inverse"):
            raise BadInputError(f"direction must be forward or inverse, got {direction!r}")
        return getattr(self, direction)


@dataclass(frozen=True)
class Camera:
    """One camera, shipped or the user's own: identity, sensor, colour, noise and weights."""

    name: str
    make: str
    model: str
    sensor: SensorLayout
    colour: CameraColour
    noise: NoiseModel
    weights: CameraWeights = field(default_factory=CameraWeights)
    #: ``"shipped"`` (in the package) or ``"stored"`` (the user's camera store).
    origin: str = "shipped"
    #: Where the numbers came from (a simulated profile's id, or the folder a user camera was made from).
    source: str = ""

    def matches(self, meta: CameraMetadata) -> bool:
        """True when a shot's make and model are this camera's (case and surrounding spaces ignored)."""

        def norm(s: str | None) -> str:
            return " ".join((s or "").lower().split())

        return bool(self.make) and norm(self.make) == norm(meta.make) and norm(self.model) == norm(meta.model)

    def raw_metadata(
        self,
        photo: CameraMetadata,
        wb_gains: tuple[float, float, float],
        wb_source: str,
        ccm: np.ndarray | None = None,
    ) -> CameraMetadata:
        """The RAW metadata this camera would record for a photo's shot: its sensor and colour for that white
        balance (``ccm`` when already known, e.g. from :meth:`CameraColour.white_balance`); the photo's exposure,
        optics and orientation."""
        ccm = self.colour.colour_matrix_for(wb_gains) if ccm is None else ccm
        return photo.replace(
            make=self.make,
            model=self.model,
            cfa_pattern=self.sensor.cfa_pattern,
            black_level_per_site=self.sensor.black_level_per_site,
            white_level=float(self.sensor.white_level),
            saturation_level=float(self.sensor.white_level),
            highlight_priority_iso=self.sensor.highlight_priority_iso,
            wb_gains=tuple(float(g) for g in wb_gains),
            wb_source=wb_source,
            ccm_wb_cam_to_srgb=tuple(tuple(float(v) for v in row) for row in ccm),
            ccm_source=f"camera {self.name}",
        )

    # -- JSON ---------------------------------------------------------------------------------------

    def to_dict(self, weights_root: Path | None = None) -> dict[str, Any]:
        """Plain JSON types; weight files are written relative to ``weights_root`` when given."""

        def rel(p: Path | None) -> str | None:
            if p is None:
                return None
            return str(p.relative_to(weights_root)) if weights_root is not None else str(p)

        d = {
            "name": self.name,
            "make": self.make,
            "model": self.model,
            "sensor": dataclasses.asdict(self.sensor),
            "colour": {"xyz_to_cam_d65": list(self.colour.xyz_to_cam_d65)},
            "noise": dataclasses.asdict(self.noise),
            "source": self.source,
        }
        d["weights"] = {"forward": rel(self.weights.forward), "inverse": rel(self.weights.inverse)}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], weights_root: Path, origin: str) -> Camera:
        """Inverse of :meth:`to_dict`; weight names are resolved under ``weights_root``."""
        try:
            sensor = d["sensor"]
            weights = d.get("weights") or {}
            return cls(
                name=str(d["name"]),
                make=str(d.get("make") or ""),
                model=str(d.get("model") or ""),
                sensor=SensorLayout(
                    cfa_pattern=sensor["cfa_pattern"],
                    bit_depth=int(sensor["bit_depth"]),
                    black_level_per_site=tuple(sensor["black_level_per_site"]),
                    white_level=float(sensor["white_level"]),
                    highlight_priority_iso=sensor.get("highlight_priority_iso"),
                    mid_grey_raw=sensor.get("mid_grey_raw"),
                ),
                colour=CameraColour(tuple(d["colour"]["xyz_to_cam_d65"])),
                noise=NoiseModel(**d["noise"]),
                weights=CameraWeights(
                    **{k: weights_root / v for k, v in weights.items() if k in ("forward", "inverse") and v}
                ),
                origin=origin,
                source=str(d.get("source") or ""),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise BadInputError(f"camera description {d.get('name', '?')!r} is incomplete or malformed: {e}") from e
