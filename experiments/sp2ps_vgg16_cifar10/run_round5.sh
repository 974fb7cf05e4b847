#!/usr/bin/env bash
# The Sp2PS study, round 5 (issue #27): round 4's half width with a fine-tune whose length grows with the cut.
# Round 4 held 20 % with 4 fine-tune epochs and missed 40 % for random (-2.4 +- 0.5) with 15 minutes of the hour
# unused; round 5 gives those minutes to the 40 % runs: 4 epochs at 20 %, 7 at 40 % (the studies' fine-tune, SGD
# 0.01 with cosine to 0 over each run's own length, batch 128, every batch). l1 and random, seeds 0, 1, 2:
#   1. the baseline alone, two threads (experiment=sp2ps_vgg16_cifar10_cpu_half with pruning=none: its config's
#      14 epochs, the VGG-16 study's round-3 baseline), into the cache unless the cache holds it
#   2. the 6 runs at 20 %, then the 6 at 40 %, two side by side (joblib), one thread each, all in
#      <OUT_DIR>/round5 (subfolders r20_<job>, r40_<job>), so the study's wall time is one span
# A re-run skips completed jobs. Then: experiments/report_round.sh experiments/sp2ps_vgg16_cifar10/report/round5 \
#   <OUT_DIR>/round5
# Usage: experiments/sp2ps_vgg16_cifar10/run_round5.sh [OUT_DIR] [extra overrides...]
#   (default OUT_DIR: outputs/sp2ps_vgg16_cifar10)
set -euo pipefail
out_dir=${1:-outputs/sp2ps_vgg16_cifar10}
shift $(($# > 0 ? 1 : 0))
study=(experiment=sp2ps_vgg16_cifar10_cpu_half pruning.finetune.limit_train_batches=null skip_completed=true)
prunescope-train "${study[@]}" pruning=none hydra.run.dir="$out_dir/round5_baseline" "$@"
sweep=("${study[@]}" hydra/launcher=joblib hydra.launcher.n_jobs=2 pruning=l1,random seed=0,1,2
  hydra.sweep.dir="$out_dir/round5")
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
prunescope-train -m "${sweep[@]}" pruning.ratio=0.2 finetune_epochs=4 'hydra.sweep.subdir=r20_${hydra.job.num}' "$@"
prunescope-train -m "${sweep[@]}" pruning.ratio=0.4 finetune_epochs=7 'hydra.sweep.subdir=r40_${hydra.job.num}' "$@"
