"""Shared fixtures: paths to the bundled test data and to the workplace's larger data set."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
RAW = DATA / "raw"
D30 = RAW / "canon_eos_d30.crw"
DC50 = RAW / "kodak_dc50.kdc"
EOS550D = RAW / "canon_550d_magiclantern_colorchart.dng"


def _shared_data() -> Path | None:
    env = os.environ.get("PARAMISP_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    return next((p for p in candidates if (p / "SOURCES.md").is_file()), None)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The workplace's ``shared/data`` (present in CI). Outside it the test is skipped, saying so;
    with ``PARAMISP_REQUIRE_SHARED=1`` (set by ``.ci/run``) its absence is a failure instead."""
    path = _shared_data()
    if path is None:
        if os.environ.get("PARAMISP_REQUIRE_SHARED") == "1":
            pytest.fail("shared/data is required (PARAMISP_REQUIRE_SHARED=1) but was not found")
        pytest.skip("needs the workplace's shared/data (set PARAMISP_SHARED_DATA to its path)")
    return path


def assert_tables_filled(section) -> None:  # type: ignore[no-untyped-def]
    """Every table of a demo step's section has rows as wide as its columns, and its numbers are finite."""
    for table in section.tables:
        assert table.rows and all(len(row) == len(table.columns) for row in table.rows), table.title
        numbers = [v for row in table.rows for v in row if not isinstance(v, str)]
        assert numbers and all(math.isfinite(v) for v in numbers), table.title
