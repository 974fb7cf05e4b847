#!/usr/bin/env bash
# SegNet on CamVid, round 2 (issue #27): the fine-tune chosen on CamVid's validation split, then the headline.
# experiment=segnet_camvid_cpu (its bf16 baseline, cached and shared: the first job trains it unless the cache holds
# it), the paper's 72.4 % parameter drop, local scope (but e24_global), seeds 0, 1, 2, two jobs side by side (one
# thread each).
#   1. pca_nci with each fine-tune candidate (<OUT_DIR>/candidates/<name>): 24 epochs (round 1's best, measured then
#      on 2 seeds), 40 epochs, 40 epochs with logit distillation from the baseline (alpha 0.5, T 4), 24 epochs from
#      4x the LR (0.02, added after the first three), 24 epochs with global scope (e24_global, added on 2026-12-07
#      after round 1's re-run: global pca_nci was ahead there on the test set, local on validation); collect.py writes
#      experiments/segnet_camvid/report/round2/candidates.csv and picks the highest mean validation mIoU
#   2. isd and l1 with the chosen candidate (<OUT_DIR>/others); the chosen candidate's pca_nci runs are the
#      headline's pca_nci rows
# A re-run skips completed jobs. Then: experiments/report_round.sh experiments/segnet_camvid/report/round2
#   <OUT_DIR>/candidates/<chosen> <OUT_DIR>/others
# Usage: experiments/segnet_camvid/run_round2.sh [OUT_DIR] [extra overrides...]   (default: outputs/segnet_camvid_r2)
set -euo pipefail
out_dir=${1:-outputs/segnet_camvid_r2}
shift $(($# > 0 ? 1 : 0))
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
common=(experiment=segnet_camvid_cpu hydra/launcher=joblib hydra.launcher.n_jobs=2 seed=0,1,2 skip_completed=true)
order=(e24 e40 e40_kd e24_lr20 e24_global)   # simplest first: a tie on validation goes to the earlier one
declare -A candidates=(
  [e24]="pruning.scope=local finetune_epochs=24"
  [e40]="pruning.scope=local finetune_epochs=40"
  [e40_kd]="pruning.scope=local finetune_epochs=40 pruning.distill.alpha=0.5 pruning.distill.temperature=4.0"
  [e24_lr20]="pruning.scope=local finetune_epochs=24 pruning.finetune.lr=0.02"
  [e24_global]="pruning.scope=global finetune_epochs=24"
)
for name in "${order[@]}"; do
  # shellcheck disable=SC2086  # the candidate's overrides are words
  prunescope-train -m "${common[@]}" pruning=pca_nci ${candidates[$name]} \
    tags="[segnet_camvid,cpu,round2,$name]" hydra.sweep.dir="$out_dir/candidates/$name" "$@"
done
python "$(dirname "$0")/../finetune_strategy/collect.py" "$out_dir/candidates" \
  --out experiments/segnet_camvid/report/round2/candidates.csv \
  --order "$(IFS=,; echo "${order[*]}")" | tee "$out_dir/candidates.txt"
chosen=$(sed -n 's/^chosen on validation.*: //p' "$out_dir/candidates.txt")
# shellcheck disable=SC2086
prunescope-train -m "${common[@]}" pruning=isd,l1 ${candidates[$chosen]} tags="[segnet_camvid,cpu,round2,$chosen]" \
  hydra.sweep.dir="$out_dir/others" "$@"
