#!/usr/bin/env bash
# The report of one round-2 sweep set of any study (after its run_round2.sh, run_pair.sh or run_wide.sh):
# results.csv, correlations.csv, plots, CAM grids and report.html into REPORT_DIR, then the re-timed speed-ups
# (speedups.csv there; nothing else may run).
# Usage: experiments/report_round.sh REPORT_DIR SWEEP_DIR [SWEEP_DIR ...]
#   experiments/report_round.sh experiments/vgg16_cifar10/report/round2 \
#     outputs/vgg16_cifar10/round2_params outputs/vgg16_cifar10/round2_pair outputs/vgg16_cifar10/round2_others
#   experiments/report_round.sh experiments/vgg16_cifar10/report/wide \
#     outputs/vgg16_cifar10/wide_params outputs/vgg16_cifar10/wide_pair
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 REPORT_DIR SWEEP_DIR [SWEEP_DIR ...]" >&2; exit 2; }
out=$1
shift
prunescope-report "$@" --out "$out"
python "$(dirname "$0")/study_speedups.py" "$@" --out "$out/speedups.csv"
prunescope-report "$out/results.csv"
