"""Build the bundled scene files from the workplace's shared/data (run once; the outputs are committed).

HDR maps are area-downscaled to at most 768 px on the long side and stored as half-float PIZ
OpenEXR; photos are copied as they are. Provenance and licences: core_isp/simulation/scene_data/SOURCES.md.

    python tools/build_scene_data.py ../shared/data
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import OpenEXR
import torch

from core_isp.io.hdr_reader import read_hdr_image

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
}
MAX_SIDE = 768


def main(shared: Path) -> None:
    (OUT / "hdr").mkdir(parents=True, exist_ok=True)
    (OUT / "photos").mkdir(parents=True, exist_ok=True)
    for src, dst in HDR.items():
        t = read_hdr_image(shared / src).pixels.clamp(min=0.0)
        factor = max(t.shape[-2:]) / MAX_SIDE
        if factor > 1:
            t = torch.nn.functional.interpolate(t, scale_factor=1 / factor, mode="area")
        arr = np.ascontiguousarray(t[0].permute(1, 2, 0).numpy().astype(np.float16))
        header = {"compression": OpenEXR.PIZ_COMPRESSION, "type": OpenEXR.scanlineimage}
        OpenEXR.File(header, {"RGB": arr}).write(str(OUT / "hdr" / dst))
        print(dst, arr.shape)
    for src, dst in PHOTOS.items():
        shutil.copyfile(shared / src, OUT / "photos" / dst)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
