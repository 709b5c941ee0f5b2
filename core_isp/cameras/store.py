"""The user's camera store: one folder per camera made by ``paramisp camera add``.

Where: ``$PARAMISP_HOME`` when set, else ``$XDG_DATA_HOME/paramisp`` (``~/.local/share/paramisp``). Layout:
``cameras/NAME/camera.json`` (the :class:`~core_isp.cameras.camera.Camera`, weights relative to its folder),
``cameras/NAME/{forward,inverse}.safetensors`` and ``cameras/NAME/report.json`` (how it was made); unfinished
work of ``camera add`` lives in ``work/NAME/`` so a killed run resumes. A camera appears in the store only by
renaming a complete folder into place, so a store never holds half a camera and an existing one is never
overwritten.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from core_isp.cameras.camera import Camera
from core_isp.errors import BadInputError

CAMERA_FILE = "camera.json"
REPORT_FILE = "report.json"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def store_root() -> Path:
    """The store's folder (it need not exist yet)."""
    if os.environ.get("PARAMISP_HOME"):
        return Path(os.environ["PARAMISP_HOME"]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "paramisp"


def check_name(name: str) -> str:
    """Camera names are lower-case file-safe words (``my-550d``), so they work as folder names everywhere."""
    if not _NAME.match(name):
        raise BadInputError(f"camera name {name!r} must be 1-64 of a-z 0-9 . _ - starting with a letter or digit")
    return name


class CameraStore:
    """The cameras under one root (default: :func:`store_root`)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else store_root()

    @property
    def cameras_dir(self) -> Path:
        return self.root / "cameras"

    def work_dir(self, name: str) -> Path:
        """Scratch folder of an unfinished ``camera add`` (kept until the camera is stored)."""
        return self.root / "work" / check_name(name)

    def names(self) -> list[str]:
        """Stored camera names, sorted."""
        if not self.cameras_dir.is_dir():
            return []
        return sorted(p.name for p in self.cameras_dir.iterdir() if (p / CAMERA_FILE).is_file())

    def get(self, name: str) -> Camera:
        """A stored camera; an unknown name is a one-line :class:`BadInputError`."""
        folder = self.cameras_dir / name
        if not (folder / CAMERA_FILE).is_file():
            raise BadInputError(f"no stored camera {name!r} in {self.root}")
        try:
            d = json.loads((folder / CAMERA_FILE).read_text())
        except (OSError, ValueError) as e:
            raise BadInputError(f"stored camera {name!r} is unreadable ({folder / CAMERA_FILE}): {e}") from e
        return Camera.from_dict(d, folder, origin="stored")

    def report(self, name: str) -> dict[str, Any]:
        """How a stored camera was made (noise fit, registration, fine-tune scores), as recorded."""
        path = self.cameras_dir / name / REPORT_FILE
        return json.loads(path.read_text()) if path.is_file() else {}

    def all(self) -> dict[str, Camera]:
        """Every stored camera by name."""
        return {n: self.get(n) for n in self.names()}

    def _writable(self) -> None:
        try:
            self.cameras_dir.mkdir(parents=True, exist_ok=True)
            probe = self.cameras_dir / f".probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            why = e.strerror or e
            raise BadInputError(f"camera store {self.root} is not writable ({why}); set PARAMISP_HOME") from e

    def check_can_add(self, name: str) -> None:
        """Refuse early (before any work) a name that is taken or a store that cannot be written."""
        check_name(name)
        if (self.cameras_dir / name).exists():
            raise BadInputError(f"camera {name!r} already exists in {self.root} (remove it first)")
        self._writable()

    def add(self, camera: Camera, files: dict[str, Path], report: dict[str, Any]) -> Camera:
        """Store ``camera`` with its weight ``files`` (``{"forward": path, "inverse": path}``, copied) and
        ``report``; the camera's own ``weights`` are replaced by the stored copies."""
        self.check_can_add(camera.name)
        staging = self.cameras_dir / f".{camera.name}.{uuid.uuid4().hex}.partial"
        staging.mkdir()
        try:
            stored = {}
            for direction, path in files.items():
                target = staging / f"{direction}.safetensors"
                shutil.copyfile(path, target)
                stored[direction] = target
            d = camera.to_dict()
            d["weights"] = {k: (f"{k}.safetensors" if k in stored else None) for k in ("forward", "inverse")}
            (staging / CAMERA_FILE).write_text(json.dumps(d, indent=1) + "\n")
            (staging / REPORT_FILE).write_text(json.dumps(report, indent=1, default=str) + "\n")
            # rename() onto a missing name is atomic; if another process stored the name meanwhile it fails.
            staging.rename(self.cameras_dir / camera.name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self.get(camera.name)

    def remove(self, name: str) -> None:
        """Delete a stored camera (moved aside first, so a failure never leaves half of it)."""
        folder = self.cameras_dir / name
        if not (folder / CAMERA_FILE).is_file():
            raise BadInputError(f"no stored camera {name!r} in {self.root}")
        trash = self.cameras_dir / f".{name}.{uuid.uuid4().hex}.removed"
        folder.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
