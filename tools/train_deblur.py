"""Training data and the three deblurring networks that ``benchmarks/deblur_eval.py`` compares.

    python -m tools.train_deblur data  --out runs/deblur-data --scenes 64 --size 192,288 [--source photos|frames]
    python -m tools.train_deblur train --data runs/deblur-data --out runs/deblur --recipe cpu --budget-min 20

``data``: per tuning camera (``nikon-d7000``, ``sony-a7r3``; ``canon-550d`` is held out for the test), ``--scenes``
TRAIN-split scenes. ``--source photos`` (the default): each scene shot once, sharp, by the camera's program AE (its
JPEG and EXIF), and ``--per-photo`` pairs made from that photo, each along its own drawn shake path:

* ``synth-CAMERA/``: ``apps.dataset_synth``'s pair (:meth:`BlurSynthesizer.photo_samples` with the camera's learned
  ISPs), written by synth-blur's own writer with ``--raw``, plus ``raw_blurry_inverse/``: the inverse ISP's RAW of the
  synthesised blurry photo (what a photo reaches the network as);
* ``savg-CAMERA/``: the sRGB-averaged pair for the same path (:func:`apps.deblur.srgb_shaken_average`: the photo's
  sRGB pixels moved along the path and averaged, the photo as target).

``--source frames``: each scene shot hand-held as 7 short frames (:func:`capture_blur`'s frames; its blurry shot and
truths are not used); the synth pair from the frames (:meth:`BlurSynthesizer.from_frames`) and the sRGB-averaged
pair of the GoPro construction (:func:`apps.deblur.srgb_average`: mean of the frames' JPEGs, the centre frame as
target). A short frame is a high-ISO shot, so its target carries noise and the camera's noise reduction that the
average of seven has lost; a network learns to add that texture back (``benchmarks/RESULTS.md``, "Deblurring").

A rerun skips samples already written. ``train``: the RAW network on ``synth-*`` RAW pairs (``deblur-raw``), and the
same network in sRGB on ``synth-*`` sRGB pairs (``deblur-srgb-synth``, method c) and on ``savg-*`` (``deblur-srgb-avg``,
method b), each with the same recipe and budget.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm import tqdm

from apps.dataset_synth import BlurSynthesizer
from apps.dataset_synth.dataset import MANIFEST, JobSpec, Synthesizer, append_record, prepare_output, read_manifests
from apps.dataset_synth.dataset import sample_seed as synth_seed
from apps.dataset_synth.sources import SamplePlan
from apps.dataset_synth.synth import BlurSample
from apps.deblur import TrainSettings, read_pairs, srgb_average, srgb_shaken_average, train, write_pair
from apps.deblur.data import INVERSE_DIR, data_hash
from benchmarks.blur_realism import frames_as_photos, quantised, shot_as_photo
from benchmarks.deblur_eval import FRAMES, scenes
from core_isp.chain import to_raw
from core_isp.io.dng import write_dng
from core_isp.isp import InferenceOptions
from core_isp.simulation.blur_capture import capture_blur
from core_isp.simulation.profiles import get_profile
from core_isp.simulation.render import render_shot
from core_isp.simulation.shake import ShakePath

TUNING_CAMERAS = ("nikon-d7000", "sony-a7r3")
#: Variant -> (domain, data folder prefix); each trains one weight file ``deblur-VARIANT.safetensors``.
VARIANTS = {"raw": ("raw", "synth-"), "srgb-synth": ("srgb", "synth-"), "srgb-avg": ("srgb", "savg-")}
SEED = 7


def keep_sample(job: Synthesizer, plan: SamplePlan, sample: BlurSample, options: InferenceOptions) -> None:
    """Write a synthesised pair as synth-blur does, and the inverse ISP's RAW of its blurry photo beside it."""
    # The inverse's RAW of the blurry photo as it is stored (8-bit), with the blurry shot's RAW metadata.
    stored = sample.blurry.with_pixels(quantised(sample.blurry.pixels))
    inverse_raw = to_raw(stored, job.isp, sample.blurry_raw.metadata, options)
    (job.out / INVERSE_DIR).mkdir(exist_ok=True)
    write_dng(job.out / INVERSE_DIR / f"{plan.name}.dng", inverse_raw.pixels[0, 0], inverse_raw.meta, overwrite=True,
              description=f"inverse ISP of the synthesised blurry {plan.name}")  # fmt: skip
    append_record(job.out / MANIFEST, job.write(plan, sample))


def make_data(out: Path, cameras: list[str], count: int, size: tuple[int, int], options: InferenceOptions,
              source: str = "photos", per_photo: int = 2) -> None:  # fmt: skip
    """``count`` TRAIN-split scenes per camera -> the synth and sRGB-averaged folders (module notes, ``--source``)."""
    for camera in cameras:
        synth_dir, savg_dir = out / f"synth-{camera}", out / f"savg-{camera}"
        job = Synthesizer(JobSpec(inputs=(), camera=camera, seed=SEED, raw=True), synth_dir, options)
        prepare_output(synth_dir, job.spec.identity(job.camera, job.isp))
        synthesizer = BlurSynthesizer(job.camera, job.isp, job.isp, job.spec.settings, options)
        done = set(read_manifests(synth_dir)) & set(read_manifests(savg_dir) if savg_dir.is_dir() else {})
        profile = get_profile(camera)

        for i, scene in enumerate(tqdm(scenes("train", count, size, SEED), desc=camera, unit="scene")):
            if source == "frames":
                name = f"s{i:05d}"
                if name in done:
                    continue
                capture = capture_blur(profile, scene, SEED + i, frames=FRAMES)
                frames = [f.with_pixels(quantised(f.pixels)) for f in frames_as_photos(capture)]
                sample = synthesizer.from_frames(frames, synth_seed(SEED, name))
                keep_sample(job, SamplePlan(i, name, "frames", ()), sample, options)
                blurry, sharp = srgb_average(frames)
                write_pair(savg_dir, name, blurry, sharp, {"camera": camera, "frames": len(frames)})
                continue
            names = [f"s{i:05d}-{k}" for k in range(per_photo)]
            if set(names) <= done:
                continue
            shot = render_shot(profile, scene, SEED + i)
            photo = shot_as_photo(shot)
            photo = photo.with_pixels(quantised(photo.pixels))
            samples = synthesizer.photo_samples(photo, [synth_seed(SEED, n) for n in names])
            for name, sample in zip(names, samples, strict=True):
                keep_sample(job, SamplePlan(i, name, "photo", ()), sample, options)
                blurry, sharp = srgb_shaken_average(photo, ShakePath.from_dict(sample.record["shake"]))
                write_pair(savg_dir, name, blurry, sharp, {"camera": camera, "photo": f"s{i:05d}"})


def train_variants(data: Path, out: Path, variants: list[str], recipe: str, changes: dict[str, object]) -> None:
    """Each variant with the same recipe and budget (``changes`` are :class:`TrainSettings` fields)."""
    out.mkdir(parents=True, exist_ok=True)
    for variant in variants:
        domain, prefix = VARIANTS[variant]
        folders = sorted(p for p in data.glob(f"{prefix}*") if (p / MANIFEST).exists())
        if not folders:
            raise SystemExit(f"{data}: no {prefix}* folders (run the data step first)")
        pairs = read_pairs(folders, domain)  # type: ignore[arg-type]
        settings = TrainSettings.recipe(recipe, domain, **changes)  # type: ignore[arg-type]
        print(f"{variant}: {len(pairs)} pairs from {', '.join(p.name for p in folders)}", flush=True)
        record = {"variant": variant, "folders": [p.name for p in folders], "manifest_sha256": data_hash(folders)}
        report = train(pairs, out / f"deblur-{variant}.safetensors", settings, record)
        r = report.record
        print(f"{variant}: {report.steps} steps in {report.seconds:.0f} s, held-out L1 {r['held_out_l1']:.4f} "
              f"(input {r['held_out_input_l1']:.4f})", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    data = sub.add_parser("data", help="make the training folders")
    data.add_argument("--out", type=Path, default=Path("runs/deblur-data"))
    data.add_argument("--scenes", type=int, default=64, help="scenes per camera")
    data.add_argument("--size", default="256,384", help="scene height,width")
    data.add_argument("--cameras", default=",".join(TUNING_CAMERAS))
    data.add_argument("--source", choices=("photos", "frames"), default="photos",
                      help="pairs from sharp photos shaken along drawn paths, or from a capture's short frames")
    data.add_argument("--per-photo", type=int, default=2, help="pairs per sharp photo (--source photos)")
    data.add_argument("--device", default="cpu")
    run = sub.add_parser("train", help="train the three variants at one budget")
    run.add_argument("--data", type=Path, default=Path("runs/deblur-data"))
    run.add_argument("--out", type=Path, default=Path("runs/deblur"))
    run.add_argument("--variants", default=",".join(VARIANTS))
    run.add_argument("--recipe", default="cpu", choices=("cpu", "gpu"))
    run.add_argument("--budget-min", type=float, default=None, help="per variant (default 20 unless --steps)")
    run.add_argument("--steps", type=int, default=None, help="step budget (alone: exact, no clock)")
    run.add_argument("--batch", type=int, default=None)
    run.add_argument("--crop", type=int, default=None)
    run.add_argument("--device", default=None)
    run.add_argument("--white-balanced-loss", action="store_true",
                     help="RAW loss on white-balanced planes (apps.deblur.train notes)")
    for p in (data, run):
        p.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.step == "data":
        size = tuple(int(v) for v in args.size.split(","))
        for camera in args.cameras.split(","):
            if camera not in TUNING_CAMERAS:
                raise SystemExit(f"{camera}: training data comes from the tuning cameras {TUNING_CAMERAS} only")
        make_data(args.out, args.cameras.split(","), args.scenes, size, InferenceOptions(device=args.device),  # type: ignore[arg-type]
                  args.source, args.per_photo)
        return
    budget = args.budget_min if args.budget_min is not None or args.steps is not None else 20.0
    changes = {"budget_min": budget, "max_steps": args.steps, "batch": args.batch, "crop_px": args.crop,
               "device": args.device, "white_balanced_loss": args.white_balanced_loss or None}  # fmt: skip
    train_variants(args.data, args.out, args.variants.split(","), args.recipe,
                   {k: v for k, v in changes.items() if v is not None or k == "budget_min"})  # fmt: skip


if __name__ == "__main__":
    main()
