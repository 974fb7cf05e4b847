"""Turn the training-speed runs into the committed CSVs of ``experiments/training_speed/``, and print their tables.

- ``parity.csv``: one row per ``prunescope-train`` run of ``run.sh`` (``outputs/training_speed/<name>/metrics.json``):
  the demo at seeds 0-2 and each CPU study's baseline under ``trainer.precision=auto`` (and ``32-true`` where run),
  with its resolved precision, test quality and training seconds; plus, per study, the fp32 baseline that the
  study's committed report (``experiments/<study>/report/results.csv``) was made with (``source`` says which).
- ``gpu_epochs.csv`` / ``gpu_step_times.csv``: the H200 measurements in ``gpu/`` (``gpu_check.py``,
  ``gpu_step_times.py``).

Usage: ``python experiments/training_speed/collect.py [RUNS_DIR]`` (default ``outputs/training_speed``) rewrites
the CSVs from the runs found (rows of runs no longer on disk are kept). The tables of RESULTS.md are built from
those CSVs by :func:`parity_cells`, :func:`gpu_epoch_cells` and :func:`gpu_step_cells`, through
``experiments/check_results.py`` (``--write`` writes them, the check compares).
"""

from __future__ import annotations

import csv
import json
import re
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path

HERE = Path(__file__).resolve().parent
STUDIES = ("unet_camvid_layers", "vgg16_cifar10", "segnet_camvid", "deeplabv3plus_camvid")
TARGET_MINUTES = {
    "unet_camvid_layers": 12,
    "vgg16_cifar10": 30,
    "segnet_camvid": 25,
    "deeplabv3plus_camvid": 25,
}
"""The issue's training-time targets (both cores, alone), minutes."""
NAME = re.compile(r"^(?P<study>demo|[a-z0-9_]+?)(?P<fp32>_fp32)?(?:_s(?P<seed>\d+))?$")
PARITY_FIELDS = (
    "run",
    "study",
    "seed",
    "precision",
    "metric",
    "quality",
    "train_s",
    "epochs",
    "median_epoch_s",
    "source",
)
EPOCH_SECONDS = re.compile(r"baseline epoch \d+/\d+ .*\| epoch ([\d.]+)s")
"""A baseline progress line's own epoch seconds (``prunescope.progress``)."""


def _quality(metrics: dict) -> tuple[str, float]:
    metric = metrics.get("quality.metric") or ("acc" if "baseline.acc" in metrics else "miou")
    return metric, float(metrics[f"baseline.{metric}"])


def run_rows(runs_dir: Path) -> list[dict]:
    """Rows of the completed runs under ``runs_dir``."""
    rows = []
    for path in sorted(runs_dir.glob("*/metrics.json")):
        metrics = json.loads(path.read_text())
        match = NAME.match(path.parent.name)
        if metrics.get("run.status") != "completed" or match is None:
            continue
        metric, quality = _quality(metrics)
        log = path.parent / "train.log"
        seconds = [float(x) for x in EPOCH_SECONDS.findall(log.read_text())] if log.exists() else []
        epochs = len(seconds) or metrics.get("run.baseline_epochs")
        rows.append(
            {
                "run": path.parent.name,
                "study": match["study"],
                "seed": metrics.get("run.seed"),
                "precision": metrics.get("run.precision"),
                "metric": metric,
                "quality": f"{quality:.4f}",
                "train_s": f"{float(metrics['time.baseline']):.1f}",
                "epochs": epochs if epochs is not None else "",
                "median_epoch_s": f"{statistics.median(seconds):.1f}" if seconds else "",
                "source": f"outputs/training_speed/{path.parent.name}/metrics.json",
            }
        )
    return rows


def reference_rows() -> list[dict]:
    """The fp32 baseline of each study's committed report (seed 0, trained before ``precision: auto``)."""
    rows = []
    for study in STUDIES:
        report = HERE.parent / study / "report" / "results.csv"
        first = next(csv.DictReader(report.open()))
        metric = first["quality.metric"]
        rows.append(
            {
                "run": f"{study}_report",
                "study": study,
                "seed": 0,
                "precision": "32-true",
                "metric": metric,
                "quality": f"{float(first[f'baseline.{metric}']):.4f}",
                "train_s": "",
                "epochs": "",
                "source": f"experiments/{study}/report/results.csv",
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict], fields: tuple[str, ...]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def collect(runs_dir: Path) -> None:
    path = HERE / "parity.csv"
    kept = {r["run"]: r for r in csv.DictReader(path.open())} if path.exists() else {}
    for row in [*reference_rows(), *run_rows(runs_dir)]:
        kept[row["run"]] = row
    write_csv(path, sorted(kept.values(), key=lambda r: (r["study"], r["run"])), PARITY_FIELDS)

    check = json.loads((HERE / "gpu" / "gpu_check.json").read_text())
    epochs = []
    for run in check["runs"]:
        metrics = json.loads((HERE / "gpu" / f"{run['name']}.metrics.json").read_text())
        for stage, seconds in run["epoch_s"].items():
            epochs.append(
                {
                    "run": run["name"],
                    "stage": stage,
                    "precision": metrics.get("run.precision"),
                    "on_device": "data.on_device=false" not in run["overrides"],
                    "epochs": len(seconds),
                    "first_epoch_s": seconds[0],
                    "steady_epoch_s": round(statistics.mean(seconds[1:] or seconds), 2),
                }
            )
    write_csv(
        HERE / "gpu_epochs.csv",
        epochs,
        ("run", "stage", "precision", "on_device", "epochs", "first_epoch_s", "steady_epoch_s"),
    )
    steps = json.loads((HERE / "gpu" / "gpu_step_times.json").read_text())
    write_csv(HERE / "gpu_step_times.csv", steps["rows"], tuple(steps["rows"][0]))


def parity_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Per study: fp32 and ``auto`` test qualities by seed, the fp32 mean ± sample std (the seed spread), the
    difference of the means and whether it lies within that spread (``|auto mean - fp32 mean| <= fp32 std``: our
    reading of "within the seed spread"; bf16 changes the trajectory, so runs of one seed are no pairs), and the
    ``auto`` runs' training time (rows of ``parity.csv``)."""
    header = [
        "baseline",
        "fp32 test quality (seed)",
        "fp32 mean ± std",
        "auto: precision",
        "auto: test quality (seed)",
        "auto mean − fp32 mean",
        "within the fp32 spread",
        "auto: training (wall; epochs x median epoch)",
        "target",
    ]
    table = []
    for study in ("demo", *STUDIES):
        fp32 = _by_seed(r for r in rows if r["study"] == study and r["precision"] == "32-true")
        auto = _by_seed(r for r in rows if r["study"] == study and r["precision"] != "32-true")
        if not fp32 or not auto:
            continue
        values = [float(r["quality"]) for r in fp32]
        mean = statistics.mean(values)
        delta = statistics.mean(float(r["quality"]) for r in auto) - mean
        if len(values) < 2:
            spread, inside = f"{mean:.4f} (one seed)", "n/a (one fp32 seed)"
        else:
            std = statistics.stdev(values)
            spread, inside = f"{mean:.4f} ± {std:.4f}", "yes" if abs(delta) <= std else "no"
        table.append(
            [
                study,
                _qualities(fp32),
                spread,
                ", ".join(sorted({str(r["precision"]) for r in auto})),
                _qualities(auto),
                f"{100 * delta:+.2f} points",
                inside,
                "; ".join(_training_time(run) for run in auto),
                f"≤ {TARGET_MINUTES[study]} min" if study in TARGET_MINUTES else "as fast as fp32",
            ]
        )
    return header, table


def _by_seed(rows: Iterable[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: int(r["seed"]))


def _qualities(rows: list[dict]) -> str:
    return " / ".join(f"{float(r['quality']):.4f} (s{r['seed']})" for r in rows)


def _training_time(run: dict) -> str:
    """Wall minutes (seconds under two minutes), and epochs x the median epoch's seconds (robust to epochs slowed by
    other work)."""
    seconds = float(run["train_s"])
    wall = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
    if seconds < 120 or not run.get("median_epoch_s") or not run.get("epochs"):
        return wall
    epochs, median = int(run["epochs"]), float(run["median_epoch_s"])
    return f"{wall}; {epochs} x {median:.1f} s = {epochs * median / 60:.1f} min"


def alternating_cells(
    rows: list[dict], group: str, quality: str, quality_label: str, slow: str, fast: str
) -> tuple[list[str], list[list[str]]]:
    """Rows of a back-to-back CSV (runs of two settings in alternating order: one row per run, the setting in column
    ``group``) and the mean ``time.baseline`` of each setting with the ratio ``slow ÷ fast``."""
    header = ["round", group, "time.baseline (s)", quality_label]
    table = [[r["round"], r[group], r["time_baseline_s"], r[quality]] for r in rows]
    means = {
        setting: statistics.mean(float(r["time_baseline_s"]) for r in rows if r[group] == setting)
        for setting in (slow, fast)
    }
    ratio = means[slow] / means[fast]
    table.append(["mean", slow, f"{means[slow]:.1f}", ""])
    table.append(["mean", fast, f"{means[fast]:.1f}", f"{slow} ÷ {fast} = {ratio:.2f}×"])
    return header, table


def demo_precision_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """``demo_precision.csv`` (``demo_precision.sh``: the demo in fp32 and bf16, alternating)."""
    return alternating_cells(rows, "precision", "miou", "test mIoU (seed 0)", "32-true", "bf16-mixed")


def vgg_acceptance_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """``vgg_acceptance.csv`` (``vgg_acceptance.sh``: 2-epoch quarter-width VGG-16, defaults against fp32 NCHW)."""
    header, table = alternating_cells(
        rows, "config", "acc", "test accuracy (seed 0)", "fp32_nchw", "defaults"
    )
    precision = {r["config"]: r["precision"] for r in rows}
    return header[:2] + ["precision"] + header[2:], [
        row[:2] + [precision.get(row[1], "") if row[0] != "mean" else ""] + row[2:] for row in table
    ]


def gpu_epoch_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Rows of ``gpu_epochs.csv`` as a table."""
    keys = ("run", "stage", "precision", "on_device", "epochs", "first_epoch_s", "steady_epoch_s")
    header = [
        "run",
        "stage",
        "precision",
        "data on device",
        "epochs",
        "first epoch (s)",
        "later epochs, mean (s)",
    ]
    return header, [[str(r[k]) for k in keys] for r in rows]


def gpu_step_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Rows of ``gpu_step_times.csv`` as a table (fp32 / bf16 x NCHW / channels-last, ms)."""
    header = [
        "setup",
        "batch",
        "GMACs / step",
        "fp32 NCHW",
        "bf16 NCHW",
        "fp32 CL",
        "bf16 CL",
        "best bf16 ÷ best fp32",
    ]
    table = []
    for r in rows:
        fp32 = min(float(r["fp32_nchw_ms"]), float(r["fp32_cl_ms"]))
        bf16 = min(float(r["bf16_nchw_ms"]), float(r["bf16_cl_ms"]))
        cells = [
            r["setup"],
            r["batch"],
            r["step_gmacs"],
            r["fp32_nchw_ms"],
            r["bf16_nchw_ms"],
            r["fp32_cl_ms"],
        ]
        table.append([str(c) for c in [*cells, r["bf16_cl_ms"]]] + [f"{fp32 / bf16:.2f}×"])
    return header, table


def main() -> None:
    collect(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("outputs/training_speed"))


if __name__ == "__main__":
    main()
