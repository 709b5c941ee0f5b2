"""Camera colour science: from XYZ->camera matrices to the white-balanced camera->sRGB matrix.

All functions work on float64 numpy arrays (metadata-time maths, not per-pixel work). Standard
colourimetry (sRGB primaries, illuminant chromaticities, CCT, Bradford adaptation) comes from
colour-science.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core_isp.errors import BadInputError

# EXIF/DNG LightSource code -> correlated colour temperature in kelvin (values as in the DNG SDK).
ILLUMINANT_CCT_K: dict[int, float] = {
    1: 5500.0,
    2: 4150.0,
    3: 2850.0,
    4: 5500.0,
    9: 5500.0,
    10: 6500.0,
    11: 7500.0,
    12: 6430.0,
    13: 5000.0,
    14: 4150.0,
    15: 3450.0,
    16: 2940.0,
    17: 2856.0,
    18: 4874.0,
    19: 6774.0,
    20: 5503.0,
    21: 6504.0,
    22: 7504.0,
    23: 5003.0,
    24: 3200.0,
}
ILLUMINANT_D65 = 21


def _colour():  # colour-science takes ~1 s to import; only metadata paths need it
    import colour

    return colour


def srgb_to_xyz_matrix() -> np.ndarray:
    """Linear sRGB (D65) -> CIE XYZ, ``(3, 3)``."""
    return np.asarray(_colour().models.RGB_COLOURSPACE_sRGB.matrix_RGB_to_XYZ, dtype=np.float64)


def xyz_to_srgb_matrix() -> np.ndarray:
    """CIE XYZ -> linear sRGB (D65), ``(3, 3)``."""
    return np.linalg.inv(srgb_to_xyz_matrix())


def wb_gains_from_neutral(neutral: Sequence[float]) -> tuple[float, float, float]:
    """Camera-space neutral (e.g. DNG AsShotNeutral) -> white-balance gains with G = 1."""
    n = np.asarray(neutral, dtype=np.float64)[:3]
    if not np.all(np.isfinite(n)) or np.any(n <= 0):
        raise BadInputError(f"camera neutral must be positive, got {list(n)}")
    g = n[1] / n
    return float(g[0]), 1.0, float(g[2])


def neutral_from_wb_gains(wb_gains: Sequence[float]) -> tuple[float, float, float]:
    """Inverse of :func:`wb_gains_from_neutral` (neutral normalised to G = 1)."""
    g = np.asarray(wb_gains, dtype=np.float64)
    n = g[1] / g
    return float(n[0]), 1.0, float(n[2])


def ccm_from_xyz_to_cam(xyz_to_cam: np.ndarray) -> np.ndarray:
    """D65-referenced XYZ->camera matrix -> ``ccm_wb_cam_to_srgb`` (rows sum to 1), as dcraw does.

    camera<-sRGB = xyz_to_cam @ sRGB->XYZ; each row is scaled to sum to 1, which is the same as
    expressing it in white-balanced camera units; the result is its inverse.
    """
    m = np.asarray(xyz_to_cam, dtype=np.float64).reshape(3, 3)
    cam_from_srgb = m @ srgb_to_xyz_matrix()
    sums = cam_from_srgb.sum(axis=1, keepdims=True)
    if np.any(np.abs(sums) < 1e-9) or not np.all(np.isfinite(cam_from_srgb)):
        raise BadInputError("colour matrix is singular (a row maps white to zero)")
    return np.linalg.inv(cam_from_srgb / sums)


def xyz_to_cam_from_ccm(ccm_wb_cam_to_srgb: np.ndarray, wb_gains: Sequence[float]) -> np.ndarray:
    """The reverse conversion used for DNG output: a D65 ColorMatrix1 that reads back to the same CCM.

    ``xyz_to_cam = diag(1 / wb) @ inv(ccm) @ XYZ->sRGB``. Its response to D65 white is the camera
    neutral ``1 / wb``, so a reader that interpolates by the neutral's temperature finds D65 and
    needs no adaptation, and dcraw's row normalisation turns it back into exactly ``ccm``.
    """
    ccm = np.asarray(ccm_wb_cam_to_srgb, dtype=np.float64).reshape(3, 3)
    inv_wb = 1.0 / np.asarray(wb_gains, dtype=np.float64)
    return np.diag(inv_wb) @ np.linalg.inv(ccm) @ xyz_to_srgb_matrix()


def xy_to_cct(xy: np.ndarray) -> float:
    """Chromaticity -> correlated colour temperature (McCamy), clamped to 1500..25000 K."""
    cct = float(_colour().temperature.xy_to_CCT(np.asarray(xy, dtype=np.float64), method="McCamy 1992"))
    return float(np.clip(cct, 1500.0, 25000.0))


def _interpolate_matrix(
    cm1: np.ndarray, cm2: np.ndarray | None, t1: float | None, t2: float | None, cct: float
) -> np.ndarray:
    if cm2 is None or t1 is None or t2 is None or t1 == t2:
        return cm1
    # DNG interpolates linearly in inverse temperature between the two calibration illuminants.
    (lo_t, lo_m), (hi_t, hi_m) = sorted([(t1, cm1), (t2, cm2)], key=lambda p: p[0])
    w = (1.0 / cct - 1.0 / hi_t) / (1.0 / lo_t - 1.0 / hi_t)
    w = float(np.clip(w, 0.0, 1.0))
    return w * lo_m + (1.0 - w) * hi_m


def dng_xyz_to_cam_d65(
    color_matrix_1: Sequence[float],
    neutral: Sequence[float],
    color_matrix_2: Sequence[float] | None = None,
    illuminant_1: int | None = None,
    illuminant_2: int | None = None,
) -> tuple[np.ndarray, float]:
    """DNG ColorMatrix1/2 + camera neutral -> (D65-referenced XYZ->camera matrix, white CCT in K).

    The white's temperature is found by the DNG fixed-point iteration (matrix interpolated at a
    temperature, neutral mapped to XYZ, temperature re-estimated); the interpolated matrix is then
    adapted (Bradford) from that white to D65 so that the neutral lands on sRGB white.
    """
    colour = _colour()
    cm1 = np.asarray(color_matrix_1, dtype=np.float64).reshape(3, 3)
    cm2 = None if color_matrix_2 is None else np.asarray(color_matrix_2, dtype=np.float64).reshape(3, 3)
    t1 = ILLUMINANT_CCT_K.get(illuminant_1 or 0)
    t2 = ILLUMINANT_CCT_K.get(illuminant_2 or 0)
    n = np.asarray(neutral, dtype=np.float64)[:3]

    cct = 5003.0  # start at D50, as the DNG SDK does
    for _ in range(30):
        cm = _interpolate_matrix(cm1, cm2, t1, t2, cct)
        xyz = np.linalg.solve(cm, n)
        if np.sum(xyz) <= 0:
            raise BadInputError("camera neutral maps to a non-physical white through the DNG colour matrix")
        new_cct = xy_to_cct(colour.XYZ_to_xy(xyz))
        if abs(new_cct - cct) < 0.1:
            cct = new_cct
            break
        cct = new_cct
    cm = _interpolate_matrix(cm1, cm2, t1, t2, cct)
    white_xyz = np.linalg.solve(cm, n)
    white_xyz = white_xyz / white_xyz[1]
    # D65 as the sRGB matrix itself defines it, so sRGB white round-trips exactly.
    d65_xyz = srgb_to_xyz_matrix() @ np.ones(3)
    d65_to_white = colour.adaptation.matrix_chromatic_adaptation_VonKries(d65_xyz, white_xyz, transform="Bradford")
    return cm @ d65_to_white, cct
