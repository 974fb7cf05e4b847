"""prunescope-export on a real (tiny) pruning run: files that run, a sidecar that agrees with metrics.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

from prunescope.deploy import load_source, load_torchscript, max_relative_error, onnx_session, run_onnx
from prunescope.export import export
from prunescope.train import run
from support import REPO_ROOT


def export_cfg(make_cfg, ckpt: Path, out: Path, *overrides: str):
    cfg = make_cfg(f"ckpt_path={ckpt}", *overrides, config_name="export", small=False)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    return cfg


def test_export_of_a_pruned_run_agrees_with_its_metrics(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("model=vgg16", "data=digits", "pruning=l1", "pruning.ratio=0.5", "sp2ps=false")
    values = run(cfg)
    run_dir = Path(cfg.paths.output_dir)
    (run_dir / ".hydra").mkdir()
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")  # what Hydra writes for a prunescope-train run
    ckpt = run_dir / "checkpoints" / "last.ckpt"

    sidecar = export(export_cfg(make_cfg, ckpt, tmp_path / "onnx"))
    assert (sidecar["params"], sidecar["macs"]) == (values["pruned.params"], values["pruned.macs"])
    assert sidecar["params"] < values["baseline.params"] and sidecar["params_folded"] < sidecar["params"]
    assert sidecar["input"]["shape"] == ["batch", 3, 32, 32]
    assert sidecar["output"]["class_names"] == [str(d) for d in range(10)]
    assert sidecar["input"]["normalisation"]["mean"] == [0.5, 0.5, 0.5]
    assert sidecar["source"]["method"] == "l1" and sidecar["source"]["pruning_ops"] == ["channels"]
    assert sidecar["batch_norm_folded"] == 13 and sidecar["round_to"] is None
    written = json.loads((tmp_path / "onnx" / "model.json").read_text())
    assert written == json.loads(json.dumps(sidecar))

    # the file classifies real test digits like the checkpoint's network does
    source = load_source(ckpt, cfg.paths)
    datamodule = instantiate(cfg.data)
    datamodule.setup("test")
    images, _ = next(iter(datamodule.test_dataloader()))
    with torch.no_grad():
        expected = source.net(images)
    session = onnx_session(tmp_path / "onnx" / "model.onnx")
    assert max_relative_error(run_onnx(session, images), expected) <= 1e-4

    rounded = export(export_cfg(make_cfg, ckpt, tmp_path / "ts", "format=torchscript", "round_to=4"))
    assert (
        rounded["round_to"]["multiple"] == 4
        and rounded["round_to"]["params_before"] == values["pruned.params"]
    )
    assert rounded["params"] <= values["pruned.params"] and rounded["file"] == "model.pt"
    with torch.no_grad():
        logits = load_torchscript(tmp_path / "ts" / "model.pt")(images)
    assert logits.shape == expected.shape


def test_cli_names_a_bad_format_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "prunescope.export", f"ckpt_path={tmp_path}/x.ckpt", "format=tflite",
         f"hydra.run.dir={tmp_path}/out"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1] == "error: unknown format 'tflite'; valid: onnx, torchscript"
    )


@pytest.mark.parametrize(("override", "message"), [("ckpt_path=/nonexistent.ckpt", "does not exist")])
def test_missing_checkpoint_is_named(make_cfg, tmp_path: Path, override: str, message: str) -> None:
    cfg = make_cfg(override, config_name="export", small=False)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    with pytest.raises(FileNotFoundError, match=message):
        export(cfg)
