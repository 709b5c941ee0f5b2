"""The self-contained HTML report of ``paramisp demo``: a small data model and its writer.

The runner fills a :class:`DemoReport` with sections of figures (images side by side, zoomed crops, error maps and
histograms), tables and plots; :func:`write_html` renders it to one HTML file that carries every image as a
``data:`` URI, so the file can be mailed, archived or opened offline without a folder of assets next to it.
:func:`report_to_json` gives the same content without pixels, for machines.
"""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure as MplFigure
from PIL import Image, ImageDraw

from core_isp.io.writers import atomic_write

__all__ = ["DemoReport", "Figure", "Panel", "Plot", "Section", "Table", "report_to_json", "write_html"]

#: Long side of the full views; larger panels are downscaled for display (crops still come from full resolution).
MAX_DISPLAY_SIDE = 1024
#: Crops are nearest-neighbour upscaled towards this many pixels, and larger ones downscaled to it.
CROP_DISPLAY_SIDE = 256
#: Bounds of the automatically chosen crop's side, in pixels of panel 0.
AUTO_CROP_MIN, AUTO_CROP_MAX = 16, 256
#: Photos are JPEG (small files); plots, crops and maps are PNG (exact pixels, no ringing around edges).
JPEG_QUALITY = 90
#: Perceptually uniform, and dark for "no error", so small differences stay visible against black.
ERROR_CMAP = "magma"
#: The shared error scale ends at this percentile of all error maps, so a few outlier pixels cannot wash it out.
ERROR_PERCENTILE = 99.5


# -- data model ------------------------------------------------------------------------------------------------------


@dataclass
class Panel:
    """One image of a side-by-side figure: ``(H, W, 3)`` display-referred sRGB in [0, 1] (clipped for display)."""

    label: str
    image: np.ndarray
    caption: str = ""


@dataclass
class Figure:
    """Images side by side, with zoomed crops, error maps against panel ``reference`` and optional histograms.

    ``crop`` is ``(top, left, size)`` in pixels of panel 0; ``None`` picks the square with the most detail.
    """

    title: str
    panels: list[Panel]
    reference: int | None = None
    crop: tuple[int, int, int] | None = None
    histograms: bool = False
    note: str = ""


@dataclass
class Table:
    """A table with a header row; numbers are formatted with a number of decimals suited to their magnitude."""

    title: str
    columns: list[str]
    rows: list[list[str | float | int]]
    note: str = ""


@dataclass
class Plot:
    """Series ``name -> (x, y)`` drawn as lines, or as grouped bars (``x`` are then category indices)."""

    title: str
    x_label: str
    y_label: str
    series: dict[str, tuple[list[float], list[float]]]
    kind: str = "line"
    x_ticks: list[str] | None = None
    note: str = ""


@dataclass
class Section:
    """One demo step: what it shows, what it is measured against, and the files it wrote."""

    key: str
    title: str
    summary: str
    measured_against: str
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)


@dataclass
class DemoReport:
    """The whole demo: its sections and the machine, time and memory it took."""

    title: str
    sections: list[Section]
    machine: str
    total_seconds: float
    peak_rss_mib: float
    notes: list[str] = field(default_factory=list)


# -- public functions ------------------------------------------------------------------------------------------------


def write_html(report: DemoReport, path: Path) -> Path:
    """Write ``report`` as one self-contained HTML file at ``path`` (atomically, replacing any file there)."""
    keys = [s.key for s in report.sections]
    if len(set(keys)) != len(keys):
        raise ValueError(f"section keys must be unique (they are HTML ids), got {keys}")
    document = _render_report(report)
    path = Path(path)
    with atomic_write(path, overwrite=True) as tmp:
        tmp.write_text(document, encoding="utf-8")
    return path


def report_to_json(report: DemoReport) -> dict[str, Any]:
    """Everything in ``report`` except pixel data, as plain JSON types (non-finite numbers become ``None``)."""
    sections = []
    for s in report.sections:
        sections.append(
            {
                "key": s.key,
                "title": s.title,
                "summary": s.summary,
                "measured_against": s.measured_against,
                "seconds": s.seconds,
                "outputs": list(s.outputs),
                "figures": [
                    {
                        "title": f.title,
                        "panels": [
                            {"label": p.label, "caption": p.caption, "size_hw": list(np.shape(p.image)[:2])}
                            for p in f.panels
                        ],
                        "reference": f.reference,
                        "crop": None if f.crop is None else list(f.crop),
                        "histograms": f.histograms,
                        "note": f.note,
                    }
                    for f in s.figures
                ],
                "tables": [{"title": t.title, "columns": t.columns, "rows": t.rows, "note": t.note} for t in s.tables],
                "plots": [
                    {
                        "title": p.title,
                        "x_label": p.x_label,
                        "y_label": p.y_label,
                        "kind": p.kind,
                        "x_ticks": p.x_ticks,
                        "series": {name: {"x": list(x), "y": list(y)} for name, (x, y) in p.series.items()},
                        "note": p.note,
                    }
                    for p in s.plots
                ],
            }
        )
    return _jsonable(
        {
            "title": report.title,
            "machine": report.machine,
            "total_seconds": report.total_seconds,
            "peak_rss_mib": report.peak_rss_mib,
            "notes": list(report.notes),
            "sections": sections,
        }
    )


# -- HTML ------------------------------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1360px;
       padding: 1em 1.5em; color: #1d1d1f; background: #fff; line-height: 1.45; }
header { border-bottom: 2px solid #ddd; margin-bottom: 1em; }
h1 { margin: 0.2em 0; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; } h3 { margin-bottom: 0.3em; }
h4 { margin: 0.8em 0 0.3em; font-size: 0.95em; color: #444; }
.meta, .time, .note, .measured { color: #555; font-size: 0.92em; }
.row { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
.row figure { margin: 0; flex: 1 1 260px; max-width: 480px; }
.row figure.colorbar { flex: 0 1 320px; align-self: center; }
.row img { width: 100%; height: auto; display: block; border: 1px solid #ccc; }
img.crop { image-rendering: pixelated; }
figcaption { font-size: 0.88em; margin-top: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f2f2f2; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.plot img { max-width: 720px; width: 100%; height: auto; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def _render_report(report: DemoReport) -> str:
    e = _esc
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{e(report.title)}</h1>",
        f'<p class="meta">Machine: {e(report.machine)}<br>Total time: {e(_format_seconds(report.total_seconds))}'
        f" &middot; Peak memory (RSS): {e(f'{report.peak_rss_mib:.0f}')} MiB</p>",
    ]
    if report.notes:
        head.append('<ul class="notes">' + "".join(f"<li>{e(n)}</li>" for n in report.notes) + "</ul>")
    head.append("</header>")
    toc = ["<nav><h2>Contents</h2><ol>"]
    toc += [f'<li><a href="#{e(s.key)}">{e(s.title)}</a></li>' for s in report.sections]
    toc.append("</ol></nav>")
    body = [_render_section(s) for s in report.sections]
    return "\n".join([*head, *toc, *body, "</body></html>", ""])


def _render_section(section: Section) -> str:
    e = _esc
    parts = [
        f'<section id="{e(section.key)}"><h2>{e(section.title)}</h2>',
        f'<p class="summary">{e(section.summary)}</p>',
        f'<p class="measured"><b>Measured against:</b> {e(section.measured_against)}</p>',
        f'<p class="time">Time: {e(_format_seconds(section.seconds))}</p>',
    ]
    parts += [_render_figure(f) for f in section.figures]
    parts += [_render_table(t) for t in section.tables]
    parts += [_render_plot(p) for p in section.plots]
    if section.outputs:
        parts.append('<h4>Files written</h4><ul class="outputs">')
        parts += [f"<li><code>{e(o)}</code></li>" for o in section.outputs]
        parts.append("</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def _render_figure(figure: Figure) -> str:
    e = _esc
    if not figure.panels:
        raise ValueError(f"figure {figure.title!r} has no panels")
    images = [_as_rgb(p.image, p.label) for p in figure.panels]
    if figure.reference is not None and not 0 <= figure.reference < len(images):
        raise ValueError(f"figure {figure.title!r}: reference {figure.reference} is not a panel index")
    if figure.crop is not None:
        top, left, size = _clamp_crop(figure.crop, images[0].shape)
    else:
        # The reference shows the real detail; a box found on it is valid for panel 0 when the sizes agree.
        anchor = images[0] if figure.reference is None else images[figure.reference]
        top, left, size = _auto_crop(anchor if anchor.shape == images[0].shape else images[0])
    parts = [f'<div class="figure"><h3>{e(figure.title)}</h3>', '<div class="row panels">']
    for i, (panel, image) in enumerate(zip(figure.panels, images, strict=True)):
        view = _display_view(image)
        if i == 0:
            view = _draw_box(view, image.shape, (top, left, size))
        caption = f"<b>{e(panel.label)}</b>" + (f"<br>{e(panel.caption)}" if panel.caption else "")
        parts.append(_img_figure(_encode_jpeg(view), "full", panel.label, caption))
    parts.append("</div>")

    factor = max(1, CROP_DISPLAY_SIDE // size)
    # Every crop is shown at the same side, so a panel of lower resolution shows its coarser pixels.
    side = size * factor if factor > 1 else min(size, 2 * CROP_DISPLAY_SIDE)
    zoom = f"{factor}&times; nearest neighbour" if factor > 1 else f"shown at {side} px"
    parts.append(
        f"<h4>Zoomed crop: {size}&times;{size} px at ({top}, {left}) of {e(figure.panels[0].label)}"
        f" (box on its full view), {zoom}</h4>"
    )
    parts.append('<div class="row crops">')
    for panel, image in zip(figure.panels, images, strict=True):
        crop = _crop(image, images[0].shape, (top, left, size))
        parts.append(_img_figure(_encode_png(_resize_crop(crop, side)), "crop", panel.label, e(panel.label)))
    parts.append("</div>")

    if figure.reference is not None and len(images) > 1:
        parts.append(_render_error_maps(figure, images, figure.reference))
    if figure.histograms:
        parts.append("<h4>Histograms (sRGB code values)</h4>")
        parts.append('<div class="row histograms">')
        for panel, image in zip(figure.panels, images, strict=True):
            parts.append(_img_figure(_histogram_png(image, panel.label), "histogram", panel.label, ""))
        parts.append("</div>")
    if figure.note:
        parts.append(f'<p class="note">{e(figure.note)}</p>')
    parts.append("</div>")
    return "\n".join(parts)


def _render_error_maps(figure: Figure, images: list[np.ndarray], ref_index: int) -> str:
    e = _esc
    reference = images[ref_index]
    maps = {i: _error_map(img, reference) for i, img in enumerate(images) if i != ref_index}
    # One scale for every map of the figure, so colours compare across panels.
    vmax = max(float(np.percentile(m, ERROR_PERCENTILE)) for m in maps.values())
    vmax = max(vmax, 1.0 / 255.0)
    parts = [
        f"<h4>Error maps: |panel &minus; {e(figure.panels[ref_index].label)}|, mean over RGB,"
        f" shared scale 0 to {vmax:.3g}</h4>",
        '<div class="row errmaps">',
    ]
    for i, err in maps.items():
        label = figure.panels[i].label
        caption = f"<b>{e(label)}</b><br>mean |&Delta;| {float(err.mean()):.4f}"
        parts.append(_img_figure(_encode_png(_colorize(err, vmax)), "errmap", f"error map of {label}", caption))
    parts.append(_img_figure(_colorbar_png(vmax), "colorbar", "error colour scale", "", figure_class="colorbar"))
    parts.append("</div>")
    return "\n".join(parts)


def _render_table(table: Table) -> str:
    e = _esc
    parts = [f"<h3>{e(table.title)}</h3>", "<table><thead><tr>"]
    parts += [f"<th>{e(c)}</th>" for c in table.columns]
    parts.append("</tr></thead><tbody>")
    for row in table.rows:
        cells = []
        for value in row:
            numeric = isinstance(value, numbers.Real) and not isinstance(value, bool)
            cls = ' class="num"' if numeric else ""
            cells.append(f"<td{cls}>{e(_format_cell(value))}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>")
    if table.note:
        parts.append(f'<p class="note">{e(table.note)}</p>')
    return "\n".join(parts)


def _render_plot(plot: Plot) -> str:
    e = _esc
    parts = [
        f"<h3>{e(plot.title)}</h3>",
        f'<div class="plot"><img class="plot" alt="{e(plot.title)}" src="{_plot_png(plot)}"></div>',
    ]
    if plot.note:
        parts.append(f'<p class="note">{e(plot.note)}</p>')
    return "\n".join(parts)


def _img_figure(src: str, cls: str, alt: str, caption_html: str, figure_class: str = "") -> str:
    fcls = f' class="{figure_class}"' if figure_class else ""
    caption = f"<figcaption>{caption_html}</figcaption>" if caption_html else ""
    return f'<figure{fcls}><img class="{cls}" alt="{_esc(alt)}" src="{src}">{caption}</figure>'


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return str(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def _format_cell(value: object) -> str:
    """Integers as they are; reals with decimals by magnitude, so PSNR reads 27.13 and SSIM 0.9123."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    magnitude = abs(v)
    if magnitude == 0:
        return "0"
    if magnitude >= 10000:
        return f"{v:.0f}"
    if magnitude >= 100:
        return f"{v:.1f}"
    if magnitude >= 1:
        return f"{v:.2f}"
    if magnitude >= 0.01:
        return f"{v:.4f}"
    return f"{v:.3g}"


# -- pixels ----------------------------------------------------------------------------------------------------------


def _as_rgb(image: np.ndarray, label: str) -> np.ndarray:
    """``(H, W, 3)`` float32 in [0, 1]; 8- and 16-bit integers are scaled, NaN shows as black."""
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"panel {label!r}: image must be (H, W, 3), got {a.shape}")
    if np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    a = np.nan_to_num(a.astype(np.float32, copy=False), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(a, 0.0, 1.0)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def _display_view(image: np.ndarray, max_side: int = MAX_DISPLAY_SIDE) -> Image.Image:
    """The full view, downscaled (Lanczos) so its long side is at most ``max_side``."""
    pil = Image.fromarray(_to_uint8(image))
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        pil = pil.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    return pil


def _draw_box(view: Image.Image, full_shape: Sequence[int], box: tuple[int, int, int]) -> Image.Image:
    """Draw the crop box (given in full-resolution pixels) on the display view, dark outline under a bright one
    so it stays visible on light and dark content alike."""
    top, left, size = box
    sy, sx = view.height / full_shape[0], view.width / full_shape[1]
    x0, y0 = left * sx, top * sy
    x1, y1 = (left + size) * sx - 1, (top + size) * sy - 1
    width = max(1, round(max(view.size) / 400))
    view = view.copy()
    draw = ImageDraw.Draw(view)
    draw.rectangle((x0 - width, y0 - width, x1 + width, y1 + width), outline=(0, 0, 0), width=width)
    draw.rectangle((x0, y0, x1, y1), outline=(255, 230, 0), width=width)
    return view


def _auto_crop(image: np.ndarray) -> tuple[int, int, int]:
    """The square (a quarter of the short side, within [16, 256] px) with the highest gradient energy.

    Detail is where ISPs differ (demosaicing, sharpening, denoising), and flat regions make a useless zoom.
    """
    h, w = image.shape[:2]
    size = int(np.clip(min(h, w) // 4, min(AUTO_CROP_MIN, h, w), AUTO_CROP_MAX))
    luma = image @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    energy = np.zeros((h, w), np.float32)
    energy[:, 1:] += np.diff(luma, axis=1) ** 2
    energy[1:, :] += np.diff(luma, axis=0) ** 2
    # Sum the energy over cells first: the window search then runs on a grid a few hundred cells wide even for a
    # 24 MP photo, at the cost of placing the box on multiples of the cell size.
    cell = max(1, size // 8)
    gh, gw = h // cell, w // cell
    cells = energy[: gh * cell, : gw * cell].reshape(gh, cell, gw, cell).sum(axis=(1, 3), dtype=np.float64)
    k = max(1, min(size // cell, gh, gw))
    sat = np.zeros((gh + 1, gw + 1))
    sat[1:, 1:] = cells.cumsum(0).cumsum(1)
    windows = sat[k:, k:] - sat[:-k, k:] - sat[k:, :-k] + sat[:-k, :-k]
    i, j = np.unravel_index(int(np.argmax(windows)), windows.shape)
    return min(int(i) * cell, h - size), min(int(j) * cell, w - size), size


def _clamp_crop(crop: tuple[int, int, int], shape: Sequence[int]) -> tuple[int, int, int]:
    """Move a given box inside panel 0 (and shrink it to fit) rather than fail the whole report over it."""
    top, left, size = (int(v) for v in crop)
    if size <= 0:
        raise ValueError(f"crop size must be positive, got {crop}")
    size = min(size, shape[0], shape[1])
    return int(np.clip(top, 0, shape[0] - size)), int(np.clip(left, 0, shape[1] - size)), size


def _crop(image: np.ndarray, shape0: Sequence[int], box: tuple[int, int, int]) -> np.ndarray:
    """The box of panel 0 cut from ``image``; a panel of another resolution gets the same relative region."""
    top, left, size = box
    h, w = image.shape[:2]
    sy, sx = h / shape0[0], w / shape0[1]
    y0, x0 = round(top * sy), round(left * sx)
    y1, x1 = max(y0 + 1, round((top + size) * sy)), max(x0 + 1, round((left + size) * sx))
    return image[y0 : min(y1, h), x0 : min(x1, w)]


def _resize_crop(crop: np.ndarray, side: int) -> Image.Image:
    """A ``side`` x ``side`` view of the crop: nearest neighbour when enlarging, so pixels stay visible as blocks;
    Lanczos only when a large box given by the caller is shown smaller than it is."""
    pil = Image.fromarray(_to_uint8(crop))
    if pil.size == (side, side):
        return pil
    enlarging = side >= max(pil.size)
    return pil.resize((side, side), Image.Resampling.NEAREST if enlarging else Image.Resampling.LANCZOS)


def _error_map(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``|image - reference|`` averaged over RGB, ``(H, W)`` float32, at the reference's resolution."""
    if image.shape != reference.shape:
        # A panel of another size (a low-resolution baseline, say) is compared after a bilinear resize.
        size = (reference.shape[1], reference.shape[0])
        channels = [Image.fromarray(np.ascontiguousarray(image[..., c])) for c in range(3)]
        image = np.stack([np.asarray(c.resize(size, Image.Resampling.BILINEAR)) for c in channels], axis=-1)
    err = np.empty(reference.shape[:2], np.float32)
    # Row blocks keep the temporaries small for a full-resolution photo.
    for r in range(0, err.shape[0], 512):
        err[r : r + 512] = np.abs(image[r : r + 512] - reference[r : r + 512]).mean(axis=2)
    return err


def _colorize(err: np.ndarray, vmax: float) -> Image.Image:
    """The colour-mapped error at display size (averaged down first, so a sparse error is not aliased away)."""
    pil = Image.fromarray(err)  # float32 -> mode "F"
    h, w = err.shape
    scale = MAX_DISPLAY_SIDE / max(h, w)
    if scale < 1:
        pil = pil.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX)
    rgba = colormaps[ERROR_CMAP](np.clip(np.asarray(pil) / vmax, 0.0, 1.0), bytes=True)
    return Image.fromarray(np.ascontiguousarray(rgba[..., :3]))


def _colorbar_png(vmax: float) -> str:
    fig = MplFigure(figsize=(3.2, 0.75), dpi=100)
    ax = fig.add_axes((0.05, 0.55, 0.9, 0.3))
    mappable = ScalarMappable(norm=Normalize(0.0, vmax), cmap=colormaps[ERROR_CMAP])
    bar = fig.colorbar(mappable, cax=ax, orientation="horizontal")
    bar.ax.tick_params(labelsize=7)
    bar.set_label("|Δ| (sRGB, 0 to 1)", fontsize=7)
    return _figure_png(fig, tight=False)


def _histogram_png(image: np.ndarray, label: str) -> str:
    """RGB histograms of the 8-bit display values, one line per channel."""
    codes = _to_uint8(image).reshape(-1, 3)
    fig = MplFigure(figsize=(3.2, 1.8), dpi=100)
    ax = fig.add_subplot()
    x = np.arange(256)
    for c, colour in enumerate(("tab:red", "tab:green", "tab:blue")):
        counts = np.bincount(codes[:, c], minlength=256) / codes.shape[0]
        ax.plot(x, counts, color=colour, linewidth=0.9)
        ax.fill_between(x, counts, color=colour, alpha=0.15, linewidth=0)
    ax.set_xlim(0, 255)
    ax.set_ylim(bottom=0)
    ax.set_yticks([])
    ax.set_title(label, fontsize=8)
    ax.tick_params(labelsize=7)
    return _figure_png(fig)


def _plot_png(plot: Plot) -> str:
    if plot.kind not in ("line", "bar"):
        raise ValueError(f"plot {plot.title!r}: kind must be 'line' or 'bar', got {plot.kind!r}")
    fig = MplFigure(figsize=(7.2, 3.8), dpi=100)
    ax = fig.add_subplot()
    n = max(1, len(plot.series))
    for k, (name, (x, y)) in enumerate(plot.series.items()):
        xs, ys = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if plot.kind == "line":
            ax.plot(xs, ys, marker="o" if len(xs) <= 30 else None, markersize=3, label=name)
        else:
            # Grouped bars: each series shifted within its category's slot.
            width = 0.8 / n
            ax.bar(xs - 0.4 + width * (k + 0.5), ys, width=width, label=name)
    if plot.x_ticks is not None:
        rotation = 30 if max((len(t) for t in plot.x_ticks), default=0) > 8 else 0
        ax.set_xticks(range(len(plot.x_ticks)), plot.x_ticks, rotation=rotation, ha="right" if rotation else "center")
    ax.set_xlabel(plot.x_label)
    ax.set_ylabel(plot.y_label)
    ax.grid(alpha=0.3)
    if plot.series:
        ax.legend(fontsize=8)
    return _figure_png(fig)


def _figure_png(fig: MplFigure, tight: bool = True) -> str:
    # A matplotlib.figure.Figure renders through Agg on savefig without pyplot, so no global backend is touched.
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight" if tight else None)
    return _data_uri(buffer.getvalue(), "image/png")


def _encode_png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return _data_uri(buffer.getvalue(), "image/png")


def _encode_jpeg(image: Image.Image, quality: int = JPEG_QUALITY) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality, optimize=True)
    return _data_uri(buffer.getvalue(), "image/jpeg")


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# -- JSON ------------------------------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars and arrays converted, tuples as lists, non-finite floats as ``None``."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        return v if math.isfinite(v) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)
