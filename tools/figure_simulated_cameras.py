"""Figure for docs/simulated-cameras.md: one scene rendered by one profile across ISO and exposure time.

python tools/figure_simulated_cameras.py [docs/figures/iso_exposure_grid.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from core_isp.simulation.exposure import ShotSettings
from core_isp.simulation.profiles import get_profile
from core_isp.simulation.render import render_shot
from core_isp.simulation.scenes import load_manifest, sample_scene

ISOS = (100, 800, 6400)
TIMES = (1 / 2000, 1 / 250, 1 / 30, 1 / 4)


def main(out: Path) -> None:
    profile = get_profile("nikon-d7000")
    source = next(s for s in load_manifest() if s.source_id == "hdr:venice_sunset")
    scene = sample_scene(source, 256, 384, np.random.default_rng(4), luminance_cd_m2=40.0)
    fig, axes = plt.subplots(len(ISOS), len(TIMES), figsize=(3.2 * len(TIMES), 2.35 * len(ISOS)))
    for i, iso in enumerate(ISOS):
        for j, t in enumerate(TIMES):
            settings = ShotSettings(exposure_time_s=t, f_number=5.6, iso=float(iso), focal_length_mm=35.0,
                                    highlight_tone_priority=iso >= (profile.htp_min_iso or 1e9))  # fmt: skip
            shot = render_shot(profile, scene, seed=1, settings=settings, illuminant_cct_k=5200.0)
            ax = axes[i, j]
            ax.imshow(shot.camera_srgb[0].permute(1, 2, 0).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"1/{round(1 / t)} s" if t < 1 else f"{t:g} s")
            if j == 0:
                ax.set_ylabel(f"ISO {iso}" + (" (ADL)" if settings.highlight_tone_priority else ""))
    fig.suptitle("nikon-d7000@v1, f/5.6, one scene (40 cd/m²): the camera JPEG across ISO and exposure time")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    print(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/figures/iso_exposure_grid.png"))
