"""Camera-to-camera transfer: a photo as another camera would have taken it, carried through both cameras' RAW.

``CameraTransfer.load(source, target).transfer(photo, seed)`` (:mod:`apps.cam2cam.transfer`); the command is
``paramisp cam2cam`` (:mod:`apps.cam2cam.cli`); how it works and how well: ``docs/cam2cam.md``; what judging a transfer
needs (a scene shot by two cameras alike, the classic baselines, the scores): :mod:`apps.cam2cam.evaluation`.
"""

from apps.cam2cam.transfer import (
    CameraTransfer,
    ExposureGain,
    TransferResult,
    TransferSettings,
    carry_mosaic,
    exposure_gain,
    same_light,
    sensor_to_sensor_matrix,
    target_shot,
)

__all__ = [
    "CameraTransfer",
    "ExposureGain",
    "TransferResult",
    "TransferSettings",
    "carry_mosaic",
    "exposure_gain",
    "same_light",
    "sensor_to_sensor_matrix",
    "target_shot",
]
