"""The registry of simulated camera profiles, built from published numbers of real bodies.

Sources (full table with provenance in ``docs/simulated-cameras.md``): XYZ->camera matrices are
Adobe's D65 matrices as LibRaw 0.22 holds them (``adobe_coeff``); bit depths, black and white
levels and CFA layouts from rawspeed's ``cameras.xml`` / RawTherapee's ``camconst.json``; the
shot-noise coefficient at base ISO from darktable's measured noise profiles (green channel),
with read noise from Brooks et al.'s log-linear fit. Numbers marked "assumed" in the docs are
typical values without a citable source.
"""

from __future__ import annotations

from core_isp.cameras.noise import NoiseModel
from core_isp.errors import BadInputError
from core_isp.simulation.camera_pipeline import RenderingStyle
from core_isp.simulation.optics import LensModel
from core_isp.simulation.profile import CameraProfile


def _m(*coeffs: int) -> tuple[float, ...]:
    """Adobe matrices are published as integers / 10000."""
    return tuple(c / 10000.0 for c in coeffs)


_NIKON = RenderingStyle(saturation=1.12, white_point=1.0, sharpen_amount=0.5, jpeg_quality=95)
_SONY = RenderingStyle(saturation=1.08, white_point=1.5, shadow_lift=0.03, sharpen_amount=0.7, jpeg_quality=95)
_PHONE = RenderingStyle(
    saturation=1.25,
    white_point=0.4,
    white_point_ev_slope=0.25,
    shadow_lift=0.09,
    lift_per_iso_stop=0.035,
    luma_denoise_per_iso_stop=0.2,
    chroma_blur_sigma_per_iso_stop=0.6,
    sharpen_amount=1.0,
    jpeg_quality=90,
)
_CANON = RenderingStyle(saturation=1.18, white_point=0.8, shadow_lift=0.05, sharpen_amount=0.4, jpeg_quality=95)

PROFILES: dict[str, CameraProfile] = {
    p.name: p
    for p in (
        CameraProfile(
            name="nikon-d7000",
            version=1,
            make="NIKON CORPORATION",
            model="NIKON D7000",
            cfa_pattern="RGGB",
            bit_depth=14,
            black_level_per_site=(0, 0, 0, 0),
            white_level=15892,
            xyz_to_cam_d65=_m(8198, -2239, -724, -4871, 12389, 2798, -1043, 2050, 7181),
            base_iso=100,
            max_auto_iso=6400,
            noise=NoiseModel(shot_at_base_iso=2.40643718480073e-06, base_iso=100),
            lens=LensModel(sensor_diagonal_mm=28.3, open_f_number=3.5),
            focal_range_mm=(18, 105),
            mid_grey_raw=0.12,
            style=_NIKON,
            htp_min_iso=800,  # Active D-Lighting "high": RAW held down a stop, JPEG lifted
            sources=("matrix: LibRaw 0.22 adobe_coeff", "levels/CFA: rawspeed cameras.xml",
                     "noise a(G, ISO 100): darktable noiseprofiles.json"),
        ),
        CameraProfile(
            name="nikon-d90",
            version=1,
            make="NIKON CORPORATION",
            model="NIKON D90",
            cfa_pattern="GBRG",
            bit_depth=12,
            black_level_per_site=(0, 0, 0, 0),
            white_level=3767,
            xyz_to_cam_d65=_m(7309, -1403, -519, -8474, 16008, 2622, -2434, 2826, 8064),
            base_iso=200,
            max_auto_iso=3200,
            noise=NoiseModel(shot_at_base_iso=3.36472820970503e-06, base_iso=200),
            lens=LensModel(sensor_diagonal_mm=28.4, open_f_number=3.5),
            focal_range_mm=(18, 105),
            mid_grey_raw=0.12,
            style=_NIKON,
            sources=("matrix: LibRaw 0.22 adobe_coeff", "levels/CFA: rawspeed cameras.xml",
                     "noise a(G, ISO 200): darktable noiseprofiles.json"),
        ),
        CameraProfile(
            name="nikon-d40",
            version=1,
            make="NIKON CORPORATION",
            model="NIKON D40",
            cfa_pattern="BGGR",
            bit_depth=12,
            black_level_per_site=(0, 0, 0, 0),
            white_level=3880,
            xyz_to_cam_d65=_m(6992, -1668, -806, -8138, 15748, 2543, -874, 850, 7897),
            base_iso=200,
            max_auto_iso=1600,
            noise=NoiseModel(shot_at_base_iso=3.32876464255606e-06, base_iso=200),
            lens=LensModel(sensor_diagonal_mm=28.4, open_f_number=3.5),
            focal_range_mm=(18, 55),
            mid_grey_raw=0.13,
            style=_NIKON,
            sources=("matrix: LibRaw 0.22 adobe_coeff", "levels/CFA: rawspeed cameras.xml",
                     "noise a(G, ISO 200): darktable noiseprofiles.json", "sensor 23.7x15.6 mm: D40 manual"),
        ),
        CameraProfile(
            name="sony-a7r3",
            version=1,
            make="SONY",
            model="ILCE-7RM3",
            cfa_pattern="RGGB",
            bit_depth=14,
            black_level_per_site=(512, 512, 512, 512),
            white_level=16300,
            xyz_to_cam_d65=_m(6640, -1847, -503, -5238, 13010, 2474, -993, 1673, 6527),
            base_iso=100,
            max_auto_iso=12800,
            noise=NoiseModel(shot_at_base_iso=1.86313145702916e-06, base_iso=100),
            lens=LensModel(sensor_diagonal_mm=43.3, open_f_number=4.0, correction_strength=0.8),
            focal_range_mm=(24, 105),
            mid_grey_raw=0.10,
            style=_SONY,
            sources=("matrix: LibRaw 0.22 adobe_coeff", "levels: RawTherapee camconst.json",
                     "noise a(G, ISO 100): darktable noiseprofiles.json", "CFA RGGB, 36x24 mm: assumed"),
        ),
        CameraProfile(
            name="samsung-s7",
            version=1,
            make="samsung",
            model="SM-G935F",
            cfa_pattern="GRBG",
            bit_depth=10,
            black_level_per_site=(64, 64, 64, 64),
            white_level=1023,
            xyz_to_cam_d65=_m(9927, -3704, -1024, -3935, 12758, 1257, -389, 1512, 4993),
            base_iso=50,
            max_auto_iso=800,
            noise=NoiseModel(shot_at_base_iso=1.05557509586381e-05, base_iso=60),
            lens=LensModel(sensor_diagonal_mm=7.06, open_f_number=1.7, max_f_number=1.7,
                           optical_vignetting_max=0.25, correction_strength=0.9),
            focal_range_mm=(4.2, 4.2),
            mid_grey_raw=0.16,
            style=_PHONE,
            sources=("matrix: LibRaw 0.22 adobe_coeff ('Galaxy S7')",
                     "levels/CFA: Samsung phone DNG convention (S20 modules, modular_neural_isp constants)",
                     "noise a(G, ISO 60): darktable Nexus 5X profile (phone-class sensor)",
                     "4.2 mm f/1.7, 1/2.55-inch sensor: assumed (published spec)"),
        ),
        CameraProfile(
            name="canon-550d",
            version=1,
            make="Canon",
            model="Canon EOS 550D",
            cfa_pattern="RGGB",
            bit_depth=14,
            black_level_per_site=(2048, 2048, 2048, 2048),
            white_level=15831,
            xyz_to_cam_d65=_m(6941, -1164, -857, -3825, 11597, 2534, -416, 1540, 6039),
            base_iso=100,
            max_auto_iso=6400,
            noise=NoiseModel(shot_at_base_iso=3.42038078891161e-06, base_iso=100),
            lens=LensModel(sensor_diagonal_mm=26.8, open_f_number=3.5),
            focal_range_mm=(18, 55),
            mid_grey_raw=0.13,
            style=_CANON,
            htp_min_iso=400,  # highlight-tone priority
            held_out=True,
            sources=("matrix: LibRaw 0.22 adobe_coeff", "levels: rawspeed cameras.xml",
                     "CFA RGGB at LibRaw's visible origin", "noise a(ISO 100): darktable noiseprofiles.json",
                     "sensor 22.3x14.9 mm: published spec"),
        ),
    )
}  # fmt: skip

TUNING_PROFILES = tuple(name for name, p in PROFILES.items() if not p.held_out)
HELD_OUT_PROFILES = tuple(name for name, p in PROFILES.items() if p.held_out)


def get_profile(name: str) -> CameraProfile:
    """A registered profile by name (``"nikon-d7000"`` or ``"nikon-d7000@v1"``)."""
    base, _, version = name.partition("@v")
    profile = PROFILES.get(base)
    if profile is None:
        raise BadInputError(f"unknown camera profile {name!r}; known: {', '.join(PROFILES)}")
    if version and int(version) != profile.version:
        raise BadInputError(f"profile {base} is at v{profile.version}, not v{version}")
    return profile
