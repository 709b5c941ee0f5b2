"""Open an HTML file in headless Chromium and read back what a person would see: the decoded images, the
tables' texts and a full-page screenshot.

A test helper, not a test file: the Debian ``chromium`` and ``chromium-driver`` packages and ``selenium`` (the
``test`` extra) provide the browser. Their paths are passed explicitly, so Selenium Manager never tries to download
a browser or a driver (the test machines have no network).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

WINDOW_WIDTH, WINDOW_HEIGHT = 1400, 1000
#: A taller page is cut here in the screenshot: Chromium's capture gets slow and huge beyond it.
MAX_SCREENSHOT_HEIGHT = 6000
PAGE_LOAD_TIMEOUT_S = 60

_IMAGES_JS = """
return Array.from(document.images).map(img => ({
    cls: img.className, alt: img.alt, src_prefix: img.getAttribute('src').slice(0, 32),
    naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight, complete: img.complete}));
"""
_TABLES_JS = """
return Array.from(document.querySelectorAll('table')).map(t => ({
    headers: Array.from(t.querySelectorAll('th')).map(c => c.textContent.trim()),
    rows: Array.from(t.querySelectorAll('tbody tr')).map(
        r => Array.from(r.querySelectorAll('td')).map(c => c.textContent.trim()))}));
"""


def _browser_paths() -> tuple[str | None, str | None]:
    return shutil.which("chromium"), shutil.which("chromedriver")


def browser_available() -> str | None:
    """Why the browser check cannot run (``None`` when chromium, chromedriver and selenium are all present)."""
    chromium, chromedriver = _browser_paths()
    missing = []
    if chromium is None:
        missing.append("chromium (Debian: apt-get install chromium)")
    if chromedriver is None:
        missing.append("chromedriver (Debian: apt-get install chromium-driver)")
    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium (pip install -e '.[test]')")
    return "missing " + ", ".join(missing) if missing else None


def require_browser() -> None:
    """Skip without chromium/chromedriver/selenium, or fail under PARAMISP_REQUIRE_TOOLS=1 (as CI sets)."""
    reason = browser_available()
    if reason is not None:
        if os.environ.get("PARAMISP_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{reason}, and PARAMISP_REQUIRE_TOOLS=1 requires it")
        pytest.skip(reason)


def check_report_in_browser(html: Path, screenshot: Path) -> dict[str, Any]:
    """Load ``html`` in headless Chromium, save a full-page PNG to ``screenshot`` and return what loaded.

    Returns ``{"images": [...], "tables": [...], "title": str}``: per ``<img>`` its class, alt text, the start of its
    ``src``, ``naturalWidth``/``naturalHeight`` (0 when it did not decode) and ``complete``; per ``<table>`` its
    header texts (``headers``) and data-cell texts row by row (``rows``).
    """
    reason = browser_available()
    if reason is not None:
        raise RuntimeError(f"cannot run the browser check: {reason}")
    # Imported here so that importing this module (and collecting the tests) works without selenium.
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    chromium, chromedriver = _browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={WINDOW_WIDTH},{WINDOW_HEIGHT}"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(chromedriver)))
    try:
        driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_S)
        driver.get(Path(html).resolve().as_uri())
        WebDriverWait(driver, PAGE_LOAD_TIMEOUT_S).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        images = driver.execute_script(_IMAGES_JS)
        tables = driver.execute_script(_TABLES_JS)
        title = driver.title
        # save_screenshot captures the viewport only; growing the window to the page makes it a full-page shot.
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        driver.set_window_size(WINDOW_WIDTH, min(max(height, WINDOW_HEIGHT), MAX_SCREENSHOT_HEIGHT))
        if not driver.save_screenshot(str(screenshot)):
            raise RuntimeError(f"Chromium could not write the screenshot {screenshot}")
    finally:
        driver.quit()
    return {"images": images, "tables": tables, "title": title}
