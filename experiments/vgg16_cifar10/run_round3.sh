#!/usr/bin/env bash
# Round 3 of the VGG-16 study (issue #27): the half-width network with a baseline inside the 30 minutes.
# experiment=vgg16_cifar10_cpu_half (14 baseline epochs; run_wide.sh pins round 2's 40, which took 58.5 minutes),
# pca_nci at the paper's -86.5 % parameters, the chosen 10-epoch fine-tune, seeds 0, 1, 2, in <OUT_DIR>/round3:
#   1. seed 0 alone, two threads: its first step trains the 14-epoch baseline into the cache
#   2. the sweep, seeds 1 and 2 side by side (joblib), one thread each; it skips seed 0, done in step 1
# A re-run skips completed jobs. Then: experiments/report_round.sh experiments/vgg16_cifar10/report/round3 \
#   <OUT_DIR>/round3
# Usage: experiments/vgg16_cifar10/run_round3.sh [OUT_DIR] [extra overrides...]   (default: outputs/vgg16_cifar10)
set -euo pipefail
out_dir=${1:-outputs/vgg16_cifar10}
shift $(($# > 0 ? 1 : 0))
common=(experiment=vgg16_cifar10_cpu_half pruning=pca_nci skip_completed=true hydra.sweep.dir="$out_dir/round3")
prunescope-train -m "${common[@]}" seed=0 "$@"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} prunescope-train -m "${common[@]}" hydra/launcher=joblib \
  hydra.launcher.n_jobs=2 seed=0,1,2 "$@"
