#!/usr/bin/env bash
# The Sp2PS study, round 4 (issue #27): 40 % inside the hour at half width. experiment=
# sp2ps_vgg16_cifar10_cpu_half with its config's 14 baseline epochs (the VGG-16 study's round-3 baseline, shared
# through the cache: 18.7 minutes to train here) and the studies' fine-tune (SGD 0.01, cosine to 0, batch 128) over
# every batch for 4 epochs instead of 10, the length that fits 12 runs, two side by side, in the hour on this
# 2-core machine; l1 and random at channel ratios 0.2 and 0.4, seeds 0, 1, 2: 12 jobs in <OUT_DIR>/round4.
#   1. the sweep's first job (l1, 0.2, seed 0) alone, two threads: it trains the baseline into the cache unless the
#      cache holds it
#   2. the whole sweep, two jobs side by side (joblib), one thread each; it skips job 0, done in step 1
# A re-run skips completed jobs. Then: experiments/report_round.sh experiments/sp2ps_vgg16_cifar10/report/round4 \
#   <OUT_DIR>/round4
# Usage: experiments/sp2ps_vgg16_cifar10/run_round4.sh [OUT_DIR] [extra overrides...]
#   (default OUT_DIR: outputs/sp2ps_vgg16_cifar10)
set -euo pipefail
out_dir=${1:-outputs/sp2ps_vgg16_cifar10}
shift $(($# > 0 ? 1 : 0))
common=(experiment=sp2ps_vgg16_cifar10_cpu_half finetune_epochs=4 pruning.finetune.limit_train_batches=null
  skip_completed=true hydra.sweep.dir="$out_dir/round4")
prunescope-train -m "${common[@]}" pruning=l1 pruning.ratio=0.2 seed=0 "$@"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} prunescope-train -m "${common[@]}" hydra/launcher=joblib \
  hydra.launcher.n_jobs=2 pruning=l1,random pruning.ratio=0.2,0.4 seed=0,1,2 "$@"
