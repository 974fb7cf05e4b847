#!/usr/bin/env bash
# Sp2PS of every run of the study at the 4x4 layer as well (after run.sh): the runs score the last conv layer
# (features.42, 2x2 on 32x32 inputs); this adds <run>/sp2ps_4x4_base/sp2ps.json (features.32, baseline_pred) with
# prunescope-sp2ps on the full test set. Runs already scored are skipped.
# Usage: experiments/vgg16_cifar10/rescore.sh [OUT_DIR]   (OUT_DIR of run.sh, default: outputs/vgg16_cifar10)
set -euo pipefail
out_dir=${1:-outputs/vgg16_cifar10}
for run in "$out_dir"/headline/*/ "$out_dir"/classic/*/; do
  [ -f "$run/metrics.json" ] && [ ! -f "$run/sp2ps_4x4_base/sp2ps.json" ] || continue
  # only finished runs (a running job's last.ckpt is a fine-tune in progress): their baseline, else skip
  baseline=$(python -c "import json,sys; d = json.load(open(sys.argv[1]))
sys.exit(1) if d['run.status'] != 'completed' else print(d['run.baseline_source'])" "$run/metrics.json") || continue
  prunescope-sp2ps baseline_ckpt="$baseline" pruned_ckpt="$run/checkpoints/last.ckpt" cam.target_layer=features.32 \
    cam.target=baseline_pred cam.grid=false hydra.run.dir="$run/sp2ps_4x4_base"
done
