"""``paramisp demo``: every job of the suite on bundled data, each beside its baseline, in one HTML report.

The steps run in the order the suite stacks up (the ISP both ways, blur synthesis, deblurring on it, HDR,
camera-to-camera); each is a function ``(DemoContext) -> Section`` in its own module, imported only when it runs.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from core_isp.errors import BadInputError
from core_isp.io.writers import atomic_write
from paramisp.demo.context import DemoContext
from paramisp.demo.report import DemoReport, Section, report_to_json, write_html
from paramisp.machine import machine_line, peak_rss_mib


@dataclass(frozen=True)
class DemoStep:
    """One job of the demo: its key (the report's anchor and the output sub-folder) and where its function is."""

    key: str
    title: str
    module: str
    function: str = "run"

    def load(self) -> Callable[[DemoContext], Section]:
        """The step's function (its module imported now, so the command line starts fast)."""
        return getattr(importlib.import_module(self.module), self.function)


STEPS: tuple[DemoStep, ...] = (
    DemoStep("isp", "ISP both ways on a real RAW", "paramisp.demo.isp_step"),
    DemoStep("synth-blur", "Blur synthesis in RAW", "paramisp.demo.blur_step", "run_synth"),
    DemoStep("deblur", "RAW-domain deblurring", "paramisp.demo.blur_step", "run_deblur"),
    DemoStep("hdr", "HDR merge of a bracket", "paramisp.demo.hdr_step"),
    DemoStep("cam2cam", "Camera-to-camera transfer", "paramisp.demo.cam2cam_step"),
)
STEP_KEYS = tuple(step.key for step in STEPS)
REPORT_NAME = "report.html"
JSON_NAME = "report.json"


@dataclass(frozen=True)
class DemoResult:
    """The report and where it was written."""

    report: DemoReport
    html: Path
    json: Path


def select_steps(only: Sequence[str] | None) -> list[DemoStep]:
    """The steps named in ``only`` (all when empty), in the demo's order; an unknown name is bad input."""
    if not only:
        return list(STEPS)
    unknown = sorted(set(only) - set(STEP_KEYS))
    if unknown:
        raise BadInputError(f"unknown demo step(s) {', '.join(unknown)}; the steps are {', '.join(STEP_KEYS)}")
    return [step for step in STEPS if step.key in only]


def run_demo(context: DemoContext, only: Sequence[str] | None = None) -> DemoResult:
    """Run the steps into ``context.out_dir`` and write ``report.html`` (self-contained) and ``report.json``."""
    steps = select_steps(only)
    context.out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sections: list[Section] = []
    bar = tqdm(steps, desc="paramisp demo", unit="step", disable=not context.progress)
    for step in bar:
        bar.set_postfix_str(step.key)
        t0 = time.perf_counter()
        section = step.load()(context)
        section.seconds = time.perf_counter() - t0
        sections.append(section)
    report = DemoReport(
        title="paramisp demo",
        sections=sections,
        machine=machine_line(),
        total_seconds=time.perf_counter() - started,
        peak_rss_mib=peak_rss_mib(),
        notes=[
            f"Images worked at a long side of {context.long_side_px} px, seed {context.seed}.",
            "Every number is computed in this run; benchmarks/RESULTS.md has the same comparisons at scale, "
            "with bootstrap intervals over scenes.",
        ],
    )
    html = write_html(report, context.out_dir / REPORT_NAME)
    json_path = _write_json(report, context.out_dir / JSON_NAME)
    return DemoResult(report, html, json_path)


def _write_json(report: DemoReport, path: Path) -> Path:
    with atomic_write(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(report_to_json(report), indent=2))
    return path
