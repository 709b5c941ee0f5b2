"""Per-camera adaptation: what to fine-tune for a user's own camera, measured per CPU-minute.

    python -m benchmarks.user_cameras [--out runs/user-cameras] [--budgets 60,180] [--modes all,paramnet,global]

Two cameras the shipped weights never saw: (a) the held-out ``canon-550d`` profile and (b) ``OUTSIDER``, a
camera whose in-camera look lies outside the tuning cameras' family (defined here, never registered, never used
for tuning or shipping). Per camera, a 40-shot folder written like ``paramisp simulate`` writes one
(DNG + JPG + JSON + clean RAW), 384 x 512: shots 1-30 are the user's folder, of which the last ``HELD_BACK`` are
the frames :func:`~core_isp.training.finetune.finetune_camera` chooses on; shots 31-40 are the test set. The
folder's scenes come from the ``train`` and ``val`` splits (11 sources: the ``val`` split alone has 3, too few for
30 photos of someone's life; the generic weights saw the ``train`` scenes, through other cameras), the test
shots' from the ``test`` split, which no network saw. The pairs are cached in the format ``paramisp prepare``
writes, straight from the folder (the simulator's JPEG is on the RAW grid, so no registration is needed).

For every adapt mode and budget (the larger budget resumes the smaller one's run, so both are one run stopped
twice), both directions from the shipped generic weights; PSNR on the whole test frames (the paper protocol's
five crops are the whole frame at this size; 2-pixel border), forward against the camera JPEG, inverse against
the clean RAW. Results accumulate in ``OUT/results.json`` (a rerun skips what is done); prints Markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
from PIL import Image
from tqdm import tqdm

from core_isp.cfa import phase_offset
from core_isp.checkpoint import load_checkpoint
from core_isp.io.raw_reader import read_raw
from core_isp.io.writers import atomic_write
from core_isp.metadata import CameraMetadata
from core_isp.simulation.camera_pipeline import RenderingStyle
from core_isp.simulation.capture_folder import capture_complete, shot_seed, simulate_shot, stem_for, write_capture
from core_isp.simulation.profile import CameraProfile
from core_isp.simulation.profiles import get_profile
from core_isp.simulation.scenes import load_manifest
from core_isp.training.data import Sample
from core_isp.training.finetune import FinetuneSettings, finetune_camera, frame_psnrs, generic_start
from paramisp.machine import machine_line

#: A film-like, flat look: darker mid-grey (0.12, every tuning camera renders 0.18), lifted shadows and a soft
#: highlight roll-off that do not change with the shot, muted colour (0.85, tuning cameras 1.08-1.25), hard
#: sharpening kept at every ISO (tuning cameras 0.4-1.0, falling with ISO) and little noise reduction.
FILM_LOOK = RenderingStyle(
    mid_grey_out=0.12,
    white_point=0.2,
    white_point_ev_slope=0.0,
    shadow_lift=0.18,
    lift_per_iso_stop=0.0,
    lift_per_exposure_stop=0.0,
    lift_per_low_key_stop=0.0,
    saturation=0.85,
    saturation_loss_per_iso_stop=0.0,
    luma_denoise_per_iso_stop=0.04,
    chroma_blur_sigma_per_iso_stop=0.15,
    sharpen_amount=1.6,
    sharpen_loss_per_iso_stop=0.0,
    jpeg_quality=90,
)

#: Camera (b): a D7000 body with an LG G5 phone's D65 XYZ->camera matrix (RawTherapee camconst.json, in
#: docs/camera-facts.md: strong green-blue crosstalk, far from the five tuning cameras' matrices), GBRG phase,
#: no Active D-Lighting, and :data:`FILM_LOOK`.
OUTSIDER: CameraProfile = dataclasses.replace(
    get_profile("nikon-d7000"),
    name="outsider-gbrg",
    version=1,
    make="Paramisp Test",
    model="Outsider GBRG",
    cfa_pattern="GBRG",
    xyz_to_cam_d65=tuple(c / 10000 for c in (5313, 1016, -1172, -6250, 15391, 547, -2344, 5547, 3359)),
    style=FILM_LOOK,
    htp_min_iso=None,
    held_out=True,
    sources=("body, noise, lens: nikon-d7000@v1", "matrix: LG G5 D65, RawTherapee camconst.json",
             "rendering: invented, outside the tuning cameras' styles"),
)  # fmt: skip
CAMERAS: dict[str, CameraProfile] = {"canon-550d": get_profile("canon-550d"), OUTSIDER.name: OUTSIDER}

#: At most 512 pixels a side, so a frame is its own global context and is scored in one pass (cheap).
SIZE = (384, 512)
ADAPT_SHOTS, HELD_BACK, TEST_SHOTS = 30, 4, 10
SEED = 20260512
BUDGETS_S = (60.0, 180.0)
MODES = ("all", "paramnet", "global")
DIRECTIONS = ("forward", "inverse")


def write_folder(
    profile: CameraProfile,
    folder: Path,
    adapt_shots: int = ADAPT_SHOTS,
    test_shots: int = TEST_SHOTS,
    size: tuple[int, int] = SIZE,
) -> None:
    """The camera's shots: the user's folder from the ``train`` and ``val`` scenes, then the test shots from the
    ``test`` scenes (seen by no network)."""
    folder.mkdir(parents=True, exist_ok=True)
    cache: dict[str, np.ndarray] = {}
    record = {"profile": profile.profile_id, "profile_hash": profile.parameter_hash(), "run_seed": SEED}
    for index in tqdm(range(1, adapt_shots + test_shots + 1), desc=f"{profile.name}: shots", unit="shot"):
        stem = stem_for(index)
        if capture_complete(folder, stem):
            continue
        splits = ("train", "val") if index <= adapt_shots else ("test",)
        sources = [s for s in load_manifest() if s.split in splits]
        seed = shot_seed(SEED, index)
        shot, _ = simulate_shot(profile, sources, seed, size, image_cache=cache)
        shot_record = {**record, "scene_splits": list(splits), "shot_seed": seed, "index": index}
        write_capture(folder, stem, shot, shot_record, overwrite=True)


def read_pair(folder: Path, stem: str) -> tuple[dict[str, np.ndarray], CameraMetadata]:
    """A shot's DNG, camera JPEG and clean RAW as ``prepare`` caches a pair: cropped to an RGGB phase, even sides."""
    raw = read_raw(folder / f"{stem}.DNG")
    dy, dx = phase_offset(raw.meta.cfa_pattern)
    h, w = (n - d for n, d in zip(raw.mosaic.shape, (dy, dx), strict=True))
    crop = (slice(dy, dy + h - h % 2), slice(dx, dx + w - w % 2))
    arrays = {
        "raw": raw.mosaic[crop].astype(np.float32),
        "srgb": np.asarray(Image.open(folder / f"{stem}.JPG").convert("RGB"))[crop],
        "clean": tifffile.imread(folder / f"{stem}.clean.tiff")[crop].astype(np.float32),
    }
    size = arrays["raw"].shape
    return arrays, raw.meta.replace(cfa_pattern="RGGB", image_size_hw=size, default_crop_tlhw=None)


def write_cache(folder: Path, cache: Path, adapt_shots: int = ADAPT_SHOTS, held_back: int = HELD_BACK) -> None:
    """The user's shots as a prepared cache; the last ``held_back`` are its ``val`` split."""
    if (cache / "index.json").is_file():
        return
    (cache / "pairs").mkdir(parents=True, exist_ok=True)
    pairs = []
    for index in range(1, adapt_shots + 1):
        stem = stem_for(index)
        arrays, meta = read_pair(folder, stem)
        for key, array in arrays.items():
            np.save(cache / "pairs" / f"{stem}.{key}.npy", array)
        (cache / "pairs" / f"{stem}.json").write_text(json.dumps({"metadata": meta.to_dict()}))
        split = "val" if index > adapt_shots - held_back else "train"
        pairs.append({"name": stem, "split": split, "size_hw": list(meta.image_size_hw), "has_clean": True})
    with atomic_write(cache / "index.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps({"version": 1, "source_folder": str(folder), "pairs": pairs}, indent=1))


def test_frames(folder: Path) -> list[Sample]:
    """The 10 test shots, whole."""
    frames = []
    for index in range(ADAPT_SHOTS + 1, ADAPT_SHOTS + TEST_SHOTS + 1):
        arrays, meta = read_pair(folder, stem_for(index))
        raw, clean = (torch.from_numpy(arrays[k])[None] for k in ("raw", "clean"))
        srgb = torch.from_numpy(arrays["srgb"].astype(np.float32) / 255.0).permute(2, 0, 1)
        frames.append(Sample(raw, clean, srgb, meta, stem_for(index)))
    return frames


def test_psnr(checkpoint: Path, direction: str, frames: list[Sample]) -> list[float]:
    model, _ = load_checkpoint(checkpoint, direction=direction)  # type: ignore[arg-type]
    return frame_psnrs(model, frames)


class Results:
    """``results.json``: everything measured so far, saved after each entry."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict = json.loads(path.read_text()) if path.is_file() else {}

    def get(self, *keys: str) -> dict | None:
        node = self.data
        for k in keys:
            if k not in node:
                return None
            node = node[k]
        return node

    def put(self, value: dict, *keys: str) -> None:
        node = self.data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
        with atomic_write(self.path, overwrite=True) as tmp:
            tmp.write_text(json.dumps(self.data, indent=1))


def prepare_camera(name: str, out: Path, results: Results) -> list[Sample]:
    """The camera's folder and cache, the generic weights' zero-shot scores; returns the test frames."""
    folder = out / name / "folder"
    write_folder(CAMERAS[name], folder)
    write_cache(folder, out / name / "cache")
    frames = test_frames(folder)
    for d, path in generic_start().items():
        if results.get(name, "zero_shot", d) is None:
            t0 = time.perf_counter()
            scores = test_psnr(path, d, frames)
            results.put({"test": scores, "score_s": time.perf_counter() - t0}, name, "zero_shot", d)
    return frames


def adapt(name: str, out: Path, results: Results, mode: str, budget: float, frames: list[Sample]) -> None:
    """Fine-tune both directions of one camera with one mode to one budget (resuming a smaller budget's run)."""
    key = f"{budget:.0f}"
    if results.get(name, mode, key) is not None:
        return
    run = out / name / "runs" / mode
    report = finetune_camera(out / name / "cache", run, generic_start(), FinetuneSettings(budget_s=budget, adapt=mode))
    entry = {}
    for d, r in report.directions.items():
        final = test_psnr(run / d / f"{d}.last.safetensors", d, frames)
        kept = final if r.kept == "fine-tune" else results.get(name, "zero_shot", d)["test"]
        entry[d] = {**dataclasses.asdict(r), "checkpoint": str(r.checkpoint), "test_final": final, "test_kept": kept}
    results.put(entry, name, mode, key)


def mean(x: list[float]) -> float:
    return float(np.mean(x))


def markdown(results: Results, modes: list[str], budgets: list[float]) -> str:
    """The PSNR table (fine-tune and kept weights on the test frames) and the run details."""
    cams = list(CAMERAS)
    head = " | ".join(f"{c} {d}" for c in cams for d in DIRECTIONS)
    lines = [f"| weights | budget / direction | {head} |", "|---|---|" + "---:|" * (2 * len(cams))]
    zero = [mean(results.get(c, "zero_shot", d)["test"]) for c in cams for d in DIRECTIONS]
    lines.append("| shipped generic (zero-shot) | — | " + " | ".join(f"{v:.2f}" for v in zero) + " |")
    for mode in modes:
        for b in budgets:
            entries = [(results.get(c, mode, f"{b:.0f}") or {}).get(d) for c in cams for d in DIRECTIONS]
            if not any(entries):
                continue
            cells = ["—" if e is None else f"{mean(e['test_final']):.2f} ({mean(e['test_kept']):.2f})" for e in entries]
            lines.append(f"| adapt `{mode}` | {b / 60:g} min | " + " | ".join(cells) + " |")
    lines += ["", "| camera | adapt | budget | direction | steps | patches/s (compute clock) | held-back start -> "
              "fine-tune (dB) | kept | wall s |", "|---|---|---|---|---:|---:|---|---|---:|"]  # fmt: skip
    for c in cams:
        for mode in modes:
            for b in budgets:
                for d, e in (results.get(c, mode, f"{b:.0f}") or {}).items():
                    rate = e["steps"] * FinetuneSettings().batch_size / e["train_s"]
                    held_back = f"{e['start_psnr']:.2f} -> {e['final_psnr']:.2f}"
                    lines.append(f"| {c} | {mode} | {b / 60:g} min | {d} | {e['steps']} | {rate:.2f} | {held_back} | "
                                 f"{e['kept']} | {e['wall_s']:.0f} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/user-cameras"))
    parser.add_argument("--budgets", default=",".join(f"{b:.0f}" for b in BUDGETS_S), help="seconds, increasing")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--cameras", default=",".join(CAMERAS))
    parser.add_argument("--table-only", action="store_true", help="print what results.json holds, run nothing")
    args = parser.parse_args()
    torch.set_num_threads(2)
    modes, budgets = args.modes.split(","), sorted(float(b) for b in args.budgets.split(","))
    results = Results(args.out / "results.json")
    t0 = time.perf_counter()
    if not args.table_only:
        frames = {name: prepare_camera(name, args.out, results) for name in args.cameras.split(",")}
        # Every mode at the smaller budget first: the comparison at equal budgets is complete before any extension.
        for budget in budgets:
            for name, test in frames.items():
                for mode in modes:
                    adapt(name, args.out, results, mode, budget, test)
    print(f"Machine: {machine_line()}\n\n{markdown(results, modes, budgets)}\n\nThis call took "
          f"{time.perf_counter() - t0:.0f} s.")  # fmt: skip


if __name__ == "__main__":
    main()
