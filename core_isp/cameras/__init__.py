"""Cameras as inference sees them: sensor layout, colour, noise model and learned weights (shipped or stored)."""

from core_isp.cameras.camera import (
    DAYLIGHT_CCT_K,
    Camera,
    CameraColour,
    CameraWeights,
    SensorLayout,
    exposure_level,
)
from core_isp.cameras.catalogue import DEFAULT_CAMERA, available_cameras, camera_for, get_camera, resolve_camera
from core_isp.cameras.noise import NoiseModel
from core_isp.cameras.shipped import GENERIC, generic_weights, shipped_cameras
from core_isp.cameras.store import CameraStore, store_root
from core_isp.cameras.white_balance import WhiteBalance, photo_white_balance

__all__ = [
    "DAYLIGHT_CCT_K",
    "DEFAULT_CAMERA",
    "GENERIC",
    "Camera",
    "CameraColour",
    "CameraStore",
    "CameraWeights",
    "NoiseModel",
    "SensorLayout",
    "WhiteBalance",
    "available_cameras",
    "camera_for",
    "exposure_level",
    "generic_weights",
    "get_camera",
    "photo_white_balance",
    "resolve_camera",
    "shipped_cameras",
    "store_root",
]
