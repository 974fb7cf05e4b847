#!/usr/bin/env bash
# Classic U-Net on CamVid, round 3 (issue #27): round 2's chosen route, levels3 (the three deepest levels removed, no
# filter pruning, -98.7 % parameters), with a fine-tune twice as long, 240 epochs (levels3_e240; round 2: 40 -> 120
# epochs gave 3.6 points of validation mIoU and 1.8 of test mIoU), beside round 2's levels3_e120 run again on the
# same baseline, seeds 0, 1, 2, three jobs side by side (one thread each on two cores). collect.py compares the two
# on CamVid's validation split into experiments/unet_camvid_layers/report/round3/candidates.csv. Round 2's rows are
# not merged in (collect.py --earlier): the baseline trained here has round 2's cache key but not its bits when the
# thread count differs (measured: one thread gave 38.44 % test mIoU, round 2's two threads 38.08 %), and collect.py
# refuses rows against another baseline. Then, for each candidate:
#   prunescope-report <OUT_DIR>/routes/<name> --out experiments/unet_camvid_layers/report/round3_<e120|e240>
# Usage: experiments/unet_camvid_layers/run_round3.sh [OUT_DIR] [extra overrides...]  (default: outputs/unet_camvid_layers_r3)
set -euo pipefail
out_dir=${1:-outputs/unet_camvid_layers_r3}
shift $(($# > 0 ? 1 : 0))
here=$(dirname "$0")
prunescope-train experiment=unet_camvid_layers_cpu pruning=none hydra.run.dir="$out_dir/baseline" "$@"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
levels3=(pruning=l1 pruning.target=channels pruning.ratio=0 pruning.layers.levels=3)   # no filter removed
for epochs in 240 120; do
  prunescope-train -m experiment=unet_camvid_layers_cpu seed=0,1,2 skip_completed=true pruning.finetune.lr=2e-3 \
    tags="[unet_camvid_layers,cpu,round3]" finetune_epochs="$epochs" "${levels3[@]}" hydra/launcher=joblib \
    hydra.launcher.n_jobs=3 hydra.sweep.dir="$out_dir/routes/levels3_e$epochs" "$@"
done
# the shorter first: a tie on validation goes to it
python "$here/../finetune_strategy/collect.py" "$out_dir/routes" \
  --out experiments/unet_camvid_layers/report/round3/candidates.csv --order levels3_e120,levels3_e240 \
  | tee "$out_dir/routes.txt"
