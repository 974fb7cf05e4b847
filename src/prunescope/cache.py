"""``prunescope-cache``: list, show, verify and remove the trained baselines in the baseline cache.

    prunescope-cache list                 # key, model, data, epochs, quality, size, date, status
    prunescope-cache show KEY             # provenance, key material (config.json) and test metrics of one entry
    prunescope-cache verify [KEY]         # test the entry (all complete entries) again, compare with the record
    prunescope-cache remove KEY           # delete the entry and its build folder (refused while a run holds it)

KEY may be a unique prefix. ``--root`` names the cache (default: ``outputs/baselines`` of the checkout, the
``paths.baselines_dir`` of ``prunescope-train``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prunescope import CONFIG_DIR
from prunescope.baselines import BaselineCache
from prunescope.baselines.entries import EntryInfo, find_entry, list_entries, remove_entry
from prunescope.cli_errors import run_plain

VERIFY_TOLERANCE = 1e-3


def default_root() -> Path:
    """``$PROJECT_ROOT/outputs/baselines``, else the checkout's ``outputs/baselines``."""
    return Path(os.environ.get("PROJECT_ROOT") or CONFIG_DIR.parent) / "outputs" / "baselines"


def _size(size_bytes: int) -> str:
    return f"{size_bytes / 1e6:.1f} MB"


def _quality(info: EntryInfo) -> str:
    quality = info.quality
    return f"{quality[0]} {quality[1]:.4f}" if quality else "–"


def format_table(infos: Sequence[EntryInfo]) -> str:
    """The ``list`` table: one line per entry, aligned columns."""
    header = ("key", "model", "data", "epochs", "quality", "size", "date", "status")
    rows = [
        (
            info.key,
            info.model,
            info.data,
            "–" if info.epochs is None else str(info.epochs),
            _quality(info),
            _size(info.size_bytes),
            info.created or "–",
            info.status,
        )
        for info in infos
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def verify_entry(info: EntryInfo, tolerance: float = VERIFY_TOLERANCE) -> tuple[bool, list[str]]:
    """Test the entry's checkpoint again with its recorded config; compare every recorded scalar quality.

    Returns:
        Whether every metric agrees within ``tolerance``, and one line per metric.
    """
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from prunescope.checkpoints import load_checkpoint_into
    from prunescope.instantiate import build_module, build_trainer
    from prunescope.pipeline.testing import test_module

    cfg = OmegaConf.create({key: info.config[key] for key in ("model", "data", "trainer")})
    datamodule = instantiate(cfg.data)
    module = build_module(cfg, datamodule)
    load_checkpoint_into(module, info.path / "baseline.ckpt")
    with tempfile.TemporaryDirectory(prefix="prunescope-verify-") as scratch:
        trainer = build_trainer(
            cfg,
            callbacks=[],
            loggers=False,
            default_root_dir=scratch,
            enable_checkpointing=False,
            enable_progress_bar=False,
        )
        measured = test_module(trainer, module, datamodule)
    lines, ok = [], True
    for name, recorded in info.metrics.items():
        if not isinstance(recorded, int | float) or name == "train_seconds":
            continue
        value = measured.get(name)
        agrees = isinstance(value, int | float) and abs(float(value) - float(recorded)) <= tolerance
        ok &= agrees
        shown = "missing" if value is None else f"{float(value):.4f}"
        lines.append(
            f"  {name}: recorded {float(recorded):.4f}, measured {shown} {'OK' if agrees else 'DIFFERS'}"
        )
    return ok, lines


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface of ``prunescope-cache``."""
    parser = argparse.ArgumentParser(prog="prunescope-cache", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--root", type=Path, default=None, help="cache folder (default: outputs/baselines)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="one line per entry")
    show = commands.add_parser("show", help="provenance, config and metrics of one entry")
    show.add_argument("key")
    verify = commands.add_parser("verify", help="test entries again and compare with the recorded quality")
    verify.add_argument("key", nargs="?", default=None)
    verify.add_argument("--tolerance", type=float, default=VERIFY_TOLERANCE)
    remove = commands.add_parser("remove", help="delete an entry (refused while a live run holds its lock)")
    remove.add_argument("key")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 ok, 1 a verified entry differs); bad input (an unknown key, an
    entry in use, an unwritable root) exits 2 with one line (:mod:`prunescope.cli_errors`)."""
    args = build_parser().parse_args(argv)
    cache = BaselineCache(args.root if args.root is not None else default_root())
    return run_plain(lambda: _run(args, cache), ("--root", "baseline cache"))


def _run(args: argparse.Namespace, cache: BaselineCache) -> int:
    if args.command == "list":
        infos = list_entries(cache)
        print(format_table(infos) if infos else f"no baselines in {cache.root}")
        return 0
    if args.command == "show":
        info = find_entry(cache, args.key)
        record: dict[str, Any] = {
            "key": info.key,
            "path": str(info.path),
            "status": info.status,
            "size": _size(info.size_bytes),
            "provenance": info.provenance,
            "metrics": info.metrics,
            "config": info.config,
        }
        print(json.dumps(record, indent=2, sort_keys=False))
        return 0
    if args.command == "verify":
        infos = (
            [find_entry(cache, args.key)]
            if args.key
            else [info for info in list_entries(cache) if info.status == "complete"]
        )
        all_ok = True
        for info in infos:
            ok, lines = verify_entry(info, args.tolerance)
            all_ok &= ok
            print(f"{info.key}: {'OK' if ok else 'DIFFERS from its record'}")
            print("\n".join(lines))
        return 0 if all_ok else 1
    removed = remove_entry(cache, args.key)
    for path in removed:
        print(f"removed {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
