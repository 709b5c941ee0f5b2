"""The shipped ISPs on real files: ``to-raw`` on every bundled camera JPEG, ``to-srgb`` on the Canon EOS D30.

    python -m benchmarks.check_real_files

``to-raw``: each DNG is opened by rawpy (LibRaw), exifread and, if installed, ``dcraw_emu``; the table says
whether each reads it, whether LibRaw's rendering is upright (its size is the photo's displayed size) and
whether the photo's exposure EXIF survived. ``to-srgb``: the rendering of the D30 RAW is carried onto its
camera JPEG's grid by the JPEG's registration; what is left is measured as a shift (phase correlation, JPEG
pixels) and a gradient correlation. Prints Markdown.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import rawpy
import tifffile
import torch
from PIL import Image
from skimage.registration import phase_cross_correlation

from core_isp.errors import MetadataWarning
from core_isp.io import find_camera_jpeg, read_raw, register_camera_jpeg
from core_isp.io.camera_jpeg import warp_raw_to_jpeg
from core_isp.io.exif import exposure_tag_text
from paramisp.machine import machine_line

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "tests" / "data" / "exif"
D30 = ROOT / "tests" / "data" / "raw" / "canon_eos_d30.crw"


def paramisp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "paramisp", *args], capture_output=True, text=True, cwd=ROOT)


def displayed_hw(photo: Path) -> tuple[int, int]:
    im = Image.open(photo)
    w, h = im.size
    return (w, h) if im.getexif().get(274, 1) >= 5 else (h, w)


def kept_cell(photo: Path, dng: Path) -> str:
    """Whether the DNG carries the photo's exposure tags unchanged, and which it adds (values the metadata
    reader found in other tags: maker notes, APEX values)."""
    source, written = exposure_tag_text(photo), exposure_tag_text(dng)
    if any(written.get(k) != v for k, v in source.items()):
        return "no"
    added = [k.split()[-1] for k in written if k not in source]
    return "yes" + (f" (adds {', '.join(added)}, read from other tags)" if added else "")


def dcraw_hw(dng: Path) -> tuple[int, int] | None:
    if shutil.which("dcraw_emu") is None:
        return None
    subprocess.run(["dcraw_emu", "-w", "-T", str(dng)], check=True, capture_output=True)
    rendered = Path(str(dng) + ".tiff")
    if not rendered.exists():  # dcraw_emu exits 0 without output for images under 22 pixels a side
        raise subprocess.CalledProcessError(0, "dcraw_emu")
    return tuple(tifffile.imread(rendered).shape[:2])  # type: ignore[return-value]


def to_raw_table(out: Path) -> None:
    res = paramisp("to-raw", str(PHOTOS), "-o", str(out), "--json")
    records = json.loads(res.stdout)
    print("| photo | displayed size | WB | rawpy | LibRaw upright | exifread: exposure EXIF kept | dcraw_emu |")
    print("|---|---|---|---|---|---|---|")
    for r in sorted(records, key=lambda r: r["file"]):
        photo = Path(r["file"])
        if not r["ok"]:
            print(f"| {photo.name} | — | — | not written: {r['error']} | | | |")
            continue
        dng = out / (photo.stem + ".dng")
        hw = displayed_hw(photo)
        try:
            with rawpy.imread(str(dng)) as raw:
                rgb = raw.postprocess(no_auto_bright=True)
                opened, upright = "yes", "yes" if rgb.shape[:2] == hw else f"no ({rgb.shape[:2]})"
        except rawpy.LibRawError as e:  # LibRaw opens no image under 22 pixels a side
            opened, upright = f"no ({type(e).__name__})", "—"
        kept = kept_cell(photo, dng)
        try:
            dcraw = dcraw_hw(dng)
            dcraw_cell = "not installed" if dcraw is None else ("upright" if dcraw == hw else f"{dcraw}")
        except subprocess.CalledProcessError:
            dcraw_cell = "no output"
        print(f"| {photo.name} | {hw[1]} x {hw[0]} | {r['wb_source']} | {opened} | {upright} | {kept} | {dcraw_cell} |")


def d30_registration(out: Path) -> None:
    png = out / "d30.png"
    res = paramisp("to-srgb", str(D30), "-o", str(png))
    if res.returncode:
        raise SystemExit(res.stderr)
    ours = torch.from_numpy(np.asarray(Image.open(png), dtype=np.float32) / 255).permute(2, 0, 1)[None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        raw = read_raw(D30)
    jpeg = find_camera_jpeg(D30)
    reg = register_camera_jpeg(raw, jpeg.image)
    a = warp_raw_to_jpeg(ours, reg)[0].mean(0).numpy()
    b = jpeg.image[0].mean(0).numpy()
    shift, _, _ = phase_cross_correlation(b, a, upsample_factor=20, normalization=None)
    corr = np.corrcoef(np.diff(a, axis=1).ravel(), np.diff(b, axis=1).ravel())[0, 1]
    said = res.stderr.strip().splitlines()[-1]
    print(f"\n`paramisp to-srgb` on the D30 ({ours.shape[-1]} x {ours.shape[-2]}; it said: {said}):"
          f" carried onto the camera JPEG by its registration, residual shift ({shift[0]:+.2f}, {shift[1]:+.2f})"
          f" JPEG px (rows, columns), horizontal-gradient correlation {corr:.3f}.")  # fmt: skip


def main() -> None:
    print(f"Machine: {machine_line()}\n")
    with tempfile.TemporaryDirectory() as tmp:
        to_raw_table(Path(tmp))
        d30_registration(Path(tmp))


if __name__ == "__main__":
    main()
