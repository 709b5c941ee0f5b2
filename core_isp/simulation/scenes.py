"""Linear scenes for the simulated cameras: real HDR radiance maps, real RAW files developed to linear
sRGB, sRGB photos brought to linear, and procedural dead-leaves scenes.

A scene is linear sRGB (D65) radiance with an absolute scale: its log-average luminance is
``luminance_cd_m2``. Scenes come from *sources*; train/val/test splits are by source (a whole map,
a whole photo, a whole RAW file, a whole clip, a range of dead-leaves seeds), never by crop — see
``scene_manifest.json`` beside this module.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from core_isp.canonical.tone import srgb_decode
from core_isp.errors import BadInputError
from core_isp.io.checksums import file_sha256
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
    #: "hdr" (a radiance map), "raw" (a real RAW file as linear sRGB, stored as EXR: real sensor light, but
    #: flat where that sensor clipped, so not HDR ground truth), "photo", "video" or "deadleaves".
    kind: str
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
    return file_sha256(Path(path) if path else scene_data_dir() / "manifest.json")


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


def dead_leaves(height: int, width: int, seed: int) -> np.ndarray:
    """A procedural dead-leaves scene ``(3, H, W)`` float32, relative linear radiance.

    Occluding disks with a power-law radius distribution (p(r) ~ r^-3, the scale-invariant
    statistics of natural images), reflectance-like colours, per-leaf shading gradients and fine
    gratings (so demosaicing meets real aliasing), under a smooth illumination gradient, plus a few
    emissive light sources 8-64x brighter than white (clipped highlights, as in real scenes).

    Rendered in one vectorised pass: every (leaf, pixel) pair inside the leaves' bounding boxes is
    listed, and each pixel takes the front-most leaf covering it; enough leaves are drawn for their
    areas to add up to six times the image, and what none covers shows the background surface.
    """
    rng = np.random.default_rng(seed)
    r_min, r_max = max(2.0, min(height, width) / 150), max(height, width) / 3
    # Mean disk area under p(r) ~ r^-3 on [r_min, r_max]: pi * 2 r_min^2 ln(r_max / r_min) / (1 - (r_min/r_max)^2).
    mean_area = math.pi * 2 * r_min**2 * math.log(r_max / r_min) / (1 - (r_min / r_max) ** 2)
    n = int(6 * height * width / mean_area) + 8
    u = rng.random(n)
    r = (r_min**-2 - u * (r_min**-2 - r_max**-2)) ** -0.5
    n_lights = int(rng.integers(0, 4))
    r[:n_lights] = np.minimum(r[:n_lights], max(height, width) / 20)  # leaves 0..n_lights-1 are in front
    cy = rng.uniform(-r, height + r)
    cx = rng.uniform(-r, width + r)
    colours = _leaf_colours(rng, n)
    colours[:n_lights] *= rng.uniform(8.0, 64.0, size=(n_lights, 1))
    slope, slope_angle = rng.uniform(-0.3, 0.3, n), rng.uniform(0, 2 * math.pi, n)
    grating = np.where(rng.random(n) < 0.3, rng.uniform(0.1, 0.5, n), 0.0)
    grating[:n_lights] = 0.0
    period, grating_angle = rng.uniform(2.0, 12.0, n), rng.uniform(0, math.pi, n)

    # Every (leaf, pixel) pair inside each leaf's bounding box.
    y0 = np.clip(np.floor(cy - r), 0, height).astype(np.int64)
    y1 = np.clip(np.ceil(cy + r) + 1, 0, height).astype(np.int64)
    x0 = np.clip(np.floor(cx - r), 0, width).astype(np.int64)
    x1 = np.clip(np.ceil(cx + r) + 1, 0, width).astype(np.int64)
    bw = x1 - x0
    counts = (y1 - y0) * bw
    leaf = np.repeat(np.arange(n), counts)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    ys = y0[leaf] + local // bw[leaf]
    xs = x0[leaf] + local % bw[leaf]
    inside = (ys - cy[leaf]) ** 2 + (xs - cx[leaf]) ** 2 <= r[leaf] ** 2
    leaf, ys, xs = leaf[inside], ys[inside], xs[inside]
    # The front-most (lowest-numbered) leaf wins each pixel.
    front = torch.full((height * width,), n, dtype=torch.int64)
    front.scatter_reduce_(0, torch.from_numpy(ys * width + xs), torch.from_numpy(leaf), reduce="amin")
    front = front.numpy().reshape(height, width)

    covered = front < n
    k = np.where(covered, front, 0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    dy, dx = yy - cy[k], xx - cx[k]
    shade = 1.0 + slope[k] * (dx * np.cos(slope_angle[k]) + dy * np.sin(slope_angle[k])) / np.maximum(r[k], 1.0)
    phase = (dx * np.cos(grating_angle[k]) + dy * np.sin(grating_angle[k])) * 2 * math.pi / period[k]
    shade = np.maximum(shade * (1.0 + grating[k] * np.sin(phase)), 0.05)
    img = colours[k].transpose(2, 0, 1) * shade[None]
    img[:, ~covered] = _leaf_colours(rng, 1)[0][:, None]
    # A smooth illumination gradient across the scene (light falling off from one side).
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (xx * math.cos(angle) + yy * math.sin(angle)) / max(height, width)
    illumination = 2.0 ** (rng.uniform(0.5, 2.5) * (ramp - ramp.mean()))
    return (img * illumination[None]).astype(np.float32)


def _leaf_colours(rng: np.random.Generator, n: int) -> np.ndarray:
    """Linear RGB ``(n, 3)`` of diffuse surfaces: log-uniform luminance 2-90 %, mostly muted chroma."""
    lum = np.exp(rng.uniform(math.log(0.02), math.log(0.9), n))
    direction = rng.normal(size=(n, 3))
    direction -= direction.mean(axis=1, keepdims=True)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True) + 1e-9
    chroma = rng.beta(1.2, 3.0, n) * 1.5
    rgb = np.maximum(1.0 + chroma[:, None] * direction, 0.02)
    return (rgb * (lum / (rgb @ _LUMA))[:, None]).astype(np.float32)


# -- file sources -----------------------------------------------------------------------------------


def load_source_image(source: SceneSource, root: Path | None = None) -> np.ndarray:
    """Linear RGB ``(3, H, W)`` float32 of a file source (HDR map or RAW scene, or photo decoded from sRGB)."""
    if source.file is None:
        raise BadInputError(f"{source.source_id}: not a file source")
    path = (root or scene_data_dir()) / source.file
    if not path.is_file():
        raise BadInputError(f"{source.source_id}: scene file {path} is missing")
    if source.kind in ("hdr", "raw"):
        chw = np.maximum(read_hdr_image(path).pixels[0].numpy(), 0.0)
    elif source.kind == "photo":
        from core_isp.io.image_reader import read_image

        # Display-referred pixels brought back to linear by inverting the sRGB encoding.
        return srgb_decode(read_image(path).pixels)[0].numpy()
    else:
        raise BadInputError(f"{source.source_id}: unknown scene kind {source.kind!r}")
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


#: Log-average luminance of the apps' evaluation views, cd/m^2: dim interiors, where auto-exposure raises the ISO,
#: to daylight.
VIEW_LUMINANCE_CD_M2 = (2.0, 2000.0)


def draw_view(
    sources: list[SceneSource],
    rng: np.random.Generator,
    size_hw: tuple[int, int],
    image_cache: dict[str, np.ndarray] | None = None,
) -> Scene:
    """One evaluation view: a source drawn uniformly from ``sources`` (each source, dead leaves included, gets the
    same expected share), log-average luminance log-uniform in :data:`VIEW_LUMINANCE_CD_M2`. The benchmarks of the
    apps all draw their test scenes through it."""
    source = sources[int(rng.integers(len(sources)))]
    lo, hi = VIEW_LUMINANCE_CD_M2
    luminance = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return sample_scene(source, *size_hw, rng, luminance, image_cache=image_cache)


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
