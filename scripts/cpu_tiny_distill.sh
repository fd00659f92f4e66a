#!/usr/bin/env bash
# The tiny-scale ablation as it was run on the 2-core CPU (2026-11-25, ~2.5 h wall clock, two 1-thread processes
# side by side): the exact commands behind docs/results.md. Inputs: the world folders and the *_meta.pt files of
# `scripts/prep_split.py local` (see docs/results.md, "How the numbers were made").
set -euo pipefail
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
W=${W:-/work/data}            # world_train/, world_eval/ (livetalk data synth), runs/data/*_meta.pt
RUN=${RUN:-$W/run}
T21=${T21:-t21.safetensors}   # the VAE encoder the latents come from (the shipped tiny_vae has the same encoder)
D="python scripts/tiny_distill.py --data $W/t21/world.pt --eval $W/t21/eval.pt --out $RUN"

# latents (T21 encoder; ~10 min for 960 training windows on one thread)
python scripts/prep_split.py encode --data $W/world_eval --meta runs/data/eval_meta.pt --out $W/t21/eval.pt --vae $T21
python scripts/prep_split.py encode --data $W/world_train --meta runs/data/world_meta.pt --out $W/t21/world.pt --vae $T21
python scripts/prep_split.py local --data $W/world_eval --out $W/t21/eval_long_meta.pt --latent-frames 32 \
    --windows-per-clip 1 --degrade 0
python scripts/prep_split.py encode --data $W/world_eval --meta $W/t21/eval_long_meta.pt --out $W/t21/eval_long.pt --vae $T21

# teacher: the H100 teacher (1,200 steps on T9 latents) continued 700 steps on T21 latents (24 min)
$D --only teacher --scale 0.5834 --teacher-init livetalk/models/weights/tiny_teacher.safetensors \
    --teacher-lr 1e-4 --teacher-batch 16
# ODE inits side by side: 256 teacher trajectories each (24 Euler steps, CFG 3), 600 / 150 steps × batch 16
$D --only ode-converged --ode-pairs-clips 256 --ode-teacher-steps 24 --ode-batch 16 &
$D --only ode-short --ode-pairs-clips 256 --ode-teacher-steps 24 --ode-batch 16
wait
# DMD side by side: 800 steps × batch 8 = 160 generator updates each
$D --only dmd-self-forcing --dmd-steps 800 --dmd-batch 8 &
$D --only dmd-livetalk --dmd-steps 800 --dmd-batch 8
wait
# session 4: both continued from their 800-step checkpoints to 2,000 steps (400 generator updates; the EMA had
# started at step 200 of the first run). The shipped tiny_student is dmd-livetalk at 2,000 steps. The 800-step
# numbers in docs/results.md were taken before this (copy the run folders first to keep both).
$D --only dmd-self-forcing --dmd-steps 2000 --dmd-batch 8 &
$D --only dmd-livetalk --dmd-steps 2000 --dmd-batch 8
wait
# evaluation latents: 40 held-out windows (all models) and 40 long streams of 32 latent frames (students)
$D --only generate generate-long --eval-long $W/t21/eval_long.pt
python scripts/tiny_eval.py --run $RUN --reference $W/world_eval --out docs/results_tiny.json
python scripts/tiny_eval.py --run $RUN --reference $W/world_eval --prefix long_ --out docs/results_tiny_long.json
