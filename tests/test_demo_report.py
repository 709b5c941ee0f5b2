"""The demo's HTML report: self-contained, escaped, complete, and rendered correctly by a real browser."""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from browser_check import check_report_in_browser, require_browser
from PIL import Image

from paramisp.demo import DemoReport, Figure, Panel, Plot, Section, Table, report_to_json, write_html
from paramisp.demo.report import MAX_DISPLAY_SIDE, _auto_crop

HOSTILE = "<script>alert('x')</script> & \"quotes\""


def _scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth gradient with a textured patch and a little noise, float32 sRGB in [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.stack([x / w, y / h, 0.5 * np.ones_like(x)], axis=-1) * 0.8 + 0.1
    checker = ((y // 3 + x // 3) % 2).astype(np.float32)
    image[h // 2 : h // 2 + h // 4, w // 8 : w // 8 + w // 4] = checker[: h // 4, : w // 4, None] * 0.9
    return np.clip(image + rng.normal(0, 0.01, image.shape).astype(np.float32), 0, 1)


def _blur(image: np.ndarray) -> np.ndarray:
    out = image.copy()
    out[1:-1, 1:-1] = sum(image[1 + dy : image.shape[0] - 1 + dy, 1 + dx : image.shape[1] - 1 + dx]
                          for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9  # fmt: skip
    return out


def _synthetic_report() -> DemoReport:
    truth = _scene(96, 128)
    ours = np.clip(truth + np.random.default_rng(1).normal(0, 0.02, truth.shape), 0, 1).astype(np.float32)
    develop = Section(
        key="develop",
        title="Develop a RAW file",
        summary=f"The forward ISP renders a RAW file. {HOSTILE}",
        measured_against="the camera's own JPEG (ground truth) and a classic demosaic + gamma baseline",
        figures=[
            Figure(
                title="RAW to sRGB",
                panels=[
                    Panel("Camera JPEG (ground truth)", truth),
                    Panel("ParamISP", ours, caption="PSNR 34.0 dB"),
                    Panel('Baseline "classic"', _blur(truth), caption="PSNR 29.5 dB"),
                ],
                reference=0,
                histograms=True,
                note="Errors are display-referred.",
            ),
            Figure(title="Two renders, no reference", panels=[Panel("A", truth), Panel("B", ours)], crop=(8, 8, 24)),
        ],
        tables=[
            Table(
                title="Quality",
                columns=["Method", "PSNR (dB)", "SSIM", "Images"],
                rows=[["ParamISP", 34.0123, np.float32(0.91234), 12], ["Baseline", 29.5, 0.8421, np.int64(12)]],
                note="Mean over the test set.",
            )
        ],
        plots=[Plot("Loss", "step", "L1", {"train": ([0, 1, 2, 3], [0.3, 0.2, 0.15, 0.12])})],
        seconds=12.5,
        outputs=["develop/IMG_0001.png", "develop/IMG_0001.dng"],
    )
    inverse = Section(
        key="inverse",
        title="Inverse ISP",
        summary="sRGB back to RAW.",
        measured_against="the original RAW mosaic",
        figures=[
            Figure(
                title="Reconstructed RAW (shown demosaiced)",
                panels=[Panel("Ours", ours), Panel("Original", truth), Panel("Low-res", truth[::2, ::2].copy())],
                reference=1,
            )
        ],
        tables=[Table("Timing", ["Step", "Seconds"], [["invert", 1.234], ["mosaic", float("nan")]])],
        plots=[
            Plot(
                "PSNR per camera",
                "camera",
                "PSNR (dB)",
                {"ours": ([0, 1, 2], [40.1, 38.2, 39.0]), "baseline": ([0, 1, 2], [33.0, np.float64(31.5), 32.2])},
                kind="bar",
                x_ticks=["Canon EOS 550D", "Nikon D7000", "Sony A7"],
            )
        ],
        seconds=75.0,
    )
    return DemoReport(
        title="paramisp demo",
        sections=[develop, inverse],
        machine="Synthetic CPU, torch 2.13.0",
        total_seconds=87.5,
        peak_rss_mib=1234.5,
        notes=["A synthetic report for the tests."],
    )


class _Collector(HTMLParser):
    """Every ``src``/``href``, the ``<img>`` tags with the figure they belong to, and the table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[dict[str, str | int]] = []
        self.figure = -1
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.links += [a[k] for k in ("src", "href") if k in a]
        if tag == "div" and a.get("class") == "figure":
            self.figure += 1
        if tag == "img":
            self.images.append({"class": a.get("class", ""), "src": a.get("src", ""), "figure": self.figure})
        if tag in ("td", "th"):
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data


@pytest.fixture(scope="module")
def report() -> DemoReport:
    return _synthetic_report()


@pytest.fixture(scope="module")
def written(report: DemoReport, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_html(report, tmp_path_factory.mktemp("report") / "report.html")


@pytest.fixture(scope="module")
def parsed(written: Path) -> _Collector:
    collector = _Collector()
    collector.feed(written.read_text(encoding="utf-8"))
    return collector


def _decode(src: str) -> Image.Image:
    match = re.fullmatch(r"data:image/(png|jpeg);base64,([A-Za-z0-9+/=]+)", src)
    assert match, src[:60]
    image = Image.open(io.BytesIO(base64.b64decode(match.group(2))))
    image.load()
    assert image.format.lower() == match.group(1)
    return image


def test_report_is_written_self_contained(written: Path, parsed: _Collector) -> None:
    assert written.is_file() and written.stat().st_size > 0
    assert not [link for link in parsed.links if re.match(r"\s*(https?:)?//", link)]
    assert parsed.images
    for img in parsed.images:
        image = _decode(str(img["src"]))
        assert image.width > 0 and image.height > 0


def test_every_panel_has_a_view_and_a_crop_and_error_maps_skip_the_reference(
    report: DemoReport, parsed: _Collector
) -> None:
    figures = [f for s in report.sections for f in s.figures]
    for index, figure in enumerate(figures):
        kinds = [img["class"] for img in parsed.images if img["figure"] == index]
        assert kinds.count("full") == len(figure.panels)
        assert kinds.count("crop") == len(figure.panels)
        expected_maps = len(figure.panels) - 1 if figure.reference is not None else 0
        assert kinds.count("errmap") == expected_maps
        assert kinds.count("colorbar") == (1 if expected_maps else 0)
        assert kinds.count("histogram") == (len(figure.panels) if figure.histograms else 0)
    assert sum(img["class"] == "plot" for img in parsed.images) == sum(len(s.plots) for s in report.sections)


def test_given_crop_is_nearest_neighbour_upscaled_from_full_resolution(parsed: _Collector) -> None:
    # Figure 1 asks for a 24 px box: shown at 10x (256 // 24) with every source pixel a flat 10x10 block.
    crops = [_decode(str(img["src"])) for img in parsed.images if img["figure"] == 1 and img["class"] == "crop"]
    assert [c.size for c in crops] == [(240, 240), (240, 240)]
    pixels = np.asarray(crops[0].convert("RGB"))
    assert (pixels[:10, :10] == pixels[0, 0]).all()
    # A panel at half resolution shows the same region, at the same size, in 20x20 blocks.
    low_res = [_decode(str(img["src"])) for img in parsed.images if img["figure"] == 2 and img["class"] == "crop"][2]
    assert low_res.size == (240, 240)
    blocks = np.asarray(low_res.convert("RGB"))
    assert (blocks[:20, :20] == blocks[0, 0]).all()


def test_tables_hold_the_values_formatted(parsed: _Collector) -> None:
    for value in ("Method", "PSNR (dB)", "ParamISP", "34.01", "0.9123", "12", "29.50", "0.8421", "1.23", "nan"):
        assert value in parsed.cells


def test_text_is_escaped(written: Path) -> None:
    text = written.read_text(encoding="utf-8")
    assert "<script" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;" in text
    assert 'alt="Baseline &quot;classic&quot;"' in text
    for fragment in ("Measured against:", "Develop a RAW file", 'href="#inverse"', "develop/IMG_0001.dng"):
        assert fragment in text


def test_large_panels_are_downscaled_for_view_but_cropped_at_full_resolution(tmp_path: Path) -> None:
    big = _scene(900, 1500)
    figure = Figure("Big", [Panel("a", big), Panel("b", big[::-1].copy())], reference=0, crop=(100, 200, 64))
    section = Section("big", "Big", "A large panel.", "itself", figures=[figure])
    path = write_html(DemoReport("big", [section], "cpu", 1.0, 1.0), tmp_path / "big.html")
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    by_class: dict[str, list[Image.Image]] = {}
    for img in collector.images:
        by_class.setdefault(str(img["class"]), []).append(_decode(str(img["src"])))
    assert all(max(v.size) == MAX_DISPLAY_SIDE for v in by_class["full"])
    assert all(max(v.size) == MAX_DISPLAY_SIDE for v in by_class["errmap"])
    # 64 px at 4x: the crop came from the full-resolution image, not from the 1024 px view.
    crop = np.asarray(by_class["crop"][0].convert("RGB"))
    assert crop.shape == (256, 256, 3)
    expected = np.rint(big[100:164, 200:264] * 255).astype(np.int16)
    assert np.abs(crop[::4, ::4].astype(np.int16) - expected).max() <= 1


def test_auto_crop_finds_the_detail() -> None:
    image = np.full((200, 300, 3), 0.5, np.float32)
    image[120:170, 210:260] = np.random.default_rng(0).random((50, 50, 3), dtype=np.float32)
    top, left, size = _auto_crop(image)
    assert size == 50  # a quarter of the short side
    assert 0 <= top <= 200 - size and 0 <= left <= 300 - size
    # The box lies mostly on the textured patch.
    overlap = max(0, min(top + size, 170) - max(top, 120)) * max(0, min(left + size, 260) - max(left, 210))
    assert overlap >= 0.6 * size * size


def test_report_to_json_round_trips(report: DemoReport) -> None:
    data = report_to_json(report)
    loaded = json.loads(json.dumps(data, allow_nan=False))
    assert loaded == data
    assert loaded["machine"] == report.machine and loaded["peak_rss_mib"] == pytest.approx(1234.5)
    develop, inverse = loaded["sections"]
    assert develop["summary"].endswith(HOSTILE)
    assert develop["figures"][0]["panels"][1] == {"label": "ParamISP", "caption": "PSNR 34.0 dB", "size_hw": [96, 128]}
    assert develop["figures"][1]["crop"] == [8, 8, 24]
    assert develop["tables"][0]["rows"][0] == ["ParamISP", 34.0123, pytest.approx(0.91234), 12]
    assert develop["outputs"] == ["develop/IMG_0001.png", "develop/IMG_0001.dng"]
    assert inverse["tables"][0]["rows"][1] == ["mosaic", None]  # NaN is not JSON
    assert inverse["plots"][0]["series"]["baseline"] == {"x": [0, 1, 2], "y": [33.0, 31.5, 32.2]}
    assert inverse["plots"][0]["x_ticks"] == ["Canon EOS 550D", "Nikon D7000", "Sony A7"]


def test_write_is_atomic_and_leaves_no_temporary_file(report: DemoReport, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")
    write_html(report, target)
    first = target.read_text(encoding="utf-8")
    assert first.startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    # A report that fails to render leaves the previous file as it was.
    bad = DemoReport("bad", [Section("s", "S", "", "", figures=[Figure("f", [Panel("gray", np.zeros((4, 4)))])])],
                     "cpu", 0.0, 0.0)  # fmt: skip
    with pytest.raises(ValueError, match=r"must be \(H, W, 3\)"):
        write_html(bad, target)
    assert target.read_text(encoding="utf-8") == first
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_invalid_reports_are_refused(tmp_path: Path) -> None:
    panel = Panel("a", np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="unique"):
        write_html(DemoReport("t", [Section("s", "A", "", ""), Section("s", "B", "", "")], "", 0, 0), tmp_path / "a")
    with pytest.raises(ValueError, match="not a panel index"):
        section = Section("s", "A", "", "", figures=[Figure("f", [panel], reference=2)])
        write_html(DemoReport("t", [section], "", 0, 0), tmp_path / "b")
    with pytest.raises(ValueError, match="kind must be"):
        section = Section("s", "A", "", "", plots=[Plot("p", "x", "y", {"a": ([0], [1])}, kind="pie")])
        write_html(DemoReport("t", [section], "", 0, 0), tmp_path / "c")


# -- in a real browser -------------------------------------------------------------------------------------------


def test_missing_browser_skips_or_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    import browser_check

    monkeypatch.setattr(browser_check.shutil, "which", lambda name: None)
    monkeypatch.delenv("PARAMISP_REQUIRE_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="missing chromium"):
        require_browser()
    monkeypatch.setenv("PARAMISP_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="PARAMISP_REQUIRE_TOOLS=1 requires it"):
        require_browser()


@pytest.mark.slow
def test_report_renders_in_a_browser(report: DemoReport, written: Path, parsed: _Collector, tmp_path: Path) -> None:
    require_browser()
    screenshot = tmp_path / "report.png"
    result = check_report_in_browser(written, screenshot)
    assert result["title"] == report.title
    assert len(result["images"]) == len(parsed.images)
    for image in result["images"]:
        assert image["complete"] and image["naturalWidth"] > 0 and image["naturalHeight"] > 0, image
    assert len(result["tables"]) == sum(len(s.tables) for s in report.sections)
    for table in result["tables"]:
        assert table["headers"] and any(cell for row in table["rows"] for cell in row), table
    assert "34.01" in result["tables"][0]["rows"][0]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shot = Image.open(screenshot)
    assert shot.width > 0 and shot.height > 1000  # taller than the window: the full page was captured
