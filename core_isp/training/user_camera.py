"""Make a camera from a folder of one body's RAW files with their camera JPEGs (``paramisp camera add``).

Steps, each recorded in the camera's report: check the folder holds one camera; the sensor (CFA, levels, bit
depth) and colour (XYZ -> camera matrix) from the RAWs; a noise model fitted from the RAWs themselves
(:mod:`core_isp.cameras.noise_fit`); the RAW + JPEG pairs prepared and registered (:mod:`core_isp.training.prepare`);
forward and inverse fine-tuned from the camera-agnostic weights within a time budget, each direction keeping its
start unless the fine-tune scores better on full frames held back from the folder
(:mod:`core_isp.training.finetune`); then stored. Work happens in the store's ``work/NAME`` folder, so a killed run
picks up where it stopped; the camera appears in the store only once complete.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rawpy

from core_isp.cameras import Camera, CameraColour, CameraStore, NoiseModel, SensorLayout, shipped_cameras
from core_isp.cameras.noise_fit import fit_noise_model
from core_isp.colour import xy_to_cct, xyz_to_cam_from_ccm
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.io.metadata_reader import RAW_SUFFIXES
from core_isp.io.raw_reader import read_raw
from core_isp.metadata import CameraMetadata
from core_isp.training.finetune import FinetuneSettings, finetune_camera, generic_start
from core_isp.training.prepare import prepare_folder

#: Shots read for the noise fit (all of a small folder; a sample of a large one).
_NOISE_SHOTS = 40
_MIN_PAIRS = 2


@dataclass(frozen=True)
class FolderScan:
    """The RAW files of a folder and what they say about the camera."""

    raws: list[Path]
    metadata: list[CameraMetadata]

    @property
    def make_model(self) -> tuple[str, str]:
        return (self.metadata[0].make or "").strip(), (self.metadata[0].model or "").strip()


def scan_folder(folder: Path) -> FolderScan:
    """The folder's RAWs and their metadata; refuses an empty folder and a folder of two cameras."""
    if not folder.is_dir():
        raise BadInputError(f"{folder}: not a folder")
    raws = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in RAW_SUFFIXES)
    if not raws:
        raise BadInputError(f"{folder}: no RAW files (looked for {', '.join(sorted(RAW_SUFFIXES)[:6])}, ...)")
    metas = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        for p in raws:
            metas.append(read_raw(p).meta)
    bodies = Counter(((m.make or "?").strip(), (m.model or "?").strip()) for m in metas)
    if len(bodies) > 1:
        listed = "; ".join(f"{n} x {mk} {md}" for (mk, md), n in bodies.most_common())
        raise BadInputError(f"{folder}: RAWs of more than one camera ({listed}); give one camera's folder")
    patterns = {m.cfa_pattern for m in metas}
    if len(patterns) > 1:
        raise BadInputError(f"{folder}: RAWs with different CFA phases {sorted(patterns)} (mixed crops or bodies)")
    return FolderScan(raws, metas)


def sensor_from_raws(metas: list[CameraMetadata]) -> SensorLayout:
    """CFA, black levels (median per site), white level (the highest) and the bit depth that holds it."""
    black = tuple(float(np.median([m.black_level_per_site[i] for m in metas])) for i in range(4))  # type: ignore[index]
    white = max(float(m.white_level) for m in metas)  # type: ignore[arg-type]
    return SensorLayout(metas[0].cfa_pattern, max(8, math.ceil(math.log2(white + 1))), black, white)  # type: ignore[arg-type]


def colour_from_raws(raws: list[Path], metas: list[CameraMetadata]) -> tuple[CameraColour, str]:
    """The XYZ -> camera matrix LibRaw reports (a camera's Adobe matrix, the same in every file of a real body).

    A DNG written with one per-shot ColorMatrix (as the simulator and converters that bake the white balance
    in do) holds a matrix valid for that shot's light; then the shot lit closest to D65 is used."""
    matrices, ccts = [], []
    for path, meta in zip(raws, metas, strict=True):
        with rawpy.imread(str(path)) as raw:
            m = np.asarray(raw.rgb_xyz_matrix[:3], dtype=np.float64)
        if not np.any(m):
            if meta.ccm_wb_cam_to_srgb is None or meta.wb_gains is None:
                continue
            # LibRaw keeps no matrix for a body it does not know; the shot's own colour metadata gives one valid
            # for that shot's light (the DNG writer's construction, read back to the same colour matrix).
            m = xyz_to_cam_from_ccm(np.asarray(meta.ccm_wb_cam_to_srgb), meta.wb_gains)
        matrices.append(m)
        neutral = 1.0 / np.asarray(meta.wb_gains if meta.wb_gains else (1.0, 1.0, 1.0))
        xyz = np.linalg.solve(m, neutral)
        ccts.append(xy_to_cct(xyz[:2] / xyz.sum()))
    if not matrices:
        raise BadInputError("the RAWs carry no colour matrix (LibRaw knows none for this camera)")
    if all(np.allclose(m, matrices[0], atol=1e-4) for m in matrices):
        return CameraColour(tuple(matrices[0].ravel())), "the RAWs' colour matrix (identical in every file)"
    best = int(np.argmin([abs(1e6 / c - 1e6 / 6504.0) for c in ccts]))
    how = f"per-shot matrices; {raws[best].name}'s (lit at {ccts[best]:.0f} K, the closest to D65)"
    return CameraColour(tuple(matrices[best].ravel())), how


def fit_noise(scan: FolderScan) -> dict[str, Any]:
    """The noise model fitted from the folder's RAWs, with its per-ISO fits."""
    step = max(1, len(scan.raws) // _NOISE_SHOTS)
    samples = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        for path, meta in list(zip(scan.raws, scan.metadata, strict=True))[::step]:
            if meta.iso is not None:
                samples.append((meta.iso, read_raw(path).tensor()[0, 0], meta.clip_level))
    return fit_noise_model(samples).to_dict()


def build_camera(
    folder: Path,
    name: str,
    store: CameraStore,
    settings: FinetuneSettings | None = None,
    progress: bool = True,
) -> tuple[Camera, dict[str, Any]]:
    """Make and store camera ``name`` from ``folder``; returns it with its report."""
    if name in shipped_cameras():
        raise BadInputError(f"camera {name!r} is a shipped camera; choose another name")
    store.check_can_add(name)
    settings = settings or FinetuneSettings()
    scan = scan_folder(folder)
    make, model = scan.make_model
    work = _work_dir(store, name, folder, scan)
    sensor = sensor_from_raws(scan.metadata)
    colour, colour_how = colour_from_raws(scan.raws, scan.metadata)
    noise = _cached(work / "noise.json", lambda: fit_noise(scan))
    cache = work / "cache"
    if not (cache / "index.json").exists():
        prepared = prepare_folder(folder, cache, overwrite=True, progress=progress)
        rejected = prepared.rejected
    else:
        rejected = json.loads((cache / "index.json").read_text())["rejected"]
    index = json.loads((cache / "index.json").read_text())
    if len(index["pairs"]) < _MIN_PAIRS:
        raise BadInputError(
            f"{folder}: only {len(index['pairs'])} usable RAW + camera JPEG pair(s) of {len(scan.raws)} RAWs; "
            f"at least {_MIN_PAIRS} are needed (one to fine-tune on, one held back to judge it)"
        )
    tuned = finetune_camera(cache, work / "runs", generic_start(), settings, progress=progress)
    camera = Camera(
        name=name,
        make=make,
        model=model,
        sensor=sensor,
        colour=colour,
        noise=NoiseModel(**noise["model"]),
        origin="stored",
        source=str(folder.resolve()),
    )
    report = {
        "folder": str(folder.resolve()),
        "raws": len(scan.raws),
        "colour": colour_how,
        "noise_fit": noise,
        "pairs": {
            "kept": len(index["pairs"]),
            "rejected": rejected,
            "resampled": sum(1 for p in index["pairs"] if p["scale"] != 1.0 or any(p["offset_px"])),
        },
        "finetune": json.loads(tuned.to_json()),
    }
    files = {d: r.checkpoint for d, r in tuned.directions.items()}
    stored = store.add(camera, files, report)
    return stored, report


def _work_dir(store: CameraStore, name: str, folder: Path, scan: FolderScan) -> Path:
    """The unfinished work of ``camera add NAME``: kept (so a killed run resumes) only while it was made from the
    same files; work from another folder or changed files is discarded."""
    work = store.work_dir(name)
    stamp = {"folder": str(folder.resolve()),
             "files": [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(folder.iterdir())]}  # fmt: skip
    stamp_file = work / "source.json"
    if work.exists() and (not stamp_file.is_file() or json.loads(stamp_file.read_text()) != stamp):
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    stamp_file.write_text(json.dumps(stamp))
    return work


def _cached(path: Path, compute: Any) -> dict[str, Any]:
    """A step's JSON result, computed once per work folder (so a resumed run skips it)."""
    if path.exists():
        return json.loads(path.read_text())
    result = compute()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, default=str))
    tmp.replace(path)
    return result
