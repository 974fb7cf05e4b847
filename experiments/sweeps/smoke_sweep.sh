#!/usr/bin/env bash
# A whole sweep in about a minute on a CPU: 2 methods x 2 ratios x 2 seeds = 8 jobs of experiment=smoke,
# 2 jobs at a time (joblib), one baseline per seed, then the report.
# Usage: experiments/sweeps/smoke_sweep.sh [OUT_DIR] [extra overrides...]   (OUT_DIR default: outputs/smoke_sweep)
set -euo pipefail
out_dir=${1:-outputs/smoke_sweep}
shift $(($# > 0 ? 1 : 0))
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}   # one thread per job: the jobs run side by side

prunescope-train -m experiment=smoke \
  hydra/launcher=joblib hydra.launcher.n_jobs=2 \
  seed=0,1 pruning=l1,random pruning.ratio=0.3,0.6 \
  hydra.sweep.dir="$out_dir" \
  "$@"

prunescope-report "$out_dir"   # -> $out_dir/report/{results,summary}.csv, results.md, results.tex, *.png
