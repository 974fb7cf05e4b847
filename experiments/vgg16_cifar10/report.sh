#!/usr/bin/env bash
# Tables, plots, CAM grids and report.html of the VGG-16 study (after run.sh and rescore.sh) into
# experiments/vgg16_cifar10/report, and the RESULTS tables on stdout (Sp2PS at both CAM layers).
# Usage: experiments/vgg16_cifar10/report.sh [OUT_DIR]   (OUT_DIR of run.sh, default: outputs/vgg16_cifar10)
set -euo pipefail
out_dir=${1:-outputs/vgg16_cifar10}
prunescope-report "$out_dir/headline" "$out_dir/classic" --out experiments/vgg16_cifar10/report
# CAM grids of seed 0, pca_nci, isd and l1 at the paper's drop (each job's sp2ps_cams.png), as the JPEGs report.html
# looks for: report/cams/<method>_86.5_seed0.jpg
python experiments/cam_grids.py experiments/vgg16_cifar10/report/cams "$out_dir/headline" \
  pca_nci_86.5_seed0.jpg isd_86.5_seed0.jpg l1_86.5_seed0.jpg
python experiments/study_tables.py "$out_dir/headline" "$out_dir/classic" --sp2ps-variants 4x4_base
# report.html last, from the committed report/results.csv and report/cams/ alone (what a reader opens; it needs
# no run folders, and writes nothing else)
prunescope-report experiments/vgg16_cifar10/report/results.csv
