#!/usr/bin/env bash
# SegNet on CamVid at the paper's (params, FLOPs) pair (issue #27, item 3): pca_nci, -72.4 % parameters and -83.6 %
# FLOPs at once (pruning.target=params+macs, which needs global scope: each channel's score weighted by its cost),
# with round 2's chosen fine-tune (24 epochs), seeds 0, 1, 2, two jobs side by side (one thread each), against the
# same cached bf16 baseline as run_round2.sh. Two per-layer floors:
#   floor1:  pruning.min_channels=1 (the default): the cost weighting thins the full-resolution convs to 1-5 channels
#   floor16: pruning.min_channels=16 (half of the narrowest layer, enc1's 32): no layer narrower than 16
# A re-run skips completed jobs. Then, per floor:
#   experiments/report_round.sh experiments/segnet_camvid/report/round2_pair_<floor> <OUT_DIR>/<floor>
# Usage: experiments/segnet_camvid/run_pair.sh [OUT_DIR] [extra overrides...]   (default: outputs/segnet_camvid_r2/pair)
set -euo pipefail
out_dir=${1:-outputs/segnet_camvid_r2/pair}
shift $(($# > 0 ? 1 : 0))
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for floor in 1 16; do
  prunescope-train -m experiment=segnet_camvid_cpu hydra/launcher=joblib hydra.launcher.n_jobs=2 seed=0,1,2 \
    skip_completed=true pruning=pca_nci pruning.scope=global pruning.target=params+macs pruning.macs_ratio=0.836 \
    pruning.min_channels=$floor finetune_epochs=24 tags="[segnet_camvid,cpu,round2,pair]" \
    hydra.sweep.dir="$out_dir/floor$floor" "$@"
done
