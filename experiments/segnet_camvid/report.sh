#!/usr/bin/env bash
# Tables, plots, CAM grids, re-timed speed-ups and report.html of the SegNet study (after run.sh) into
# experiments/segnet_camvid/report.
# Usage: experiments/segnet_camvid/report.sh [OUT_DIR]   (OUT_DIR of run.sh, default: outputs/segnet_camvid)
set -euo pipefail
out_dir=${1:-outputs/segnet_camvid}
prunescope-report "$out_dir/headline" "$out_dir/classic" "$out_dir/ratios" "$out_dir/local" \
  --out experiments/segnet_camvid/report
# CAM grids of seed 0, pca_nci and l1, global and local (each job's sp2ps_cams.png: lowest / median / highest Sp2PS
# and one test sample per class), as JPEG: report/cams/<method>[_local]_72.4_seed0.jpg, the name report.html looks for
python experiments/cam_grids.py experiments/segnet_camvid/report/cams "$out_dir" \
  pca_nci_72.4_seed0.jpg l1_72.4_seed0.jpg pca_nci_local_72.4_seed0.jpg l1_local_72.4_seed0.jpg
# speed-ups re-timed on the runs' checkpoints (batch 1, 2 threads; nothing else may run): report/speedups.csv
python experiments/study_speedups.py "$out_dir/headline" "$out_dir/classic" "$out_dir/ratios" "$out_dir/local" \
  --out experiments/segnet_camvid/report/speedups.csv
# report.html last, from the committed report/results.csv and report/cams/ alone (what a reader opens; it needs
# no run folders, and writes nothing else)
prunescope-report experiments/segnet_camvid/report/results.csv
