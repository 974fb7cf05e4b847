#!/usr/bin/env bash
# Fine-tune strategies compared on validation (README.md): experiment=vgg16_cifar10_cpu, pca_nci at the study's
# headline drop (-86.5 % parameters), 6 candidates x seeds 0, 1, 2, one job at a time; a re-run skips the completed
# jobs. The study has no validation split (data.val_size: 0), so 5,000 training images are held out here: this
# trains one new baseline (45,000 images; cached and shared by every job). Then: collect.py picks the candidate.
# Usage: experiments/finetune_strategy/run.sh [OUT_DIR] [extra overrides...]   (default: outputs/finetune_strategy)
set -euo pipefail
out_dir=${1:-outputs/finetune_strategy}
shift $(($# > 0 ? 1 : 0))
common=(experiment=vgg16_cifar10_cpu pruning=pca_nci data.val_size=5000 seed=0,1,2 skip_completed=true)

declare -A candidates=(
  [plain]="finetune_epochs=5"                                           # round 1's fine-tune: 5 epochs, cosine
  [long]="finetune_epochs=10"                                           # 2x epochs, cosine from the restarted LR
  [warmup]="finetune_epochs=5 pruning.finetune.warmup_fraction=0.1"     # linear warm-up over 10 % of the steps
  [kd_logits]="finetune_epochs=5 pruning.distill.alpha=0.5 pruning.distill.temperature=4.0"
  [kd_features]="finetune_epochs=5 pruning.distill.feature_weight=1.0"  # MSE at the pruned convs, 1x1 adapters
  [iterative]="finetune_epochs=5 pruning.schedule.steps=3"              # 3 steps at epochs 0, 1, 2
)
for name in plain long warmup kd_logits kd_features iterative; do
  # shellcheck disable=SC2086  # the candidate's overrides are words
  prunescope-train -m "${common[@]}" ${candidates[$name]} tags="[vgg16_cifar10,cpu,finetune_strategy,$name]" \
    hydra.sweep.dir="$out_dir/$name" "$@"
done
python "$(dirname "$0")/collect.py" "$out_dir"
