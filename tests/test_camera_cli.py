"""A user's own camera through the command line only: camera add / list / show / remove, then --camera."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rawpy

TRACEBACK = "Traceback (most recent call last)"


def paramisp(*args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**__import__("os").environ, "PARAMISP_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "paramisp", *map(str, args)], capture_output=True, text=True,
                          timeout=900, env=env)  # fmt: skip


def simulate(folder: Path, profile: str, count: int, seed: int, home: Path) -> Path:
    res = paramisp("simulate", "-o", folder, "-p", profile, "-n", count, "--size", "256x384", "--split", "val",
                   "--seed", seed, home=home)  # fmt: skip
    assert res.returncode == 0, res.stderr
    return folder


@pytest.fixture(scope="module")
def folder_550d(tmp_path_factory) -> Path:
    """Six shots of the held-out body, as ``paramisp simulate`` writes a camera folder."""
    root = tmp_path_factory.mktemp("cam")
    return simulate(root / "550d", "canon-550d", 6, 3, home=root / "home")


@pytest.mark.slow
def test_camera_add_then_every_command_uses_it(folder_550d, tmp_path):
    home = tmp_path / "home"
    res = paramisp("camera", "add", folder_550d, "--name", "my-550d", "--budget-min", "0.05", "--json", home=home)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    report = out["report"]
    assert report["raws"] == 6 and report["pairs"]["kept"] == 6 and report["pairs"]["rejected"] == []
    assert report["pairs"]["resampled"] == 0  # simulated JPEGs lie exactly on the RAW grid
    assert set(report["finetune"]["directions"]) == {"forward", "inverse"}
    for r in report["finetune"]["directions"].values():
        assert r["kept"] in ("start", "fine-tune") and r["held_back_frames"] >= 1
    assert out["camera"]["sensor"]["cfa_pattern"] == "RGGB" and out["camera"]["model"] == "Canon EOS 550D"
    assert report["noise_fit"]["model"]["shot_at_base_iso"] > 0

    listed = {c["name"]: c for c in json.loads(paramisp("camera", "list", "--json", home=home).stdout)}
    assert listed["my-550d"]["origin"] == "stored" and listed["nikon-d7000"]["origin"] == "shipped"
    shown = json.loads(paramisp("camera", "show", "my-550d", "--json", home=home).stdout)
    assert shown["origin"] == "stored" and "noise_fit" in shown["report"]

    # The camera's own JPEG -> its RAW, by name and by the JPEG's make/model; its RAW -> sRGB by make/model.
    jpeg = folder_550d / "SIM_0001.JPG"
    by_name = paramisp("to-raw", jpeg, "-o", tmp_path / "a.dng", "--camera", "my-550d", "--json", home=home)
    assert by_name.returncode == 0, by_name.stderr
    by_make = paramisp("to-raw", jpeg, "-o", tmp_path / "b.dng", "--json", home=home)
    assert json.loads(by_make.stdout)[0]["camera"] == "my-550d"
    with rawpy.imread(str(tmp_path / "a.dng")) as r:
        assert r.raw_pattern.tolist() == [[0, 1], [3, 2]]  # RGGB, the camera's own phase
    srgb = paramisp("to-srgb", folder_550d / "SIM_0002.DNG", "-o", tmp_path / "c.png", "--json", home=home)
    assert srgb.returncode == 0 and json.loads(srgb.stdout)[0]["weights"] == "my-550d"

    again = paramisp("camera", "add", folder_550d, "--name", "my-550d", home=home)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert paramisp("camera", "show", "my-550d", home=home).returncode == 0  # nothing stored was lost
    assert paramisp("camera", "remove", "my-550d", home=home).returncode == 0
    gone = paramisp("to-raw", jpeg, "-o", tmp_path / "d.dng", "--camera", "my-550d", home=home)
    assert gone.returncode == 2 and "my-550d" in gone.stderr


def test_camera_add_refuses_bad_folders_in_one_line(folder_550d, tmp_path):
    home = tmp_path / "home"

    def add(folder: Path, name: str = "cam") -> subprocess.CompletedProcess[str]:
        res = paramisp("camera", "add", folder, "--name", name, "--budget-min", "0.05", home=home)
        assert TRACEBACK not in res.stderr
        return res

    empty = tmp_path / "empty"
    empty.mkdir()
    res = add(empty)
    assert res.returncode == 2 and "no RAW files" in res.stderr

    no_jpegs = tmp_path / "no_jpegs"
    no_jpegs.mkdir()
    for dng in sorted(folder_550d.glob("*.DNG"))[:3]:
        shutil.copy(dng, no_jpegs)
    res = add(no_jpegs)
    assert res.returncode == 2 and "no usable RAW + camera JPEG pair" in res.stderr

    swapped = tmp_path / "swapped"
    swapped.mkdir()
    # Each RAW gets the JPEG of a shot of another scene source (shots 1 and 2, 3 and 4 swap; with this seed 1 and 3
    # are views of one HDR map, whose JPEGs are rightly found to match each other's RAW at an offset).
    for raw_index, jpeg_index in ((1, 2), (2, 1), (3, 4), (4, 3)):
        shutil.copy(folder_550d / f"SIM_{raw_index:04d}.DNG", swapped)
        shutil.copy(folder_550d / f"SIM_{jpeg_index:04d}.JPG", swapped / f"SIM_{raw_index:04d}.JPG")
    res = add(swapped)
    assert res.returncode == 2 and "no usable RAW + camera JPEG pair" in res.stderr

    mixed = tmp_path / "mixed"
    simulate(mixed, "nikon-d90", 1, 5, home=home)
    for dng in sorted(folder_550d.glob("*.DNG"))[:2]:
        shutil.copy(dng, mixed / f"EOS_{dng.name}")
    res = add(mixed)
    assert res.returncode == 2 and "more than one camera" in res.stderr

    res = add(folder_550d, name="nikon-d90")
    assert res.returncode == 2 and "shipped camera" in res.stderr
    res = add(folder_550d, name="Bad Name!")
    assert res.returncode == 2 and "camera name" in res.stderr

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    res = paramisp("camera", "add", folder_550d, "--name", "cam", home=blocked)
    assert res.returncode == 2 and "not writable" in res.stderr
    assert not (home / "cameras" / "cam").exists()  # no refused add stored anything


def test_finetuning_without_data_is_refused_rather_than_run_on_the_simulated_cameras(tmp_path):
    res = paramisp("train", "--stage", "finetune", "--direction", "forward", "-o", tmp_path / "run", home=tmp_path)
    assert res.returncode == 2 and "needs --data" in res.stderr and TRACEBACK not in res.stderr
    assert not (tmp_path / "run").exists()
