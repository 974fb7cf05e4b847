#!/usr/bin/env bash
# The Sp2PS study, round 3 (issue #27): the study inside the hour. experiment=sp2ps_vgg16_cifar10_cpu
# (quarter width, 45,000 training images and 5,000 held out, the studies' fine-tune: SGD 0.01, cosine to 0, 10 full
# epochs, batch 128), l1 and random at channel ratios 0.2 and 0.4, seeds 0, 1, 2: 12 jobs in <OUT_DIR>/round3.
#   1. the sweep's first job (l1, 0.2, seed 0) alone, two threads: it trains the baseline into the cache unless the
#      cache holds it (the baseline of experiments/finetune_strategy and of the VGG-16 study's round 2)
#   2. the whole sweep, two jobs side by side (joblib), one thread each; it skips job 0, done in step 1
# A re-run skips completed jobs. Then: experiments/report_round.sh experiments/sp2ps_vgg16_cifar10/report/round3 \
#   <OUT_DIR>/round3
# Usage: experiments/sp2ps_vgg16_cifar10/run_round3.sh [OUT_DIR] [extra overrides...]
#   (default OUT_DIR: outputs/sp2ps_vgg16_cifar10)
set -euo pipefail
out_dir=${1:-outputs/sp2ps_vgg16_cifar10}
shift $(($# > 0 ? 1 : 0))
common=(experiment=sp2ps_vgg16_cifar10_cpu skip_completed=true hydra.sweep.dir="$out_dir/round3")
prunescope-train -m "${common[@]}" pruning=l1 pruning.ratio=0.2 seed=0 "$@"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} prunescope-train -m "${common[@]}" hydra/launcher=joblib \
  hydra.launcher.n_jobs=2 pruning=l1,random pruning.ratio=0.2,0.4 seed=0,1,2 "$@"
