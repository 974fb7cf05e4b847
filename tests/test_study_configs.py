"""The studies' paper-scale experiment configs compose and run end to end under ``trainer.fast_dev_run``."""

from __future__ import annotations

import re
import shlex

import pytest
from omegaconf import DictConfig, OmegaConf

from prunescope.baselines.material import baseline_key_material
from prunescope.train import run
from support import REPO_ROOT, requires_data

EXPERIMENTS = REPO_ROOT / "experiments"

PAPER_SCALE = [
    ("segnet_camvid", "camvid", 0.724),
    ("deeplabv3plus_camvid", "camvid", 0.465),
    ("vgg16_cifar10", "cifar10", 0.865),
    ("sp2ps_vgg16_cifar10", "cifar10", 0.4),
    ("unet_camvid_layers", "camvid", 0.5),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("experiment", "ratio"),
    [pytest.param(name, ratio, marks=requires_data(data)) for name, data, ratio in PAPER_SCALE],
)
def test_paper_scale_config_runs_one_batch_per_stage(make_cfg, experiment: str, ratio: float) -> None:
    cfg = make_cfg(
        f"experiment={experiment}",
        "pruning=l1",
        "trainer.fast_dev_run=true",
        "trainer.accelerator=cpu",
        "data.batch_size=2",
        "data.num_workers=0",
        "pruning.calibration_batches=1",
        "cam.max_batches=1",
        "efficiency.latency_repeats=1",
        "logger=none",
        small=False,
    )
    assert cfg.pruning.ratio == ratio
    values = run(cfg)
    assert values["run.status"] == "completed", values.get("run.error")
    assert values["run.target"] == cfg.pruning.target
    if cfg.pruning.target == "params":
        assert abs(values["drop.params_pct"] / 100 - ratio) <= 0.005
    else:
        assert abs(values["prune.ratio_removed"] - ratio) <= 0.01


def script_array(script: str, name: str) -> list[str]:
    """The words of the bash array ``name=(...)`` that a study script defines at the start of a line (it may span
    lines, and end in a comment), as bash splits them."""
    match = re.search(rf"^{name}=\((.*?)\)[ \t]*(?:#[^\n]*)?$", script, re.M | re.S)
    assert match is not None, f"the script defines no array {name}=(...)"
    return shlex.split(match.group(1))


def sp2ps_round4_overrides() -> list[str]:
    """run_round4.sh's common overrides without its Hydra output settings."""
    script = (EXPERIMENTS / "sp2ps_vgg16_cifar10" / "run_round4.sh").read_text()
    return [item for item in script_array(script, "common") if not item.startswith("hydra.")]


def _leaves(node: object, prefix: str = "") -> dict[str, object]:
    if isinstance(node, dict):
        out: dict[str, object] = {}
        for key, value in node.items():
            out.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: node}


def config_changes(a: DictConfig, b: DictConfig, resolve: bool = True) -> dict[str, tuple[object, object]]:
    """The dotted keys whose values differ between two composed configs, each with its ``(a, b)`` values."""
    left = _leaves(OmegaConf.to_container(a, resolve=resolve))
    right = _leaves(OmegaConf.to_container(b, resolve=resolve))
    return {
        key: (left.get(key), right.get(key))
        for key in left.keys() | right.keys()
        if left.get(key) != right.get(key)
    }


def script_candidates(script: str) -> dict[str, str]:
    """The ``declare -A candidates=(...)`` map of a study script: candidate name -> its overrides (one string)."""
    block = re.search(r"^declare -A candidates=\((.*?)^\)$", script, re.M | re.S)
    assert block is not None, "the script declares no candidates=(...) map"
    return dict(re.findall(r'^\s*\[(\w+)\]="([^"]*)"$', block.group(1), re.M))


def test_half_width_vgg_study_is_the_quarter_width_one_wider_with_a_hold_out(make_cfg) -> None:
    """experiments/vgg16_cifar10/RESULTS.md's half-width rows and its round-2 rows differ only in width and baseline
    length: the half config is vgg16_cifar10_cpu with width_mult 0.5, the round-2 hold-out and round 3's 14 baseline
    epochs, nothing else (tags aside); the half-width scripts of round 2 pin its 40 epochs."""
    quarter = make_cfg("experiment=vgg16_cifar10_cpu", "pruning=pca_nci", small=False)
    half = make_cfg("experiment=vgg16_cifar10_cpu_half", "pruning=pca_nci", small=False)
    assert config_changes(quarter, half, resolve=False) == {
        "model.net.width_mult": (0.25, 0.5),
        "data.val_size": (0, 5000),
        "trainer.max_epochs": (40, 14),
        "tags": (["vgg16_cifar10", "cpu"], ["vgg16_cifar10", "cpu", "half_width"]),
    }
    for script in ("vgg16_cifar10/run_wide.sh", "sp2ps_vgg16_cifar10/run_round2.sh"):
        lines = (EXPERIMENTS / script).read_text().splitlines()
        calls = [line for line in lines if "_cpu_half" in line and not line.lstrip().startswith("#")]
        assert calls and all("trainer.max_epochs=40" in call for call in calls), script


def test_segnet_study_defaults_are_round_twos_choice_and_round_one_pins_its_own(make_cfg) -> None:
    """experiments/segnet_camvid/RESULTS.md: the fine-tune chosen on validation (24 epochs, local scope) is the
    config's default; run.sh pins round 1's settings (8 epochs, global scope, fp32), so it re-runs round 1 as it was."""
    chosen = make_cfg("experiment=segnet_camvid_cpu", "pruning=pca_nci", small=False)
    assert (chosen.finetune_epochs, chosen.pruning.scope, chosen.trainer.precision) == (24, "local", "auto")
    script = (EXPERIMENTS / "segnet_camvid" / "run.sh").read_text()
    assert "pruning.scope=global" in script
    round1 = make_cfg(
        "experiment=segnet_camvid_cpu", "pruning=pca_nci", *script_array(script, "round1"), small=False
    )
    assert (round1.finetune_epochs, round1.trainer.precision) == (8, "32-true")


def test_segnet_round_two_candidates_each_name_their_scope(make_cfg) -> None:
    """experiments/segnet_camvid/run_round2.sh: every fine-tune candidate names its scope (local, but e24_global),
    and the chosen e24 composes to the config's defaults, so a re-run's skip_completed finds its runs."""
    script = (EXPERIMENTS / "segnet_camvid" / "run_round2.sh").read_text()
    candidates = script_candidates(script)
    order = re.search(r"^order=\(([^)]*)\)", script, re.M)
    assert order is not None and order.group(1).split() == list(candidates)
    configs = {
        name: make_cfg("experiment=segnet_camvid_cpu", "pruning=pca_nci", *overrides.split(), small=False)
        for name, overrides in candidates.items()
    }
    assert (configs["e24_global"].pruning.scope, configs["e24_global"].finetune_epochs) == ("global", 24)
    assert all(cfg.pruning.scope == "local" for name, cfg in configs.items() if name != "e24_global")
    default = make_cfg("experiment=segnet_camvid_cpu", "pruning=pca_nci", small=False)
    assert OmegaConf.to_container(configs["e24"], resolve=True) == OmegaConf.to_container(
        default, resolve=True
    )


def test_sp2ps_study_defaults_are_round_threes_and_round_one_pins_the_papers_fine_tune(make_cfg) -> None:
    """experiments/sp2ps_vgg16_cifar10/RESULTS.md: the config is round 3's (quarter width, 5,000 held out, the
    studies' fine-tune over every batch); run.sh pins round 1's (fp32, no hold-out, the paper's fine-tune on 100
    batches of 32) so its table still reproduces."""
    chosen = make_cfg("experiment=sp2ps_vgg16_cifar10_cpu", "pruning=l1", small=False)
    ft = chosen.pruning.finetune
    assert (chosen.model.net.width_mult, chosen.data.val_size, chosen.finetune_epochs) == (0.25, 5000, 10)
    assert (ft.lr, ft.schedule, ft.batch_size, ft.limit_train_batches) == (0.01, "cosine", None, None)
    script = (EXPERIMENTS / "sp2ps_vgg16_cifar10" / "run.sh").read_text()
    round1 = make_cfg(
        "experiment=sp2ps_vgg16_cifar10_cpu", "pruning=l1", *script_array(script, "round1"), small=False
    )
    ft = round1.pruning.finetune
    assert (round1.trainer.precision, round1.data.val_size) == ("32-true", 0)
    assert (ft.lr, ft.schedule, ft.batch_size, ft.limit_train_batches) == (1e-3, "constant", 32, 100)
    assert dict(ft.optimizer) == {"momentum": 0.9, "nesterov": False, "weight_decay": 0.0}


def test_vgg_round_one_pins_fp32_and_five_epochs_and_shares_the_sp2ps_round_one_baseline(make_cfg) -> None:
    """experiments/vgg16_cifar10/run.sh pins round 1's fp32 baseline and 5 fine-tune epochs (the config's defaults
    are bf16 and 10 since); its baseline is the one the Sp2PS study's round 1 prunes (the same cache key)."""
    script = (EXPERIMENTS / "vgg16_cifar10" / "run.sh").read_text()
    assert script.count('"${round1[@]}"') == 2
    round1 = make_cfg(
        "experiment=vgg16_cifar10_cpu", "pruning=pca_nci", *script_array(script, "round1"), small=False
    )
    assert (round1.finetune_epochs, round1.trainer.precision, round1.data.val_size) == (5, "32-true", 0)
    sp2ps_script = (EXPERIMENTS / "sp2ps_vgg16_cifar10" / "run.sh").read_text()
    sp2ps_round1 = make_cfg(
        "experiment=sp2ps_vgg16_cifar10_cpu", "pruning=l1", *script_array(sp2ps_script, "round1"), small=False
    )
    assert baseline_key_material(round1) == baseline_key_material(sp2ps_round1)


def test_sp2ps_round_four_is_the_half_width_study_on_the_vgg_studys_round_three_baseline(make_cfg) -> None:
    """experiments/sp2ps_vgg16_cifar10/run_round4.sh: half width, the config's 14 baseline epochs, the studies'
    fine-tune over every batch for 4 epochs; its baseline is the VGG-16 study's round-3 one (the same cache key)."""
    round4 = make_cfg(*sp2ps_round4_overrides(), "pruning=l1", "pruning.ratio=0.4", small=False)
    ft = round4.pruning.finetune
    assert (round4.model.net.width_mult, round4.data.val_size, round4.trainer.max_epochs) == (0.5, 5000, 14)
    assert (round4.finetune_epochs, ft.lr, ft.schedule, ft.limit_train_batches) == (4, 0.01, "cosine", None)
    vgg_round3 = make_cfg("experiment=vgg16_cifar10_cpu_half", "pruning=pca_nci", small=False)
    assert baseline_key_material(round4) == baseline_key_material(vgg_round3)


def test_sp2ps_round_five_is_round_four_with_seven_epochs_at_forty_percent(make_cfg) -> None:
    """experiments/sp2ps_vgg16_cifar10/run_round5.sh: the runs at 20 % are round 4's (4 epochs), those at 40 % get
    7; both share round 4's baseline with the baseline-only step, and write distinct subfolders of one sweep dir."""
    script = (EXPERIMENTS / "sp2ps_vgg16_cifar10" / "run_round5.sh").read_text()
    common = script_array(script, "study")
    sweep = script_array(script, "sweep")
    assert sweep[0] == "${study[@]}" and [item for item in sweep if item.startswith("pruning=")] == [
        "pruning=l1,random"
    ]
    sweeps = re.findall(r'^prunescope-train -m "\$\{sweep\[@\]\}" (.*) "\$@"$', script, re.M)
    assert len(sweeps) == 2
    configs, subdirs = {}, []
    for line in sweeps:
        overrides = shlex.split(line)
        subdirs += [item.split("=", 1)[1] for item in overrides if item.startswith("hydra.sweep.subdir=")]
        own = [item for item in overrides if not item.startswith("hydra.")]
        cfg = make_cfg(*common, "pruning=random", *own, small=False)
        configs[cfg.pruning.ratio] = cfg
    assert {ratio: cfg.finetune_epochs for ratio, cfg in configs.items()} == {0.2: 4, 0.4: 7}
    assert len(set(subdirs)) == 2 and all("${hydra.job.num}" in subdir for subdir in subdirs)
    round4 = make_cfg(*sp2ps_round4_overrides(), "pruning=random", "pruning.ratio=0.2", small=False)
    assert OmegaConf.to_container(configs[0.2], resolve=True) == OmegaConf.to_container(round4, resolve=True)
    baseline_only = make_cfg(*common, "pruning=none", small=False)
    assert baseline_key_material(baseline_only) == baseline_key_material(configs[0.4])
    assert baseline_key_material(configs[0.4]) == baseline_key_material(round4)


def test_segnet_round_three_adds_two_strategies_to_round_twos_e24_on_its_baseline(make_cfg) -> None:
    """experiments/segnet_camvid/run_round3.sh: its earlier candidates are round 2's, in round 2's order; e24_kdfeat
    and e24_iter3 are round 2's e24 (the config's defaults) plus feature distillation or three pruning steps, nothing
    else, on the same baseline key, so collect.py may compare them with round 2's committed rows; each seed writes its
    own run dir, as two queues share one sweep dir."""
    script = (EXPERIMENTS / "segnet_camvid" / "run_round3.sh").read_text()
    round2 = (EXPERIMENTS / "segnet_camvid" / "run_round2.sh").read_text()
    assert script_array(script, "earlier") == script_array(round2, "order")
    assert script_array(script, "order") == ["${earlier[@]}", "e24_kdfeat", "e24_iter3"]
    candidates = script_candidates(script)
    assert set(candidates) == {"e24", "e24_kdfeat", "e24_iter3"}
    common = script_array(script, "common")
    configs = {
        name: make_cfg(*common, "pruning=pca_nci", *extra.split(), small=False)
        for name, extra in candidates.items()
    }
    default = make_cfg("experiment=segnet_camvid_cpu", "pruning=pca_nci", "skip_completed=true", small=False)
    assert OmegaConf.to_container(configs["e24"], resolve=True) == OmegaConf.to_container(
        default, resolve=True
    )
    assert config_changes(configs["e24_kdfeat"], configs["e24"]) == {
        "pruning.distill.feature_weight": (1.0, 0.0)
    }
    assert config_changes(configs["e24_iter3"], configs["e24"]) == {
        "pruning.schedule.steps": (3, 1),
        "pruning.schedule.at_epochs": ([0, 4, 8], None),
    }
    materials = [baseline_key_material(cfg) for cfg in configs.values()]
    assert all(material == materials[0] for material in materials)
    assert "'hydra.sweep.subdir=seed${seed}'" in script


def test_unet_round_three_runs_round_twos_e120_again_beside_e240(make_cfg) -> None:
    """experiments/unet_camvid_layers/run_round3.sh: its 120-epoch sweep is round 2's levels3_e120 (the same config
    key material, so the two rounds' runs are the same candidate) and its 240-epoch sweep differs from it only in
    the fine-tune's length; both share the baseline of the script's baseline-only step."""
    script = (EXPERIMENTS / "unet_camvid_layers" / "run_round3.sh").read_text().replace("\\\n", " ")
    levels3 = script_array(script, "levels3")
    line = re.search(r'^\s*prunescope-train -m (.*) "\$@"$', script, re.M)
    assert line is not None and re.search(r"^for epochs in 240 120; do$", script, re.M)
    sweep = [
        w for w in shlex.split(line.group(1), posix=False) if not w.startswith(("hydra", "seed=", "tags="))
    ]
    assert '"${levels3[@]}"' in sweep and 'finetune_epochs="$epochs"' in sweep
    own = [w for w in sweep if w not in ('"${levels3[@]}"', 'finetune_epochs="$epochs"')]
    configs = {e: make_cfg(*own, *levels3, f"finetune_epochs={e}", small=False) for e in (120, 240)}
    round2 = (EXPERIMENTS / "unet_camvid_layers" / "run_round2.sh").read_text()
    common2 = [w for w in script_array(round2, "common") if not w.startswith(("seed=", "tags="))]
    e120_round2 = make_cfg(*common2, *script_array(round2, "levels3"), "finetune_epochs=120", small=False)
    assert OmegaConf.to_container(configs[120], resolve=True) == OmegaConf.to_container(
        e120_round2, resolve=True
    )
    assert set(config_changes(configs[120], configs[240])) == {"finetune_epochs"}
    baseline_only = make_cfg("experiment=unet_camvid_layers_cpu", "pruning=none", small=False)
    assert baseline_key_material(baseline_only) == baseline_key_material(configs[240])
