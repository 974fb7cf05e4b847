"""The README's two screenshots of a report.html, taken in headless Chromium: the top of the page, and one run's
block opened at its CAM grid.

Usage (the README's pictures: 1400 x 1000 and 900 x 1000 px)::

    prunescope-report experiments/segnet_camvid/report/results.csv
    python experiments/report_screenshots.py experiments/segnet_camvid/report/report.html \\
        --run "pca_nci (local) ratio 0.724 seed 0" --out docs

``--run`` is the text of the run block's heading after ``<job> · `` (method, ratio, seed). The browser is Debian's
``chromium`` driven by Selenium (the ``dev`` extra) through ``chromedriver`` (``apt-get install chromium
chromium-driver``), as in ``tests/test_report_html.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

TOP_NAME = "report_html.png"
CAMS_NAME = "report_html_cams.png"
TOP_VIEWPORT = (1400, 1000)  # CSS pixels: a study's summary table fits
CAMS_VIEWPORT = (900, 1000)  # the run block: the CAM grid is 520 pixels wide


def browser(profile: Path) -> webdriver.Chrome:
    """Headless Chromium with a throw-away profile (:func:`take` sizes its viewport)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        sys.exit("chromium and chromedriver not found: apt-get install chromium chromium-driver")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not look for a browser online
    options = Options()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    options.add_argument(f"--window-size={TOP_VIEWPORT[0]},{TOP_VIEWPORT[1]}")
    options.add_argument(f"--user-data-dir={profile}")
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def set_viewport(driver: webdriver.Chrome, size: tuple[int, int]) -> None:
    """Resize the window so that the page's viewport is ``size`` (the window less the browser's frame)."""
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight];")
    outer = driver.get_window_size()
    driver.set_window_size(outer["width"] + size[0] - inner[0], outer["height"] + size[1] - inner[1])


def take(page: Path, run: str, out: Path) -> list[Path]:
    """Save the top of ``page`` and the block of ``run`` (opened, scrolled to the top) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(Path(profile))
        try:
            driver.get(page.resolve().as_uri())
            set_viewport(driver, TOP_VIEWPORT)
            top = out / TOP_NAME
            driver.save_screenshot(str(top))
            blocks = [
                block
                for block in driver.find_elements(By.CSS_SELECTOR, "details.run")
                if f" · {run} — " in block.find_element(By.TAG_NAME, "summary").text
            ]
            if len(blocks) != 1:
                raise SystemExit(f"{len(blocks)} run blocks of {page} are headed '{run}'; name exactly one")
            set_viewport(driver, CAMS_VIEWPORT)
            driver.execute_script("arguments[0].open = true; arguments[0].scrollIntoView(true);", blocks[0])
            cams = out / CAMS_NAME
            driver.save_screenshot(str(cams))
        finally:
            driver.quit()
    return [top, cams]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("page", type=Path, help="a report.html")
    parser.add_argument(
        "--run", required=True, help="the run block to open, e.g. 'pca_nci ratio 0.724 seed 0'"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("docs"), help="folder of the two PNGs (default: docs)"
    )
    args = parser.parse_args(argv)
    for path in take(args.page, args.run, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
