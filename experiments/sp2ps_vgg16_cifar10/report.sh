#!/usr/bin/env bash
# Tables, plots, CAM grids and report.html of the Sp2PS study (after run.sh and rescore.sh) into
# experiments/sp2ps_vgg16_cifar10/report, plus accuracy and the four Sp2PS variants against the ratio
# (report/acc_sp2ps_vs_ratio.png) and the RESULTS tables on stdout.
# Usage: experiments/sp2ps_vgg16_cifar10/report.sh [OUT_DIR]   (OUT_DIR of run.sh, default: outputs/sp2ps_vgg16_cifar10)
set -euo pipefail
out_dir=${1:-outputs/sp2ps_vgg16_cifar10}
report=experiments/sp2ps_vgg16_cifar10/report
prunescope-report "$out_dir/sweep" --out "$report"
python experiments/study_tables.py "$out_dir/sweep" --sp2ps-variants last_own 4x4_base 4x4_own \
  --plot "$report/acc_sp2ps_vs_ratio.png"
# report.html last, from the committed report/results.csv and report/cams/ alone (what a reader opens; it needs
# no run folders, and writes nothing else)
prunescope-report experiments/sp2ps_vgg16_cifar10/report/results.csv
