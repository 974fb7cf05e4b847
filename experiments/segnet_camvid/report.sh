#!/usr/bin/env bash
# Tables, plots, CAM grids and report.html of the SegNet study (after run.sh) into experiments/segnet_camvid/report.
# Usage: experiments/segnet_camvid/report.sh [OUT_DIR]   (OUT_DIR of run.sh, default: outputs/segnet_camvid)
set -euo pipefail
out_dir=${1:-outputs/segnet_camvid}
prunescope-report "$out_dir/headline" "$out_dir/classic" "$out_dir/ratios" "$out_dir/local" \
  --out experiments/segnet_camvid/report
# CAM grids of seed 0 (each job's sp2ps_cams.png: lowest / median / highest Sp2PS and one sample per class), as JPEG
python - "$out_dir" <<'PY'
import sys
from pathlib import Path
from PIL import Image
out, cams = Path(sys.argv[1]), Path("experiments/segnet_camvid/report/cams")
cams.mkdir(parents=True, exist_ok=True)
grids = {"pca_nci_72.4_seed0": "headline/0", "l1_72.4_seed0": "headline/4", "pca_nci_local_72.4_seed0": "local/0",
         "l1_local_72.4_seed0": "local/2"}
for name, job in grids.items():
    Image.open(out / job / "sp2ps_cams.png").convert("RGB").save(cams / f"{name}.jpg", quality=85)
PY
