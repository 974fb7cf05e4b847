"""``logger=wandb`` with no network: what the offline runs of a multirun and of a composed run contain.

W&B writes an offline run as ``<save_dir>/wandb/offline-run-<time>-<id>/run-<id>.wandb``, a LevelDB-style log of
``wandb_internal_pb2.Record`` protobufs (wandb >= 0.19 ships no Python reader of it): read it with
:func:`read_wandb_records` and check the run header (name, group, job_type, tags), config, history and summary.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import wandb
from omegaconf import DictConfig
from wandb.proto import wandb_internal_pb2

from prunescope.train import run
from test_sweep import cli_env, job_dirs, run_multirun

LOG_MAGIC = b":W&B"
LOG_HEADER_BYTES = 7  # ":W&B", magic 0xBEE1 (uint16), version (uint8)
BLOCK_BYTES = 32 * 1024
RECORD_HEADER = struct.Struct("<IHB")  # crc32 of type+data, data length, chunk type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_wandb_records(path: Path) -> list[wandb_internal_pb2.Record]:
    """Every record of a ``.wandb`` file: 32 KiB blocks of chunks ``crc32 | length | type | data``.

    A record is one FULL chunk or FIRST, MIDDLE..., LAST chunks; a block tail shorter than a chunk header is padding.
    """
    data = path.read_bytes()
    assert data[:4] == LOG_MAGIC, f"{path} is not a W&B transaction log"
    records, pending, pos = [], b"", LOG_HEADER_BYTES
    while pos + RECORD_HEADER.size <= len(data):
        if BLOCK_BYTES - pos % BLOCK_BYTES < RECORD_HEADER.size:
            pos += BLOCK_BYTES - pos % BLOCK_BYTES
            continue
        crc, length, kind = RECORD_HEADER.unpack_from(data, pos)
        pos += RECORD_HEADER.size
        if kind == 0 and length == 0:
            break
        chunk = data[pos : pos + length]
        pos += length
        assert zlib.crc32(bytes([kind]) + chunk) == crc, f"corrupt chunk in {path}"
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def _item_key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


@dataclass
class OfflineRun:
    """What one offline W&B run recorded."""

    run: wandb_internal_pb2.RunRecord
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, run_dir: Path) -> OfflineRun:
        """Parse the single ``run-*.wandb`` file of ``run_dir``."""
        (log_file,) = run_dir.glob("run-*.wandb")
        records = read_wandb_records(log_file)
        headers = [r.run for r in records if r.WhichOneof("record_type") == "run"]
        assert headers, f"no run record in {log_file}"
        out = cls(run=headers[0])
        for record in records:
            kind = record.WhichOneof("record_type")
            if kind == "config":
                out.config.update({_item_key(i): json.loads(i.value_json) for i in record.config.update})
            elif kind == "history":
                out.history.append({_item_key(i): json.loads(i.value_json) for i in record.history.item})
            elif kind == "summary":
                out.summary.update({_item_key(i): json.loads(i.value_json) for i in record.summary.update})
        return out


def offline_run_dirs(save_dir: Path) -> list[Path]:
    """The ``offline-run-*`` folders W&B wrote under ``save_dir/wandb``."""
    return sorted((save_dir / "wandb").glob("offline-run-*"))


def wandb_env(tmp_path: Path) -> dict[str, str]:
    """Offline W&B with every W&B folder under ``tmp_path`` and no credentials."""
    folders = {
        name: tmp_path / "wandb_home" / name.lower()
        for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR")
    }
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return {"WANDB_MODE": "offline", "WANDB_SILENT": "true", **{k: str(v) for k, v in folders.items()}}


@pytest.mark.slow
def test_offline_multirun_writes_one_grouped_run_per_job(tmp_path: Path) -> None:
    """Two jobs in one process (basic launcher): two runs, same group, config, per-epoch metrics, final summary."""
    env = cli_env(tmp_path, **wandb_env(tmp_path))
    env.pop("WANDB_API_KEY", None)
    sweep_dir = run_multirun(
        tmp_path, "logger=wandb", "seed=0", "pruning=l1,random", "finetune_epochs=2", "sp2ps=false", env=env
    )
    jobs = job_dirs(sweep_dir)
    assert len(jobs) == 2
    runs = []
    for job_dir, method in zip(jobs, ["l1", "random"], strict=True):
        metrics = json.loads((job_dir / "metrics.json").read_text())
        assert metrics["run.status"] == "completed" and metrics["run.method"] == method
        (run_dir,) = offline_run_dirs(job_dir)  # wandb.finish() after each job: one run per job
        offline = OfflineRun.read(run_dir)
        runs.append(offline)
        assert offline.run.run_group == str(sweep_dir)
        assert offline.run.job_type == method
        assert offline.run.display_name == f"unet_digit_scenes_{method}_r0.5_s0"
        assert list(offline.run.tags) == ["smoke"]
        assert offline.config["pruning"]["method"] == method
        assert offline.config["pruning"]["ratio"] == 0.5
        assert offline.config["seed"] == 0 and offline.config["model"]["net"]["base_channels"] == 4
        epochs_with_val_loss = sorted(h["epoch"] for h in offline.history if "val/loss" in h)
        assert epochs_with_val_loss == [0, 1]
        assert offline.summary["final/pruned.miou"] == pytest.approx(metrics["pruned.miou"])
        assert offline.summary["final/drop.params_pct"] == pytest.approx(metrics["drop.params_pct"])
    assert runs[0].run.run_id != runs[1].run.run_id


def test_wandb_mode_env_makes_a_composed_run_offline(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``logger.wandb.offline=false`` + ``WANDB_MODE=offline``: the environment alone keeps W&B off the network."""
    for key, value in wandb_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = make_cfg(
        "logger=wandb",
        "logger.wandb.offline=false",
        "logger.wandb.name=composed",
        "logger.wandb.group=compose-test",
        "trainer.max_epochs=2",
        "model.net.depth=2",
        "data.num_train=16",
        "data.num_val=8",
        "data.num_test=8",
        "efficiency.latency_repeats=1",
    )
    wandb.teardown()  # W&B keeps settings from its first use in a process: start afresh with this environment
    values = run(cfg)
    wandb.teardown()  # wait until W&B's service has written the offline run (finish() may return before)
    assert values["run.status"] == "completed"
    (run_dir,) = offline_run_dirs(Path(cfg.paths.output_dir))
    offline = OfflineRun.read(run_dir)
    assert (offline.run.display_name, offline.run.run_group, offline.run.job_type) == (
        "composed",
        "compose-test",
        "none",
    )
    assert offline.config["trainer"]["max_epochs"] == 2
    assert sorted(h["epoch"] for h in offline.history if "val/loss" in h) == [0, 1]
    assert offline.summary["final/baseline.miou"] == pytest.approx(values["baseline.miou"])
