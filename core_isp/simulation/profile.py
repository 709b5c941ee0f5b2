"""A simulated camera profile: one versioned, frozen description of a body, its lens and its JPEG engine.

Profiles are built from published numbers of real cameras (see ``docs/simulated-cameras.md``).
Once a benchmark has used a profile it must not change silently: every registered profile's
parameter hash is pinned in ``profile_lock.json`` and a test fails when parameters change
without a version bump.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np

from core_isp.cameras.camera import Camera, CameraColour, SensorLayout
from core_isp.cameras.noise import NoiseModel
from core_isp.cfa import validate_cfa
from core_isp.metadata import gain_held_at
from core_isp.simulation.camera_pipeline import RenderingStyle
from core_isp.simulation.optics import LensModel


@dataclass(frozen=True)
class CameraProfile:
    """Everything the simulator needs to imitate one camera."""

    name: str
    version: int
    make: str
    model: str
    cfa_pattern: str
    bit_depth: int
    black_level_per_site: tuple[float, float, float, float]
    white_level: float
    #: Adobe's D65 XYZ -> camera matrix, row-major (the ``adobe_coeff`` numbers / 10000).
    xyz_to_cam_d65: tuple[float, ...]
    base_iso: float
    max_auto_iso: float
    noise: NoiseModel
    lens: LensModel
    focal_range_mm: tuple[float, float]
    #: Normalised RAW level a correctly metered mean lands on (highlight headroom = log2(1/this)).
    mid_grey_raw: float
    style: RenderingStyle
    #: Recorded-ISO threshold from which the camera uses highlight-tone priority (None: never).
    htp_min_iso: float | None = None
    #: Kept out of all tuning; used only to report how results carry over to an unseen camera.
    held_out: bool = False
    #: Where each number came from.
    sources: tuple[str, ...] = ()

    def highlight_tone_priority_at(self, iso: float) -> bool:
        """Whether this body uses highlight-tone priority at recorded ``iso``."""
        return gain_held_at(iso, self.htp_min_iso)

    def __post_init__(self) -> None:
        validate_cfa(self.cfa_pattern)
        if len(self.xyz_to_cam_d65) != 9:
            raise ValueError(f"{self.name}: xyz_to_cam_d65 needs 9 values")
        if not 0 < self.mid_grey_raw < 1:
            raise ValueError(f"{self.name}: mid_grey_raw must be in (0, 1)")

    @property
    def profile_id(self) -> str:
        """``name@vN``: what checkpoints and manifests record."""
        return f"{self.name}@v{self.version}"

    @property
    def xyz_to_cam_matrix(self) -> np.ndarray:
        """The D65 XYZ -> camera matrix as ``(3, 3)`` float64."""
        return np.asarray(self.xyz_to_cam_d65, dtype=np.float64).reshape(3, 3)

    def parameter_hash(self) -> str:
        """SHA-256 over every parameter except the documentation of sources."""
        d = dataclasses.asdict(self)
        d.pop("sources")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()

    def camera(self) -> Camera:
        """The body as inference sees it (sensor, colour, noise); weights are attached where it ships."""
        return Camera(
            name=self.name,
            make=self.make,
            model=self.model,
            sensor=SensorLayout(
                self.cfa_pattern,
                self.bit_depth,
                self.black_level_per_site,
                self.white_level,
                self.htp_min_iso,
                self.mid_grey_raw,
            ),
            colour=CameraColour(self.xyz_to_cam_d65),
            noise=self.noise,
            source=f"simulated profile {self.profile_id}",
        )
