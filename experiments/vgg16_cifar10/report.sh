#!/usr/bin/env bash
# Tables, plots, CAM grids and report.html of the VGG-16 study (after run.sh and rescore.sh) into
# experiments/vgg16_cifar10/report, and the RESULTS tables on stdout (Sp2PS at both CAM layers).
# Usage: experiments/vgg16_cifar10/report.sh [OUT_DIR]   (OUT_DIR of run.sh, default: outputs/vgg16_cifar10)
set -euo pipefail
out_dir=${1:-outputs/vgg16_cifar10}
prunescope-report "$out_dir/headline" "$out_dir/classic" --out experiments/vgg16_cifar10/report
python experiments/study_tables.py "$out_dir/headline" "$out_dir/classic" --sp2ps-variants 4x4_base
# report.html last, from the committed report/results.csv and report/cams/ alone (what a reader opens; it needs
# no run folders, and writes nothing else)
prunescope-report experiments/vgg16_cifar10/report/results.csv
