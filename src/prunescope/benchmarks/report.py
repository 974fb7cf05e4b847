"""``bench.md``: the benchmark results as Markdown tables (``bench.json`` holds the same figures, unrounded)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from prunescope.reporting.markdown import markdown_table

RUNTIME_LABELS = {"eager": "eager", "eager_folded_cl": "folded + CL", "onnxruntime": "ORT"}


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """:func:`~prunescope.reporting.markdown.markdown_table` of ``rows`` with the figures formatted (``_cell``)."""
    return markdown_table(header, [[_cell(v) for v in row] for row in rows], align)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def acceptance(
    rows: Sequence[Mapping[str, Any]], models: Sequence[str], ratio: float, batch: int, goal: float
):
    """Per model: the runtime with the best speed-up at (ratio, batch), its speed-up / MAC ratio, and the verdict."""
    verdicts = []
    for model in models:
        candidates = [r for r in rows if r["model"] == model and r["ratio"] == ratio and r["batch"] == batch]
        if not candidates:
            continue
        best = max(candidates, key=lambda r: r["speedup"])
        verdicts.append(
            {
                "model": model,
                "runtime": best["runtime"],
                "speedup": best["speedup"],
                "mac_ratio": best["mac_ratio"],
                "fraction": best["speedup_over_mac_ratio"],
                "goal": goal,
                "met": best["speedup_over_mac_ratio"] >= goal,
            }
        )
    return verdicts


def speedup_markdown(section: Mapping[str, Any]) -> str:
    rows = section["rows"]
    runtimes = list(dict.fromkeys(r["runtime"] for r in rows))
    cells: dict[tuple, dict[str, Mapping]] = defaultdict(dict)
    for r in rows:
        cells[(r["model"], r["ratio"], r["batch"])][r["runtime"]] = r
    header = ["model", "ratio", "batch", "MAC ratio", *(RUNTIME_LABELS.get(rt, rt) for rt in runtimes)]
    if "onnxruntime" in runtimes and "eager" in runtimes:
        header.append("ORT vs eager baseline")
    body = []
    for (model, ratio, batch), by_runtime in cells.items():
        any_row = next(iter(by_runtime.values()))
        line = [model, ratio, batch, f"{any_row['mac_ratio']:.2f}"]
        line += [
            f"{by_runtime[rt]['speedup']:.2f}× ({by_runtime[rt]['speedup_over_mac_ratio']:.2f})"
            if rt in by_runtime
            else None
            for rt in runtimes
        ]
        if "onnxruntime" in runtimes and "eager" in runtimes and "onnxruntime" in by_runtime:
            line.append(f"{by_runtime['onnxruntime']['speedup_vs_eager_baseline']:.2f}×")
        body.append(line)
    parts = [
        "Speed-up of the pruned network over the baseline in the same runtime (in brackets: speed-up ÷ MAC ratio); "
        "last column: pruned in ONNX Runtime vs baseline in eager PyTorch.",
        table(header, body),
        "",
        "Baseline forward ms: "
        + "; ".join(
            f"{m} b{b} "
            + ", ".join(f"{RUNTIME_LABELS.get(rt, rt)} {r['baseline_ms']:.1f}" for rt, r in by_rt.items())
            for (m, ratio, b), by_rt in cells.items()
            if ratio == min(k[1] for k in cells if k[0] == m)
        ),
    ]
    verdicts = section.get("acceptance") or []
    if verdicts:
        parts += [
            "",
            table(
                ["model", "best runtime", "speed-up", "MAC ratio", "speed-up ÷ MAC ratio", "goal", "met"],
                [
                    [
                        v["model"],
                        RUNTIME_LABELS.get(v["runtime"], v["runtime"]),
                        f"{v['speedup']:.2f}×",
                        f"{v['mac_ratio']:.2f}",
                        f"{v['fraction']:.2f}",
                        f">= {v['goal']}",
                        "yes" if v["met"] else "no",
                    ]
                    for v in verdicts
                ],
            ),
        ]
    for model, profile in (section.get("profiles") or {}).items():
        parts += ["", f"#### Where the time goes: {model}, {profile['title']}", ""]
        for key, label in (
            ("eager_operators", "eager, folded + CL (torch.profiler, self CPU)"),
            ("onnxruntime_operators", "ONNX Runtime (kernel time)"),
        ):
            totals = profile[key.replace("operators", "total_ms")]
            bound = profile.get(key.replace("operators", "bound"))
            ceiling = (
                f" Convolutions are {100 * bound['mac_share']:.0f}% of the baseline's time; if they sped up by the "
                f"full MAC ratio and everything else by the channel ratio, the speed-up would be "
                f"{bound['speedup']:.2f}× ({bound['over_mac_ratio']:.2f} of the MAC ratio)."
                if bound
                else ""
            )
            parts += [
                f"{label}: total {totals['baseline']:.1f} → {totals['pruned']:.1f} ms per forward.{ceiling}",
                "",
                table(
                    ["operator", "baseline ms", "pruned ms", "time ratio", "share of pruned"],
                    [
                        [
                            o["operator"],
                            o["baseline_ms"],
                            o["pruned_ms"],
                            o["time_ratio"],
                            f"{100 * o['pruned_share']:.0f}%",
                        ]
                        for o in profile[key]
                    ],
                ),
                "",
            ]
        parts += [
            "Convolution / linear layers (eager, folded + CL, forward hooks), slowest first:",
            "",
            table(
                ["layer", "MACs base (M)", "MAC ratio", "baseline ms", "pruned ms", "time ratio"],
                [
                    [
                        layer["layer"],
                        layer["baseline_macs"] / 1e6,
                        layer["mac_ratio"],
                        layer["baseline_ms"],
                        layer["pruned_ms"],
                        layer["time_ratio"],
                    ]
                    for layer in profile["layers"]
                ],
            ),
        ]
    return "\n".join(parts)


def training_speed_markdown(section: Mapping[str, Any]) -> str:
    """One row per model: median step (ms) and images/s of every variant, and its speed-up over the baseline."""
    rows = [r for r in section["rows"] if r.get("variant") is not None]
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    by_model: dict[str, dict[str, Mapping]] = defaultdict(dict)
    for r in rows:
        by_model[r["model"]][r["variant"]] = r
    body = []
    for model, cells in by_model.items():
        line: list[Any] = [model, next((c["batch"] for c in cells.values() if "batch" in c), None)]
        for variant in variants:
            cell = cells.get(variant)
            if cell is None or "step_ms" not in cell:
                line.append("skipped")
                continue
            how = f"{cell['precision']}{', CL' if cell['channels_last'] else ''}"
            line.append(
                f"{cell['step_ms']:.0f} ms, {cell['images_per_s']:.0f} img/s, **{cell['speedup']:.2f}×** ({how})"
            )
        body.append(line)
    notes = [
        f"{r['model']}: {r['variant'] or 'all variants'} skipped ({r['skipped']})"
        for r in section["rows"]
        if r.get("skipped")
    ]
    return "\n".join(
        [
            f"Median Lightning training step (data loading included; {section.get('clock', 'wall')} clock) at "
            f"{section['threads']} threads; speed-up over `{section['baseline']}` in bold; in brackets the resolved "
            "precision and CL = channels-last"
            + (f"; every run with `{' '.join(section['common'])}`." if section.get("common") else "."),
            "",
            table(["model", "batch", *variants], body),
            *([""] + notes if notes else []),
        ]
    )


def render(results: Mapping[str, Any]) -> str:
    """The whole ``bench.md``."""
    meta = results["meta"]
    parts = [
        f"# prunescope-bench, {meta['date']}",
        "",
        f"Machine: {meta['machine']}. Threads: {meta['threads']} (PyTorch intra-op and ONNX Runtime). "
        f"torch {meta['versions'].get('torch')}, onnxruntime {meta['versions'].get('onnxruntime')}. "
        f"Median of {meta['repeats']} timed runs after {meta['warmup']} warm-up, variants interleaved. "
        f"Wall time of the whole run: {results['seconds']['total']:.0f} s "
        f"({results['seconds'].get('cpu_total', 0):.0f} s of CPU time).",
        "",
        f"Command: `{meta['command']}`",
    ]
    if "speedup" in results:
        parts += ["", "## Speed-up vs MAC ratio", "", speedup_markdown(results["speedup"])]
    if "sp2ps" in results:
        parts += [
            "",
            "## Sp2PS cost (ms per test sample)",
            "",
            table(
                [
                    "model",
                    "CAM layer",
                    "n",
                    "(a) Sp2PS",
                    "(b) floor",
                    "(c) library",
                    "a/b (≤ 1.3)",
                    "c/a (≥ 2)",
                    "|ΔSp2PS|",
                ],
                [
                    [
                        r["model"],
                        f"`{r['layer']}`",
                        r["samples"],
                        r["fast_ms"],
                        r["floor_ms"],
                        r["library_ms"],
                        r["fast_over_floor"],
                        r["library_over_fast"],
                        f"{r['sp2ps_difference']:.1e}",
                    ]
                    for r in results["sp2ps"]
                ],
            ),
        ]
    if "calibration" in results:
        c = results["calibration"]
        counts = sorted({n for per in c["peak_mb"].values() for n in per}, key=int)
        parts += [
            "",
            f"## Calibration statistics ({c['model']}, {c['batches']} batches of {c['batch_size']})",
            "",
            table(
                ["pass", "ms", "÷ forward (≤ 1.5)", *(f"peak MiB, {n} batches" for n in counts)],
                [
                    [
                        kind,
                        c[f"{kind}_ms"],
                        c[f"{kind}_ms"] / c["forward_ms"],
                        *(c["peak_mb"][kind][n] for n in counts),
                    ]
                    for kind in ("forward", "pca_covariance", "msd")
                ],
            ),
        ]
    if "training" in results:
        t = results["training"]
        parts += [
            "",
            "## Training overhead",
            "",
            f"Lightning step with {', '.join(t['callbacks'])}: {t['lightning_step_ms']:.1f} ms; plain PyTorch loop: "
            f"{t['plain_step_ms']:.1f} ms; ratio **{t['lightning_over_plain']:.3f}** (goal ≤ 1.10; median of "
            f"{t['steps']} steps each; `{' '.join(t['overrides'])}`).",
        ]
    if "training_speed" in results:
        parts += ["", "## Training speed", "", training_speed_markdown(results["training_speed"])]
    if "pruning_time" in results:
        rows = results["pruning_time"]
        methods = list(dict.fromkeys(r["method"] for r in rows))
        by_model: dict[str, dict[str, float]] = defaultdict(dict)
        for r in rows:
            by_model[r["model"]][r["method"]] = r["seconds"]
        parts += [
            "",
            "## Pruning time (seconds per prune() call, ratio 0.5, global)",
            "",
            table(["model", *methods], [[m, *(v.get(k) for k in methods)] for m, v in by_model.items()]),
        ]
    seconds = ", ".join(
        f"{k} {v:.0f}" for k, v in results["seconds"].items() if k not in ("total", "cpu_total")
    )
    parts += ["", f"Seconds per section: {seconds}.", ""]
    return "\n".join(parts)
