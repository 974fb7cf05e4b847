"""report.html of a real sweep, opened in headless Chromium; CAM grids that span Sp2PS; a 40-run page's size.

The sweep: ``experiment=smoke`` (2-level U-Net of width 4 on 32x32 digit scenes) with l1 and random at two ratios,
one seed, through ``prunescope-train -m`` and ``prunescope-report`` as a user runs them. The browser is Debian's
``chromium`` driven by Selenium through ``chromedriver`` (both from apt; ``.ci/run`` installs them); the browser
test skips when either is missing.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from prunescope.cam.grid import GRID_FILENAME, GridLabel, render_cam_grid, save_cam_grid
from prunescope.cam.pair_records import PAIRS_FILENAME
from prunescope.data import DigitScenesDataModule
from prunescope.reporting import collect_runs, write_report
from test_sweep import job_dirs, run_multirun, run_report

SWEEP = ("seed=0", "pruning=l1,random", "pruning.ratio=0.3,0.6")
JOBS = 4
MAX_REPORT_BYTES = 10 * 2**20


@pytest.fixture(scope="module")
def real_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sweep folder and its report folder."""
    tmp_path = tmp_path_factory.mktemp("html_sweep")
    sweep_dir = tmp_path / "outputs" / "multiruns" / "html"
    run_multirun(tmp_path, *SWEEP, sweep_dir=sweep_dir)
    report_dir, stdout = run_report(sweep_dir, tmp_path)
    assert f"{JOBS} jobs (0 failed)" in stdout
    return sweep_dir, report_dir


def read_pairs(job_dir: Path) -> list[dict[str, str]]:
    with open(job_dir / PAIRS_FILENAME, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_cam_grid_spans_the_sp2ps_range_and_pairs_average_to_the_score(real_sweep: tuple[Path, Path]) -> None:
    sweep_dir, _ = real_sweep
    fixed_blocks = []
    for job_dir in job_dirs(sweep_dir):
        metrics = json.loads((job_dir / "metrics.json").read_text())
        pairs = read_pairs(job_dir)
        scored = [row for row in pairs if row["skipped"] == "0"]
        assert len(scored) == metrics["sp2ps.pairs"] and len(pairs) - len(scored) == metrics["sp2ps.skipped"]
        scores = [float(row["score"]) for row in scored]
        assert statistics.fmean(scores) == pytest.approx(metrics["sp2ps.score"], abs=1e-9)
        assert statistics.fmean(float(r["spectral"]) for r in scored) == pytest.approx(
            metrics["sp2ps.spectral"]
        )

        in_grid = [row for row in pairs if row["grid"]]
        grid_scores = [float(row["score"]) for row in in_grid if row["skipped"] == "0"]
        assert min(grid_scores) == min(scores) and max(grid_scores) == max(scores)
        assert statistics.median_low(scores) in grid_scores
        classes = sorted({int(row["class"]) for row in pairs})
        fixed = [(row["sample"], row["class"]) for row in in_grid if "class" in row["grid"].split(";")]
        assert sorted(int(c) for _, c in fixed) == classes  # one pair per class present (<= grid_classes)
        fixed_blocks.append(fixed)
        assert (job_dir / GRID_FILENAME).stat().st_size > 0
    assert all(
        block == fixed_blocks[0] for block in fixed_blocks
    )  # same fixed pairs in every run of the seed


@pytest.fixture
def chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A headless Chromium session through chromedriver, with the browser console log kept."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver_path is None:
        pytest.skip("chromium and chromedriver not installed (apt-get install chromium chromium-driver)")
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not look for a browser online
    options = Options()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1400,1000")
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.slow
def test_report_in_headless_chromium(real_sweep: tuple[Path, Path], chromium, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    _, report_dir = real_sweep
    page = report_dir / "report.html"
    text = page.read_text(encoding="utf-8")
    assert not re.findall(r'(?:src|href)="(?!data:|#)', text), "report.html must not load anything"
    chromium.get(page.as_uri())

    table = chromium.find_element(By.ID, "runs-unet-digit_scenes")
    header = [
        th.text.replace("▲", "").replace("▼", "").strip()
        for th in table.find_elements(By.CSS_SELECTOR, "thead th")
    ]
    assert len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == JOBS + 1  # every run + the baseline
    assert table.find_element(By.CSS_SELECTOR, "tbody.pinned tr").text.startswith("Baseline")
    column = header.index("Sp2PS")

    def body() -> list[tuple[str, float]]:
        rows = table.find_elements(By.CSS_SELECTOR, "tbody.rows tr")
        return [
            (
                row.find_elements(By.TAG_NAME, "td")[0].text,
                float(row.find_elements(By.TAG_NAME, "td")[column].text),
            )
            for row in rows
        ]

    initial = body()
    sp2ps_header = table.find_elements(By.CSS_SELECTOR, "thead th")[column]
    sp2ps_header.click()
    ascending = body()
    sp2ps_header.click()
    descending = body()
    assert [s for _, s in ascending] == sorted(s for _, s in initial)
    assert [s for _, s in descending] == sorted((s for _, s in initial), reverse=True)
    assert sorted(ascending) == sorted(initial)
    assert ascending != initial or descending != initial  # the click reorders the rows
    assert table.find_element(By.CSS_SELECTOR, "tbody.pinned tr").text.startswith("Baseline")

    images = chromium.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth]);"
    )
    grids = [image for image in images if image[0].startswith("CAM grid")]
    assert len(grids) == JOBS and len(images) >= JOBS + 5  # the grids and at least five plots
    assert all(complete and width > 0 for _, complete, width in images), images
    errors = [entry for entry in chromium.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    screenshot = tmp_path / "report.png"
    assert chromium.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000


def synthetic_metrics(method: str, ratio: float, seed: int) -> dict:
    """metrics.json of a U-Net on digit scenes with plausible values (size test)."""
    quality = 0.6 - 0.3 * ratio + 0.01 * seed
    return {
        "run.name": f"unet_digit_scenes_{method}_r{ratio}_s{seed}",
        "run.model": "unet",
        "run.data": "digit_scenes",
        "run.method": method,
        "run.scope": "global",
        "run.ratio": ratio,
        "run.seed": seed,
        "run.status": "completed",
        "quality.metric": "miou",
        "baseline.miou": 0.6 + 0.01 * seed,
        "baseline.iou_per_class": [0.97, *[0.5 + 0.02 * c for c in range(10)]],
        "baseline.params": 487_000,
        "baseline.macs": 500_000_000,
        "pruned.miou": quality,
        "pruned.iou_per_class": [0.95, *[quality + 0.01 * c for c in range(10)]],
        "pruned.params": int(487_000 * (1 - ratio) ** 2),
        "pruned.macs": int(500_000_000 * (1 - ratio) ** 2),
        "delta.miou": quality - 0.6,
        "drop.params_pct": 100 * (1 - (1 - ratio) ** 2),
        "drop.macs_pct": 100 * (1 - (1 - ratio) ** 2),
        "speedup": 1 / (1 - ratio),
        "sp2ps.score": 0.9 - ratio / 2,
        "sp2ps.spatial": 0.85 - ratio / 2,
        "sp2ps.spectral": 0.95 - ratio / 2,
        "sp2ps.pairs": 600,
        "sp2ps.skipped": 2,
        "sp2ps.per_class": {str(c): 0.9 - ratio / 2 - 0.01 * c for c in range(11)},
        "time.total": 300.0,
    }


def full_size_grid(path: Path) -> Path:
    """A CAM grid as the callback draws it for digit scenes (3 spread + 11 class rows), 64x64 scenes."""
    data = DigitScenesDataModule(num_train=1, num_val=1, num_test=14, image_size=64)
    data.setup()
    images = data.test_dataset.tensors[0]
    generator = torch.Generator().manual_seed(0)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing="ij")
    centres = torch.rand(14, 2, 2, generator=generator) * 2 - 1

    def blobs(which: int) -> torch.Tensor:
        cx, cy = centres[:, which, 0].view(-1, 1, 1), centres[:, which, 1].view(-1, 1, 1)
        maps = torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / 0.1) + 0.05 * torch.rand(
            14, 64, 64, generator=generator
        )
        return maps / maps.amax(dim=(1, 2), keepdim=True)

    labels = [
        GridLabel("median Sp2PS", ("class 3", "test sample 9", "Sp2PS 0.5", "spatial 0.4", "spectral 0.7"))
    ] * 14
    return save_cam_grid(path, render_cam_grid(images, blobs(0), blobs(1), labels))


def test_report_of_40_runs_is_under_10_mb(tmp_path: Path) -> None:
    grid = full_size_grid(tmp_path / "grid.png")
    sweep = tmp_path / "sweep"
    jobs = [
        (m, r, s) for m in ("l1", "random", "fpgm", "isd") for r in (0.2, 0.4, 0.6, 0.8, 0.9) for s in (0, 1)
    ]
    assert len(jobs) == 40
    for index, (method, ratio, seed) in enumerate(jobs):
        job = sweep / str(index)
        (job / ".hydra").mkdir(parents=True)
        (job / "metrics.json").write_text(json.dumps(synthetic_metrics(method, ratio, seed)))
        (job / ".hydra" / "overrides.yaml").write_text(
            f"- pruning={method}\n- pruning.ratio={ratio}\n- seed={seed}\n"
        )
        shutil.copy(grid, job / GRID_FILENAME)
    files = write_report(collect_runs([sweep]), tmp_path / "report")
    size = files["html"].stat().st_size
    page = files["html"].read_text(encoding="utf-8")
    print(
        f"report.html of 40 runs: {size / 2**20:.2f} MiB (CAM grid PNG {grid.stat().st_size / 1024:.0f} KiB)"
    )
    assert page.count('class="cam-grid"') == 40
    assert size < MAX_REPORT_BYTES
    assert (
        os.path.getsize(grid) > 100_000
    )  # the grids are full size: the page is small because they are compressed
