#!/usr/bin/env bash
# DeepLabv3+ on CamVid at CPU scale (experiment=deeplabv3plus_camvid_cpu): every job shares one cached baseline.
#   1. headline: pca_nci, isd, l1 at the paper's 46.5% parameter drop (pruning.target=params), seeds 0 and 1
#   2. fpgm and random at the same drop, seed 0
#   3. ratio sweep: pca_nci and l1 at 30 / 75 % of the parameters (and the headline's), seed 0
# Two jobs side by side (joblib), one thread each (experiments/camvid_study.sh). Paper scale: experiment=deeplabv3plus_camvid.
# Usage: experiments/deeplabv3plus_camvid/run.sh [OUT_DIR] [extra overrides...]   (OUT_DIR default: outputs/deeplabv3plus_camvid)
set -euo pipefail
out_dir=${1:-outputs/deeplabv3plus_camvid}
shift $(($# > 0 ? 1 : 0))
# trainer.precision=32-true: round 1's fp32 (the config's `auto` is bf16 on this CPU since; run_round2.sh)
exec "$(dirname "$0")/../camvid_study.sh" deeplabv3plus_camvid_cpu 0.3,0.75 "$out_dir" trainer.precision=32-true "$@"
