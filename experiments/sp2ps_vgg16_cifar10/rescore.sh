#!/usr/bin/env bash
# Sp2PS of every run of the study at the two CAM layers and with both targets (after run.sh). The runs themselves
# score the default (last conv, features.42, 2x2 on 32x32 inputs; baseline_pred); this adds, per run dir, with
# prunescope-sp2ps on the full test set:
#   sp2ps_last_own/     features.42, own_pred (each model explains its own top class)
#   sp2ps_4x4_base/     features.32 (ReLU after conv 10, 4x4), baseline_pred
#   sp2ps_4x4_own/      features.32, own_pred
# Each writes sp2ps.json; experiments/study_tables.py reads them. Runs already scored are skipped.
# Usage: experiments/sp2ps_vgg16_cifar10/rescore.sh [OUT_DIR]   (OUT_DIR of run.sh, default: outputs/sp2ps_vgg16_cifar10)
set -euo pipefail
out_dir=${1:-outputs/sp2ps_vgg16_cifar10}
for run in "$out_dir"/sweep/*/; do
  [ -f "$run/metrics.json" ] || continue
  # only finished runs (a running job's last.ckpt is a fine-tune in progress): their baseline, else skip
  baseline=$(python -c "import json,sys; d = json.load(open(sys.argv[1]))
sys.exit(1) if d['run.status'] != 'completed' else print(d['run.baseline_source'])" "$run/metrics.json") || continue
  for variant in last_own:features.42:own_pred 4x4_base:features.32:baseline_pred 4x4_own:features.32:own_pred; do
    IFS=: read -r name layer target <<< "$variant"
    [ -f "$run/sp2ps_$name/sp2ps.json" ] && continue
    prunescope-sp2ps baseline_ckpt="$baseline" pruned_ckpt="$run/checkpoints/last.ckpt" cam.target_layer="$layer" \
      cam.target="$target" cam.grid=false hydra.run.dir="$run/sp2ps_$name"
  done
done
