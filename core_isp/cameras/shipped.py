"""The cameras that ship with the package: ``core_isp/weights/registry.json``.

Each entry names a camera's weight files per direction and, for a camera body, its sensor, colour and noise
description (written by ``tools/ship_default_weights.py`` from the simulated profiles). The entry ``generic`` is
the camera-agnostic pair: weights without a body, used for any camera that has none of its own. An entry's
``joint`` names its jointly fine-tuned pair (the paper's stage 3, ``tools/train_default_weights.py --recipe joint``)
where one ships, with the validation scores that chose it; its ``brackets`` names a conditioning file for its inverse
(:mod:`core_isp.checkpoint`) fine-tuned for bracket frames (``tools/train_bracket_inverse.py``), with the scores too.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from core_isp.cameras.camera import Camera, CameraWeights
from core_isp.errors import BadInputError

GENERIC = "generic"


def weights_dir() -> Path:
    """The package folder with the shipped weights and their registry."""
    return Path(str(resources.files("core_isp.weights")))


@cache
def registry() -> dict[str, dict[str, Any]]:
    """Registry entries by name (read once per process)."""
    return json.loads((weights_dir() / "registry.json").read_text())["cameras"]


def generic_weights() -> CameraWeights:
    """The camera-agnostic pair."""
    entry = registry().get(GENERIC)
    if entry is None:
        raise BadInputError("no camera-agnostic weights in this installation (core_isp/weights/registry.json)")
    return CameraWeights(forward=weights_dir() / entry["forward"], inverse=weights_dir() / entry["inverse"])


def _variant_files(name: str | None, variant: str) -> dict[str, Path]:
    """The files per direction of the registry entry ``name``'s ``variant`` (``joint``, ``brackets``); {} where
    there is no such entry or variant."""
    files = registry().get(name, {}).get(variant, {}) if name else {}
    return {d: weights_dir() / files[d] for d in ("forward", "inverse") if d in files}


def joint_weights(name: str | None) -> CameraWeights | None:
    """The jointly fine-tuned pair of the registry entry ``name`` (a shipped camera or ``generic``); None where it
    ships none."""
    files = _variant_files(name, "joint")
    return CameraWeights(**files) if len(files) == 2 else None


def bracket_conditioning(name: str | None) -> Path | None:
    """The bracket conditioning file of the registry entry ``name`` (a shipped camera or ``generic``) for its
    inverse; None where it ships none."""
    return _variant_files(name, "brackets").get("inverse")


@cache
def shipped_cameras() -> dict[str, Camera]:
    """Every shipped camera body by name (the ``generic`` weights are not a body)."""
    out = {}
    for name, entry in registry().items():
        if "camera" in entry:
            d = {**entry["camera"], "name": name, "weights": {d: entry.get(d) for d in ("forward", "inverse")}}
            out[name] = Camera.from_dict(d, weights_dir(), origin="shipped")
    return out
