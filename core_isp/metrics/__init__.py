"""Evaluation metrics of the suite: PSNR/SSIM and the ParamISP paper protocol, ST-LPIPS, optional LPIPS, and HDR
fidelity against an exact radiance (log2-RMSE, PU21-PSNR), the brightness-matched baseline's oracle gain, and the
bootstrap intervals (over values or over scenes) every benchmark reports."""

from core_isp.metrics.bootstrap import Interval, bootstrap_interval
from core_isp.metrics.brightness import brightness_matched
from core_isp.metrics.fidelity import (
    ProtocolScores,
    five_crop_origins,
    five_crops,
    mean_protocol_scores,
    paper_protocol_scores,
    psnr,
    ssim,
)
from core_isp.metrics.hdr import (
    HDR_SCORE_KEYS,
    MatchedHdr,
    hdr_scores,
    log2_luminance_error,
    log_fit_scale,
    match_exposure,
    pu21_encode,
    pu21_psnr,
)
from core_isp.metrics.lpips_optional import load_lpips, lpips_unavailable_reason, standard_lpips
from core_isp.metrics.shift_tolerant_lpips import STLPIPS, st_lpips

__all__ = [
    "HDR_SCORE_KEYS",
    "STLPIPS",
    "Interval",
    "MatchedHdr",
    "ProtocolScores",
    "bootstrap_interval",
    "brightness_matched",
    "five_crop_origins",
    "five_crops",
    "hdr_scores",
    "load_lpips",
    "log2_luminance_error",
    "log_fit_scale",
    "lpips_unavailable_reason",
    "match_exposure",
    "mean_protocol_scores",
    "paper_protocol_scores",
    "psnr",
    "pu21_encode",
    "pu21_psnr",
    "ssim",
    "st_lpips",
    "standard_lpips",
]
