#!/usr/bin/env bash
# Tables, plots, CAM grids and report.html of the DeepLabv3+ study (after run.sh) into experiments/deeplabv3plus_camvid/report.
# Usage: experiments/deeplabv3plus_camvid/report.sh [OUT_DIR]   (OUT_DIR of run.sh, default: outputs/deeplabv3plus_camvid)
set -euo pipefail
out_dir=${1:-outputs/deeplabv3plus_camvid}
prunescope-report "$out_dir/headline" "$out_dir/classic" "$out_dir/ratios" --out experiments/deeplabv3plus_camvid/report
# CAM grids of seed 0, pca_nci and l1 at the paper's drop (each job's sp2ps_cams.png: lowest / median / highest Sp2PS
# and one test sample per class), as JPEG under the name report.html looks for: report/cams/<method>_46.5_seed0.jpg
python experiments/cam_grids.py experiments/deeplabv3plus_camvid/report/cams "$out_dir" \
  pca_nci_46.5_seed0.jpg l1_46.5_seed0.jpg
# report.html last, from the committed report/results.csv and report/cams/ alone (what a reader opens; it needs
# no run folders, and writes nothing else)
prunescope-report experiments/deeplabv3plus_camvid/report/results.csv
