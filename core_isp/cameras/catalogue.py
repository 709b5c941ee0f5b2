"""One namespace for shipped and stored cameras: look up by name, or by a file's make and model.

A name is unique across both (``camera add`` refuses a shipped name). By make/model the user's stored cameras
are searched first, so a camera the user made for their own body wins over a shipped one of the same model.
"""

from __future__ import annotations

import dataclasses
import warnings

from core_isp.cameras.camera import Camera, CameraWeights
from core_isp.cameras.shipped import GENERIC, shipped_cameras
from core_isp.cameras.store import CameraStore
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.metadata import CameraMetadata

#: The body assumed for a photo of an unknown camera (its sensor layout and colour; the weights are generic).
DEFAULT_CAMERA = "nikon-d7000"


def available_cameras(store: CameraStore | None = None) -> dict[str, str]:
    """Every camera name with its origin (``"shipped"`` or ``"stored"``), sorted by name."""
    names = {n: "shipped" for n in shipped_cameras()}
    names.update({n: "stored" for n in (store or CameraStore()).names()})
    return dict(sorted(names.items()))


def get_camera(name: str, store: CameraStore | None = None) -> Camera:
    """A camera by name, shipped or stored; an unknown name lists the known ones."""
    shipped = shipped_cameras()
    if name in shipped:
        return shipped[name]
    store = store or CameraStore()
    if name in store.names():
        return store.get(name)
    known = ", ".join(available_cameras(store)) or "none"
    raise BadInputError(
        f"no shipped weights for camera {name!r} and no stored camera of that name; known cameras: {known} "
        "(add yours with 'paramisp camera add')"
    )


def camera_for(meta: CameraMetadata, store: CameraStore | None = None) -> Camera | None:
    """The camera whose make and model match a shot's (stored cameras first), or None."""
    store = store or CameraStore()
    for camera in [*store.all().values(), *shipped_cameras().values()]:
        if camera.matches(meta):
            return camera
    return None


def resolve_camera(name: str | None, meta: CameraMetadata, store: CameraStore | None = None) -> Camera:
    """``name`` if given, else the camera matching the shot, else the body of :data:`DEFAULT_CAMERA` without its
    weights (so the camera-agnostic pair is used) and a :class:`MetadataWarning` that says so (never silently)."""
    if name is not None and name != GENERIC:
        return get_camera(name, store)
    found = camera_for(meta, store)
    if found is not None:
        return found
    warnings.warn(
        f"no camera known for {meta.make or '?'} {meta.model or '?'}: assuming the sensor and colour of "
        f"{DEFAULT_CAMERA} with the camera-agnostic weights (use --camera, or 'paramisp camera add')",
        MetadataWarning,
        stacklevel=2,
    )
    return dataclasses.replace(get_camera(DEFAULT_CAMERA, store), weights=CameraWeights())
