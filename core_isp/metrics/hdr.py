"""HDR fidelity against an exact scene radiance: log2-RMSE of luminance and PU21-PSNR.

An HDR result is known up to an exposure scale (a merge is in approximate cd/m^2, an expanded photo often
relative), so every score first brings the prediction to the truth by one global scale fitted in the log domain
(least squares on log luminance: the geometric mean of the ratios). PU21 (Mantiuk & Azimi 2021, ``banding_glare``
parameters) encodes *absolute* luminance, so the truth is first scaled to a median luminance of
``MEDIAN_CD_M2``, a typical indoor/overcast level; values are clamped to PU21's range [0.005, 10000] cd/m^2 and the
PSNR taken with a peak of 256, as the authors' ``pu21_metric`` does. Colour channels are each encoded as a luminance.

Arrays are numpy, linear RGB with Rec. 709 / sRGB primaries, channels first ``(3, H, W)``; any float dtype (the
scores are computed in float64).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from core_isp.simulation.scenes import luminance

#: PU21 ``banding_glare`` parameters ``p0..p6`` (Mantiuk & Azimi 2021, table 1).
PU21_BANDING_GLARE = (0.353487901, 0.3734658629, 8.277049286e-05, 0.9062562627, 0.09150303166, 0.9099517204,
                      596.3148142)  # fmt: skip
#: Absolute luminance range PU21 is defined on (cd/m^2); also the floor of the log2 error.
PU21_RANGE_CD_M2 = (0.005, 10000.0)
#: PSNR peak of PU21 values: PU21 maps 100 cd/m^2, a typical display's white, to about 256.
PU21_PEAK = 256.0
#: Median luminance the truth is scaled to before the absolute PU21 encoding (cd/m^2).
MEDIAN_CD_M2 = 100.0
#: Keys of :func:`hdr_scores`, in reporting order.
HDR_SCORE_KEYS = ("log2_rmse", "pu21_psnr_y", "pu21_psnr_rgb")


class MatchedHdr(NamedTuple):
    """A prediction and its truth on one absolute scale (cd/m^2), float64: RGB ``(3, H, W)``, luminance ``(H, W)``."""

    pred_rgb: np.ndarray
    pred_y: np.ndarray
    truth_rgb: np.ndarray
    truth_y: np.ndarray


def _check_rgb(x: np.ndarray, name: str) -> None:
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"{name} must have shape (3, H, W), got {x.shape}")


def pu21_encode(luminance_cd_m2: np.ndarray) -> np.ndarray:
    """PU21 values (about 0-600, perceptually uniform steps) of absolute luminance in cd/m^2, any shape; values are
    clamped to :data:`PU21_RANGE_CD_M2` first."""
    p = PU21_BANDING_GLARE
    y = np.clip(luminance_cd_m2, *PU21_RANGE_CD_M2)
    return np.maximum(p[6] * (((p[0] + p[1] * y ** p[3]) / (1.0 + p[2] * y ** p[3])) ** p[4] - p[5]), 0.0)


def pu21_psnr(pred_cd_m2: np.ndarray, truth_cd_m2: np.ndarray) -> float:
    """PSNR (dB, peak :data:`PU21_PEAK`) between the PU21 encodings of two absolute luminance (or per-channel)
    arrays of one shape, in cd/m^2; about 168 dB for identical inputs (the squared error is floored at 1e-12)."""
    mse = float(np.mean((pu21_encode(pred_cd_m2) - pu21_encode(truth_cd_m2)) ** 2))
    return 10.0 * math.log10(PU21_PEAK**2 / max(mse, 1e-12))


def log_fit_scale(pred_y: np.ndarray, truth_y: np.ndarray, mask: np.ndarray) -> float:
    """The scale ``s`` minimising the squared error of ``log(s pred_y) - log(truth_y)`` over ``mask`` (bool, same shape
    as the luminances, which must be positive there); 1 where the mask is empty."""
    if not mask.any():
        return 1.0
    return math.exp(float(np.mean(np.log(truth_y[mask]) - np.log(pred_y[mask]))))


def match_exposure(pred_rgb: np.ndarray, truth_rgb: np.ndarray) -> MatchedHdr:
    """Truth ``(3, H, W)`` scaled to a median luminance of :data:`MEDIAN_CD_M2`, the prediction ``(3, H, W)`` to the
    truth by :func:`log_fit_scale` over pixels above PU21's floor in both (non-finite predictions count as 0)."""
    _check_rgb(pred_rgb, "pred_rgb")
    _check_rgb(truth_rgb, "truth_rgb")
    if pred_rgb.shape != truth_rgb.shape:
        raise ValueError(f"pred_rgb {pred_rgb.shape} and truth_rgb {truth_rgb.shape} differ in shape")
    truth_y = luminance(truth_rgb.astype(np.float64))
    scale_truth = MEDIAN_CD_M2 / np.median(truth_y)
    truth_rgb, truth_y = truth_rgb * scale_truth, truth_y * scale_truth
    pred_rgb = np.nan_to_num(pred_rgb.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    pred_y = luminance(pred_rgb)
    scale = log_fit_scale(pred_y, truth_y, (pred_y > 0) & (truth_y > PU21_RANGE_CD_M2[0]))
    return MatchedHdr(pred_rgb * scale, pred_y * scale, truth_rgb, truth_y)


def _stops(matched: MatchedHdr) -> np.ndarray:
    floor = PU21_RANGE_CD_M2[0]
    return np.log2(np.maximum(matched.pred_y, floor)) - np.log2(np.maximum(matched.truth_y, floor))


def log2_luminance_error(pred_rgb: np.ndarray, truth_rgb: np.ndarray) -> np.ndarray:
    """Signed per-pixel error ``(H, W)`` in stops of the prediction's luminance after :func:`match_exposure`, both
    floored at PU21's lower bound (so black shadows do not dominate)."""
    return _stops(match_exposure(pred_rgb, truth_rgb))


def hdr_scores(pred_rgb: np.ndarray, truth_rgb: np.ndarray) -> dict[str, float]:
    """The scores of :data:`HDR_SCORE_KEYS` of a linear prediction ``(3, H, W)`` against the truth ``(3, H, W)``:
    log2-RMSE of luminance (stops, lower is better), PU21-PSNR of luminance and of RGB (dB, higher is better)."""
    matched = match_exposure(pred_rgb, truth_rgb)
    return {"log2_rmse": float(np.sqrt(np.mean(_stops(matched) ** 2))),
            "pu21_psnr_y": pu21_psnr(matched.pred_y, matched.truth_y),
            "pu21_psnr_rgb": pu21_psnr(matched.pred_rgb, matched.truth_rgb)}  # fmt: skip
