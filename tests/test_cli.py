"""The command line as a user sees it: exit statuses, one-line messages, JSON, no overwriting."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import typer
from PIL import Image

import core_isp
from conftest import D30, DATA, DC50
from core_isp.errors import BadInputError
from paramisp.cli.batch import run_file_command

TRACEBACK = "Traceback (most recent call last)"


def paramisp(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paramisp", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "paramisp: error:" in line]


def _fake_dng(path: Path, data: np.ndarray, photometric: int, extra: list[tuple]) -> Path:
    """A minimal DNG written with tifffile: enough tags for LibRaw to open it."""
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),
        (50708, "s", 0, "Test Cam", True),
        (271, "s", 0, "Test", True),
        (272, "s", 0, "Cam", True),
        (50717, "H", 1, 4095, True),
    ]
    tifffile.imwrite(path, data, photometric=photometric, extratags=tags + extra, metadata=None)
    return path


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    (d / "text.NEF").write_text("this is not a raw file\n")
    # Fujifilm's 6x6 X-Trans layout, row by row.
    rows = ["110112", "112110", "201021", "112110", "110112", "021201"]
    xtrans = [int(c) for row in rows for c in row]
    return {
        "text": d / "text.NEF",
        "linear": _fake_dng(d / "linear.dng", rng.integers(0, 4000, (64, 64, 3), dtype=np.uint16), 34892, []),
        "xtrans": _fake_dng(
            d / "xtrans.dng",
            rng.integers(0, 4000, (96, 96), dtype=np.uint16),
            32803,
            [(33421, "H", 2, (6, 6), True), (33422, "B", 36, bytes(xtrans), True)],
        ),
    }


def test_info_table_and_json():
    table = paramisp("info", D30)
    assert table.returncode == 0, table.stderr
    assert "Canon EOS D30" in table.stdout and "RGGB" in table.stdout and "daylight" in table.stdout
    assert "warning:" in table.stderr  # the WB fallback is announced
    js = paramisp("info", "--json", D30, DC50)
    assert js.returncode == 0
    records = json.loads(js.stdout)
    assert [r["metadata"]["cfa_pattern"] for r in records] == ["RGGB", "GRBG"]
    assert records[1]["metadata"]["iso"] is None


def test_develop_writes_upright_png_and_never_overwrites(tmp_path):
    out = tmp_path / "out"
    first = paramisp("develop", DC50, "-o", out, "--json")
    assert first.returncode == 0, first.stderr
    target = out / "kodak_dc50.png"
    img = np.asarray(Image.open(target))
    assert img.shape == (512, 768, 3) and img.dtype == np.uint8 and 20 < img.mean() < 235
    assert json.loads(first.stdout)[0]["output"] == str(target)
    before = target.read_bytes()
    again = paramisp("develop", DC50, "-o", out)
    assert again.returncode == 2
    assert len(error_lines(again.stderr)) == 1 and "--overwrite" in again.stderr
    assert target.read_bytes() == before
    assert paramisp("develop", DC50, "-o", out, "--overwrite").returncode == 0


def test_develop_rejects_each_bad_file_with_one_line(tmp_path, bad_inputs):
    res = paramisp("develop", *bad_inputs.values(), "-o", tmp_path)
    assert res.returncode == 2
    assert TRACEBACK not in res.stderr
    lines = error_lines(res.stderr)
    assert len(lines) == 3
    assert "LinearRaw" in res.stderr and "X-Trans" in res.stderr
    assert not list(tmp_path.glob("*.png"))


def test_info_on_a_non_raw_without_metadata_is_bad_input(bad_inputs):
    res = paramisp("info", bad_inputs["text"])
    assert res.returncode == 2 and len(error_lines(res.stderr)) == 1 and TRACEBACK not in res.stderr


def test_info_succeeds_and_develop_fails_on_metadata_only_files(shared_data, tmp_path):
    folder = shared_data / "raw_metadata_only"
    n = len(list(folder.iterdir()))
    info = paramisp("info", "--json", folder)
    assert info.returncode == 0, info.stderr
    records = json.loads(info.stdout)
    assert len(records) == n and all(r["ok"] and r["metadata"]["make"] for r in records)
    assert info.stderr.count("warning:") >= n
    dev = paramisp("develop", folder, "-o", tmp_path)
    assert dev.returncode == 2
    assert len(error_lines(dev.stderr)) == n
    assert TRACEBACK not in dev.stderr


def test_info_on_rendered_photos(tmp_path):
    plain = tmp_path / "plain.jpg"
    Image.new("RGB", (16, 12), (10, 20, 30)).save(plain)
    res = paramisp("info", "--json", plain, DATA / "exif" / "Canon_40D.jpg")
    assert res.returncode == 0
    recs = json.loads(res.stdout)
    assert recs[0]["metadata"]["iso"] is None and "no EXIF" in res.stderr
    assert recs[1]["metadata"]["iso"] == 100


def test_info_on_unusual_rendered_files(tmp_path):
    import png

    deep = tmp_path / "deep.png"
    png.from_array(np.zeros((4, 12), dtype=np.uint16), "RGB;16").save(str(deep))
    grey = tmp_path / "grey.jpg"
    Image.new("L", (16, 12), 90).save(grey)
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 12)).save(cmyk)
    res = paramisp("info", "--json", deep, grey, cmyk)
    # Metadata needs no pixels: all three describe themselves (no EXIF: every value unknown, with warnings).
    assert res.returncode == 0, res.stderr
    assert all(r["metadata"]["iso"] is None for r in json.loads(res.stdout))
    assert res.stderr.count("no EXIF") == 3


def _png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header claims a size its data does not hold (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def test_files_that_are_not_images_or_too_large_are_bad_input(tmp_path):
    files = {"empty.jpg": b"", "noise.jpg": bytes(range(256)) * 8, "notes.jpg": b"holiday list\n",
             "bomb.png": _png_declaring(100_000, 100_000)}  # fmt: skip
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    res = paramisp("info", "--json", *(tmp_path / name for name in files))
    assert res.returncode == 2 and TRACEBACK not in res.stderr
    records = json.loads(res.stdout)
    assert [r["ok"] for r in records] == [False] * 4
    assert all(r["error"].startswith(Path(r["file"]).name) for r in records)
    assert "too large" in records[-1]["error"] and "not a readable image" in records[0]["error"]
    res = paramisp("to-raw", tmp_path / "bomb.png", "-o", tmp_path / "out")
    assert res.returncode == 2 and len(error_lines(res.stderr)) == 1 and "too large" in res.stderr


def test_missing_input_and_bad_option_are_bad_input(tmp_path):
    res = paramisp("develop", tmp_path / "nope.crw", "-o", tmp_path)
    assert res.returncode == 2 and len(error_lines(res.stderr)) == 1
    res = paramisp("develop", DC50, "-o", tmp_path, "--format", "gif")
    assert res.returncode == 2 and "--format" in res.stderr


def test_an_unknown_precision_is_refused_in_one_line(tmp_path):
    res = paramisp("to-srgb", DC50, "-o", tmp_path / "x.png", "--precision", "fp16")
    assert res.returncode == 2 and len(error_lines(res.stderr)) == 1
    assert "--precision must be one of fp32, bf16, got 'fp16'" in res.stderr and not (tmp_path / "x.png").exists()


def test_file_skeleton_names_outputs_and_never_overwrites(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("a")
    b.write_text("b")
    calls: list[str] = []

    def copy(path: Path, target: Path) -> dict[str, str]:
        calls.append(path.name)
        target.write_text(path.read_text())
        return {"output": str(target)}

    def status(inputs: list[Path], out: Path, overwrite: bool = False) -> int:
        with pytest.raises(typer.Exit) as done:
            run_file_command(map(str, inputs), out, copy, output_suffix=".out", overwrite=overwrite, progress=False)
        return done.value.exit_code

    assert status([a], tmp_path / "single.res") == 0 and (tmp_path / "single.res").read_text() == "a"
    assert status([a], tmp_path / "folder") == 0 and (tmp_path / "folder" / "a.out").read_text() == "a"
    assert status([a, b], tmp_path / "many.d") == 0  # two inputs: always a folder, suffix or not
    assert sorted(p.name for p in (tmp_path / "many.d").iterdir()) == ["a.out", "b.out"]
    (tmp_path / "many.d" / "a.out").write_text("keep")
    calls.clear()
    assert status([a, b], tmp_path / "many.d") == 2 and not calls  # refused before the job runs
    assert (tmp_path / "many.d" / "a.out").read_text() == "keep"
    assert status([a, b], tmp_path / "many.d", overwrite=True) == 0 and calls == ["a.txt", "b.txt"]
    assert (tmp_path / "many.d" / "a.out").read_text() == "a"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("other a")
    calls.clear()  # two inputs with one name: the second may not replace the first's result, even so
    assert status([a, tmp_path / "sub" / "a.txt"], tmp_path / "clash", overwrite=True) == 2 and calls == ["a.txt"]
    assert (tmp_path / "clash" / "a.out").read_text() == "a"
    calls.clear()  # outputs that cannot be written (under a file) are refused before any work
    for inputs, out in (([a], a / "under-a-file.out"), ([a, b], a / "folder")):
        with pytest.raises(BadInputError, match="is a file, not a folder"):
            run_file_command(map(str, inputs), out, copy, output_suffix=".out", progress=False)
    assert not calls
    assert status([a], tmp_path / "new" / "deeper" / "x.out") == 0  # a missing folder is made


def test_to_srgb_and_to_raw_refuse_an_unusable_output_before_running_a_network(tmp_path, monkeypatch, caplog):
    from typer.testing import CliRunner

    from core_isp.isp import LearnedISP
    from paramisp.cli import convert  # noqa: F401  (registers the commands)
    from paramisp.cli.main import app

    ran: list[str] = []
    monkeypatch.setattr(LearnedISP, "forward", lambda *args, **kwargs: ran.append("forward"))
    monkeypatch.setattr(LearnedISP, "inverse", lambda *args, **kwargs: ran.append("inverse"))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for command, source, output in (("to-srgb", DC50, "x.png"), ("to-raw", DATA / "exif" / "Canon_40D.jpg", "x.dng")):
        for args in ([], ["--camera", "nikon-d7000"]):
            caplog.clear()
            result = CliRunner().invoke(app, [command, str(source), "-o", str(blocker / "sub" / output), *args])
            assert result.exit_code == 2 and "(a-file is a file, not a folder)" in caplog.text, caplog.text
    assert not ran


def test_core_isp_imports_nothing_above_it():
    """The command line and the apps build on core_isp; the reverse would make the core depend on them."""
    root = Path(core_isp.__file__).parent
    offending = []
    for source in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            offending += [f"{source.relative_to(root)}: {n}" for n in names if n.split(".")[0] in {"paramisp", "apps"}]
    assert not offending
