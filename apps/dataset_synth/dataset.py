"""A synthesis job over many inputs: output layout, manifest, resumption, shards and workers.

Layout of ``OUT``::

    dataset.json            what the dataset is (inputs, camera, weights, settings, seed): a run on a folder holding
                            another dataset is refused
    blurry/NAME.png         the synthesised blurry photo (``.jpg`` with ``fmt="jpg"``)
    sharp/NAME.png          its sharp target
    raw_blurry/NAME.dng     with ``raw=True``: the blurry RAW (noisy, clipped) and the sharp RAW (noise-free)
    raw_sharp/NAME.dng
    manifest.jsonl          one line per finished sample, sorted by sample index when the run ends

A sample's files are each written atomically and its manifest line is appended (and synced) only after all of
them, so a killed run leaves no sample half-recorded; rerun with the same command, it skips what the manifest holds
and redoes the rest, overwriting any files of unfinished samples. Every sample draws its randomness from
``(seed, name)``, so results do not depend on shards, workers, backend or the order samples finish in. A shard
records into ``manifest-I-of-N.jsonl``; an unsharded run over the same folder merges them.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from apps.dataset_synth.sources import SamplePlan, plan_samples, read_samples
from apps.dataset_synth.synth import DEFAULT_PAIR, BlurSample, BlurSynthesizer, SynthSettings
from core_isp.cameras import Camera, get_camera
from core_isp.errors import BadInputError
from core_isp.image import CameraImage
from core_isp.io.checksums import file_sha256
from core_isp.io.dng import write_dng
from core_isp.io.writers import atomic_write, write_image
from core_isp.isp import InferenceOptions, LearnedISP, load_isp
from core_isp.orientation import to_display

DATASET_FILE = "dataset.json"
MANIFEST = "manifest.jsonl"
FORMATS = ("png", "jpg")
BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): the samples whose index is ``index`` modulo ``count``."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        if text is None:
            return cls()
        try:
            i, n = (int(v) for v in text.split("/"))
        except ValueError:
            raise BadInputError(f"--shard must look like I/N (e.g. 0/4), got {text!r}") from None
        if n < 1 or not 0 <= i < n:
            raise BadInputError(f"--shard {text}: I must lie in 0..N-1 and N be at least 1")
        return cls(i, n)

    def manifest_name(self) -> str:
        return MANIFEST if self.count == 1 else f"manifest-{self.index}-of-{self.count}.jsonl"


@dataclass(frozen=True)
class JobSpec:
    """Everything that defines a dataset (and so its identity in ``dataset.json``)."""

    inputs: tuple[str, ...]
    camera: str
    window: int | None = None
    seed: int = 0
    settings: SynthSettings = field(default_factory=SynthSettings)
    fmt: str = "png"
    jpeg_quality: int = 95
    raw: bool = False
    forward_weights: str | None = None
    inverse_weights: str | None = None
    #: Which of the camera's pairs runs (:data:`core_isp.isp.PAIRS`).
    pair: str = DEFAULT_PAIR

    def identity(self, camera: Camera, isp: LearnedISP) -> dict[str, object]:
        """``dataset.json``'s content: inputs (with sizes), camera, the weights that run, settings, seed."""
        files = isp.weight_files
        return {
            "tool": "paramisp synth-blur",
            "inputs": [{"path": str(Path(p).resolve()), "bytes": _size(p)} for p in self.inputs],
            "window": self.window,
            "camera": camera.name,
            "weights_sha256": {d: file_sha256(f) for d, f in files.items()},
            "weights_description": isp.description,
            "settings": self.settings.to_dict(),
            "seed": self.seed,
            "format": self.fmt,
            "jpeg_quality": self.jpeg_quality if self.fmt == "jpg" else None,
            "raw": self.raw,
        }


def _size(path: str) -> int | None:
    p = Path(path)
    return p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.iterdir() if f.is_file())


def sample_seed(seed: int, name: str) -> int:
    """The seed of one sample: the job's seed and the sample's name, nothing about when or where it runs."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "little") >> 1


@dataclass
class Synthesizer:
    """The loaded camera and ISPs of a job, and how to make and write one sample (what a worker holds)."""

    spec: JobSpec
    out: Path
    options: InferenceOptions
    camera: Camera = field(init=False)
    isp: LearnedISP = field(init=False)

    def __post_init__(self) -> None:
        self.camera = get_camera(self.spec.camera)
        self.isp = load_isp(self.camera, forward_weights=self.spec.forward_weights,
                            inverse_weights=self.spec.inverse_weights, device=self.options.device,
                            pair=self.spec.pair)  # fmt: skip

    def make(self, plan: SamplePlan, frames: list[CameraImage]) -> BlurSample:
        synth = BlurSynthesizer(self.camera, self.isp, self.isp, self.spec.settings, self.options)
        seed = sample_seed(self.spec.seed, plan.name)
        if plan.kind == "photo":
            return synth.from_photo(frames[0], seed)
        return synth.from_frames(frames, seed, plan.frame_interval_s)

    def write(self, plan: SamplePlan, sample: BlurSample) -> dict[str, object]:
        """Write a sample's files (each atomically) and return its manifest record."""
        suffix = "." + self.spec.fmt
        files: dict[str, Path] = {}
        for kind, image in (("blurry", sample.blurry), ("sharp", sample.sharp)):
            target = self.out / kind / f"{plan.name}{suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            upright = to_display(image.pixels[0], image.meta.orientation)
            extra = {"quality": self.spec.jpeg_quality} if self.spec.fmt == "jpg" else {}
            files[kind] = write_image(target, upright, overwrite=True, **extra)
        if self.spec.raw:
            for kind, raw in (("raw_blurry", sample.blurry_raw), ("raw_sharp", sample.sharp_raw)):
                target = self.out / kind / f"{plan.name}.dng"
                target.parent.mkdir(parents=True, exist_ok=True)
                files[kind] = write_dng(target, raw.pixels[0, 0], raw.meta, overwrite=True,
                                        description=f"paramisp synth-blur {kind} of {plan.name}")  # fmt: skip
        return {
            "index": plan.index,
            "name": plan.name,
            "input": plan.to_dict(),
            "camera": self.camera.name,
            "weights": self.isp.description,
            "seed": sample_seed(self.spec.seed, plan.name),
            **sample.record,
            "files": {k: {"path": str(p.relative_to(self.out)), "sha256": file_sha256(p)} for k, p in files.items()},
        }


def prepare_output(out: Path, identity: dict[str, object]) -> None:
    """Create ``out`` for this dataset, or check that it already holds this same dataset."""
    marker = out / DATASET_FILE
    if marker.exists():
        try:
            held = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            raise BadInputError(f"{marker}: unreadable; not a dataset folder this tool wrote") from None
        if held != identity:
            differs = sorted(k for k in set(held) | set(identity) if held.get(k) != identity.get(k))
            raise BadInputError(f"{out} holds a different dataset (it differs in {', '.join(differs)}); "
                                "choose another folder")  # fmt: skip
        return
    if out.exists() and any(out.iterdir()):
        raise BadInputError(f"{out} is not empty and holds no {DATASET_FILE}: choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(marker) as tmp:
        tmp.write_text(json.dumps(identity, indent=2, sort_keys=True) + "\n")


def read_manifests(out: Path, repair: bool = False) -> dict[str, dict[str, object]]:
    """Finished samples by name, from every manifest in ``out``. A torn line (a kill mid-write) is ignored, and
    with ``repair`` cut from its file, so that the next record appended starts on a line of its own."""
    done: dict[str, dict[str, object]] = {}
    for path in sorted(out.glob("manifest*.jsonl")):
        text = path.read_text()
        good = []
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[record["name"]] = record
            good.append(line + "\n")
        if repair and "".join(good) != text:
            with atomic_write(path, overwrite=True) as tmp:
                tmp.write_text("".join(good))
    return done


def append_record(path: Path, record: dict[str, object]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _finish_manifest(out: Path, shard: Shard, plans: Sequence[SamplePlan]) -> Path:
    """Rewrite this run's manifest sorted by index (an unsharded run takes in the shards' records too)."""
    done = read_manifests(out)
    mine = {p.name for p in plans if p.index % shard.count == shard.index}
    records = sorted((r for n, r in done.items() if n in mine), key=lambda r: r["index"])
    target = out / shard.manifest_name()
    with atomic_write(target, overwrite=True) as tmp:
        tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    if shard.count == 1:
        for stale in out.glob("manifest-*-of-*.jsonl"):
            stale.unlink()
    return target


@dataclass(frozen=True)
class JobReport:
    samples: int
    made: int
    skipped: int
    wall_s: float
    manifest: Path

    def to_dict(self) -> dict[str, object]:
        return {"samples": self.samples, "made": self.made, "skipped": self.skipped, "wall_s": round(self.wall_s, 2),
                "samples_per_s": round(self.made / self.wall_s, 4) if self.wall_s > 0 else None,
                "manifest": str(self.manifest)}  # fmt: skip


# -- workers ------------------------------------------------------------------------------------------------------

_WORKER: Synthesizer | None = None


def _init_worker(spec: JobSpec, out: Path, options: InferenceOptions, threads: int) -> None:
    global _WORKER
    torch.set_num_threads(threads)
    _WORKER = Synthesizer(spec, out, options)


def _work(plan: SamplePlan, frames: list[CameraImage]) -> dict[str, object]:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.write(plan, _WORKER.make(plan, frames))


def _threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


def run_job(
    spec: JobSpec,
    out: Path,
    options: InferenceOptions | None = None,
    shard: Shard = Shard(),
    workers: int = 0,
    backend: str = "local",
    progress: bool = True,
    on_record: Callable[[dict[str, object]], None] | None = None,
) -> JobReport:
    """Make every sample of ``spec`` in ``shard`` that ``out`` does not hold yet.

    ``workers`` 0 runs in this process; N >= 1 runs N worker processes (``backend="local"``) or N Ray actors
    (``backend="ray"``, on the cluster ``ray.init`` finds, or a local instance), each with the ISPs loaded once.
    The main process reads inputs (one window of frames at a time per worker in flight) and keeps the manifest.
    """
    options = options or InferenceOptions()
    if backend not in BACKENDS:
        raise BadInputError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    plans = plan_samples(spec.inputs, spec.window)
    main = Synthesizer(spec, out, options)
    prepare_output(out, spec.identity(main.camera, main.isp))
    done = read_manifests(out, repair=True)
    todo = [p for p in plans if p.index % shard.count == shard.index and p.name not in done]
    total = sum(1 for p in plans if p.index % shard.count == shard.index)
    manifest = out / shard.manifest_name()
    t0 = time.perf_counter()
    bar = tqdm(total=len(todo), desc="synth-blur", unit="sample", disable=not progress, dynamic_ncols=True)

    def record(r: dict[str, object]) -> None:
        append_record(manifest, r)
        if on_record:
            on_record(r)
        bar.update(1)
        bar.set_postfix_str(f"{bar.n / max(time.perf_counter() - t0, 1e-9):.2f} samples/s")

    stream = read_samples(todo)
    if workers == 0:
        for plan, frames in stream:
            record(main.write(plan, main.make(plan, frames)))
    elif backend == "local":
        _run_pool(stream, spec, out, options, workers, record)
    else:
        _run_ray(stream, spec, out, options, workers, record)
    bar.close()
    target = _finish_manifest(out, shard, plans)
    return JobReport(total, len(todo), total - len(todo), time.perf_counter() - t0, target)


def _bounded(
    stream: Iterator[tuple[SamplePlan, list[CameraImage]]],
    submit: Callable[[SamplePlan, list[CameraImage]], object],
    wait: Callable[[set], tuple[set, set]],
    result: Callable[[object], dict[str, object]],
    limit: int,
    record: Callable[[dict[str, object]], None],
) -> None:
    """Keep at most ``limit`` samples in flight, so memory holds a few windows whatever the clip's length."""
    pending: set = set()
    for plan, frames in stream:
        pending.add(submit(plan, frames))
        while len(pending) >= limit:
            finished, pending = wait(pending)
            for f in finished:
                record(result(f))
    while pending:
        finished, pending = wait(pending)
        for f in finished:
            record(result(f))


def _run_pool(stream, spec: JobSpec, out: Path, options: InferenceOptions, workers: int, record) -> None:
    context = multiprocessing.get_context("spawn")  # torch and fork do not mix
    with cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                initargs=(spec, out, options, _threads_per_worker(workers))) as pool:  # fmt: skip

        def wait(pending: set) -> tuple[set, set]:
            done, rest = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            return done, rest

        _bounded(stream, lambda p, f: pool.submit(_work, p, f), wait, lambda f: f.result(), 2 * workers, record)


def _run_ray(stream, spec: JobSpec, out: Path, options: InferenceOptions, workers: int, record) -> None:
    try:
        import ray
    except ImportError:
        raise BadInputError("the Ray backend needs Ray: pip install 'paramisp[ray]'") from None
    if not ray.is_initialized():
        ray.init(num_cpus=None, include_dashboard=False, log_to_driver=False)
    threads = _threads_per_worker(workers)

    @ray.remote(num_cpus=threads)
    class SynthActor:
        def __init__(self) -> None:
            _init_worker(spec, out, options, threads)

        def work(self, plan: SamplePlan, frames: list[CameraImage]) -> dict[str, object]:
            return _work(plan, frames)

    actors = [SynthActor.remote() for _ in range(workers)]
    free = list(range(workers))
    owner: dict[object, int] = {}

    def submit(plan: SamplePlan, frames: list[CameraImage]) -> object:
        actor = free.pop(0)
        ref = actors[actor].work.remote(plan, frames)
        owner[ref] = actor
        return ref

    def wait(pending: set) -> tuple[set, set]:
        ready, rest = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            free.append(owner.pop(ref))
        return set(ready), set(rest)

    _bounded(stream, submit, wait, ray.get, workers, record)
