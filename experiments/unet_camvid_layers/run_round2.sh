#!/usr/bin/env bash
# Classic U-Net on CamVid, round 2 (issue #27): four routes to the paper's -98.7 % parameters, seeds 0, 1, 2, against
# the study's bf16 baseline (trainer.precision: auto), each with a fine-tune as long as the baseline's training
# (40 epochs, Adam from the baseline's LR 2e-3, cosine; round 1's 8 epochs at 1e-3 left every -98.7 % network 14-20
# points behind). One sweep dir per candidate under <OUT_DIR>/routes:
#   levels3:          the 3 deepest levels removed, no filter pruning
#   levels2_<method>: 2 levels, then <method> (pca_nci, isd, l1) removes 78.5 % of the parameters left
#   levels3_e120:     levels3 with a 120-epoch fine-tune (added after the four above: levels3 led on validation)
# 0. the baseline alone, both threads (cached and shared; skipped when the cache holds it); then two sweeps at a
# time, one job each (one thread), then levels3_e120 two jobs side by side; a re-run skips completed jobs.
# collect.py picks the route with the highest mean validation mIoU (CamVid's val split; the test split only
# reports) into experiments/unet_camvid_layers/report/round2/candidates.csv. Then:
#   experiments/report_round.sh experiments/unet_camvid_layers/report/round2 \
#     <OUT_DIR>/routes/levels{3,2_pca_nci,2_isd,2_l1}
#   experiments/report_round.sh experiments/unet_camvid_layers/report/round2_e120 <OUT_DIR>/routes/levels3_e120
# Usage: experiments/unet_camvid_layers/run_round2.sh [OUT_DIR] [extra overrides...]  (default: outputs/unet_camvid_layers_r2)
set -euo pipefail
out_dir=${1:-outputs/unet_camvid_layers_r2}
shift $(($# > 0 ? 1 : 0))
prunescope-train experiment=unet_camvid_layers_cpu hydra.run.dir="$out_dir/baseline" "$@"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
common=(experiment=unet_camvid_layers_cpu seed=0,1,2 skip_completed=true pruning.finetune.lr=2e-3
  tags="[unet_camvid_layers,cpu,round2]")
route() {  # route NAME EPOCHS OVERRIDES...
  local name=$1 epochs=$2
  shift 2
  prunescope-train -m "${common[@]}" finetune_epochs="$epochs" "$@" hydra.sweep.dir="$out_dir/routes/$name"
}
levels3=(pruning=l1 pruning.target=channels pruning.ratio=0 pruning.layers.levels=3)   # no filter removed
levels2=(pruning.layers.levels=2 pruning.ratio=0.785)
order=(levels3 levels2_pca_nci levels2_isd levels2_l1 levels3_e120)   # simplest first: ties go to the earlier
{
  route levels3 40 "${levels3[@]}" "$@"
  route levels2_isd 40 pruning=isd "${levels2[@]}" "$@"
} &
first=$!
{
  route levels2_pca_nci 40 pruning=pca_nci "${levels2[@]}" "$@"
  route levels2_l1 40 pruning=l1 "${levels2[@]}" "$@"
} &
wait "$first"
wait $!
route levels3_e120 120 hydra/launcher=joblib hydra.launcher.n_jobs=2 "${levels3[@]}" "$@"
python "$(dirname "$0")/../finetune_strategy/collect.py" "$out_dir/routes" \
  --out experiments/unet_camvid_layers/report/round2/candidates.csv \
  --order "$(IFS=,; echo "${order[*]}")" | tee "$out_dir/routes.txt"
