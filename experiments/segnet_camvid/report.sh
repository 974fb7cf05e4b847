#!/usr/bin/env bash
# Tables, plots, CAM grids and report.html of the SegNet study (after run.sh) into experiments/segnet_camvid/report.
# Usage: experiments/segnet_camvid/report.sh [OUT_DIR]   (OUT_DIR of run.sh, default: outputs/segnet_camvid)
set -euo pipefail
out_dir=${1:-outputs/segnet_camvid}
prunescope-report "$out_dir/headline" "$out_dir/classic" "$out_dir/ratios" "$out_dir/local" \
  --out experiments/segnet_camvid/report
