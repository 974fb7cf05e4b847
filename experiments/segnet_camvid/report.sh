#!/usr/bin/env bash
# Tables, plots, CAM grids and report.html of the SegNet study (after run.sh) into experiments/segnet_camvid/report.
# Usage: experiments/segnet_camvid/report.sh [OUT_DIR]   (OUT_DIR of run.sh, default: outputs/segnet_camvid)
set -euo pipefail
out_dir=${1:-outputs/segnet_camvid}
prunescope-report "$out_dir/headline" "$out_dir/classic" "$out_dir/ratios" "$out_dir/local" \
  --out experiments/segnet_camvid/report
# CAM grids of seed 0, pca_nci and l1, global and local (each job's sp2ps_cams.png: lowest / median / highest Sp2PS
# and one test sample per class), as JPEG: report/cams/<method>[_local]_72.4_seed0.jpg
python - "$out_dir" <<'PY'
import json
import sys
from pathlib import Path
from PIL import Image
out, cams = Path(sys.argv[1]), Path("experiments/segnet_camvid/report/cams")
cams.mkdir(parents=True, exist_ok=True)
for metrics_file in sorted(out.glob("headline/*/metrics.json")) + sorted(out.glob("local/*/metrics.json")):
    run = json.loads(metrics_file.read_text())
    if run["run.seed"] == 0 and run["run.method"] in ("pca_nci", "l1") and run["run.ratio"] == 0.724:
        scope = "_local" if run["run.scope"] == "local" else ""
        name = f"{run['run.method']}{scope}_72.4_seed0.jpg"
        Image.open(metrics_file.parent / "sp2ps_cams.png").convert("RGB").save(cams / name, quality=85)
PY
