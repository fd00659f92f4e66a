#!/usr/bin/env bash
# The mouth-delta VAE trained on a lent GPU (docs/vae.md, "A loss on the mouth's own part"; prereg session 36).
#   bash scripts/gpu_vae_mouth.sh prep    here (needs espeak-ng): a manifest-only world of CLIPS clips of 8 s
#                                         (seeds 1000+, the identities of `livetalk data synth --seed 1000
#                                         --duration 8`) and its plans.pkl, in runs/gpu_world (~4 MB for 640)
#   bash scripts/gpu_vae_mouth.sh train   on the GPU machine (carry runs/gpu_world): renders every clip once into
#                                         memory (--pair-bank) and trains; checkpoint, 5-min partial and log in $OUT
# Knobs: CLIPS=640 MINUTES=6 DEVICE=cuda WORKERS=14 LR=3e-4 NAME=vae_mg (checkpoint $OUT/$NAME.safetensors)
# INIT=livetalk/models/weights/tiny_vae.safetensors (or a mouth-delta candidate to continue it, session 37).
# The lent H200's image has no diffusers (the Wan VAE): carry it as wheels (diffusers, importlib_metadata, zipp;
# /work/.library/device/README.md) and install them first.
# Session 36 (VMG): 644 steps in 5 min, 0.47 s a step; docs/benchmarks.md has the step's profile.
set -euo pipefail
export PYTHONUNBUFFERED=1
WORLD=${WORLD:-runs/gpu_world}
case "${1:-}" in
prep)
  python3 - "$WORLD" "${CLIPS:-640}" <<'PY'
import json, sys
from pathlib import Path
from livetalk.models.vae_mouth_pairs import WorldPairSource
folder, n = Path(sys.argv[1]), int(sys.argv[2])
folder.mkdir(parents=True, exist_ok=True)
lines = [json.dumps({"id": str(s), "identity_seed": s, "duration_s": 8.0}) for s in range(1000, 1000 + n)]
(folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")
print("wrote", WorldPairSource(folder).save_plans())
PY
  ;;
train)
  OUT=${OUT:-runs/gpu_vae_mouth_out}; mkdir -p "$OUT"
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
  python3 - "$WORLD" "$OUT" "${MINUTES:-6}" "${DEVICE:-cuda}" "${WORKERS:-14}" \
    "${INIT:-livetalk/models/weights/tiny_vae.safetensors}" "${LR:-3e-4}" "${NAME:-vae_mg}" 2>&1 <<'PY' | tee "$OUT/${NAME:-vae_mg}.log"
import sys, time, torch
from livetalk.models.vae_train import VAETrainConfig, train_vae
world, out, minutes, device, workers = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
init, lr, name = sys.argv[6], float(sys.argv[7]), sys.argv[8]
print("torch", torch.__version__, "device", device, torch.cuda.get_device_name() if device == "cuda" else "", flush=True)
cfg = VAETrainConfig(data=world, init=init, out=f"{out}/{name}.safetensors",
                     minutes=minutes, frames=65, batch=8, image_steps=1, image_batch=8, crop=32, crop_mouth=True,
                     full_size_from=0.5, lr=lr, threads=4, device=device, mouth_delta_weight=1.0,
                     pair_bank_workers=workers, log_every=50)
t = time.time()
train_vae(cfg, log=lambda s: print(s, flush=True))
print(f"wall {time.time() - t:.0f}s", flush=True)
PY
  ;;
*) sed -n 2,12p "$0"; exit 2 ;;
esac
