#!/usr/bin/env bash
# Tables, plots, CAM grids and report.html of the Sp2PS study's round 1 (after run.sh, and rescore.sh for the three
# re-scored Sp2PS variants) into experiments/sp2ps_vgg16_cifar10/report, and the RESULTS tables with the variants on
# stdout (the variants are in no CSV, so RESULTS does not quote them).
# Usage: experiments/sp2ps_vgg16_cifar10/report.sh [OUT_DIR]   (OUT_DIR of run.sh, default: outputs/sp2ps_vgg16_cifar10)
set -euo pipefail
out_dir=${1:-outputs/sp2ps_vgg16_cifar10}
report=experiments/sp2ps_vgg16_cifar10/report
prunescope-report "$out_dir/sweep" --out "$report"
# CAM grids of seed 0 at 20 % (each job's sp2ps_cams.png), as the JPEGs report.html looks for: report/cams/
python experiments/cam_grids.py "$report/cams" "$out_dir/sweep" l1_20_seed0.jpg pca_nci_20_seed0.jpg random_20_seed0.jpg
python experiments/study_tables.py "$out_dir/sweep" --sp2ps-variants last_own 4x4_base 4x4_own
# report.html last, from the committed report/results.csv and report/cams/ alone (what a reader opens; it needs
# no run folders, and writes nothing else)
prunescope-report experiments/sp2ps_vgg16_cifar10/report/results.csv
