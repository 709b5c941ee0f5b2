"""Linear scenes for the simulated cameras: real HDR radiance maps, sRGB photos brought to linear,
and procedural dead-leaves scenes.

A scene is linear sRGB (D65) radiance with an absolute scale: its log-average luminance is
``luminance_cd_m2``. Scenes come from *sources*; train/val/test splits are by source (a whole map,
a whole photo, a whole clip, a range of dead-leaves seeds), never by crop — see
``scene_manifest.json`` beside this module.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from core_isp.canonical.tone import srgb_decode
from core_isp.errors import BadInputError
from core_isp.io.hdr_reader import read_hdr_image

_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Scene:
    """Linear sRGB radiance ``(3, H, W)`` float32, whose log-average luminance is ``luminance_cd_m2``."""

    linear_rgb: torch.Tensor
    luminance_cd_m2: float
    source_id: str


@dataclass(frozen=True)
class SceneSource:
    """One source of scenes and its split. File sources carry a path relative to the scene data
    folder and its SHA-256; dead-leaves sources carry a seed range."""

    source_id: str
    kind: str  # "hdr", "photo", "video" or "deadleaves"
    split: str
    file: str | None = None
    sha256: str | None = None
    seed_range: tuple[int, int] | None = None
    #: Equirectangular maps: keep this fraction of rows around the horizon (the poles are stretched).
    equirect: bool = False


def scene_data_dir() -> Path:
    """Folder holding the bundled scene files (package data)."""
    return Path(str(resources.files("core_isp.simulation") / "scene_data"))


def load_manifest(path: str | Path | None = None) -> list[SceneSource]:
    """The committed scene manifest (or another one)."""
    p = Path(path) if path else scene_data_dir() / "manifest.json"
    entries = json.loads(p.read_text())["sources"]
    out = []
    for e in entries:
        if e["split"] not in SPLITS:
            raise BadInputError(f"manifest: unknown split {e['split']!r} for {e['source_id']}")
        if e.get("seed_range") is not None:
            e["seed_range"] = tuple(e["seed_range"])
        out.append(SceneSource(**e))
    return out


def manifest_hash(path: str | Path | None = None) -> str:
    """SHA-256 of the manifest file: recorded in checkpoints as the data-manifest hash."""
    p = Path(path) if path else scene_data_dir() / "manifest.json"
    return hashlib.sha256(p.read_bytes()).hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def luminance(rgb: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Linear sRGB -> relative luminance Y, over the channel axis (0 for ``(3, H, W)``)."""
    if isinstance(rgb, torch.Tensor):
        return (rgb * torch.from_numpy(_LUMA).to(rgb).view(3, 1, 1)).sum(0)
    return np.tensordot(_LUMA, rgb, axes=(0, 0))


def log_average(rgb: np.ndarray | torch.Tensor) -> float:
    """Log-average luminance (the usual "key" of a scene) of linear RGB ``(3, H, W)``."""
    y = luminance(rgb)
    y = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y, dtype=np.float64)
    return float(np.exp(np.log(np.maximum(y, 1e-6)).mean()))


# -- dead leaves ----------------------------------------------------------------------------------


def dead_leaves(height: int, width: int, seed: int, max_leaves: int = 20000) -> np.ndarray:
    """A procedural dead-leaves scene ``(3, H, W)`` float32, relative linear radiance.

    Occluding disks with a power-law radius distribution (p(r) ~ r^-3, the scale-invariant
    statistics of natural images), reflectance-like colours, per-leaf shading gradients and fine
    gratings (so demosaicing meets real aliasing), under a smooth illumination gradient, plus a few
    emissive light sources 8-64x brighter than white (clipped highlights, as in real scenes).
    """
    rng = np.random.default_rng(seed)
    img = np.zeros((3, height, width), dtype=np.float32)
    covered = np.zeros((height, width), dtype=bool)
    r_min, r_max = max(2.0, min(height, width) / 150), max(height, width) / 3
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)

    n_lights = int(rng.integers(0, 4))
    for i in range(max_leaves):
        is_light = i < n_lights
        u = rng.random()
        # Inverse CDF of p(r) ~ r^-3 on [r_min, r_max].
        r = (r_min**-2 - u * (r_min**-2 - r_max**-2)) ** -0.5
        if is_light:
            r = min(r, max(height, width) / 20)
        cy, cx = rng.uniform(-r, height + r), rng.uniform(-r, width + r)
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, height)
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, width)
        if y0 >= y1 or x0 >= x1:
            continue
        dy, dx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
        new = (dy * dy + dx * dx <= r * r) & ~covered[y0:y1, x0:x1]
        if not new.any():
            continue
        colour = _leaf_colour(rng) * (rng.uniform(8.0, 64.0) if is_light else 1.0)
        shade = 1.0 + rng.uniform(-0.3, 0.3) * (dx * math.cos(u * 6.283) + dy * math.sin(u * 6.283)) / max(r, 1.0)
        if not is_light and rng.random() < 0.3:
            period = rng.uniform(2.0, 12.0)
            angle = rng.uniform(0, math.pi)
            phase = (dx * math.cos(angle) + dy * math.sin(angle)) * 2 * math.pi / period
            shade = shade * (1.0 + rng.uniform(0.1, 0.5) * np.sin(phase))
        patch = colour[:, None, None] * np.maximum(shade, 0.05)[None]
        img[:, y0:y1, x0:x1] = np.where(new[None], patch, img[:, y0:y1, x0:x1])
        covered[y0:y1, x0:x1] |= new
        if i % 64 == 0 and covered.all():
            break
    # Whatever no leaf reached shows the background surface.
    img[:, ~covered] = _leaf_colour(rng)[:, None]
    # A smooth illumination gradient across the scene (light falling off from one side).
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (xx * math.cos(angle) + yy * math.sin(angle)) / max(height, width)
    illumination = 2.0 ** (rng.uniform(0.5, 2.5) * (ramp - ramp.mean()))
    return (img * illumination[None]).astype(np.float32)


def _leaf_colour(rng: np.random.Generator) -> np.ndarray:
    """Linear RGB of a diffuse surface: log-uniform luminance 2-90 %, mostly muted chroma."""
    lum = math.exp(rng.uniform(math.log(0.02), math.log(0.9)))
    direction = rng.normal(size=3)
    direction -= direction.mean()
    direction /= np.linalg.norm(direction) + 1e-9
    chroma = rng.beta(1.2, 3.0) * 1.5
    rgb = np.maximum(1.0 + chroma * direction, 0.02)
    return (rgb * lum / float(_LUMA @ rgb)).astype(np.float32)


# -- file sources -----------------------------------------------------------------------------------


def load_source_image(source: SceneSource, root: Path | None = None) -> np.ndarray:
    """Linear RGB ``(3, H, W)`` float32 of a file source (HDR map, or photo decoded from sRGB)."""
    if source.file is None:
        raise BadInputError(f"{source.source_id}: not a file source")
    path = (root or scene_data_dir()) / source.file
    if not path.is_file():
        raise BadInputError(f"{source.source_id}: scene file {path} is missing")
    if source.kind == "hdr":
        hwc = np.maximum(read_hdr_image(path), 0.0)
    elif source.kind == "photo":
        from core_isp.io.image_reader import read_image

        srgb, _ = read_image(path)
        # Display-referred pixels brought back to linear by inverting the sRGB encoding.
        return srgb_decode(srgb)[0].numpy()
    else:
        raise BadInputError(f"{source.source_id}: unknown scene kind {source.kind!r}")
    chw = np.ascontiguousarray(hwc.transpose(2, 0, 1))
    if source.equirect:
        h = chw.shape[1]
        chw = chw[:, int(0.2 * h) : int(0.8 * h)]
    return chw


def video_frame(source: SceneSource, rng: np.random.Generator, root: Path | None = None) -> tuple[np.ndarray, int]:
    """A random frame of a video source as linear RGB ``(3, H, W)``, and its index."""
    import imageio.v3 as iio

    path = (root or scene_data_dir()) / str(source.file)
    try:
        n_frames = iio.improps(path, plugin="pyav").shape[0]
        index = int(rng.integers(0, n_frames))
        frame = iio.imread(path, plugin="pyav", index=index)
    except Exception as e:  # PyAV raises its own error types for unreadable streams
        raise BadInputError(f"{source.source_id}: cannot decode video ({e})") from None
    srgb = torch.from_numpy(frame.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    return srgb_decode(srgb)[0].numpy(), index


def source_for_file(path: str | Path, split: str = "train") -> SceneSource:
    """A scene source for a user's own file: HDR map, photo or video clip (by suffix)."""
    p = Path(path).resolve()
    suffix = p.suffix.lower()
    kind = "hdr" if suffix in (".exr", ".hdr") else "video" if suffix in (".mp4", ".mov", ".avi", ".mkv") else "photo"
    if not p.is_file():
        raise BadInputError(f"{path}: no such scene file")
    return SceneSource(source_id=f"{kind}:{p.stem}", kind=kind, split=split, file=str(p))


def sample_scene(
    source: SceneSource,
    height: int,
    width: int,
    rng: np.random.Generator,
    luminance_cd_m2: float,
    root: Path | None = None,
    image_cache: dict[str, np.ndarray] | None = None,
) -> Scene:
    """Draw one scene of ``height x width`` from a source, scaled to ``luminance_cd_m2`` log-average.

    File sources give a random crop (resized down first when much larger than the crop, so a crop
    shows a view rather than a texture patch) with a random horizontal flip; dead-leaves sources
    render a scene from a seed drawn in their range.
    """
    if source.kind == "deadleaves":
        lo, hi = source.seed_range or (0, 1 << 30)
        seed = int(rng.integers(lo, hi))
        rgb = dead_leaves(height, width, seed)
        sid = f"{source.source_id}:{seed}"
    elif source.kind == "video":
        frame, index = video_frame(source, rng, root)
        rgb = _random_view(frame, height, width, rng)
        sid = f"{source.source_id}@{index}"
    else:
        if image_cache is not None and source.source_id in image_cache:
            full = image_cache[source.source_id]
        else:
            full = load_source_image(source, root)
            if image_cache is not None:
                image_cache[source.source_id] = full
        rgb = _random_view(full, height, width, rng)
        sid = source.source_id
    scale = luminance_cd_m2 / max(log_average(rgb), 1e-6)
    return Scene(linear_rgb=torch.from_numpy(np.ascontiguousarray(rgb * scale, dtype=np.float32)),
                 luminance_cd_m2=luminance_cd_m2, source_id=sid)  # fmt: skip


def _random_view(full: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    _, h, w = full.shape
    t = torch.from_numpy(full)[None]
    # Zoom out by a random factor up to what still covers the crop, keeping at most 2x oversampling.
    max_down = min(h / height, w / width)
    if max_down < 1.0:
        up = 1.0 / max_down
        t = torch.nn.functional.interpolate(t, scale_factor=up * 1.001, mode="bilinear", align_corners=False)
    elif max_down > 2.0:
        factor = rng.uniform(1.0, max_down / 1.0)
        t = torch.nn.functional.interpolate(t, scale_factor=1.0 / factor, mode="area")
    _, _, h2, w2 = t.shape
    top = int(rng.integers(0, h2 - height + 1))
    left = int(rng.integers(0, w2 - width + 1))
    view = t[0, :, top : top + height, left : left + width].numpy()
    if rng.random() < 0.5:
        view = view[:, :, ::-1]
    return np.ascontiguousarray(view)
