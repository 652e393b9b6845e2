#!/usr/bin/env bash
# GPU check (issue 25): the Small-like fp32 baseline trained on cuda and on cpu, then a budget-8 tiny search
# with --device cuda. Run it where a GPU is: `scripts/gpu_check.sh [OUT_DIR]`; the logs and a
# summary (gpu_check.md) land in OUT_DIR (default $OUT, else results/gpu_check). Uses
# $PYTHON, else .venv/bin/python, else python3, with autoedge importable from this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-results/gpu_check}}"
mkdir -p "$out"
py="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
ae() { "$py" -m autoedge "$@"; }

"$py" - <<'PY' | tee "$out/gpu.txt"
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
for i in range(torch.cuda.device_count()):
    print(f"cuda:{i}", torch.cuda.get_device_name(i))
PY
cand="$("$py" -c 'from autoedge.space import get_space
from autoedge.space.presets import baseline_candidate
print(baseline_candidate("mobilenetv3-small-fp32", get_space("mobilenetv3")).dumps())')"
gpu="${DEVICE:-cuda}"  # DEVICE=cpu runs the script's logic on a machine without a GPU
for dev in "$gpu" cpu; do
  ae evaluate --space mobilenetv3 --data fashion-mnist \
    --teacher none --device "$dev" --candidate "$cand" --json \
    >"$out/evaluate_$dev.json" 2>"$out/evaluate_$dev.log"
done
ae search --space tiny --data digits --budget 8 --teacher none \
  --device "$gpu" --out "$out/tiny8" --json >"$out/search.json" 2>"$out/search.log"

"$py" - "$out" "$gpu" <<'PY'
import json, sys
from pathlib import Path
out, gpu = Path(sys.argv[1]), sys.argv[2]
rows = []
for dev in dict.fromkeys((gpu, "cpu")):
    r = json.loads((out / f"evaluate_{dev}.json").read_text())
    train = r["phase_s"].get("train", 0) + r["phase_s"].get("finetune", 0)
    rows.append(f"| {dev} | {r['status']} | {100 * r['accuracy']:.2f}% | {train:.1f} | {r['wall_s']:.1f} |")
s = json.loads((out / "search.json").read_text())
text = "\n".join([
    "# GPU check (scripts/gpu_check.sh)", "", (out / "gpu.txt").read_text().strip(), "",
    "The MobileNetV3-Small-like fp32 baseline, default fidelity, --teacher none:", "",
    "| device | status | accuracy | train + fine-tune s | wall s |", "|---|---|---|---|---|", *rows, "",
    f"Budget-8 tiny search with --device {gpu}: {s['ok']} ok, {s['failed']} failed, "
    f"wall {s['wall_s']:.1f} s; `training on` line: "
    + next(l for l in (out / "search.log").read_text().splitlines() if "training on" in l),
])
(out / "gpu_check.md").write_text(text + "\n")
print(text)
PY
