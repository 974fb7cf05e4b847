"""prunescope-report end to end on a synthetic sweep: files, row counts, mean/std, best marks, failures, W&B."""

from __future__ import annotations

import csv
import json
import re
import statistics
from pathlib import Path

import numpy as np
import pytest
import wandb
from matplotlib.image import imread, imsave

from prunescope.report import main
from prunescope.reporting import collect_runs, log_report_to_wandb, summarize, write_report
from prunescope.reporting.plots import pareto_front

BASE_PARAMS, BASE_MACS = 7_760_000, 13_500_000_000
BASELINE = {0: {"miou": 0.66, "pixel_acc": 0.90}, 1: {"miou": 0.68, "pixel_acc": 0.91}}
# (method, ratio) -> per seed: (pruned params, pruned macs, miou, sp2ps, speedup)
CELLS = {
    ("l1", 0.3): {
        0: (4_000_000, 7_000_000_000, 0.60, 0.91, 1.40),
        1: (4_000_000, 7_000_000_000, 0.62, 0.89, 1.50),
    },
    ("l1", 0.5): {
        0: (2_000_000, 3_500_000_000, 0.55, 0.80, 1.90),
        1: (2_000_000, 3_500_000_000, 0.56, 0.82, 2.10),
    },
    ("fpgm", 0.3): {
        0: (4_000_000, 7_000_000_000, 0.63, 0.85, 1.45),
        1: (4_000_000, 7_000_000_000, 0.61, 0.87, 1.35),
    },
    ("fpgm", 0.5): {
        0: (2_000_000, 3_500_000_000, 0.54, 0.78, 1.80),
        1: (2_000_000, 3_500_000_000, 0.52, 0.76, 1.90),
    },
}
FAILED_NAME = "unet_camvid_l1_r0.5_s2"


def _metrics(method: str, ratio: float, seed: int) -> dict:
    params, macs, miou, sp2ps, speedup = CELLS[(method, ratio)][seed]
    base = BASELINE[seed]
    return {
        "run.name": f"unet_camvid_{method}_r{ratio}_s{seed}",
        "run.model": "unet",
        "run.data": "camvid",
        "run.method": method,
        "run.scope": "global",
        "run.ratio": ratio,
        "run.seed": seed,
        "run.schedule": "one_shot",
        "run.status": "completed",
        "quality.metric": "miou",
        "baseline.miou": base["miou"],
        "baseline.pixel_acc": base["pixel_acc"],
        "baseline.iou_per_class": [0.9, 0.5, 0.58],
        "baseline.params": BASE_PARAMS,
        "baseline.macs": BASE_MACS,
        "baseline.size_mb": 29.6,
        "baseline.latency_ms": 12.0,
        "pruned.miou": miou,
        "pruned.pixel_acc": base["pixel_acc"] - 0.02,
        "pruned.iou_per_class": [0.88, 0.45, 0.5],
        "pruned.params": params,
        "pruned.macs": macs,
        "pruned.size_mb": params * 4 / 2**20,
        "pruned.latency_ms": 12.0 / speedup,
        "drop.params_pct": 100 * (1 - params / BASE_PARAMS),
        "drop.macs_pct": 100 * (1 - macs / BASE_MACS),
        "delta.miou": miou - base["miou"],
        "speedup": speedup,
        "sp2ps.score": sp2ps,
        "sp2ps.spatial": sp2ps + 0.02,
        "sp2ps.spectral": sp2ps - 0.02,
        "sp2ps.pairs": 64,
        "sp2ps.skipped": 0,
        "sp2ps.per_class": {"car": sp2ps, "road": sp2ps + 0.01},
        "time.baseline": 0.0,
        "time.prune": 3.2,
        "time.finetune": 120.0,
        "time.sp2ps": 8.0,
        "time.total": 131.2,
    }


def _write(path: Path, metrics: dict) -> None:
    path.mkdir(parents=True)
    (path / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "sweep"
    for method, ratio in CELLS:
        for seed in (0, 1):
            _write(root / f"{method}_{ratio}" / str(seed), _metrics(method, ratio, seed))
    failed = {
        "run.name": FAILED_NAME,
        "run.model": "unet",
        "run.data": "camvid",
        "run.method": "l1",
        "run.scope": "global",
        "run.ratio": 0.5,
        "run.seed": 2,
        "run.status": "failed",
        "run.error": "RuntimeError: CUDA out of memory | while fine-tuning",
        "baseline.miou": 0.67,
    }
    _write(root / "l1_0.5" / "2", failed)
    _write(root / "baselines" / "abcdef0123456789", {"test/miou": 0.66})  # the baseline cache is not a job
    return root


def _markdown_table(md: str, title: str) -> list[list[str]]:
    section = md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def test_cli_writes_every_report_file(sweep: Path) -> None:
    assert main([str(sweep)]) == 0
    out = sweep / "report"
    expected = ["results.csv", "summary.csv", "results.md", "results.tex"]
    plots = [
        "quality_vs_ratio.png",
        "sp2ps_vs_ratio.png",
        "quality_vs_sp2ps.png",
        "flops_drop_vs_quality.png",
    ]
    for name in expected + plots:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for name in plots:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        image = imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
        assert image[..., :3].std() > 0.01  # something was drawn

    with open(out / "results.csv", newline="") as handle:
        results = list(csv.DictReader(handle))
    assert len(results) == 9
    assert sum(row["run.status"] == "failed" for row in results) == 1
    assert not any("baselines" in row["source.path"] for row in results)
    first = next(row for row in results if row["run.status"] == "completed")
    assert json.loads(first["pruned.iou_per_class"]) == [0.88, 0.45, 0.5]
    assert "sp2ps.per_class.car" in first  # nested values flattened into dotted keys


def test_summary_has_mean_and_sample_std_over_seeds(sweep: Path) -> None:
    out = sweep / "out"
    assert main([str(sweep), "--out", str(out)]) == 0
    with open(out / "summary.csv", newline="") as handle:
        summary = list(csv.DictReader(handle))
    assert len(summary) == 4
    for row in summary:
        seeds = CELLS[(row["run.method"], float(row["run.ratio"]))]
        assert int(row["n"]) == 2  # the failed seed 2 of l1@0.5 is not averaged
        for key, index in {"pruned.miou": 2, "sp2ps.score": 3, "speedup": 4}.items():
            values = [seeds[s][index] for s in (0, 1)]
            assert float(row[f"{key}.mean"]) == pytest.approx(statistics.fmean(values))
            assert float(row[f"{key}.std"]) == pytest.approx(statistics.stdev(values))
        deltas = [seeds[s][2] - BASELINE[s]["miou"] for s in (0, 1)]
        assert float(row["delta.miou.mean"]) == pytest.approx(statistics.fmean(deltas))


def test_markdown_marks_best_per_column_and_lists_failures(sweep: Path) -> None:
    out = sweep / "out"
    main([str(sweep), "--out", str(out)])
    md = (out / "results.md").read_text()
    table = _markdown_table(md, "unet on camvid")
    header, rows = table[0], {(r[0], r[1]): r for r in table[2:]}
    assert header == [
        "Method",
        "Ratio",
        "Params (M, ↓%)",
        "FLOPs (G, ↓%)",
        "mIoU % (Δ)",
        "Sp2PS",
        "Speed-up",
        "n",
    ]
    assert set(rows) == {("Baseline", "–"), ("l1", "0.3"), ("l1", "0.5"), ("fpgm", "0.3"), ("fpgm", "0.5")}
    col = {name: header.index(name) for name in header}

    def bold(method: str, ratio: str, column: str) -> bool:
        cell = rows[(method, ratio)][col[column]]
        return cell.startswith("**") and cell.endswith("**")

    method_rows = [key for key in rows if key[0] != "Baseline"]
    expected_best = {
        "Params (M, ↓%)": {("l1", "0.5"), ("fpgm", "0.5")},  # tie: both bold
        "FLOPs (G, ↓%)": {("l1", "0.5"), ("fpgm", "0.5")},
        "mIoU % (Δ)": {("fpgm", "0.3")},  # mean 0.62 beats l1@0.3's 0.61
        "Sp2PS": {("l1", "0.3")},
        "Speed-up": {("l1", "0.5")},
    }
    for column, winners in expected_best.items():
        assert {key for key in method_rows if bold(*key, column)} == winners, column
        assert not bold("Baseline", "–", column)

    assert rows[("fpgm", "0.3")][col["mIoU % (Δ)"]] == "**62.00 ± 1.41 (-5.00)**"
    assert rows[("l1", "0.5")][col["FLOPs (G, ↓%)"]] == "**7.00 (↓74.1%)**"  # 2·MACs, no ± when std is 0
    assert rows[("Baseline", "–")][col["mIoU % (Δ)"]] == "67.00 ± 1.41"
    assert rows[("l1", "0.5")][col["n"]] == "2"

    failed = _markdown_table(md, "Failed runs")
    assert failed[0] == ["Name", "Model", "Data", "Method", "Ratio", "Seed", "Error"]
    assert len(failed) == 3
    assert failed[2][:6] == [FAILED_NAME, "unet", "camvid", "l1", "0.5", "2"]
    assert "CUDA out of memory" in failed[2][6]

    tex = (out / "results.tex").read_text()
    assert tex.count(r"\begin{table}") == 2  # results + failed runs
    assert r"\textbf{62.00 $\pm$ 1.41 (-5.00)}" in tex
    assert FAILED_NAME.replace("_", r"\_") in tex


def test_missing_keys_and_several_sweeps(tmp_path: Path) -> None:
    seg = tmp_path / "seg"
    cls = tmp_path / "cls"
    no_sp2ps = {k: v for k, v in _metrics("l1", 0.3, 0).items() if not k.startswith("sp2ps.")}
    _write(seg / "a", no_sp2ps)
    vgg = {
        "run.name": "vgg",
        "run.model": "vgg16",
        "run.data": "cifar10",
        "run.method": "taylor",
        "run.scope": "local",
        "run.ratio": 0.4,
        "run.seed": 0,
        "run.status": "completed",
        "quality.metric": "acc",
        "baseline.acc": 0.93,
        "pruned.acc": 0.915,
        "delta.acc": -0.015,
        "pruned.params": 9_000_000,
        "sp2ps.score": 0.7,
    }
    _write(cls / "b", vgg)
    (cls / "broken").mkdir()
    (cls / "broken" / "metrics.json").write_text("{not json")

    rows = collect_runs([seg, cls])
    assert len(rows) == 3
    broken = next(row for row in rows if row["run.name"] == "broken")
    assert broken["run.status"] == "failed" and "unreadable" in broken["run.error"]

    files = write_report(rows, tmp_path / "out")
    md = files["markdown"].read_text()
    seg_table = _markdown_table(md, "unet on camvid")
    assert seg_table[2 + 1][seg_table[0].index("Sp2PS")] == "–"  # row after the baseline row
    cls_table = _markdown_table(md, "vgg16 on cifar10")
    assert cls_table[0][4] == "Acc % (Δ)"
    taylor = next(r for r in cls_table if r[0] == "taylor")
    assert taylor[4] == "**91.50 (-1.50)**" and taylor[3] == "–"  # no MACs recorded
    assert "broken" in md.split("## Failed runs", 1)[1]
    # the only Sp2PS value is the classifier's: its panel exists, the segmentation one has no points
    assert {"quality_vs_ratio", "sp2ps_vs_ratio", "quality_vs_sp2ps"} <= set(files)


def test_unet_levels_group_and_name_their_own_rows(tmp_path: Path) -> None:
    """Runs that differ only in the U-Net levels asked (``run.layers``) are separate rows, named by the levels."""
    root = tmp_path / "unet"
    for layers, ratio in ((1, 0.0), (2, 0.0), ("auto", 0.0), (2, 0.5)):
        row = {
            **_metrics("l1", 0.5, 0),
            "run.layers": layers,
            "run.ratio": ratio,
            "run.name": f"{layers}_{ratio}",
        }
        _write(root / f"{layers}_{ratio}", row)
    _write(root / "filters", _metrics("l1", 0.5, 0))  # filters alone: no run.layers
    rows = collect_runs([root])
    labels = sorted(row["run.method"] for row in summarize(rows))
    assert labels == ["l1"] * 5
    assert sorted(str(row.get("run.layers")) for row in summarize(rows)) == ["1", "2", "2", "None", "auto"]
    md = write_report(rows, tmp_path / "out")["markdown"].read_text()
    names = [r[0] for r in _markdown_table(md, "unet on camvid")[3:]]
    assert sorted(names) == ["l1", "levels 1", "levels 2", "levels 2 + l1", "levels auto"]


def test_empty_input_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 1
    assert "no metrics.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing")])


def test_wandb_offline_writes_tables_and_images(
    sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wandb_dir = tmp_path / "wandb_home"
    wandb_dir.mkdir()
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(wandb_dir))
    monkeypatch.setenv("WANDB_SILENT", "true")
    wandb.teardown()  # W&B keeps settings from its first use in a process: start afresh with this environment
    assert main([str(sweep), "--out", str(tmp_path / "out"), "--wandb"]) == 0
    wandb.teardown()  # wait until W&B's service has written the run (the CLI's process exit does this)

    runs = list((wandb_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].glob("run-*.wandb"))
    tables = {p.name.split("_")[0]: p for p in (runs[0] / "files" / "media" / "table").glob("*.table.json")}
    results = json.loads(tables["results"].read_text())
    assert len(results["data"]) == 9
    assert results["columns"][:2] == ["run.name", "run.status"]
    assert len(json.loads(tables["summary"].read_text())["data"]) == 4
    images = list((runs[0] / "files" / "media" / "images").rglob("*.png"))
    assert len(images) == 7  # the 6 plots of the seed means + pareto_runs

    from test_wandb import read_wandb_records

    (log_file,) = runs[0].glob("run-*.wandb")
    artifacts = [
        r.artifact for r in read_wandb_records(log_file) if r.WhichOneof("record_type") == "artifact"
    ]
    (report,) = [a for a in artifacts if a.name == "report"]
    assert report.type == "report"
    (entry,) = report.manifest.contents
    assert entry.path == "report.html"
    assert entry.size == (tmp_path / "out" / "report.html").stat().st_size


def test_wandb_disabled_returns_none(sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rows = collect_runs([sweep])
    assert log_report_to_wandb(rows, {}, mode="disabled", summary_rows=summarize(rows)) is None
    assert wandb.run is None  # no no-op run left behind for a later WandbLogger to pick up
    assert not (tmp_path / "wandb").exists()
    with pytest.raises(ValueError, match="valid: online, offline, disabled"):
        log_report_to_wandb(rows, {}, mode="cloud")


def _table_rows(page: str, table_id: str, body: str) -> list[list[str]]:
    """Cell texts (tags stripped) of one tbody (``pinned`` or ``rows``) of a report.html table."""
    table = page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    section = table.split(f'<tbody class="{body}">', 1)[1].split("</tbody>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", section, flags=re.S)
    ]


def test_html_report_tables_heat_maps_overrides_and_failures(sweep: Path, tmp_path: Path) -> None:
    job = sweep / "fpgm_0.3" / "0"
    (job / ".hydra").mkdir()
    (job / ".hydra" / "overrides.yaml").write_text("- pruning=fpgm\n- pruning.ratio=0.3\n- seed=0\n")
    grid = np.zeros((300, 200, 3), dtype=np.uint8)
    grid[100:200, 50:150] = (255, 0, 0)
    imsave(job / "sp2ps_cams.png", grid)
    out = tmp_path / "out"
    assert main([str(sweep), "--out", str(out)]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert not re.findall(r'(?:src|href)="(?!data:|#)', page)  # self-contained: nothing to fetch

    runs = _table_rows(page, "runs-unet-camvid", "rows")
    assert len(runs) == 9 and len(_table_rows(page, "runs-unet-camvid", "pinned")) == 1
    failed = next(row for row in runs if row[0] == FAILED_NAME)
    assert failed[5] == "failed" and failed[10] == "–"
    assert "RuntimeError: CUDA out of memory | while fine-tuning" in page.split('id="failed"', 1)[1]

    summary = {(r[0], r[1]): r for r in _table_rows(page, "summary-unet-camvid", "rows")}
    assert set(summary) == {("l1", "0.3"), ("l1", "0.5"), ("fpgm", "0.3"), ("fpgm", "0.5")}
    assert summary[("fpgm", "0.3")][7] == "62.00 ± 1.41"  # mIoU %, mean ± sample std over 2 seeds
    assert summary[("l1", "0.3")][9] == "0.900 ± 0.014"  # Sp2PS
    (baseline,) = _table_rows(page, "summary-unet-camvid", "pinned")
    assert baseline[0] == "Baseline" and baseline[7] == "67.00 ± 1.41"

    (iou_baseline,) = _table_rows(page, "iou-unet-camvid", "pinned")
    assert iou_baseline[2:] == ["0.900", "0.500", "0.580"]
    assert {tuple(r[2:]) for r in _table_rows(page, "iou-unet-camvid", "rows")} == {
        ("0.880", "0.450", "0.500")
    }
    assert page.count('class="cam-grid"') == 1 and "data:image/webp;base64," in page
    details = page.split('id="run-unet_camvid_fpgm_r0-3_s0-0"', 1)[1].split("</details>", 1)[0]
    assert "pruning=fpgm\npruning.ratio=0.3\nseed=0" in details
    assert page.count("data:image/png;base64,") == 6  # the six plots


def test_pareto_front_keeps_points_no_other_point_beats() -> None:
    points = [(4.0, 60.0), (2.0, 55.0), (2.0, 50.0), (3.0, 54.0), (1.0, 40.0), (5.0, 60.0), (7.7, 66.0)]
    assert pareto_front(points) == [(1.0, 40.0), (2.0, 55.0), (4.0, 60.0), (7.7, 66.0)]
    assert pareto_front([]) == []
