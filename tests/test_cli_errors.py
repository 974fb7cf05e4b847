"""Bad input ends every console script with one line and exit status 2, before any training
(:mod:`prunescope.cli_errors`). The commands run in this process (``main()`` with ``sys.argv`` set), as a user runs
them, so each case takes about a second."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from prunescope import bench, eval, export, sp2ps, train
from prunescope.checkpoints import (
    CheckpointError,
    load_checkpoint_into,
    read_checkpoint,
    save_checkpoint,
)
from prunescope.cli_errors import OUTCOMES, PathError, path_error
from prunescope.instantiate import build_module
from prunescope.pruning import PruningOptions, prune
from support import REPO_ROOT

Run = Callable[..., tuple[int, str]]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    """``cli(main, *args)`` runs a console script's ``main()`` here; returns (exit status, last stderr line)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def _run(main: Callable[[], object], *args: str) -> tuple[int, str]:
        GlobalHydra.instance().clear()
        monkeypatch.setattr(sys, "argv", ["prunescope", *args])
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        finally:
            HydraConfig.instance().cfg = None  # type: ignore[assignment]
            GlobalHydra.instance().clear()
            for handler in root.handlers[:]:  # Hydra's job logging: back to pytest's handlers
                if handler not in handlers:
                    root.removeHandler(handler)
                    handler.close()
            root.setLevel(level)
        lines = capsys.readouterr().err.strip().splitlines()
        return code, lines[-1] if lines else ""

    yield _run


def smoke(tmp_path: Path, *overrides: str) -> list[str]:
    """``experiment=smoke`` with every output under ``tmp_path``."""
    return [
        "experiment=smoke",
        "logger=none",
        f"paths.log_dir={tmp_path / 'outputs'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        *overrides,
    ]


def nothing_trained(tmp_path: Path) -> bool:
    return (
        not (tmp_path / "outputs" / "baselines").exists() and not (tmp_path / "run" / "checkpoints").exists()
    )


BAD_TRAIN_INPUT = {
    "ratio not a number": (
        ["pruning=l1", "pruning.ratio=abc"],
        re.escape("error: pruning: ratio must be a number, got 'abc'"),
    ),
    "negative ratio": (
        ["pruning=l1", "pruning.ratio=-0.3"],
        re.escape("error: pruning: ratio must be in [0, 1), got -0.3"),
    ),
    "unknown method": (
        ["pruning=l1", "pruning.method=nope"],
        r"error: pruning: unknown method 'nope' \(valid: .*l1.*\)",
    ),
    "fine-tune warm-up out of range": (
        ["pruning=l1", "pruning.finetune.warmup_fraction=1.5"],
        re.escape("error: pruning: finetune.warmup_fraction must be in [0, 1), got 1.5"),
    ),
    "negative feature distillation weight": (
        ["pruning=l1", "pruning.distill.feature_weight=-1"],
        re.escape("error: pruning: distill.feature_weight must be >= 0, got -1"),
    ),
    "cam.max_batches=0": (
        ["pruning=l1", "cam.max_batches=0"],
        re.escape("error: cam: Sp2PSCallback max_batches must be >= 1 or None; got 0"),
    ),
    "data.batch_size=0": (["data.batch_size=0"], re.escape("error: data: batch_size must be >= 1, got 0")),
    "model.net.base_channels=0": (
        ["model.net.base_channels=0"],
        re.escape("error: model.net: UNet base_channels must be >= 1, got 0"),
    ),
    "more steps than fine-tune epochs": (
        ["pruning=l1", "pruning.schedule.steps=5"],
        re.escape(
            "error: pruning.schedule.steps=5 prunes at fine-tune epochs [0, 1, 2, 3, 4], but finetune_epochs=1 runs "
            "epochs 0..0; set finetune_epochs=5 or more, or schedule fewer or earlier steps"
        ),
    ),
    "at_epochs past the fine-tune": (
        ["pruning=l1", "pruning.schedule.steps=2", "pruning.schedule.at_epochs=[0,5]"],
        re.escape(
            "error: pruning.schedule.at_epochs=[0, 5] prunes at fine-tune epoch 5, but finetune_epochs=1 runs "
            "epochs 0..0; set finetune_epochs=6 or more, or schedule fewer or earlier steps"
        ),
    ),
    "unknown model": (["model=foo"], r"error: model=foo is not a model option; valid: .*\bunet, vgg16"),
    "unknown pruning method group": (
        ["pruning=nope"],
        r"error: pruning=nope is not a pruning option; valid: .*\bl1\b.*",
    ),
    "misspelled key": (
        ["pruning=l1", "pruning.ratoi=0.3"],
        r"error: pruning\.ratoi is not a key of pruning \(did you mean pruning\.ratio\?\); valid: method, ratio, .*",
    ),
    "key the target does not take": (
        ["+data.num_trian=3"],
        r"error: data: DigitScenesDataModule takes no data\.num_trian; valid keys: .*\bnum_train\b.*",
    ),
    "override syntax": (
        ["pruning.ratio=["],
        r"error: cannot parse the override: no viable alternative at input '\['.*",
    ),
    "seed not a number": (["seed=abc"], re.escape("error: seed must be an integer or null, got 'abc'")),
    "max_epochs not a number": (
        ["trainer.max_epochs=abc"],
        re.escape("error: trainer.max_epochs must be an integer >= -1 or null, got 'abc'"),
    ),
    "finetune_epochs not a number": (
        ["pruning=l1", "finetune_epochs=abc"],
        re.escape("error: finetune_epochs must be >= 1 for a pruning run, got abc"),
    ),
    "no latency repeats": (
        ["efficiency.latency_repeats=0"],
        re.escape("error: efficiency.latency_repeats must be an integer >= 1, got 0"),
    ),
    "negative learning rate": (
        ["model.optimizer.lr=-1"],
        re.escape("error: model.optimizer.lr must be a number > 0, got -1"),
    ),
    "more levels than the U-Net has": (
        ["pruning=l1", "pruning.layers.levels=9"],
        re.escape(
            "error: pruning.layers.levels=9 removes more levels than UNet of depth 2 has to lose (at most 1); set "
            "pruning.layers.levels to 0..1 or auto"
        ),
    ),
    "CAM layer the network does not have": (
        ["pruning=l1", "cam.target_layer=nope"],
        re.escape("error: cam.target_layer: unknown layer name(s) ['nope']; valid module names include: ")
        + ".+",
    ),
    "network without the contract": (
        ["~model.net", "+model.net._target_=torch.nn.Identity"],
        re.escape(
            "error: model.net._target_=torch.nn.Identity: Identity is not a PruneScope network: it has no task, "
            "cam_target_layer, output_layer_names, channel_ties (see prunescope.models.contract.Network)"
        ),
    ),
    "classifier on segmentation data": (
        ["model=vgg16"],
        r"error: model is a classification model .*vgg16 takes digits/cifar10",
    ),
}


@pytest.mark.parametrize("case", BAD_TRAIN_INPUT, ids=list(BAD_TRAIN_INPUT))
def test_bad_train_input_is_one_line_before_any_training(cli: Run, tmp_path: Path, case: str) -> None:
    overrides, expected = BAD_TRAIN_INPUT[case]
    code, line = cli(train.main, *smoke(tmp_path, *overrides))
    assert code == 2, line
    assert re.fullmatch(expected, line), line
    assert documented(line), f"README's bad-input table has no row for {line!r}"
    assert nothing_trained(tmp_path)


def test_failed_job_records_the_same_line(cli: Run, tmp_path: Path) -> None:
    """metrics.json's run.error holds the unwrapped line, not Hydra's instantiation text."""
    code, line = cli(train.main, *smoke(tmp_path, "data.batch_size=0"))
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert code == 2 and written["run.status"] == "failed"
    assert written["run.error"] == "ConfigError: data: batch_size must be >= 1, got 0"


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        (eval.main, [], "error: ckpt_path is not set (???); pass ckpt_path=<value>"),
        (
            eval.main,
            ["ckpt_path=/no/such.ckpt", "data_overrides={limit_test: 8}"],
            "error: data_overrides.limit_test is not a key of data_overrides, which has none yet; add it with "
            "+data_overrides={limit_test: 8}",
        ),
        (
            sp2ps.main,
            ["baseline_ckpt=/no/such.ckpt", "pruned_ckpt=/no/such.ckpt"],
            "error: checkpoint not found: /no/such.ckpt",
        ),
        (
            export.main,
            ["ckpt_path=/no/such.ckpt", "format=nope"],
            "error: unknown format 'nope'; valid: onnx, torchscript",
        ),
        (export.main, ["ckpt_path=/no/such.ckpt", "tolerance=abc"], "error: tolerance must be > 0, got abc"),
        (bench.main, ["sections=[nope]"], None),
    ],
    ids=["eval", "eval-data_overrides", "sp2ps", "export-format", "export-tolerance", "bench"],
)
def test_every_command_ends_bad_input_the_same_way(
    cli: Run, tmp_path: Path, command: Callable[[], object], args: list[str], expected: str | None
) -> None:
    code, line = cli(command, f"hydra.run.dir={tmp_path / 'out'}", *args)
    assert code == 2
    if expected is None:
        assert line.startswith("error: unknown section(s) ['nope']; valid: speedup, ")
    else:
        assert line == expected
    assert documented(line), f"README's bad-input table has no row for {line!r}"


def test_a_path_component_too_long_is_named(cli: Run, tmp_path: Path) -> None:
    long_name = "a" * 300
    code, line = cli(train.main, *smoke(tmp_path), f"hydra.run.dir={tmp_path / long_name}")
    assert code == 2
    assert line == (
        "error: the path component 'aaaaaaaaaaaa...aaaaaaaa' of hydra.run.dir is too long (300 > 255 characters); "
        "choose a shorter hydra.run.dir"
    )
    assert documented(line)


def test_a_file_in_the_run_dir_path_is_named(cli: Run, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    run_dir = tmp_path / "a-file" / "run"
    code, line = cli(train.main, *smoke(tmp_path), f"hydra.run.dir={run_dir}")
    assert code == 2
    assert line == (
        f"error: run dir {run_dir} cannot be created: {run_dir} or a folder above it is a file (Not a directory); "
        "choose another hydra.run.dir"
    )
    assert documented(line)


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory no file can be created in: mode 0555, or for root (who ignores modes) immutable (chattr +i)."""
    folder = tmp_path / "read-only"
    (folder / "baselines").mkdir(parents=True)
    targets = [folder / "baselines", folder]
    if os.geteuid() == 0:
        made = all(
            subprocess.run(["chattr", "+i", str(t)], capture_output=True).returncode == 0 for t in targets
        )
        undo = lambda: [subprocess.run(["chattr", "-i", str(t)], capture_output=True) for t in targets]  # noqa: E731
    else:
        for target in targets:
            target.chmod(0o555)
        made = True
        undo = lambda: [t.chmod(0o755) for t in targets]  # noqa: E731
    try:
        (folder / "probe").touch()
    except OSError:
        pass
    else:
        made = False
    try:
        if not made:
            pytest.skip("cannot make a directory unwritable here (root without chattr)")
        yield folder
    finally:
        undo()


def test_unwritable_run_dir_and_baseline_cache_are_named(
    cli: Run, tmp_path: Path, unwritable_dir: Path
) -> None:
    code, line = cli(train.main, *smoke(tmp_path), f"hydra.run.dir={unwritable_dir / 'run'}")
    assert code == 2
    assert re.fullmatch(
        re.escape(f"error: run dir {unwritable_dir / 'run'} is not writable (")
        + r"[^:]+: "
        + re.escape(f"{unwritable_dir / 'run'}); choose a writable hydra.run.dir"),
        line,
    ), line
    assert documented(line)

    baselines = unwritable_dir / "baselines"
    code, line = cli(train.main, *smoke(tmp_path, "pruning=l1", f"paths.baselines_dir={baselines}"))
    assert code == 2
    assert line.startswith(f"error: baseline cache {baselines} is not writable (")
    assert line.endswith("); choose a writable paths.baselines_dir")
    assert documented(line)
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow  # a subprocess (the file size limit is its own): about 10 s of imports
def test_full_disk_while_the_baseline_is_saved(cli: Run, tmp_path: Path) -> None:
    """A file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes every write past 16 kB fail, as a full disk does:
    the baseline's first checkpoint cannot be written. One line, exit status 2, no partial file; files written
    before are untouched and the same command without the limit then completes."""
    args = smoke(tmp_path, "pruning=l1")
    other_entry = (
        tmp_path / "outputs" / "baselines" / "other" / "baseline.ckpt"
    )  # an earlier sweep's baseline
    other_entry.parent.mkdir(parents=True)
    other_entry.write_bytes(b"x" * 50_000)
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (16_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))\n"
        "from prunescope.train import main\n"
        "sys.argv = ['prunescope-train', *sys.argv[1:]]\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    line = done.stderr.strip().splitlines()[-1]
    baselines = tmp_path / "outputs" / "baselines"
    assert done.returncode == 2, done.stderr[-3000:]
    assert re.fullmatch(
        rf"error: no space left on device writing {re.escape(str(baselines))}/\S+\.ckpt \(.+\); free space there or "
        r"choose another paths\.baselines_dir",
        line,
    ), line
    assert documented(line)
    assert other_entry.read_bytes() == b"x" * 50_000
    assert not list(tmp_path.rglob("*.tmp"))  # no partial file left
    assert [p for p in baselines.rglob("baseline.ckpt") if p != other_entry] == []  # no half-written baseline
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["run.status"] == "failed" and f"[Errno {errno.ENOSPC}]" in written["run.error"]

    code, line = cli(train.main, *args)
    assert code == 0, line
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["run.status"] == "completed"


def test_path_errors_map_errno_to_one_line() -> None:
    for number in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        error = path_error(
            OSError(number, os.strerror(number), "/data/out/x.ckpt"), None, ("--out", "report folder")
        )
        assert isinstance(error, PathError)
        assert str(error).startswith("no space left on device writing /data/out/x.ckpt (")
    assert path_error(OSError(errno.EIO, "I/O error", "/x"), None) is None


# ------------------------------------------------------------------------------------------ checkpoints
@pytest.fixture
def pruned_run(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> tuple[DictConfig, Path]:
    """A run dir with its ``.hydra/config.yaml`` and a pruned smoke U-Net's checkpoint (no training needed)."""
    cfg = make_cfg("experiment=smoke", small=False)
    module = build_module(cfg, instantiate(cfg.data))
    module.pruning_record = prune(
        module.net, PruningOptions(method="l1", ratio=0.5), torch.zeros(1, 3, 32, 32)
    ).record
    run_dir = tmp_path / "pruned-run"
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    return cfg, save_checkpoint(module, run_dir / "checkpoints" / "pruned.ckpt")


def tampered(path: Path, change: Callable[[dict], None]) -> Path:
    checkpoint = read_checkpoint(path)
    change(checkpoint)
    out = path.with_name(f"tampered-{path.name}")
    torch.save(checkpoint, out)
    return out


def test_record_naming_a_missing_layer(
    make_cfg: Callable[..., DictConfig], pruned_run: tuple[DictConfig, Path]
) -> None:
    cfg, path = pruned_run

    def rename(checkpoint: dict) -> None:
        checkpoint["pruning_record"][0]["history"][0][0] = "down_blocks.9.conv1"

    bad = tampered(path, rename)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint_into(build_module(cfg, instantiate(cfg.data)), bad)
    assert str(error.value) == (
        f"checkpoint {bad}: its pruning record does not fit the model UNet(num_classes=11, in_channels=3, depth=2, "
        "base_channels=4, bilinear=False): it names layer 'down_blocks.9.conv1', which UNet does not have"
    )
    assert documented(f"error: {error.value}")


def test_eval_of_a_record_index_out_of_range(
    cli: Run, tmp_path: Path, pruned_run: tuple[DictConfig, Path]
) -> None:
    _, path = pruned_run

    def out_of_range(checkpoint: dict) -> None:
        checkpoint["pruning_record"][0]["history"][0][2] = [0, 999]

    bad = tampered(path, out_of_range)
    code, line = cli(eval.main, f"ckpt_path={bad}", f"hydra.run.dir={tmp_path / 'eval'}")
    assert code == 2
    assert re.fullmatch(
        re.escape(
            f"error: checkpoint {bad}: its pruning record does not fit the model UNet(num_classes=11, in_channels=3, "
            "depth=2, base_channels=4, bilinear=False): its index 999 is out of range for layer '"
        )
        + r"[\w.]+' \(size \d+: (in|out)put channels 0\.\.\d+\)",
        line,
    ), line
    assert documented(line)


def test_sp2ps_on_data_of_another_task(cli: Run, tmp_path: Path, pruned_run: tuple[DictConfig, Path]) -> None:
    _, path = pruned_run
    args = [
        f"baseline_ckpt={path}",
        f"pruned_ckpt={path}",
        "data=cifar10",
        f"hydra.run.dir={tmp_path / 'sp2ps'}",
    ]
    code, line = cli(sp2ps.main, *args)
    assert code == 2
    assert line == (
        "error: data=cifar10 is a classification dataset but the checkpoints hold segmentation models; choose data of "
        "their task, or no data= to score on the checkpoints' own"
    )
    assert documented(line)


def test_sp2ps_bad_cam_option_is_unwrapped(
    cli: Run, tmp_path: Path, pruned_run: tuple[DictConfig, Path]
) -> None:
    """sp2ps instantiates cam itself: the wrapper unwraps Hydra's InstantiationException to the check's line."""
    _, path = pruned_run
    args = [
        f"baseline_ckpt={path}",
        f"pruned_ckpt={path}",
        "cam.max_batches=0",
        f"hydra.run.dir={tmp_path / 's'}",
    ]
    code, line = cli(sp2ps.main, *args)
    assert (code, line) == (2, "error: cam: Sp2PSCallback max_batches must be >= 1 or None; got 0")
    assert documented(line)


def test_export_input_shape_not_a_list(cli: Run, tmp_path: Path, pruned_run: tuple[DictConfig, Path]) -> None:
    _, path = pruned_run
    code, line = cli(
        export.main, f"ckpt_path={path}", "input_shape=abc", f"hydra.run.dir={tmp_path / 'export'}"
    )
    assert (code, line) == (
        2,
        "error: input_shape must be a list [H, W], [C, H, W] or [B, C, H, W], got 'abc'",
    )
    assert documented(line)


def test_export_of_a_renamed_model_key(cli: Run, tmp_path: Path, pruned_run: tuple[DictConfig, Path]) -> None:
    _, path = pruned_run

    def rename(checkpoint: dict) -> None:
        net = checkpoint["model_config"]["net"]
        net["base_chans"] = net.pop("base_channels")

    bad = tampered(path, rename)
    code, line = cli(export.main, f"ckpt_path={bad}", f"hydra.run.dir={tmp_path / 'export'}")
    assert code == 2
    assert line == (
        f"error: checkpoint {bad}: its model_config does not build with this version of PruneScope (model.net: UNet "
        "takes no model.net.base_chans; valid keys: num_classes, in_channels, depth, base_channels, bilinear)"
    )
    assert documented(line)


# ------------------------------------------------------------------------------------------ README
def bad_input_rows() -> list[tuple[str, str, list[str]]]:
    """(case, exit, messages) of README's "Bad input: runs, checkpoints, commands" table; the messages are the
    message cell's code spans (a span without a prefix takes the first span's)."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Bad input: runs, checkpoints, commands", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| case"):
            continue
        case, exits, cell = (c.strip() for c in line.strip().strip("|").split(" | "))
        spans = re.findall(r"`([^`]+)`", cell)
        prefix = spans[0].split(" ", 1)[0]
        messages = [
            span if span.startswith(("error: ", "interrupted: ")) else f"{prefix} {span}" for span in spans
        ]
        rows.append((case, exits, [m for m in messages if len(re.sub(r"<[^>]*>", "", m)) > len(prefix) + 8]))
    return rows


def documented(line: str) -> bool:
    """Whether a README row's message (``<...>`` and ``...`` match anything) is ``line``."""
    for _, _, messages in bad_input_rows():
        for message in messages:
            pattern = "".join(
                ".+" if part.startswith("<") else ".*" if part == "..." else re.escape(part)
                for part in re.split(r"(<[^>]*>|\.\.\.)", message)
            )
            if re.fullmatch(pattern, line):
                return True
    return False


def test_readme_bad_input_table_matches_the_table() -> None:
    """Every README row's exit status and prefix is a row of OUTCOMES, and every row of OUTCOMES is in README."""
    rows = bad_input_rows()
    signals = {str(128 + signal) for signal in (2, 10, 15)}  # SIGINT, SIGUSR1, SIGTERM
    table = {(row.prefix.strip(), str(row.exit_code)) for row in OUTCOMES}
    seen = set()
    for case, exits, messages in rows:
        prefix = messages[0].split(" ", 1)[0]
        for code in exits.split(" / "):
            key = (
                (prefix, "None") if prefix == "interrupted:" and code in signals - {"130"} else (prefix, code)
            )
            assert key in table, f"README row {case!r}: exit {code} with {prefix!r} is no row of OUTCOMES"
            seen.add(key)
    assert seen == table, f"rows of OUTCOMES that README does not show: {table - seen}"
