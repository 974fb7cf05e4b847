#!/usr/bin/env bash
# SegNet on CamVid at CPU scale, round 1 (experiment=segnet_camvid_cpu with round 1's settings pinned: fp32, global
# scope, 8 fine-tune epochs; the config's defaults are round 2's since, run_round2.sh): every job shares one cached
# baseline.
#   1. headline: pca_nci, isd, l1 at the paper's 72.4% parameter drop (pruning.target=params), seeds 0 and 1
#   2. fpgm and random at the same drop, seed 0
#   3. ratio sweep: pca_nci and l1 at 30 / 85 % of the parameters (and the headline's), seed 0
#   4. local scope (every layer loses the same fraction; the criterion picks which filters): pca_nci and l1 at the
#      paper's drop, seeds 0 and 1
# Two jobs side by side (joblib), one thread each (experiments/camvid_study.sh). Paper scale: experiment=segnet_camvid.
# Usage: experiments/segnet_camvid/run.sh [OUT_DIR] [extra overrides...]   (OUT_DIR default: outputs/segnet_camvid)
set -euo pipefail
out_dir=${1:-outputs/segnet_camvid}
shift $(($# > 0 ? 1 : 0))
round1=(trainer.precision=32-true finetune_epochs=8)
"$(dirname "$0")/../camvid_study.sh" segnet_camvid_cpu 0.3,0.85 "$out_dir" "${round1[@]}" pruning.scope=global "$@"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} prunescope-train -m experiment=segnet_camvid_cpu hydra/launcher=joblib \
  hydra.launcher.n_jobs=2 pruning=pca_nci,l1 pruning.scope=local seed=0,1 hydra.sweep.dir="$out_dir/local" \
  "${round1[@]}" "$@"
