#!/usr/bin/env bash
# DeepLabv3+ on CamVid, round 2 (issue #27): experiment=deeplabv3plus_camvid_cpu with its bf16 baseline
# (trainer.precision: auto), seeds 0, 1, 2, round 1's 8-epoch fine-tune (it met the 0.5-point target on 2 seeds).
#   0. the baseline alone, both threads (cached and shared by every job below; skipped when the cache holds it)
#   1. headline: pca_nci, isd, l1 at the paper's 46.5 % parameter drop (pruning.target=params, global)  -> <OUT_DIR>/headline
#   2. pair: pca_nci at the paper's (params, FLOPs) pair, -46.5 % and -51.9 % at once (pruning.target=params+macs)
#                                                                                                      -> <OUT_DIR>/pair
# Jobs two side by side (one thread each); a re-run skips completed jobs. Then:
#   experiments/report_round.sh experiments/deeplabv3plus_camvid/report/round2 <OUT_DIR>/headline <OUT_DIR>/pair
# Usage: experiments/deeplabv3plus_camvid/run_round2.sh [OUT_DIR] [extra overrides...]  (default: outputs/deeplabv3plus_camvid_r2)
set -euo pipefail
out_dir=${1:-outputs/deeplabv3plus_camvid_r2}
shift $(($# > 0 ? 1 : 0))
prunescope-train experiment=deeplabv3plus_camvid_cpu hydra.run.dir="$out_dir/baseline" "$@"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
common=(experiment=deeplabv3plus_camvid_cpu hydra/launcher=joblib hydra.launcher.n_jobs=2 seed=0,1,2 skip_completed=true
  tags="[deeplabv3plus_camvid,cpu,round2]")
prunescope-train -m "${common[@]}" pruning=pca_nci,isd,l1 hydra.sweep.dir="$out_dir/headline" "$@"
prunescope-train -m "${common[@]}" pruning=pca_nci pruning.target=params+macs pruning.macs_ratio=0.519 \
  hydra.sweep.dir="$out_dir/pair" "$@"
