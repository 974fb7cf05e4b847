#!/usr/bin/env bash
# SegNet on CamVid, round 3 (issue #27): the two fine-tune strategies of the issue that round 2 did not try on SegNet,
# compared on CamVid's validation split with round 2's five (experiments/segnet_camvid/report/round2/candidates.csv,
# the same bf16 baseline: collect.py refuses rows against another one). pca_nci, the paper's 72.4 % parameter drop,
# local scope, 24 fine-tune epochs (round 2's choice), seeds 0, 1, 2:
#   e24_kdfeat: + feature-map distillation at the pruned convs (pruning.distill.feature_weight=1.0: a 1x1 adapter per
#               pruned conv, MSE to the baseline's map, as in experiments/finetune_strategy)
#   e24_iter3:  three pruning steps (linear cumulative parameter ratios) at fine-tune epochs 0, 4 and 8, the LR
#               restarted at each; the final network gets the last 16 epochs
# Two queues side by side, one thread each (an e24_kdfeat run takes about twice an e24_iter3 run: a teacher forward
# per batch): queue A runs e24_kdfeat seeds 0, 1; queue B e24_iter3 seeds 0, 1, 2, then e24_kdfeat seed 2. Run dirs:
# <OUT_DIR>/candidates/<name>/seed<N>. If a new candidate is chosen, isd and l1 run with it (<OUT_DIR>/others_<name>).
# Train the baseline first, alone (both threads; about 20-30 minutes):
#   prunescope-train experiment=segnet_camvid_cpu pruning=none hydra.run.dir=<OUT_DIR>/baseline
# A re-run skips completed jobs. Usage: experiments/segnet_camvid/run_round3.sh [OUT_DIR] [extra overrides...]
# (default OUT_DIR: outputs/segnet_camvid_r3)
set -euo pipefail
out_dir=${1:-outputs/segnet_camvid_r3}
shift $(($# > 0 ? 1 : 0))
here=$(dirname "$0")
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
common=(experiment=segnet_camvid_cpu pruning.scope=local finetune_epochs=24 skip_completed=true)
# round 2's candidates, simplest first: a tie on validation goes to the earlier one
earlier=(e24 e40 e40_kd e24_lr20 e24_global)
order=("${earlier[@]}" e24_kdfeat e24_iter3)
declare -A candidates=(
  [e24]=""
  [e24_kdfeat]="pruning.distill.feature_weight=1.0"
  [e24_iter3]="pruning.schedule.steps=3 pruning.schedule.at_epochs=[0,4,8]"
)
candidate() {   # candidate NAME SEEDS [extra overrides...]
  local name=$1 seeds=$2
  shift 2
  # shellcheck disable=SC2086  # the candidate's overrides are words
  prunescope-train -m "${common[@]}" pruning=pca_nci ${candidates[$name]} seed="$seeds" \
    tags="[segnet_camvid,cpu,round3,$name]" hydra.sweep.dir="$out_dir/candidates/$name" \
    'hydra.sweep.subdir=seed${seed}' "$@"
}
candidate e24_kdfeat 0,1 "$@" &
queue_a=$!
(candidate e24_iter3 0,1,2 "$@" && candidate e24_kdfeat 2 "$@") &
queue_b=$!
wait "$queue_a"
wait "$queue_b"
python "$here/../finetune_strategy/collect.py" "$out_dir/candidates" \
  --earlier experiments/segnet_camvid/report/round2/candidates.csv \
  --out experiments/segnet_camvid/report/round3/candidates.csv \
  --order "$(IFS=,; echo "${order[*]}")" | tee "$out_dir/candidates.txt"
chosen=$(sed -n 's/^chosen on validation.*: //p' "$out_dir/candidates.txt")
if [[ -v "candidates[$chosen]" && " ${earlier[*]} " != *" $chosen "* ]]; then
  # shellcheck disable=SC2086
  prunescope-train -m "${common[@]}" hydra/launcher=joblib hydra.launcher.n_jobs=2 seed=0,1,2 pruning=isd,l1 \
    ${candidates[$chosen]} tags="[segnet_camvid,cpu,round3,$chosen]" hydra.sweep.dir="$out_dir/others_$chosen" "$@"
else
  echo "round 2's $chosen stays the choice: its headline is round 2's (report/round2)"
fi
