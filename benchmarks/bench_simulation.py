"""Rendering speed of the simulated cameras (ms per megapixel), per profile, on this machine.

python benchmarks/bench_simulation.py            # prints a Markdown table
"""

from __future__ import annotations

import time

import numpy as np

from core_isp.simulation.profiles import PROFILES
from core_isp.simulation.render import render_shot
from core_isp.simulation.scenes import load_manifest, sample_scene
from paramisp.machine import machine_line

SIZES = ((512, 768), (1024, 1536))
REPEATS = 3


def main() -> None:
    sources = {s.source_id: s for s in load_manifest()}
    print(f"Machine: {machine_line()}\n")
    print("| profile | size | scene sampling (ms/MP) | render_shot (ms/MP) |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(0)
    # Warm-up: imports, the scene file cache, first-call allocations.
    render_shot(PROFILES["nikon-d7000"], sample_scene(sources["hdr:mt_tam_west"], 64, 64, rng, 200.0), seed=0)
    for name, profile in PROFILES.items():
        for h, w in SIZES:
            mp = h * w / 1e6
            t_scene, t_render = [], []
            for r in range(REPEATS):
                t0 = time.perf_counter()
                scene = sample_scene(sources["hdr:mt_tam_west"], h, w, rng, 200.0)
                t1 = time.perf_counter()
                render_shot(profile, scene, seed=r)
                t2 = time.perf_counter()
                t_scene.append(t1 - t0)
                t_render.append(t2 - t1)
            print(
                f"| {name} | {h}x{w} | {1000 * np.median(t_scene) / mp:.0f} | {1000 * np.median(t_render) / mp:.0f} |"
            )
    mp = 512 * 768 / 1e6
    t0 = time.perf_counter()
    for seed in range(REPEATS):
        sample_scene(sources["deadleaves:train"], 512, 768, np.random.default_rng(seed), 200.0)
    print(f"\nDead-leaves scene generation, 512x768: {1000 * (time.perf_counter() - t0) / REPEATS / mp:.0f} ms/MP")


if __name__ == "__main__":
    main()
