#!/usr/bin/env bash
# The Sp2PS study at CPU scale (experiment=sp2ps_vgg16_cifar10_cpu): random, l1, pca_nci, isd, global over conv and
# hidden FC filters, at channel ratios 0.2 / 0.4 / 0.6 / 0.8, seed 0; one job at a time (the first job trains the
# cached baseline shared with experiments/vgg16_cifar10 unless it exists). Measured with OMP_NUM_THREADS=1 beside
# experiments/vgg16_cifar10/run.sh (RESULTS.md). Paper scale: experiment=sp2ps_vgg16_cifar10.
# Then Sp2PS is re-scored per run at a 4x4 layer and with own_pred targets (rescore.sh).
# Usage: experiments/sp2ps_vgg16_cifar10/run.sh [OUT_DIR] [extra overrides...]   (default: outputs/sp2ps_vgg16_cifar10)
set -euo pipefail
out_dir=${1:-outputs/sp2ps_vgg16_cifar10}
shift $(($# > 0 ? 1 : 0))
prunescope-train -m experiment=sp2ps_vgg16_cifar10_cpu pruning=random,l1,pca_nci,isd pruning.ratio=0.2,0.4,0.6,0.8 \
  seed=0 skip_completed=true hydra.sweep.dir="$out_dir/sweep" "$@"
