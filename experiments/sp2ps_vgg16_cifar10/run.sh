#!/usr/bin/env bash
# The Sp2PS study at CPU scale, round 1 (experiment=sp2ps_vgg16_cifar10_cpu with round 1's settings pinned: fp32, no
# hold-out, the paper's fine-tune on 100 batches of 32 per epoch; the config's defaults are round 3's since,
# run_round3.sh): random, l1, pca_nci, isd, global over conv and hidden FC filters, at channel ratios 0.2 / 0.4 /
# 0.6 / 0.8, seed 0; one job at a time (the first job trains the cached baseline shared with
# experiments/vgg16_cifar10/run.sh unless it exists). Measured with OMP_NUM_THREADS=1 beside
# experiments/vgg16_cifar10/run.sh (RESULTS.md). Paper scale: experiment=sp2ps_vgg16_cifar10.
# Then Sp2PS is re-scored per run at a 4x4 layer and with own_pred targets (rescore.sh).
# Usage: experiments/sp2ps_vgg16_cifar10/run.sh [OUT_DIR] [extra overrides...]   (default: outputs/sp2ps_vgg16_cifar10)
set -euo pipefail
out_dir=${1:-outputs/sp2ps_vgg16_cifar10}
shift $(($# > 0 ? 1 : 0))
round1=(trainer.precision=32-true data.val_size=0 pruning.finetune.lr=1e-3 pruning.finetune.schedule=constant
  '++pruning.finetune.optimizer={momentum:0.9,nesterov:false,weight_decay:0.0}' pruning.finetune.batch_size=32
  pruning.finetune.limit_train_batches=100)
prunescope-train -m experiment=sp2ps_vgg16_cifar10_cpu pruning=random,l1,pca_nci,isd pruning.ratio=0.2,0.4,0.6,0.8 \
  seed=0 skip_completed=true hydra.sweep.dir="$out_dir/sweep" "${round1[@]}" "$@"
