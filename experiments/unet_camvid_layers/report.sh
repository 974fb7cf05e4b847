#!/usr/bin/env bash
# Tables, plots, CAM grids and report.html of the U-Net layers study (after run.sh) into
# experiments/unet_camvid_layers/report.
# Usage: experiments/unet_camvid_layers/report.sh [OUT_DIR]   (OUT_DIR of run.sh, default: outputs/unet_camvid_layers)
set -euo pipefail
out_dir=${1:-outputs/unet_camvid_layers}
prunescope-report "$out_dir/layers" "$out_dir/filters" "$out_dir/combined" --out experiments/unet_camvid_layers/report
# CAM grids of four runs (each job's sp2ps_cams.png: lowest / median / highest Sp2PS and one test sample per class),
# as JPEG under the name report.html looks for: report/cams/<cam_grid_name>
python experiments/cam_grids.py experiments/unet_camvid_layers/report/cams "$out_dir" \
  pca_nci_80_seed0.jpg l1_80_seed0.jpg levels2_seed0.jpg levels2_pca_nci_78.5_seed0.jpg
# report.html last, from the committed report/results.csv and report/cams/ alone (what a reader opens; it needs
# no run folders, and writes nothing else)
prunescope-report experiments/unet_camvid_layers/report/results.csv
