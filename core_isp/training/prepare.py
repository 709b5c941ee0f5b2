"""``prepare``: turn a folder of RAW files (each with its camera JPEG) into a training cache.

Per RAW: decode it, find its camera JPEG (sidecar or embedded preview), register the JPEG to the
RAW grid, and store the aligned pair. When the JPEG is smaller than the sensor, the pair is made at
the JPEG's resolution: the RAW is demosaiced, area-downscaled onto the JPEG grid and re-mosaiced
(flagged ``downscaled``; its noise is averaged, unlike a real RAW at that size). Pairs whose
registration fails (low score, in-camera distortion correction) are rejected with the reason.

Every stored pair is cropped to an RGGB phase, so training crops need no phase handling, and
cached as memory-mappable ``.npy`` arrays, so RAW decoding is not redone each epoch. The split is by
image (a stable hash of the file name), written into the cache index. Folders written by
``paramisp simulate`` also carry the clean RAW (``*.clean.tiff``), which is cached as the inverse
target.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import torch

from core_isp.canonical import demosaic, mosaic
from core_isp.cfa import cfa_batch, phase_offset, shift_cfa
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.io.camera_jpeg import find_camera_jpeg, register_camera_jpeg, warp_jpeg_to_raw, warp_raw_to_jpeg
from core_isp.io.metadata_reader import RAW_SUFFIXES
from core_isp.io.raw_reader import read_raw
from core_isp.io.writers import atomic_write
from core_isp.metadata import CameraMetadata
from core_isp.orientation import to_sensor

CACHE_VERSION = 1
#: Share of images (at least one, when there are two or more) held out for validation.
VAL_FRACTION = 0.15


@dataclass
class PreparedPair:
    """One cached pair as recorded in the index."""

    name: str
    raw_file: str
    jpeg_source: str
    score: float
    scale: float
    offset_px: tuple[float, float]
    orientation: int
    downscaled: bool
    split: str
    size_hw: tuple[int, int]
    has_clean: bool = False


@dataclass
class PrepareReport:
    """What :func:`prepare_folder` did."""

    cache: Path
    pairs: list[PreparedPair] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _split_for(name: str, names: list[str]) -> str:
    """Validation by a stable hash of the file name: the same files split the same way every time."""
    if len(names) < 2:
        return "train"
    ranked = sorted(names, key=lambda n: hashlib.sha256(n.encode()).hexdigest())
    n_val = max(1, round(VAL_FRACTION * len(names)))
    return "val" if name in ranked[:n_val] else "train"


def _rggb_crop(array: torch.Tensor, pattern: str) -> tuple[torch.Tensor, tuple[int, int]]:
    """Crop ``(..., H, W)`` so it starts on an R site and has even sides."""
    dy, dx = phase_offset(pattern, "RGGB")
    h, w = array.shape[-2] - dy, array.shape[-1] - dx
    return array[..., dy : dy + h - h % 2, dx : dx + w - w % 2], (dy, dx)


def prepare_one(raw_path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Aligned arrays and their record for one RAW file; :class:`BadInputError` with the reason if not usable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        raw = read_raw(raw_path)
    meta = raw.meta
    jpeg = find_camera_jpeg(raw_path)
    reg = register_camera_jpeg(raw, jpeg.image)
    mosaic_t = raw.tensor()
    cfa = cfa_batch([meta.cfa_pattern])
    clean_path = raw_path.with_name(raw_path.stem + ".clean.tiff")
    clean = torch.from_numpy(tifffile.imread(clean_path))[None, None] if clean_path.is_file() else None
    if reg.scale < 1.0 - 1e-3:
        # Pairs at the JPEG's resolution: demosaic, area-downscale onto the JPEG grid, re-mosaic.
        rgb = warp_raw_to_jpeg(demosaic(mosaic_t, cfa), reg)
        pattern = meta.cfa_pattern
        raw_on_grid = mosaic(rgb, cfa)
        srgb = to_sensor(jpeg.image, reg.orientation)
        clean_on_grid = None if clean is None else mosaic(warp_raw_to_jpeg(demosaic(clean, cfa), reg), cfa)
        downscaled = True
    elif reg.scale > 1.0 + 1e-3:
        raise BadInputError(f"{raw_path.name}: camera JPEG is larger than the RAW (scale {reg.scale:.3f})")
    else:
        # Registration returns scale 1 and a whole-pixel offset unless the pair measurably departs from
        # them, and there the warp is an exact shift: the JPEG's own pixels, with no resampling blur.
        srgb = warp_jpeg_to_raw(jpeg.image, reg)
        # Keep only RAW rows/columns the JPEG fully covers.
        top, left = (max(0, int(np.ceil(o))) for o in reg.offset_px)
        bottom, right = (
            min(size, int(np.floor(o + n / reg.scale)))
            for o, n, size in zip(reg.offset_px, reg.jpeg_size_hw, reg.raw_size_hw, strict=True)
        )
        raw_on_grid, srgb = mosaic_t[..., top:bottom, left:right], srgb[..., top:bottom, left:right]
        clean_on_grid = None if clean is None else clean[..., top:bottom, left:right]
        pattern = shift_cfa(meta.cfa_pattern, top, left)
        downscaled = False
    raw_rggb, (dy, dx) = _rggb_crop(raw_on_grid, pattern)
    h, w = raw_rggb.shape[-2:]
    srgb_rggb = srgb[..., dy : dy + h, dx : dx + w]
    arrays = {
        "raw": raw_rggb[0, 0].numpy().astype(np.float32),
        "srgb": (srgb_rggb[0].permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy(),
    }
    if clean_on_grid is not None:
        arrays["clean"] = clean_on_grid[0, 0, dy : dy + h, dx : dx + w].numpy().astype(np.float32)
    pair_meta = meta.replace(cfa_pattern="RGGB", image_size_hw=(h, w), default_crop_tlhw=None)
    record = {
        "jpeg_source": jpeg.source,
        "score": reg.score,
        "scale": reg.scale,
        "offset_px": reg.offset_px,
        "orientation": reg.orientation,
        "downscaled": downscaled,
        "size_hw": (h, w),
        "metadata": pair_meta.to_dict(),
    }
    return arrays, record


def prepare_folder(folder: Path, cache: Path, overwrite: bool = False, progress: bool = True) -> PrepareReport:
    """Prepare every RAW file in ``folder`` (not recursive) into ``cache``; see the module docstring."""
    from tqdm import tqdm

    raws = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in RAW_SUFFIXES)
    if not raws:
        raise BadInputError(f"{folder}: no RAW files")
    index_path = cache / "index.json"
    if index_path.exists() and not overwrite:
        raise BadInputError(f"{cache}: already holds a prepared cache (use --overwrite to rebuild it)")
    (cache / "pairs").mkdir(parents=True, exist_ok=True)
    report = PrepareReport(cache=cache)
    names = [p.stem for p in raws]
    for path in tqdm(raws, unit="raw", disable=not progress or len(raws) < 2):
        try:
            arrays, record = prepare_one(path)
        except BadInputError as e:
            # The readers' messages start with the file's name, which the record already holds.
            reason = " ".join(str(e).split()).removeprefix(f"{path.name}: ")
            report.rejected.append({"file": path.name, "reason": reason})
            continue
        for key, arr in arrays.items():
            with atomic_write(cache / "pairs" / f"{path.stem}.{key}.npy", overwrite=True) as tmp, open(tmp, "wb") as f:
                np.save(f, arr)
        with atomic_write(cache / "pairs" / f"{path.stem}.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(record, indent=1))
        report.pairs.append(
            PreparedPair(
                name=path.stem,
                raw_file=str(path),
                jpeg_source=record["jpeg_source"],
                score=record["score"],
                scale=record["scale"],
                offset_px=tuple(record["offset_px"]),
                orientation=record["orientation"],
                downscaled=record["downscaled"],
                split=_split_for(path.stem, names),
                size_hw=tuple(record["size_hw"]),
                has_clean="clean" in arrays,
            )
        )
    if not report.pairs:
        raise BadInputError(f"{folder}: no usable RAW + camera JPEG pair ({len(report.rejected)} rejected)")
    index = {
        "version": CACHE_VERSION,
        "source_folder": str(folder.resolve()),
        "pairs": [asdict(p) for p in report.pairs],
        "rejected": report.rejected,
    }
    with atomic_write(index_path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(index, indent=1))
    return report


def split_pair_spatially(cache: Path, name: str, train_fraction: float = 0.6, guard_px: int = 64) -> None:
    """Replace a cached pair by a left part (``train``) and a right part (``val``) with a guard band between.

    For a same-scene result from a single RAW + JPEG (the Canon D30 here): the network is fine-tuned on one
    part of the image and scored on a spatially disjoint part; the guard band (wider than the network's
    reach) keeps any training crop from seeing test pixels. Column cuts stay even, so both parts keep RGGB.
    """
    index_path = cache / "index.json"
    index = json.loads(index_path.read_text())
    pair = next((p for p in index["pairs"] if p["name"] == name), None)
    if pair is None:
        raise BadInputError(f"{cache}: no pair named {name!r}")
    base = cache / "pairs" / name
    keys = [k for k in ("raw", "srgb", "clean") if Path(f"{base}.{k}.npy").is_file()]
    arrays = {k: np.load(f"{base}.{k}.npy") for k in keys}
    record = json.loads(Path(f"{base}.json").read_text())
    h, w = pair["size_hw"]
    cut = int(w * train_fraction) // 2 * 2
    start = (cut + guard_px + 1) // 2 * 2
    if start >= w - 16:
        raise BadInputError(f"{name}: too narrow ({w} px) for a {guard_px}-pixel guard band")
    parts = {"left": (0, cut, "train"), "right": (start, w, "val")}
    new_pairs = [p for p in index["pairs"] if p["name"] != name]
    for part, (x0, x1, split) in parts.items():
        part_name = f"{name}_{part}"
        for k, arr in arrays.items():
            with atomic_write(cache / "pairs" / f"{part_name}.{k}.npy", overwrite=True) as tmp, open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(arr[:, x0:x1]))
        meta = CameraMetadata.from_dict(record["metadata"]).replace(image_size_hw=(h, x1 - x0))
        with atomic_write(cache / "pairs" / f"{part_name}.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps({**record, "metadata": meta.to_dict(), "size_hw": (h, x1 - x0)}, indent=1))
        new_pairs.append({**pair, "name": part_name, "split": split, "size_hw": (h, x1 - x0)})
    index["pairs"] = new_pairs
    index["same_scene_split"] = {
        "pair": name,
        "train_columns": [0, cut],
        "val_columns": [start, w],
        "guard_px": guard_px,
    }
    with atomic_write(index_path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(index, indent=1))
