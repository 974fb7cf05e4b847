#!/usr/bin/env bash
# Classic U-Net on CamVid at CPU scale (experiment=unet_camvid_layers_cpu), every job sharing one cached baseline:
#   1. layer pruning alone: the 1, 2 or auto-chosen deepest levels removed (no filters), then the fine-tune
#   2. filter pruning alone: pca_nci, isd, l1 removing 50 / 80 / 95 % of the parameters
#   3. both: 2 levels (-94.0 % params at this width) then pca_nci, isd, l1 removing 78.5 % of what is left,
#      -98.7 % in all (the paper's figure; 3 levels alone also remove 98.7 % of a depth-5 U-Net's parameters)
# Two jobs side by side (joblib, one thread each). Paper scale: experiment=unet_camvid_layers.
# Usage: experiments/unet_camvid_layers/run.sh [OUT_DIR] [extra overrides...]   (default: outputs/unet_camvid_layers)
set -euo pipefail
out_dir=${1:-outputs/unet_camvid_layers}
shift $(($# > 0 ? 1 : 0))
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
common=(experiment=unet_camvid_layers_cpu hydra/launcher=joblib hydra.launcher.n_jobs=2 seed=0 skip_completed=true
  trainer.precision=32-true)   # round 1's fp32 (the config's `auto` is bf16 on this CPU since; run_round2.sh)

prunescope-train -m "${common[@]}" pruning=l1 pruning.target=channels pruning.ratio=0 \
  pruning.layers.levels=1,2,auto hydra.sweep.dir="$out_dir/layers" "$@"
prunescope-train -m "${common[@]}" pruning=pca_nci,isd,l1 pruning.ratio=0.5,0.8,0.95 \
  hydra.sweep.dir="$out_dir/filters" "$@"
prunescope-train -m "${common[@]}" pruning=pca_nci,isd,l1 pruning.layers.levels=2 pruning.ratio=0.785 \
  hydra.sweep.dir="$out_dir/combined" "$@"
