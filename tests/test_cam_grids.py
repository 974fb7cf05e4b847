"""experiments/cam_grids.py: a run's CAM grid reaches a study's report/cams/ under the name report.html looks for."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig
from PIL import Image

from prunescope.reporting.committed_report import cam_grid_name
from prunescope.train import run

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "cam_grids.py"


def load_script():
    spec = importlib.util.spec_from_file_location("cam_grids", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_named_runs_grid_is_written_as_jpeg_and_an_unknown_name_writes_nothing(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, capsys
) -> None:
    values = run(make_cfg("experiment=smoke", "pruning=l1", "pruning.ratio=0.5"))
    name = cam_grid_name(values)
    assert name == "l1_50_seed0.jpg"
    grid = tmp_path / "run" / "sp2ps_cams.png"
    cam_grids = load_script()
    cams = tmp_path / "report" / "cams"

    assert cam_grids.main([str(cams / "x"), str(tmp_path / "run"), name, "l1_30_seed0.jpg"]) == 1
    message = capsys.readouterr().err
    assert (
        "0 runs" in message
        and "l1_30_seed0.jpg" in message
        and name in message
        and "nothing written" in message
    )
    assert not (cams / "x").exists()

    assert cam_grids.main([str(cams), str(tmp_path / "run"), name]) == 0
    with Image.open(cams / name) as written, Image.open(grid) as source:
        assert (written.format, written.size) == ("JPEG", source.size)
