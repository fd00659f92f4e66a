#!/usr/bin/env bash
# Why the tiny teacher ignores its audio: the experiments of 2026-11-30 behind docs/results.md ("Why the teacher
# ignores the audio"), as run on the 2-core CPU (two one-thread processes side by side, ~2.5 h). Inputs: the world
# folders and latent files of scripts/cpu_tiny_distill.sh (world.pt = 960 training windows, eval.pt = 40 held-out).
set -euo pipefail
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
W=${W:-/work/data}
T=livetalk/models/weights/tiny_teacher.safetensors
D="python scripts/tiny_distill.py --only teacher --teacher-batch 16"

# the mouth's own part of the latents (rendered as spoken − rendered with the mouth closed), ~12 min per process
python scripts/mouth_delta.py --data $W/world.pt --world $W/world_train --out $W/delta_train_0.pt --part 0/2 &
python scripts/mouth_delta.py --data $W/world.pt --world $W/world_train --out $W/delta_train_1.pt --part 1/2
wait
python scripts/mouth_delta.py --data $W/eval.pt --world $W/world_eval --out $W/delta_eval.pt
for a in 2 4; do  # latents with the mouth (1 + a)× stronger
  python scripts/mouth_delta.py --data $W/world.pt --delta $W/delta_train_0.pt $W/delta_train_1.pt --amplify $a \
      --out-latents $W/world_a$a.pt
  python scripts/mouth_delta.py --data $W/eval.pt --delta $W/delta_eval.pt --amplify $a --out-latents $W/eval_a$a.pt
done

# 1,000-step fine-tunes of the shipped teacher at lr 1e-4 (~25 min each, two at a time)
$D --data $W/world.pt --eval $W/eval.pt --teacher-init $T --teacher-lr 1e-4 --teacher-steps 1000 --out $W/runA --mouth-weight 10 &
$D --data $W/world.pt --eval $W/eval.pt --teacher-init $T --teacher-lr 1e-4 --teacher-steps 1000 --out $W/runB
wait
$D --data $W/world_a2.pt --eval $W/eval_a2.pt --teacher-init $T --teacher-lr 1e-4 --teacher-steps 1000 --out $W/runM2 &
$D --data $W/world_a4.pt --eval $W/eval_a4.pt --teacher-init $T --teacher-lr 1e-4 --teacher-steps 1000 --out $W/runM4
wait
# then at 3× the learning rate, continuing M4 and the control B
$D --data $W/world_a4.pt --eval $W/eval_a4.pt --teacher-init $W/runM4/teacher/teacher.safetensors --teacher-lr 3e-4 \
    --teacher-steps 1000 --out $W/runM4h &
$D --data $W/world.pt --eval $W/eval.pt --teacher-init $W/runB/teacher/teacher.safetensors --teacher-lr 3e-4 \
    --teacher-steps 1000 --out $W/runBh
wait

# and 800 more steps each (fresh optimizer)
$D --data $W/world_a4.pt --eval $W/eval_a4.pt --teacher-init $W/runM4h/teacher/teacher.safetensors --teacher-lr 3e-4 \
    --teacher-steps 800 --out $W/runM4h2 &
$D --data $W/world.pt --eval $W/eval.pt --teacher-init $W/runBh/teacher/teacher.safetensors --teacher-lr 3e-4 \
    --teacher-steps 800 --out $W/runBh2
wait

# the gate: held-out loss with true / other / zeroed audio, whole frame and mouth box
for r in A B; do python scripts/condition_use.py --data $W/eval.pt --checkpoint $W/run$r/teacher/teacher.safetensors; done
for a in 2 4; do python scripts/condition_use.py --data $W/eval_a$a.pt --checkpoint $W/runM$a/teacher/teacher.safetensors; done
python scripts/condition_use.py --data $W/eval_a4.pt --checkpoint $W/runM4h/teacher/teacher.safetensors
python scripts/condition_use.py --data $W/eval.pt --checkpoint $W/runBh/teacher/teacher.safetensors
python scripts/condition_use.py --data $W/eval_a4.pt --checkpoint $W/runM4h2/teacher/teacher.safetensors
python scripts/condition_use.py --data $W/eval.pt --checkpoint $W/runBh2/teacher/teacher.safetensors
