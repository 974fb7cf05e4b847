#!/usr/bin/env bash
# The Sp2PS study, round 2 (issue #27): experiment=sp2ps_vgg16_cifar10_cpu_half (the half-width baseline of
# experiments/vgg16_cifar10/run_wide.sh, 40 epochs, pinned here; cached and shared; the studies' chosen fine-tune
# on 100 batches of 128 per epoch), random and l1 at channel ratios 0.4 and 0.2, seeds 0, 1, 2. One job at a time;
# a re-run skips completed jobs (the first job trains the half-width baseline, about an hour, unless the cache holds
# it). Then at 40 %, where
# 100 batches left both methods more than 2 points under the baseline, the same fine-tune over every batch (10 full
# epochs: the fine-tune chosen in experiments/finetune_strategy, as it was chosen).
# Then: experiments/report_round.sh experiments/sp2ps_vgg16_cifar10/report/round2 \
#   <OUT_DIR>/round2 <OUT_DIR>/round2_full
# Usage: experiments/sp2ps_vgg16_cifar10/run_round2.sh [OUT_DIR] [extra overrides...]
#   (default OUT_DIR: outputs/sp2ps_vgg16_cifar10)
set -euo pipefail
out_dir=${1:-outputs/sp2ps_vgg16_cifar10}
shift $(($# > 0 ? 1 : 0))
prunescope-train -m experiment=sp2ps_vgg16_cifar10_cpu_half trainer.max_epochs=40 pruning=random,l1 \
  pruning.ratio=0.4,0.2 seed=0,1,2 skip_completed=true hydra.sweep.dir="$out_dir/round2" "$@"
prunescope-train -m experiment=sp2ps_vgg16_cifar10_cpu_half trainer.max_epochs=40 pruning=random,l1 \
  pruning.ratio=0.4 seed=0,1,2 pruning.finetune.limit_train_batches=null skip_completed=true \
  hydra.sweep.dir="$out_dir/round2_full" "$@"
