#!/usr/bin/env bash
# The sweeps of a CamVid study at CPU scale (every job shares one cached baseline), two jobs side by side (joblib,
# one thread each): 1. pca_nci, isd, l1 at the experiment's parameter drop, seeds 0 and 1; 2. fpgm and random at
# that drop, seed 0; 3. pca_nci and l1 at RATIOS of the parameters, seed 0.
# Usage: experiments/camvid_study.sh EXPERIMENT RATIOS OUT_DIR [extra overrides...]
set -euo pipefail
experiment=$1 ratios=$2 out_dir=$3
shift 3
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
common=(experiment="$experiment" hydra/launcher=joblib hydra.launcher.n_jobs=2)

prunescope-train -m "${common[@]}" pruning=pca_nci,isd,l1 seed=0,1 hydra.sweep.dir="$out_dir/headline" "$@"
prunescope-train -m "${common[@]}" pruning=fpgm,random seed=0 hydra.sweep.dir="$out_dir/classic" "$@"
prunescope-train -m "${common[@]}" pruning=pca_nci,l1 pruning.ratio="$ratios" seed=0 \
  hydra.sweep.dir="$out_dir/ratios" "$@"
