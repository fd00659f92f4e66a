#!/usr/bin/env bash
# A tiny lineage (teacher → ODE init → DMD student) with the still-reference cond on one device, from prepared
# latents (session 37; docs/results.md). Expects in $DATA: train.pt (variants clean + curated), eval.pt, and the still
# latents train_clean_still.pt, train_curated_still.pt, eval_clean_still.pt (`scripts/still_baseline.py make --vae`).
#   bash scripts/gpu_tiny_lineage.sh chain OUT_DIR     teacher (TEACHER_STEPS) → ODE (CFG 3 trajectories) → DMD (guidance 2)
#   bash scripts/gpu_tiny_lineage.sh teacher OUT_DIR   the teacher alone (TEACHER_STEPS)
#   bash scripts/gpu_tiny_lineage.sh student OUT_DIR   ODE → DMD from TEACHER (default OUT_DIR/teacher/teacher.safetensors)
#   bash scripts/gpu_tiny_lineage.sh capped OUT_DIR SECONDS   the teacher for SECONDS (constant lr: a clean cut), then
#                                                       exported at its last checkpoint (SAVE_EVERY)
#   bash scripts/gpu_tiny_lineage.sh pack SRC DST       a checkpoint in fp16 with its metadata (the still-cond mark)
# Knobs: DATA=runs/lt37 DEVICE=cuda SEED=42 TEACHER_STEPS=3000 SAVE_EVERY=500 ODE_STEPS=600 DMD_STEPS=800 SCALE=1
# ODE_CFG=3 (the teacher's text and audio scales for the ODE trajectories; ODE_AUDIO_CFG, unset, moves the audio
# scale alone) DMD_GUIDANCE=2 (real score at CFG 1 + this)
# DMD_AUDIO_GUIDANCE (unset; set and different from DMD_GUIDANCE: separate full scales, text DMD_GUIDANCE and audio
# this, dmd.real_x0; the shipped student LS-A is ODE_CFG=1 DMD_GUIDANCE=1 DMD_AUDIO_GUIDANCE=3, session 39)
# (SAVE_EVERY is also the teacher's eval interval; SCALE multiplies the ODE and DMD steps and the trajectory count,
# for a smoke run: SCALE=0.01).
set -euo pipefail
export PYTHONUNBUFFERED=1
DATA=${DATA:-runs/lt37}; DEVICE=${DEVICE:-cuda}; SEED=${SEED:-42}; OUT=${2:?usage: $0 chain|teacher|capped|pack …}
S=${SCALE:-1}; n() { python3 -c "print(max(1, round($1 * $S)))"; }
lt() {  # the CLI, also where it is not installed (a GPU box running from the checkout)
  if command -v livetalk > /dev/null; then livetalk "$@"; else python3 -c 'import sys; from livetalk.cli import main; sys.argv[0] = "livetalk"; main()' "$@"; fi
}
[ "$1" = pack ] || mkdir -p "$OUT"
teacher() {
  lt train teacher --config configs/tiny_teacher.yaml --no-progress --set data=$DATA/train.pt:clean \
    eval_data=$DATA/eval.pt:clean ref_video=$DATA/train_clean_still.pt,$DATA/eval_clean_still.pt out_dir=$OUT/teacher \
    steps=${TEACHER_STEPS:-3000} batch_size=16 lr=0.0003 audio_standardise=true seed=$SEED \
    save_every=${SAVE_EVERY:-500} eval_every=${SAVE_EVERY:-500} device=$DEVICE
}
case "${1:-}" in
teacher) teacher ;;
capped)
  timeout "${3:?seconds}" bash "$0" teacher "$OUT" || true  # killed at the cap; progress is in last.pt
  TEACHER_STEPS=$(python3 -c "import torch; print(torch.load('$OUT/teacher/last.pt', weights_only=False, map_location='cpu')['step'])") \
    teacher  # resumes at the saved step and exports it
  ;;
pack)
  python3 - "$2" "${3:?usage: pack SRC DST}" <<'PY'
import sys
from safetensors import safe_open
from safetensors.torch import save_file
with safe_open(sys.argv[1], "pt") as f:
    meta, t = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
save_file({k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in t.items()}, sys.argv[2], metadata=meta)
PY
  ;;
student)
  T=${TEACHER:-$OUT/teacher/teacher.safetensors}; C=${ODE_CFG:-3.0}
  lt train ode --config configs/tiny_ode_still.yaml --no-progress --set data=$DATA/train.pt:curated \
    eval_data=$DATA/eval.pt teacher=$T \
    ref_video=$DATA/train_curated_still.pt,$DATA/eval_clean_still.pt out_dir=$OUT/ode teacher_text_scale=$C \
    teacher_audio_scale=${ODE_AUDIO_CFG:-$C} ode_pairs_clips=$(n 256) steps=$(n ${ODE_STEPS:-600}) seed=$SEED device=$DEVICE
  lt train dmd --config configs/tiny_dmd_still.yaml --no-progress --set data=$DATA/train.pt:curated \
    teacher=$T init=$OUT/ode/student_ode.safetensors \
    ref_video=$DATA/train_curated_still.pt out_dir=$OUT/dmd guidance=${DMD_GUIDANCE:-2.0} steps=$(n ${DMD_STEPS:-800}) \
    ${DMD_AUDIO_GUIDANCE:+audio_guidance=$DMD_AUDIO_GUIDANCE} \
    ema_start=$(n 200) save_every=$(n 100) seed=$SEED device=$DEVICE
  ;;
chain) teacher; TEACHER=$OUT/teacher/teacher.safetensors bash "$0" student "$OUT" ;;
*) sed -n 2,16p "$0"; exit 2 ;;
esac
