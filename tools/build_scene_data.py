"""Build the bundled scene files from the workplace's shared/data (run once; the outputs are committed).

HDR maps are area-downscaled to at most 768 px on the long side and stored as half-float PIZ
OpenEXR; photos are copied as they are; real RAW files become linear scenes the same way: the canonical
demosaic, the file's own white balance and colour matrix to linear sRGB (no tone curve, no highlight rescale:
what the sensor clipped stays flat at its clip level), then the same downscale and EXR. Provenance and
licences: core_isp/simulation/scene_data/SOURCES.md.

    python tools/build_scene_data.py ../shared/data
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import OpenEXR
import torch

from core_isp.canonical import CanonicalParams, apply_ccm, apply_wb, demosaic
from core_isp.io.hdr_reader import read_hdr_image
from core_isp.io.raw_reader import read_raw

OUT = Path(__file__).resolve().parents[1] / "core_isp" / "simulation" / "scene_data"
HDR = {
    "hdr/polyhaven_1k/kiara_1_dawn_1k.hdr": "kiara_1_dawn.exr",
    "hdr/polyhaven_1k/potsdamer_platz_1k.hdr": "potsdamer_platz.exr",
    "hdr/polyhaven_1k/st_fagans_interior_1k.hdr": "st_fagans_interior.exr",
    "hdr/polyhaven_1k/venice_sunset_1k.hdr": "venice_sunset.exr",
    "hdr/openexr/Cannon.exr": "cannon.exr",
    "hdr/openexr/Desk.exr": "desk.exr",
    "hdr/openexr/MtTamWest.exr": "mt_tam_west.exr",
}
PHOTOS = {
    "exif/imagemeta_gopro_hero4.jpg": "gopro_hero4.jpg",
    "exif/exif-samples/exif-org/nikon-e950.jpg": "nikon_e950.jpg",
    "exif/exif-samples/gps/DSCN0010.jpg": "coolpix_p6000.jpg",
    "exif/exif-samples/exif-org/fujifilm-dx10.jpg": "fujifilm_dx10.jpg",
    "exif/exif-samples/exif-org/canon-ixus.jpg": "canon_ixus.jpg",
    "exif/exif-samples/exif-org/kodak-dc240.jpg": "kodak_dc240.jpg",
    "exif/exif-samples/exif-org/sony-d700.jpg": "sony_d700.jpg",
}
RAWS = {
    "raw/canon_eos_d30.crw": "canon_eos_d30.exr",
    "raw/canon_550d_magiclantern_colorchart.dng": "canon_550d_colorchart.exr",
}
MAX_SIDE = 768


def raw_to_linear_srgb(path: Path) -> torch.Tensor:
    """A Bayer RAW file as linear sRGB ``(1, 3, H, W)``, white-balanced by its own metadata."""
    image = read_raw(path)
    params = CanonicalParams.from_metadata(image.metadata)
    rgb = demosaic(image.pixels.clamp(min=0.0), params.cfa, "malvar")
    return apply_ccm(apply_wb(rgb, params.wb_gains), params.ccm).clamp(min=0.0)


def write_linear_exr(linear: torch.Tensor, path: Path) -> None:
    """``(1, 3, H, W)`` linear RGB, area-downscaled to :data:`MAX_SIDE`, as half-float PIZ OpenEXR."""
    factor = max(linear.shape[-2:]) / MAX_SIDE
    if factor > 1:
        linear = torch.nn.functional.interpolate(linear, scale_factor=1 / factor, mode="area")
    arr = np.ascontiguousarray(linear[0].permute(1, 2, 0).numpy().astype(np.float16))
    header = {"compression": OpenEXR.PIZ_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {"RGB": arr}).write(str(path))
    print(path.name, arr.shape)


def main(shared: Path) -> None:
    for folder in ("hdr", "photos", "raw"):
        (OUT / folder).mkdir(parents=True, exist_ok=True)
    for src, dst in HDR.items():
        write_linear_exr(read_hdr_image(shared / src).pixels.clamp(min=0.0), OUT / "hdr" / dst)
    for src, dst in RAWS.items():
        write_linear_exr(raw_to_linear_srgb(shared / src), OUT / "raw" / dst)
    for src, dst in PHOTOS.items():
        shutil.copyfile(shared / src, OUT / "photos" / dst)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
