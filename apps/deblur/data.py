"""Training pairs for the deblurring network, held in memory in the network's own channels.

Sources:

* a folder written by ``paramisp synth-blur --raw`` (:mod:`apps.dataset_synth.dataset`): RAW pairs (``raw_blurry/``
  and ``raw_sharp/`` DNGs, packed into Bayer planes) or sRGB pairs (``blurry/`` and ``sharp/``), with the blurry
  shot's ISO from ``manifest.jsonl``. A RAW folder may also hold ``raw_blurry_inverse/``: the camera's inverse ISP
  applied to the synthesised blurry sRGB, i.e. the RAW a *photo* reaches the network as (the inverse ISP returns a
  clean estimate of the mosaic, not the sensor's noise). By default a RAW set takes both kinds of blurry input
  against the same sharp RAW, so one network serves RAW files and photos;
* sRGB-averaged blur, as the GoPro and REDS datasets are made: the mean of consecutive sRGB frames, the centre frame
  as its sharp target (:func:`srgb_average`), or of a sharp photo's copies moved along a shake path, the photo as its
  target (:func:`srgb_shaken_average`), written in the same layout by :func:`write_pair`.

Crops are drawn at random positions aligned to whole Bayer cells (packed planes are cropped, so a crop of ``c`` image
pixels is ``c / 2`` plane pixels and starts on an even mosaic row and column), from one generator: the same seed
gives the same batches.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from apps.dataset_synth.dataset import MANIFEST, append_record, read_manifests
from apps.deblur.model import Domain
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.image import CameraImage
from core_isp.io.image_reader import read_image
from core_isp.io.raw_reader import read_raw
from core_isp.io.writers import write_image
from core_isp.raw_domain import pack_bayer
from core_isp.simulation.blur_capture import warp_scene
from core_isp.simulation.shake import ShakePath

#: The folders a domain's blurry inputs may come from, and its sharp targets' folder.
BLURRY_DIRS: dict[Domain, tuple[str, ...]] = {"raw": ("raw_blurry", "raw_blurry_inverse"), "srgb": ("blurry",)}
SHARP_DIR: dict[Domain, str] = {"raw": "raw_sharp", "srgb": "sharp"}
INVERSE_DIR = "raw_blurry_inverse"


@dataclass(frozen=True)
class PairSet:
    """Aligned pairs in the network's channels: each ``(C, h, w)`` (4 packed planes or 3 sRGB), ISO ``(N,)``, and
    ``gains`` ``(N, C)``: what the render multiplies each channel by before its curve (a RAW pair's white balance on
    its planes R, Gr, Gb, B, green 1; ones for sRGB, or where not known)."""

    domain: Domain
    blurry: tuple[torch.Tensor, ...]
    sharp: tuple[torch.Tensor, ...]
    iso: torch.Tensor
    names: tuple[str, ...]
    gains: torch.Tensor

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, indices: Sequence[int]) -> PairSet:
        return PairSet(self.domain, tuple(self.blurry[i] for i in indices), tuple(self.sharp[i] for i in indices),
                       self.iso[list(indices)], tuple(self.names[i] for i in indices),
                       self.gains[list(indices)])  # fmt: skip

    @staticmethod
    def concat(sets: Sequence[PairSet]) -> PairSet:
        if not sets or len({s.domain for s in sets}) != 1:
            raise BadInputError("pair sets to join must be one or more of one domain")
        return PairSet(sets[0].domain, tuple(t for s in sets for t in s.blurry),
                       tuple(t for s in sets for t in s.sharp), torch.cat([s.iso for s in sets]),
                       tuple(n for s in sets for n in s.names),
                       torch.cat([s.gains for s in sets]))  # fmt: skip


def _read(path: Path, domain: Domain) -> tuple[torch.Tensor, float | None, torch.Tensor]:
    """One file as the network sees it ``(C, h, w)``, the ISO it records and its channel gains ``(C,)`` (a RAW's
    white balance on the planes R, Gr, Gb, B; ones for sRGB or a RAW without white balance)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)  # synthesised files lack lens EXIF; the manifest has the shot
        if domain == "raw":
            raw = read_raw(path)
            r, g, b = raw.meta.wb_gains or (1.0, 1.0, 1.0)
            gains = torch.tensor([r, g, g, b]) / g
            return pack_bayer(raw.pixels, raw.metadata)[0], raw.meta.iso, gains
        photo = read_image(path, to="sensor")
    return photo.pixels[0], photo.meta.iso, torch.ones(3)


def read_pair_folder(root: str | Path, domain: Domain, blurry_dirs: Sequence[str] | None = None) -> PairSet:
    """Every finished sample of a synth-blur folder (or one :func:`write_pair` wrote) as pairs.

    ``blurry_dirs`` (default: those of :data:`BLURRY_DIRS` the folder has) each give one pair per sample against
    the same sharp target. The ISO is the manifest's blurry shot's, else the file's.
    """
    root = Path(root)
    records = read_manifests(root)
    if not records:
        raise BadInputError(f"{root}: no finished samples (no {MANIFEST} records)")
    dirs = [d for d in BLURRY_DIRS[domain] if (root / d).is_dir()] if blurry_dirs is None else list(blurry_dirs)
    missing = [d for d in [*dirs, SHARP_DIR[domain]] if not (root / d).is_dir()]
    if not dirs or missing:
        raise BadInputError(f"{root}: no {domain} pairs here (missing {', '.join(missing) or 'blurry folders'})")
    suffix = ".dng" if domain == "raw" else ".png"
    blurry, sharp, isos, names, gains = [], [], [], [], []
    for name, record in sorted(records.items()):
        target, file_iso, target_gains = _read(root / SHARP_DIR[domain] / f"{name}{suffix}", domain)
        iso = record.get("shot", {}).get("iso") or file_iso  # type: ignore[union-attr]
        if iso is None:
            raise BadInputError(f"{root}: sample {name} records no ISO")
        for folder in dirs:
            image, _, _ = _read(root / folder / f"{name}{suffix}", domain)
            if image.shape != target.shape:
                raise BadInputError(f"{root}: {folder}/{name} and its sharp target differ in size")
            blurry.append(image)
            sharp.append(target)
            isos.append(float(iso))
            names.append(f"{root.name}/{folder}/{name}")
            gains.append(target_gains)
    return PairSet(domain, tuple(blurry), tuple(sharp), torch.tensor(isos), tuple(names), torch.stack(gains))


def read_pairs(roots: Sequence[str | Path], domain: Domain, blurry_dirs: Sequence[str] | None = None) -> PairSet:
    """:func:`read_pair_folder` over several folders, joined."""
    return PairSet.concat([read_pair_folder(r, domain, blurry_dirs) for r in roots])


def data_hash(roots: Sequence[str | Path]) -> str:
    """SHA-256 of the folders' manifests: what a set of weights was trained on."""
    digest = hashlib.sha256()
    for root in roots:
        for manifest in sorted(Path(root).glob("manifest*.jsonl")):
            digest.update(manifest.read_bytes())
    return digest.hexdigest()


def random_crops(
    pairs: PairSet, batch: int, crop_px: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``batch`` aligned crops of ``crop_px`` image pixels (even): blurry and sharp ``(B, C, c, c)``, ISO ``(B,)``
    and the pairs' channel gains ``(B, C)``.

    ``c`` is ``crop_px / 2`` for packed planes. Pairs are drawn uniformly, positions uniformly within each pair.
    """
    if crop_px % 2:
        raise BadInputError(f"crops must be whole Bayer cells: an even size, got {crop_px}")
    c = crop_px // 2 if pairs.domain == "raw" else crop_px
    picks = torch.randint(len(pairs), (batch,), generator=generator).tolist()
    blurry, sharp = [], []
    for i in picks:
        h, w = pairs.blurry[i].shape[-2:]
        if h < c or w < c:
            raise BadInputError(f"{pairs.names[i]}: {h}x{w} is smaller than a crop of {c}x{c}")
        y = int(torch.randint(h - c + 1, (1,), generator=generator))
        x = int(torch.randint(w - c + 1, (1,), generator=generator))
        blurry.append(pairs.blurry[i][:, y : y + c, x : x + c])
        sharp.append(pairs.sharp[i][:, y : y + c, x : x + c])
    return torch.stack(blurry), torch.stack(sharp), pairs.iso[picks], pairs.gains[picks]


def srgb_average(frames: Sequence[CameraImage]) -> tuple[CameraImage, CameraImage]:
    """Consecutive sRGB frames (each ``(1, 3, H, W)``) -> the sRGB-averaged pair ``(blurry, sharp)``.

    The blurry image is the mean of the frames' sRGB pixels (the GoPro/REDS construction), the sharp one the centre
    frame. The blurry image's ISO is the centre frame's over the frame count: averaging N frames divides their noise
    variance by N, as an N-times lower ISO would for shot noise, so the noise condition says what the image holds.
    """
    if len(frames) < 2 or len({f.size_hw for f in frames}) != 1:
        raise BadInputError("sRGB averaging needs two or more frames of one size")
    centre = frames[len(frames) // 2]
    iso = centre.meta.iso / len(frames) if centre.meta.iso is not None else None
    blurry = CameraImage(torch.cat([f.pixels for f in frames]).mean(dim=0, keepdim=True),
                         (centre.meta.replace(iso=iso),), "srgb")  # fmt: skip
    return blurry, centre


def srgb_shaken_average(photo: CameraImage, path: ShakePath) -> tuple[CameraImage, CameraImage]:
    """A sharp sRGB photo ``(1, 3, H, W)`` -> the sRGB-averaged pair ``(blurry, photo)`` for a shake path.

    The blurry image is the mean of the photo's sRGB pixels moved to each instant of the path (the warps of
    :func:`apps.dataset_synth.synth.shake_photo`, on sRGB instead of RAW); it keeps the photo's ISO, since every copy
    carries the same noise.
    """
    moved = warp_scene(photo.pixels[0].double(), path.affines(photo.size_hw)).mean(dim=0, keepdim=True)
    return photo.with_pixels(moved.to(photo.pixels.dtype)), photo


def write_pair(out: str | Path, name: str, blurry: CameraImage, sharp: CameraImage, record: dict[str, object]) -> None:
    """Write one sRGB pair in synth-blur's layout (``blurry/NAME.png``, ``sharp/NAME.png``) and its manifest line
    (``name``, ``shot`` with the blurry image's ISO, and ``record``), the line last, as synth-blur does."""
    out = Path(out)
    for folder, image in (("blurry", blurry), ("sharp", sharp)):
        (out / folder).mkdir(parents=True, exist_ok=True)
        write_image(out / folder / f"{name}.png", image.pixels[0], overwrite=True)
    append_record(out / MANIFEST, {"name": name, "shot": {"iso": blurry.meta.iso}, **record})
