"""The learned ISPs as users meet them: ``load_isp(camera=...)``, then ``.forward(raw, meta)`` and ``.inverse(...)``.

Shipped weights live in the package (``core_isp/weights``, listed in ``registry.json``): a camera-agnostic
pre-trained pair (``"generic"``) and a fine-tuned pair per built-in simulated camera (a direction whose fine-tune
did not beat the pre-trained start on the camera's validation set names the generic file). A camera is chosen by
registry name, or by a file's make/model; a camera with no shipped weights gets the camera-agnostic pair, which
takes the file's own white balance and colour matrix through ParamNet.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from core_isp.checkpoint import CheckpointInfo, load_checkpoint
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.inference import DEFAULT_TILE, forward_isp, inverse_isp
from core_isp.metadata import CameraMetadata
from core_isp.models.paramisp import ParamISP

GENERIC = "generic"


def weights_dir() -> Path:
    """The package folder with the shipped weights."""
    return Path(str(resources.files("core_isp.weights")))


def registry() -> dict[str, dict[str, Any]]:
    """Registry entries by camera name: files per direction, the profile, make and model."""
    return json.loads((weights_dir() / "registry.json").read_text())["cameras"]


def available_cameras() -> list[str]:
    """Names ``load_isp(camera=...)`` accepts."""
    return sorted(registry())


def camera_for(meta: CameraMetadata) -> str | None:
    """The registry camera whose make and model match a shot's, if any."""

    def norm(s: str | None) -> str:
        return (s or "").strip().lower()

    for name, entry in registry().items():
        if (
            entry.get("make")
            and norm(entry["make"]) == norm(meta.make)
            and norm(entry.get("model")) == norm(meta.model)
        ):
            return name
    return None


@dataclass
class LearnedISP:
    """A forward and/or inverse ParamISP with where they came from."""

    camera: str
    forward_model: ParamISP | None
    inverse_model: ParamISP | None
    forward_info: CheckpointInfo | None = None
    inverse_info: CheckpointInfo | None = None

    def _shots(self, meta: CameraMetadata | Sequence[CameraMetadata], batch: int) -> list[CameraMetadata]:
        metas = [meta] if isinstance(meta, CameraMetadata) else list(meta)
        if len(metas) != batch:
            raise BadInputError(f"{len(metas)} metadata records for a batch of {batch}")
        return metas

    def forward(
        self, raw: torch.Tensor, meta: CameraMetadata | Sequence[CameraMetadata], **options: Any
    ) -> torch.Tensor:
        """RAW -> sRGB: normalised mosaic ``(B, 1, H, W)`` -> ``(B, 3, H, W)`` in [0, 1], sensor orientation.
        ``options`` go to :func:`core_isp.inference.forward_isp` (tile, device, autocast_dtype, channels_last)."""
        if self.forward_model is None:
            raise BadInputError(f"{self.camera}: no forward weights loaded")
        options.setdefault("tile", DEFAULT_TILE)
        return forward_isp(self.forward_model, raw, self._shots(meta, raw.shape[0]), **options).clamp(0.0, 1.0)

    def inverse(
        self, srgb: torch.Tensor, meta: CameraMetadata | Sequence[CameraMetadata], **options: Any
    ) -> torch.Tensor:
        """sRGB -> RAW: ``(B, 3, H, W)`` in [0, 1] -> normalised mosaic ``(B, 1, H, W)`` in [0, 1] in the
        metadata's CFA, sensor orientation. Options as in :meth:`forward`."""
        if self.inverse_model is None:
            raise BadInputError(f"{self.camera}: no inverse weights loaded")
        options.setdefault("tile", DEFAULT_TILE)
        return inverse_isp(self.inverse_model, srgb, self._shots(meta, srgb.shape[0]), **options).clamp(0.0, 1.0)


def load_isp(
    camera: str | None = None,
    *,
    forward_weights: str | Path | None = None,
    inverse_weights: str | Path | None = None,
    directions: Sequence[str] = ("forward", "inverse"),
    device: torch.device | str = "cpu",
) -> LearnedISP:
    """Load shipped weights by camera name (``None``: the camera-agnostic pair), or given weight files.

    Unknown names and wrong-direction files are refused with a one-line :class:`BadInputError`.
    """
    entries = registry()
    name = camera or GENERIC
    files: dict[str, Path | None] = {"forward": None, "inverse": None}
    if forward_weights or inverse_weights:
        files = {"forward": Path(forward_weights) if forward_weights else None,
                 "inverse": Path(inverse_weights) if inverse_weights else None}  # fmt: skip
        name = camera or "custom"
    else:
        if not entries:
            raise BadInputError("no shipped weights in this installation (core_isp/weights/registry.json is empty)")
        if name not in entries:
            raise BadInputError(f"no shipped weights for camera {name!r}; available: {', '.join(sorted(entries))}")
        files = {d: weights_dir() / entries[name][d] for d in ("forward", "inverse") if d in entries[name]}
    isp = LearnedISP(camera=name, forward_model=None, inverse_model=None)
    for direction in directions:
        path = files.get(direction)
        if path is None:
            continue
        model, info = load_checkpoint(path, direction=direction, device=device)  # type: ignore[arg-type]
        setattr(isp, f"{direction}_model", model)
        setattr(isp, f"{direction}_info", info)
    return isp


def load_isp_for(meta: CameraMetadata, device: torch.device | str = "cpu") -> LearnedISP:
    """The shipped pair for a shot's camera, or the camera-agnostic one (with a warning saying so)."""
    name = camera_for(meta)
    if name is None:
        warnings.warn(
            f"no shipped weights for {meta.make or '?'} {meta.model or '?'}: using the camera-agnostic weights "
            "with the file's own white balance and colour matrix",
            MetadataWarning,
            stacklevel=2,
        )
    return load_isp(name, device=device)
