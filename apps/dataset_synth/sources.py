"""What a synthesis job reads: video clips, folders of frames and sharp photos, planned as named samples.

Planning is cheap (file listings and stream headers, no decoding), so a job knows every sample's name, index and
inputs before it starts: that is what makes shards, resumption and seeds independent of the order work is done
in. Reading streams: a video is decoded once, front to back, one window in memory at a time.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core_isp.errors import BadInputError, MetadataWarning
from core_isp.image import CameraImage
from core_isp.io.image_reader import read_image
from core_isp.io.metadata_reader import IMAGE_SUFFIXES
from core_isp.metadata import CameraMetadata

VIDEO_SUFFIXES = frozenset([".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"])


@dataclass(frozen=True)
class SamplePlan:
    """One sample to make: ``kind`` is ``frames`` (consecutive frames that add up to one exposure) or ``photo``."""

    index: int
    name: str
    kind: str
    #: The files read (one video, the frame files, or the photo).
    files: tuple[str, ...]
    #: For a video, the frame numbers of its window.
    frame_numbers: tuple[int, ...] = ()
    #: A video's frame interval, the frames' default exposure (s).
    frame_interval_s: float | None = None

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"kind": self.kind, "files": list(self.files)}
        if self.frame_numbers:
            d["frame_numbers"] = [self.frame_numbers[0], self.frame_numbers[-1]]
        return d


def video_info(path: Path) -> tuple[int, float]:
    """Frame count and frame rate of a video's first stream (from its headers; counted when they omit it)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise BadInputError(f"{path.name}: holds no video stream")
            stream = container.streams.video[0]
            rate = float(stream.average_rate or stream.guessed_rate or 0)
            count = stream.frames or sum(1 for _ in container.decode(video=0))
    except BadInputError:
        raise
    except Exception as e:  # PyAV raises its own error family for unreadable files
        raise BadInputError(f"{path.name}: cannot read as video ({str(e).splitlines()[0][:120]})") from None
    if rate <= 0 or count == 0:
        raise BadInputError(f"{path.name}: video without frames or frame rate")
    return count, rate


def plan_samples(inputs: Sequence[str | Path], window: int | None) -> list[SamplePlan]:
    """Every sample of a job, in input order.

    A video gives ``count // window`` samples of ``window`` consecutive frames (``window`` required), named
    ``<stem>_<k>``; a folder of frames gives one sample of all its frames in name order (named after the folder),
    or with ``window`` one per run of ``window`` frames; an image file is a sharp photo, blurred by a drawn shake.
    """
    if window is not None and window < 2:
        raise BadInputError(f"--window must be 2 or more frames, got {window}")
    plans: list[SamplePlan] = []

    def add(name: str, kind: str, files: Sequence[Path], numbers: Sequence[int] = (), interval: float | None = None):
        plans.append(SamplePlan(len(plans), name, kind, tuple(str(f) for f in files), tuple(numbers), interval))

    for spec in inputs:
        path = Path(spec)
        suffix = path.suffix.lower()
        if path.is_dir():
            frames = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            size = window or len(frames)
            if len(frames) < max(size, 2):
                raise BadInputError(f"{path}: {len(frames)} frame(s), too few for a window of {max(size, 2)}")
            for k in range(len(frames) // size):
                name = path.name if window is None else f"{path.name}_{k:05d}"
                add(name, "frames", frames[k * size : (k + 1) * size])
        elif path.is_file() and suffix in VIDEO_SUFFIXES:
            if window is None:
                raise BadInputError(f"{path.name}: a video needs --window (frames per blurry sample)")
            count, rate = video_info(path)
            if count < window:
                raise BadInputError(f"{path.name}: {count} frames, too few for a window of {window}")
            for k in range(count // window):
                add(f"{path.stem}_{k:05d}", "frames", [path], range(k * window, (k + 1) * window), 1.0 / rate)
        elif path.is_file() and suffix in IMAGE_SUFFIXES:
            add(path.stem, "photo", [path])
        elif path.exists():
            raise BadInputError(f"{spec}: not a video ({', '.join(sorted(VIDEO_SUFFIXES))}), image or folder")
        else:
            raise BadInputError(f"{spec}: no such file or folder")
    names = [p.name for p in plans]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise BadInputError(f"two inputs give samples of the same name ({', '.join(dup[:3])}): rename one")
    return plans


def _photo(path: Path) -> CameraImage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)  # missing EXIF is filled from documented defaults
        return read_image(path, to="sensor")


def _video_frame(rgb: np.ndarray) -> CameraImage:
    pixels = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
    return CameraImage(pixels, (CameraMetadata(image_size_hw=rgb.shape[:2], orientation=1),), "srgb")


def read_samples(plans: Sequence[SamplePlan]) -> Iterator[tuple[SamplePlan, list[CameraImage]]]:
    """The frames of each plan, in plan order; a video is decoded once, front to back, for all its plans."""
    import av

    i = 0
    while i < len(plans):
        plan = plans[i]
        if not plan.frame_numbers:
            yield plan, [_photo(Path(f)) for f in plan.files]
            i += 1
            continue
        video = [p for p in plans[i:] if p.files == plan.files and p.frame_numbers]
        wanted = {n: p for p in video for n in p.frame_numbers}
        window: list[CameraImage] = []
        try:
            with av.open(plan.files[0]) as container:
                for number, frame in enumerate(container.decode(video=0)):
                    owner = wanted.get(number)
                    if owner is None:
                        continue
                    window.append(_video_frame(frame.to_ndarray(format="rgb24")))
                    if number == owner.frame_numbers[-1]:
                        yield owner, window
                        window = []
                    if number >= video[-1].frame_numbers[-1]:
                        break
        except Exception as e:
            if isinstance(e, BadInputError | GeneratorExit):
                raise
            reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
            raise BadInputError(f"{Path(plan.files[0]).name}: decoding failed ({reason})") from None
        i += len(video)
