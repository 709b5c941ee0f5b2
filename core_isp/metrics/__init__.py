"""Evaluation metrics of the suite: PSNR/SSIM and the ParamISP paper protocol, ST-LPIPS, optional LPIPS, and HDR
fidelity against an exact radiance (log2-RMSE, PU21-PSNR)."""

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
    "MatchedHdr",
    "ProtocolScores",
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
