"""``paramisp demo`` end to end: the command writes the report (reduced size), the report opens in headless
Chromium with every image decoded and every table filled, and the command's bad input gets one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from browser_check import check_report_in_browser, require_browser

from paramisp.demo.run import STEP_KEYS

#: The test works at a quarter of the demo's side: every step still runs, in about a tenth of the time.
TEST_SIZE_PX = 128
#: Set this to a path to keep the screenshot (the docs' picture of the report is made this way at full size).
SCREENSHOT_ENV = "PARAMISP_DEMO_SCREENSHOT"


def demo(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    return subprocess.run([sys.executable, "-m", "paramisp", "demo", *map(str, args)],
                          capture_output=True, text=True, timeout=900, env=env)  # fmt: skip


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo") / "paramisp-demo"
    done = demo("-o", out, "--size", TEST_SIZE_PX, "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    return out, json.loads(done.stdout)


@pytest.mark.slow
def test_demo_writes_every_step_and_a_report(demo_run):
    out, payload = demo_run
    assert [s["key"] for s in payload["sections"]] == list(STEP_KEYS)
    assert (out / "report.html").is_file() and (out / "report.json").is_file()
    assert json.loads((out / "report.json").read_text())["sections"] == payload["sections"]
    for section in payload["sections"]:
        assert section["seconds"] > 0 and section["summary"] and section["measured_against"], section["key"]
        assert section["tables"], f"{section['key']} has no table"
        for output in section["outputs"]:
            assert (out / output).is_file() and (out / output).stat().st_size > 0, output
    assert payload["peak_rss_mib"] > 0 and payload["total_seconds"] > 0
    assert not list(out.parent.glob(".paramisp-demo.*")), "staging folders left behind"


@pytest.mark.slow
def test_report_opens_in_a_browser_with_every_image_and_table(demo_run, tmp_path):
    require_browser()
    out, payload = demo_run
    screenshot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "report.png")
    seen = check_report_in_browser(out / "report.html", screenshot)
    assert seen["images"], "no images"
    for image in seen["images"]:
        assert image["complete"] and image["naturalWidth"] > 0 and image["naturalHeight"] > 0, image
    expected_tables = sum(len(s["tables"]) for s in payload["sections"])
    assert len(seen["tables"]) >= expected_tables
    for table in seen["tables"]:
        assert table["rows"] and all(any(cell for cell in row) for row in table["rows"]), table
    assert screenshot.stat().st_size > 10_000


def test_bad_demo_input_is_one_line_and_touches_nothing(tmp_path):
    unknown = demo("-o", tmp_path / "a", "--only", "isp,nonsense")
    assert unknown.returncode == 2 and "unknown demo step(s) nonsense" in unknown.stderr
    assert not (tmp_path / "a").exists()

    mine = tmp_path / "my-files"
    mine.mkdir()
    (mine / "precious.txt").write_text("keep me")
    exists = demo("-o", mine)
    assert exists.returncode == 2 and "pass --overwrite" in exists.stderr
    not_demo = demo("-o", mine, "--overwrite")
    assert not_demo.returncode == 2 and "not a paramisp demo folder" in not_demo.stderr
    assert (mine / "precious.txt").read_text() == "keep me"

    missing_clip = demo("-o", tmp_path / "b", "--clip", tmp_path / "no.mp4")
    assert missing_clip.returncode == 2 and "no such file" in missing_clip.stderr
    for done in (unknown, exists, not_demo, missing_clip):
        assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_overwrite_replaces_a_previous_demo_folder(demo_run, tmp_path):
    out, _ = demo_run
    previous = tmp_path / "paramisp-demo"
    shutil.copytree(out, previous)
    (previous / "stale.txt").write_text("from an older run")
    again = demo("-o", previous, "--size", 64, "--only", "isp", "--overwrite")
    assert again.returncode == 0, again.stderr[-2000:]
    assert not (previous / "stale.txt").exists() and (previous / "report.html").is_file()
    assert [p.name for p in previous.iterdir() if p.is_dir()] == ["isp"]
