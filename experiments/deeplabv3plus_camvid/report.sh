#!/usr/bin/env bash
# Tables, plots, CAM grids and report.html of the DeepLabv3+ study (after run.sh) into experiments/deeplabv3plus_camvid/report.
# Usage: experiments/deeplabv3plus_camvid/report.sh [OUT_DIR]   (OUT_DIR of run.sh, default: outputs/deeplabv3plus_camvid)
set -euo pipefail
out_dir=${1:-outputs/deeplabv3plus_camvid}
prunescope-report "$out_dir/headline" "$out_dir/classic" "$out_dir/ratios" --out experiments/deeplabv3plus_camvid/report
# report.html last, from the committed report/results.csv and report/cams/ alone (what a reader opens; it needs
# no run folders, and writes nothing else)
prunescope-report experiments/deeplabv3plus_camvid/report/results.csv
