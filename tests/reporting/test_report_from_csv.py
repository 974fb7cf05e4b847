"""``prunescope-report <results.csv>``: report.html from a committed report folder, its numbers those of the CSV.

The CSV is read here with :mod:`csv` alone, as text, so that the reader under test is not also the judge.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import statistics
from pathlib import Path

import pytest

from prunescope.report import main
from prunescope.reporting import read_results_csv
from prunescope.reporting.committed_report import CAMS_DIR_NAME, CommittedReport, cam_grid_name

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
STUDIES = sorted(path.parent.parent for path in EXPERIMENTS.glob("*/report/results.csv"))
MAX_REPORT_BYTES = 10 * 2**20
# runs-table columns (prunescope.reporting.html._runs_table)
METHOD, SEED, STATUS, QUALITY, SP2PS = 1, 4, 5, 8, 10


def table_rows(page: str, table_id: str, body: str) -> list[list[str]]:
    """Cell texts (tags stripped) of one tbody (``pinned`` or ``rows``) of a report.html table; none without it."""
    table = page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    if f'<tbody class="{body}">' not in table:
        return []
    section = table.split(f'<tbody class="{body}">', 1)[1].split("</tbody>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", section, flags=re.S)
    ]


def read_csv_text(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_self_contained(page: str) -> None:
    assert not re.findall(r'(?:src|href)="(?!data:|#)', page), "report.html must not load anything"
    assert "http://" not in page and "https://" not in page


@pytest.fixture
def vgg16_report(tmp_path: Path) -> Path:
    """A copy of experiments/vgg16_cifar10/report: 8 runs (two sweeps whose jobs share the names 0 and 1), three
    CAM grids in cams/."""
    report = tmp_path / "vgg16_cifar10" / "report"
    shutil.copytree(
        EXPERIMENTS / "vgg16_cifar10" / "report", report, ignore=shutil.ignore_patterns("report.html")
    )
    return report


def test_committed_report_html_holds_the_csv_numbers_and_writes_nothing_else(vgg16_report: Path) -> None:
    before = folder_bytes(vgg16_report)
    assert main([str(vgg16_report / "results.csv")]) == 0  # --out defaults to the CSV's folder
    after = folder_bytes(vgg16_report)
    assert set(after) == set(before) | {"report.html"}
    assert all(
        after[name] == data for name, data in before.items()
    )  # results.csv, summary.csv, plots untouched

    page_path = vgg16_report / "report.html"
    assert page_path.stat().st_size < MAX_REPORT_BYTES
    page = page_path.read_text(encoding="utf-8")
    assert_self_contained(page)

    results = read_csv_text(vgg16_report / "results.csv")
    shown = sorted(
        (row[METHOD], row[SEED], row[STATUS], row[QUALITY], row[SP2PS])
        for row in table_rows(page, "runs-vgg16-cifar10", "rows")
    )
    expected = sorted(
        (
            r["run.method"],
            r["run.seed"],
            r["run.status"],
            f"{float(r['pruned.acc']) * 100:.2f}",
            f"{float(r['sp2ps.score']):.3f}",
        )
        for r in results
    )
    assert shown == expected and len(shown) == 8

    summary = {(r["run.method"], r["run.ratio"]): r for r in read_csv_text(vgg16_report / "summary.csv")}
    shown_summary = {(row[0], row[1]): row[7] for row in table_rows(page, "summary-vgg16-cifar10", "rows")}
    assert set(shown_summary) == set(summary)
    for key, row in summary.items():
        text = f"{float(row['pruned.acc.mean']) * 100:.2f}"
        if row["pruned.acc.std"]:
            text += f" ± {float(row['pruned.acc.std']) * 100:.2f}"
        assert shown_summary[key] == text, key
    per_seed = list({r["run.seed"]: float(r["baseline.acc"]) for r in reversed(results)}.values())
    (baseline,) = table_rows(page, "summary-vgg16-cifar10", "pinned")
    assert len(per_seed) == 2
    assert baseline[7] == f"{statistics.fmean(per_seed) * 100:.2f} ± {statistics.stdev(per_seed) * 100:.2f}"

    # every run has one anchor, and every link in the runs table leads to exactly one run block
    anchors = re.findall(r'<details class="run" id="([^"]+)"', page)
    assert len(anchors) == len(set(anchors)) == 8
    links = re.findall(r'<a href="#(run-[^"]+)"', page)
    assert sorted(links) == sorted(anchors)

    # the three committed grids, each with its run; the other runs show none, and no overrides are made up
    grids = {
        summary_text: 'class="cam-grid"' in body
        for summary_text, body in re.findall(
            r'<details class="run" id="[^"]+"><summary>(.*?)</summary>(.*?)</details>', page, flags=re.S
        )
    }
    with_grid = sorted(text.split(" · ")[1].split(" —")[0] for text, has in grids.items() if has)
    assert with_grid == [f"{method} ratio 0.865 seed 0" for method in ("isd", "l1", "pca_nci")]
    assert page.count('class="cam-grid"') == 3 and page.count("data:image/webp;base64,") == 3
    assert "Overrides:" not in page and "Config overrides: left out" in page
    assert "CAM grids: shown for the 3 of 8 runs" in page


def test_page_from_results_csv_shows_what_the_page_from_metrics_json_shows(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    for number, (method, ratio, seed, miou) in enumerate(
        [("l1", 0.5, 0, 0.41), ("l1", 0.5, 1, 0.43), ("pca_nci", 0.5, 0, 0.47), ("pca_nci", 0.25, 0, 0.5)]
    ):
        job = sweep / str(number)
        job.mkdir(parents=True)
        metrics = {
            "run.name": str(number),  # Hydra's job names look like numbers but are text
            "run.model": "unet",
            "run.data": "camvid",
            "run.method": method,
            "run.scope": "global",
            "run.ratio": ratio,
            "run.seed": seed,
            "run.status": "completed",
            "quality.metric": "miou",
            "baseline.miou": 0.5 + 0.01 * seed,
            "baseline.iou_per_class": [0.9, None, 0.1 * (seed + 1)],
            "baseline.params": 1_940_000,
            "baseline.macs": 3_100_000_000,
            "pruned.miou": miou,
            "pruned.iou_per_class": [0.85, None, miou / 3],
            "pruned.params": int(1_940_000 * (1 - ratio)),
            "pruned.macs": int(3_100_000_000 * (1 - ratio) ** 2),
            "delta.miou": miou - 0.5 - 0.01 * seed,
            "drop.params_pct": 100 * ratio,
            "sp2ps.score": 1 / 3 + ratio,
            "sp2ps.per_class": {"0": 0.7, "2": miou},
            "speedup": 1 / (1 - ratio),
            "time.total": 101.25,
        }
        (job / "metrics.json").write_text(json.dumps(metrics))
    failed = sweep / "4"
    failed.mkdir()
    (failed / "metrics.json").write_text(
        json.dumps(
            {"run.name": "4", "run.status": "failed", "run.error": "[Errno 28] No space left on device"}
        )
    )
    report = tmp_path / "report"
    assert main([str(sweep), "--out", str(report)]) == 0
    from_json = (report / "report.html").read_text(encoding="utf-8")
    before = folder_bytes(report)

    rebuilt = tmp_path / "rebuilt"
    assert main([str(report / "results.csv"), "--out", str(rebuilt)]) == 0
    assert folder_bytes(report) == before and [p.name for p in rebuilt.iterdir()] == ["report.html"]
    from_csv = (rebuilt / "report.html").read_text(encoding="utf-8")
    assert_self_contained(from_csv)

    for table_id in ("summary-unet-camvid", "runs-unet-camvid", "iou-unet-camvid", "sp2ps-class-unet-camvid"):
        for body in ("pinned", "rows"):
            expected = table_rows(from_json, table_id, body)
            assert table_rows(from_csv, table_id, body) == expected, f"{table_id} {body}"
    assert table_rows(from_csv, "failed-runs", "rows") == table_rows(from_json, "failed-runs", "rows")
    assert "[Errno 28] No space left on device" in from_csv.split('id="failed"', 1)[1]
    runs = table_rows(from_csv, "runs-unet-camvid", "rows")
    assert sorted(row[0] for row in runs) == ["0", "1", "2", "3"]  # job names kept, "0" included
    assert from_csv.count("data:image/png;base64,") == from_json.count("data:image/png;base64,") > 0

    rows = read_results_csv(report / "results.csv")
    assert [row["run.name"] for row in rows if row["run.status"] == "completed"] == ["0", "1", "3", "2"]
    assert rows[0]["baseline.iou_per_class"] == [0.9, None, 0.1] and rows[0]["time.total"] == 101.25


def test_results_csv_input_is_checked(vgg16_report: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results_csv = str(vgg16_report / "results.csv")
    for argv, message in (
        ([results_csv, str(vgg16_report)], "a results.csv is read alone"),
        ([results_csv, "--wandb"], "--wandb logs a sweep's report"),
        ([str(vgg16_report / "summary.csv")], "no run.status column"),
        ([str(vgg16_report / "missing.csv")], "No such file"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err, argv
    assert not (vgg16_report / "report.html").exists()


@pytest.mark.parametrize(
    ("row", "name"),
    [
        (
            {"run.method": "pca_nci", "run.scope": "local", "run.ratio": 0.724, "run.seed": 0},
            "pca_nci_local_72.4_seed0",
        ),
        ({"run.method": "l1", "run.scope": "global", "run.ratio": 0.3, "run.seed": 1}, "l1_30_seed1"),
        ({"run.method": "l1", "run.ratio": 0.0, "run.layers": 2, "run.seed": 0}, "levels2_seed0"),
        (
            {"run.method": "pca_nci", "run.ratio": 0.785, "run.layers": 2, "run.seed": 0},
            "levels2_pca_nci_78.5_seed0",
        ),
        ({"run.status": "failed", "run.error": "killed"}, None),
    ],
)
def test_cam_grid_name(row: dict, name: str | None) -> None:
    assert cam_grid_name(row) == (None if name is None else f"{name}.jpg")


@pytest.mark.parametrize("study", STUDIES, ids=lambda path: path.name)
def test_every_committed_cam_grid_names_one_run_of_its_study(study: Path) -> None:
    results_csv = study / "report" / "results.csv"
    rows = read_results_csv(results_csv)
    grids = sorted(path.name for path in (study / "report" / CAMS_DIR_NAME).glob("*.jpg"))
    assert grids, f"{study.name} has no CAM grids in report/{CAMS_DIR_NAME}/"
    files = CommittedReport(results_csv, rows)
    assert sorted(path.name for row in rows if (path := files.cam_grid(row)) is not None) == grids
