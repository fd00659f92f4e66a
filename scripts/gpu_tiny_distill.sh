#!/usr/bin/env bash
# Runs the tiny-scale distillation ablation on a CUDA machine (see scripts/tiny_distill.py) and packs the
# results into $OUT. Expects runs/world_{train,eval} (mp4 + png + manifest) and runs/data/*_meta.pt
# (scripts/prep_split.py local) next to the code.
set -euo pipefail
export PYTHONUNBUFFERED=1
python3 scripts/prep_split.py encode --data runs/world_eval --meta runs/data/eval_meta.pt --out runs/data/eval.pt --device cuda
python3 scripts/prep_split.py encode --data runs/world_train --meta runs/data/world_meta.pt --out runs/data/world.pt --device cuda
timeout ${DISTILL_TIMEOUT:-460} python3 scripts/tiny_distill.py --data runs/data/world.pt --eval runs/data/eval.pt --out runs/tiny --device cuda --scale "${SCALE:-1.0}"
mkdir -p runs/pack
python3 - <<'PY'
import torch
from livetalk.models.checkpoint import load_dit, save_dit
for src, dst in [("runs/tiny/dmd-livetalk/student.safetensors", "tiny_student.safetensors"),
                 ("runs/tiny/teacher/teacher.safetensors", "tiny_teacher.safetensors"),
                 ("runs/tiny/dmd-self-forcing/student.safetensors", "tiny_student_self_forcing.safetensors")]:
    save_dit(load_dit(src).half(), f"runs/pack/{dst}", {"source": src})
PY
tar czf runs/pack/results.tgz runs/tiny/gen_*.pt runs/tiny/timing.json runs/tiny/*/log.jsonl runs/tiny/*/config.json
cp runs/pack/* "$OUT"/
