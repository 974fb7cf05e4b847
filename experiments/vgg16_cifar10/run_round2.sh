#!/usr/bin/env bash
# Round 2 of the VGG-16 study (issue #27): the study's config with the fine-tune strategy chosen on validation
# (experiments/finetune_strategy; the config's default since), 5,000 training images held out for validation
# (data.val_size=5000, as in that comparison, so the two share one cached baseline trained on 45,000), seeds 0, 1, 2:
#   pair:   pca_nci at the paper's pair, -86.5 % parameters and -82.2 % FLOPs (pruning.target=params+macs)
#   others: isd and l1 at -86.5 % parameters
#   params: pca_nci at the paper's -86.5 % parameters (pruning.target=params): the same jobs as the comparison's winner
#           (experiments/finetune_strategy, `long`), run again last
# One job at a time; a re-run skips the completed jobs. Then experiments/report_round.sh (its usage line).
# Usage: experiments/vgg16_cifar10/run_round2.sh [OUT_DIR] [extra overrides...]   (default: outputs/vgg16_cifar10)
set -euo pipefail
out_dir=${1:-outputs/vgg16_cifar10}
shift $(($# > 0 ? 1 : 0))
common=(experiment=vgg16_cifar10_cpu data.val_size=5000 seed=0,1,2 skip_completed=true)
prunescope-train -m "${common[@]}" pruning=pca_nci pruning.target=params+macs pruning.macs_ratio=0.822 \
  hydra.sweep.dir="$out_dir/round2_pair" "$@"
prunescope-train -m "${common[@]}" pruning=isd,l1 hydra.sweep.dir="$out_dir/round2_others" "$@"
prunescope-train -m "${common[@]}" pruning=pca_nci hydra.sweep.dir="$out_dir/round2_params" "$@"
