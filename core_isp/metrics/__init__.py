"""Evaluation metrics of the suite: PSNR/SSIM and the ParamISP paper protocol, ST-LPIPS, optional LPIPS."""

from core_isp.metrics.fidelity import (
    ProtocolScores,
    five_crop_origins,
    five_crops,
    mean_protocol_scores,
    paper_protocol_scores,
    psnr,
    ssim,
)
from core_isp.metrics.lpips_optional import load_lpips, lpips_unavailable_reason, standard_lpips
from core_isp.metrics.shift_tolerant_lpips import STLPIPS, st_lpips

__all__ = [
    "STLPIPS",
    "ProtocolScores",
    "five_crop_origins",
    "five_crops",
    "load_lpips",
    "lpips_unavailable_reason",
    "mean_protocol_scores",
    "paper_protocol_scores",
    "psnr",
    "ssim",
    "st_lpips",
    "standard_lpips",
]
