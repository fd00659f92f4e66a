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

# ---- session 6 (2026-11-30): is the teacher memorising its 960 training windows? -------------------------------
# the same gate on 40 *training* windows (the first of world.pt): a generalisation gap, and the prompt's role in it
python scripts/condition_use.py --data $W/world.pt > $W/cu_shipped_train.json
python scripts/condition_use.py --data $W/world.pt --checkpoint $W/runBh2/teacher/teacher.safetensors > $W/cu_Bh2_train.json

# a higher learning rate on the audio modules alone (TrainConfig.audio_lr_scale), continuing Bh2 on the latents as encoded
$D --data $W/world.pt --eval $W/eval.pt --teacher-init $W/runBh2/teacher/teacher.safetensors --teacher-lr 3e-4 \
    --audio-lr-scale 10 --teacher-steps 1000 --out $W/runBs
python scripts/condition_use.py --data $W/eval.pt --checkpoint $W/runBs/teacher/teacher.safetensors > $W/cu_Bs.json

# five times the identities: 1,280 more clips of a new seed range (6 min), 3,840 windows (35 min on one thread)
livetalk data synth --n 1280 --out $W/world_big --seed 200000 --duration 8 --workers 1
python scripts/prep_split.py local --data $W/world_big --out $W/big_meta.pt
python scripts/prep_split.py encode --data $W/world_big --meta $W/big_meta.pt --out $W/big.pt --threads 1
python scripts/prep_split.py merge --inputs $W/world.pt $W/big.pt --out $W/world5.pt

# C1 (4,800 windows) against C2 (the 960): 1,000 steps at lr 3e-4 from the shipped teacher, side by side (~27 min)
$D --data $W/world5.pt --eval $W/eval.pt --teacher-init $T --teacher-lr 3e-4 --teacher-steps 1000 --out $W/runC1 &
$D --data $W/world.pt --eval $W/eval.pt --teacher-init $T --teacher-lr 3e-4 --teacher-steps 1000 --out $W/runC2
wait
for r in C1 C2; do
  python scripts/condition_use.py --data $W/eval.pt --checkpoint $W/run$r/teacher/teacher.safetensors > $W/cu_$r.json
  python scripts/condition_use.py --data $W/world.pt --checkpoint $W/run$r/teacher/teacher.safetensors > $W/cu_${r}_train.json
done
python scripts/cu_table.py C1=$W/cu_C1.json C1-train=$W/cu_C1_train.json C2=$W/cu_C2.json C2-train=$W/cu_C2_train.json

# nine times the identities: 1,280 more clips again (seed 300000) → 8,640 windows; C9 as C1 on them
livetalk data synth --n 1280 --out $W/world_big2 --seed 300000 --duration 8 --workers 1
python scripts/prep_split.py local --data $W/world_big2 --out $W/big2_meta.pt
python scripts/prep_split.py encode --data $W/world_big2 --meta $W/big2_meta.pt --out $W/big2.pt --threads 1
python scripts/prep_split.py merge --inputs $W/world.pt $W/big.pt $W/big2.pt --out $W/world9.pt
$D --data $W/world9.pt --eval $W/eval.pt --teacher-init $T --teacher-lr 3e-4 --teacher-steps 1000 --out $W/runC9
python scripts/condition_use.py --data $W/eval.pt --checkpoint $W/runC9/teacher/teacher.safetensors > $W/cu_C9.json
python scripts/condition_use.py --data $W/world.pt --checkpoint $W/runC9/teacher/teacher.safetensors > $W/cu_C9_train.json

# ×5 mouth on 1,280 of the new windows (the first 427 clips of world_big), merged with the 960 ×5 windows → M4x
python - <<PY
import torch
d = torch.load("$W/big.pt", weights_only=False)
n = 1280
out = {**d, "latents": d["latents"][:n], "audio": d["audio"][:n], "ids": d["ids"][:n],
       "variants": {v: {**p, "ref": p["ref"][:n], "prompt_index": p["prompt_index"][:n]} for v, p in d["variants"].items()}}
torch.save(out, "$W/big_sub.pt")
PY
python scripts/mouth_delta.py --data $W/big_sub.pt --world $W/world_big --out $W/delta_big_0.pt --part 0/2 &
python scripts/mouth_delta.py --data $W/big_sub.pt --world $W/world_big --out $W/delta_big_1.pt --part 1/2
wait
python scripts/mouth_delta.py --data $W/big_sub.pt --delta $W/delta_big_0.pt $W/delta_big_1.pt --amplify 4 \
    --out-latents $W/big_sub_a4.pt
python scripts/prep_split.py merge --inputs $W/world_a4.pt $W/big_sub_a4.pt --out $W/world_a4x.pt
$D --data $W/world_a4x.pt --eval $W/eval_a4.pt --teacher-init $W/runM4/teacher/teacher.safetensors --teacher-lr 3e-4 \
    --teacher-steps 1000 --out $W/runM4x
python scripts/condition_use.py --data $W/eval_a4.pt --checkpoint $W/runM4x/teacher/teacher.safetensors > $W/cu_M4x.json

# ---- session 7 (2026-11-30): the audio features' offset hides loudness from AudioPack -------------------------
# the micro control with the tiny log-mel's offset (~15 min of one core each)
python scripts/audio_offset_micro.py scratch &
python scripts/audio_offset_micro.py continue
wait
# the offset, its direction and the mouth read-outs on the training features
python scripts/audio_offset.py --data $W/world.pt --world $W/world_train
# two teachers from scratch on the ×5 windows, raw and standardised features, 103 min side by side; scored every
# 500 steps from last.pt (stopped after step 4,000; rerun, they resume from last.pt: scored at 4,500 and 5,000)
python scripts/audio_standardise.py --stats-from $W/world_a4x.pt \
    --files $W/world_a4x.pt:$W/world_a4x_an.pt $W/eval_a4.pt:$W/eval_a4_an.pt
python scripts/tiny_distill.py --only teacher --teacher-batch 16 --data $W/world_a4x.pt --eval $W/eval_a4.pt \
    --teacher-lr 3e-4 --teacher-steps 8000 --out $W/runSraw &
python scripts/tiny_distill.py --only teacher --teacher-batch 16 --data $W/world_a4x_an.pt --eval $W/eval_a4_an.pt \
    --teacher-lr 3e-4 --teacher-steps 8000 --out $W/runSstd &
# … while they run, for each S in Sraw Sstd (eval $W/eval_a4.pt for Sraw, $W/eval_a4_an.pt for Sstd), every 500 steps:
#   python scripts/snapshot.py $W/run$S/teacher $W/snap_$S.safetensors
#   python scripts/condition_use.py --data EVAL --checkpoint $W/snap_$S.safetensors > $W/cu_${S}_STEP.json
wait

# ---- session 8 (2026-11-30): do the samples follow the audio, and does distillation keep it? -------------------
# both teachers resumed from last.pt (step 5,100) to step 7,000 (50 min side by side), scored every 500 steps as above
# 120 held-out windows (3 per clip), ×5 mouth, for the sample read-outs
python scripts/prep_split.py local --data $W/world_eval --out $W/eval3_meta.pt --windows-per-clip 3
python scripts/prep_split.py encode --data $W/world_eval --meta $W/eval3_meta.pt --out $W/eval3.pt
python scripts/mouth_delta.py --data $W/eval3.pt --world $W/world_eval --out $W/delta_eval3.pt
python scripts/mouth_delta.py --data $W/eval3.pt --delta $W/delta_eval3.pt --amplify 4 --out-latents $W/eval3_a4.pt
# teacher samples (48 Euler steps, CFG 3) with own and swapped audio, mouth read out by a ridge fitted on world_a4.pt
# (~19 min each on one core)
SS="--data $W/eval3_a4.pt --world $W/world_eval --fit-data $W/world_a4.pt --fit-world $W/world_train"
python scripts/snapshot.py $W/runSstd/teacher $W/runSstd/snap7000.safetensors
python scripts/snapshot.py $W/runSraw/teacher $W/runSraw/snap7000.safetensors
python scripts/sample_sync.py --checkpoint $W/runSstd/snap7000.safetensors $SS --audio-stats-from $W/world_a4x.pt
python scripts/sample_sync.py --checkpoint $W/runSraw/snap7000.safetensors $SS
# distil each: ODE init as the LiveTalk recipe (curated, 600 steps, 256 trajectories of 24 Euler steps), ~20 min
for S in Sstd Sraw; do mkdir -p $W/run${S}ODE/teacher; cp $W/run$S/snap7000.safetensors $W/run${S}ODE/teacher/teacher.safetensors; done
python scripts/tiny_distill.py --only ode-converged --data $W/world_a4x_an.pt --eval $W/eval_a4_an.pt \
    --out $W/runSstdODE --ode-pairs-clips 256 --ode-teacher-steps 24 --ode-batch 16
python scripts/tiny_distill.py --only ode-converged --data $W/world_a4x.pt --eval $W/eval_a4.pt \
    --out $W/runSrawODE --ode-pairs-clips 256 --ode-teacher-steps 24 --ode-batch 16
python scripts/sample_sync.py --checkpoint $W/runSstdODE/ode-converged/student_ode.safetensors --role student $SS \
    --audio-stats-from $W/world_a4x.pt
python scripts/sample_sync.py --checkpoint $W/runSrawODE/ode-converged/student_ode.safetensors --role student $SS
python scripts/condition_use.py --causal --data $W/eval_a4_an.pt --checkpoint $W/runSstdODE/ode-converged/student_ode.safetensors
python scripts/condition_use.py --causal --data $W/eval_a4.pt --checkpoint $W/runSrawODE/ode-converged/student_ode.safetensors
# DMD, LiveTalk recipe (2× learning rates, CFG 6, curated), 800 steps × batch 8 from the Sstd ODE student
python scripts/tiny_distill.py --only dmd-livetalk --data $W/world_a4x_an.pt --eval $W/eval_a4_an.pt \
    --out $W/runSstdODE --dmd-steps 800 --dmd-batch 8
python scripts/sample_sync.py --checkpoint $W/runSstdODE/dmd-livetalk/student.safetensors --role student $SS \
    --audio-stats-from $W/world_a4x.pt
python scripts/condition_use.py --causal --data $W/eval_a4_an.pt --checkpoint $W/runSstdODE/dmd-livetalk/student.safetensors
# more seeds (cached samples are reused: --samples FILE) and paired comparisons on the same windows:
#   teachers --seeds 2, students --seeds 8, then e.g.
#   python scripts/sample_sync.py --checkpoint $W/runSstd/snap7000.safetensors $SS --audio-stats-from $W/world_a4x.pt \
#       --samples $W/ss_Sstd7000.pt --seeds 2 --compare $W/p_Sraw7000.json > $W/p_Sstd7000.json

# ---- session 9 (2026-11-30): the whole ablation again, from the listening teacher (Sstd, step 7,000) -----------------
# plain baseline: ODE init on raw conditions, 150 steps (~14 min); then DMD 800 steps x batch 8 for both recipes
# (the LiveTalk one is the session-8 run), each snapshotted and resumed to 2,400 steps (480 generator updates;
# constant learning rates, so the resumed run differs from a fresh 2,400-step one only in its EMA starting at step 200,
# not 600); ~1.85 s/step
D="--data $W/world_a4x_an.pt --eval $W/eval_a4_an.pt --out $W/runSstdODE"
snap() { mkdir -p $2; cp $1/student.safetensors $1/student_raw.safetensors $1/log.jsonl $1/config.json $2/; }
python scripts/tiny_distill.py --only ode-short $D --ode-pairs-clips 256 --ode-teacher-steps 24 --ode-batch 16
python scripts/tiny_distill.py --only dmd-self-forcing $D --dmd-steps 800 --dmd-batch 8
for R in dmd-self-forcing dmd-livetalk; do
  snap $W/runSstdODE/$R $W/runSstdODE/$R-800
  python scripts/tiny_distill.py --only $R $D --dmd-steps 2400 --dmd-batch 8
done
# sample read-outs, 8 seeds, paired against each one's init and against the other recipe
SS="$SS --audio-stats-from $W/world_a4x.pt"; RS=$W/runSstdODE
python scripts/sample_sync.py --checkpoint $RS/ode-short/student_ode.safetensors --role student $SS \
    --samples $W/ss_SstdODEshort.pt --seeds 8 > $W/p_SstdODEshort.json
python scripts/sample_sync.py --checkpoint $RS/dmd-livetalk/student.safetensors --role student $SS \
    --samples $W/ss_SstdDMD2400.pt --seeds 8 --compare $W/p_SstdODE.json > $W/p_SstdDMD2400.json
python scripts/sample_sync.py --checkpoint $RS/dmd-self-forcing-800/student.safetensors --role student $SS \
    --samples $W/ss_SstdSF800.pt --seeds 8 --compare $W/p_SstdODEshort.json $W/p_SstdDMD.json > $W/p_SstdSF800.json
python scripts/sample_sync.py --checkpoint $RS/dmd-self-forcing/student.safetensors --role student $SS \
    --samples $W/ss_SstdSF2400.pt --seeds 8 --compare $W/p_SstdODEshort.json $W/p_SstdDMD2400.json > $W/p_SstdSF2400.json
# pixel metrics through the shipped decoder on the 40 held-out ×5 windows: every model's eval latents
# (tiny_distill.py generate, one model per run folder, renamed into ab9/gen_<name>.pt) plus the ground-truth ×5
# latents themselves as the ceiling of this latent space. Every model gets the clean conditions (--eval-variant
# clean); the *-curated rows give the LiveTalk students their own recipe's prompts instead (the first ab9 run)
mkdir -p $W/ab9
python - <<PY
import torch
d = torch.load("$W/eval_a4_an.pt", weights_only=False)
torch.save({"latents": d["latents"].half(), "ids": d["ids"], "timing": {}}, "$W/ab9/gen_gt-latents.pt")
PY
gen() {  # gen NAME STAGE FILE VARIANT
  local tmp=$W/ab9_tmp_$1; mkdir -p $tmp/$2; ln -sf $3 $tmp/$2/$(basename $3)
  python scripts/tiny_distill.py --only generate $D --out $tmp --models $2 --eval-variant $4
  mv $tmp/gen_$2.pt $W/ab9/gen_$1.pt; }
gen teacher teacher $RS/teacher/teacher.safetensors clean
gen ode-short ode-short $RS/ode-short/student_ode.safetensors clean
gen ode-converged-clean ode-converged $RS/ode-converged/student_ode.safetensors clean
gen ode-converged ode-converged $RS/ode-converged/student_ode.safetensors curated
gen ode-short-curated ode-short $RS/ode-short/student_ode.safetensors curated
for N in 800 2400; do
  F=student.safetensors; [ $N = 800 ] && S=-800 || S=
  gen dmd-self-forcing-$N dmd-self-forcing $RS/dmd-self-forcing$S/$F clean
  gen dmd-livetalk-$N-clean dmd-livetalk $RS/dmd-livetalk$S/$F clean
  gen dmd-livetalk-$N dmd-livetalk $RS/dmd-livetalk$S/$F curated
done
gen dmd-self-forcing-2400-curated dmd-self-forcing $RS/dmd-self-forcing/student.safetensors curated
python scripts/tiny_eval.py --run $W/ab9 --reference $W/world_eval --out $W/ab9.json   # ~2 min per model
python scripts/paired_metrics.py --videos $W/ab9/videos_gen --reference $W/world_eval --cache $W/ab9_clips.json \
    --pairs ode-converged-clean:teacher dmd-self-forcing-2400:ode-short dmd-livetalk-2400-clean:ode-converged-clean \
    dmd-livetalk-2400-clean:dmd-self-forcing-2400 dmd-livetalk-800-clean:dmd-self-forcing-800 \
    dmd-livetalk-2400-clean:dmd-livetalk-800-clean dmd-self-forcing-2400:dmd-self-forcing-800
# the Sstd teacher continued 7,000 -> 9,000 from last.pt, gated every 500 steps as in session 7
python scripts/tiny_distill.py --only teacher --teacher-batch 16 --data $W/world_a4x_an.pt --eval $W/eval_a4_an.pt \
    --teacher-lr 3e-4 --teacher-steps 9000 --out $W/runSstd
#   at each 500 steps: python scripts/snapshot.py $W/runSstd/teacher $W/snap_Sstd.safetensors
#                      python scripts/condition_use.py --data $W/eval_a4_an.pt --checkpoint $W/snap_Sstd.safetensors
# which LiveTalk setting costs the fidelity: each run changes one of them back to plain, from the LiveTalk ODE init,
# 800 steps x batch 8 like dmd-livetalk-800 (the default `train dmd` recipe is dmd-livetalk), ~25 min side by side
L="data=$W/world_a4x_an.pt:curated teacher=$RS/teacher/teacher.safetensors init=$RS/ode-converged/student_ode.safetensors
   steps=800 batch_size=8 save_every=200 ema_start=200 ema_decay=0.9 preset=tiny log_every=50 device=cpu
   lr=1e-4 critic_lr=2e-5"   # LiveTalk's batch-8 learning rates, as tiny_distill.py gives dmd-livetalk
livetalk train dmd --set $L lr=5e-5 critic_lr=1e-5 out_dir=$RS/dmd-lt-lr1 &     # plain learning rates, CFG 6
livetalk train dmd --set $L guidance=3.0 out_dir=$RS/dmd-lt-cfg4                 # 2x learning rates, plain CFG 4
wait
for w in dmd-lt-lr1 dmd-lt-cfg4; do
  gen $w dmd-livetalk $RS/$w/student.safetensors clean
  python scripts/sample_sync.py --checkpoint $RS/$w/student.safetensors --role student $SS --samples $W/ss_$w.pt \
      --seeds 8 --compare $W/p_SstdDMD.json $W/p_SstdSF800.json > $W/p_$w.json
done
python scripts/tiny_eval.py --run $W/ab9 --reference $W/world_eval --out $W/ab9.json --models dmd-lt-lr1 dmd-lt-cfg4
python scripts/paired_metrics.py --videos $W/ab9/videos_gen --reference $W/world_eval --cache $W/ab9_clips.json \
    --pairs dmd-lt-lr1:dmd-livetalk-800-clean dmd-lt-cfg4:dmd-livetalk-800-clean dmd-lt-lr1:dmd-self-forcing-800 \
    dmd-lt-cfg4:dmd-self-forcing-800

# ---- session 10 (2026-11-30): the CFG-4 split to 480 updates, and a second DMD seed ----------------------------------
# dmd-lt-cfg4 continued 800 -> 2,400 steps (resumes from last.pt; the 800-step files copied first), and the LiveTalk
# and CFG-4 runs again with seed 43 (800 steps), ~1.8 s/step each on one core
snap $RS/dmd-lt-cfg4 $RS/dmd-lt-cfg4-800
livetalk train dmd --set $L steps=2400 guidance=3.0 out_dir=$RS/dmd-lt-cfg4 &
OMP_NUM_THREADS=1 livetalk train dmd --set $L seed=43 out_dir=$RS/dmd-lt-s43 &                   # LiveTalk, CFG 6
OMP_NUM_THREADS=1 livetalk train dmd --set $L seed=43 guidance=3.0 out_dir=$RS/dmd-lt-cfg4-s43   # the CFG-4 split
wait
ev() {  # ev NAME CHECKPOINT COMPARE...: eval latents, pixel metrics, sample read-out paired against earlier runs
  local name=$1 ckpt=$2; shift 2
  gen $name dmd-livetalk $ckpt clean
  python scripts/tiny_eval.py --run $W/ab9 --reference $W/world_eval --out $W/ab9.json --models $name
  python scripts/sample_sync.py --checkpoint $ckpt --role student $SS --samples $W/ss_$name.pt --seeds 8 \
      --compare "$@" > $W/p_$name.json
}
ev dmd-lt-s43 $RS/dmd-lt-s43/student.safetensors $W/p_SstdDMD.json $W/p_dmd-lt-cfg4.json
ev dmd-lt-cfg4-s43 $RS/dmd-lt-cfg4-s43/student.safetensors $W/p_dmd-lt-cfg4.json $W/p_SstdDMD.json $W/p_dmd-lt-s43.json
ev dmd-lt-cfg4-2400 $RS/dmd-lt-cfg4/student.safetensors $W/p_SstdDMD2400.json $W/p_SstdSF2400.json \
    $W/p_dmd-lt-cfg4.json $W/p_SstdODE.json $W/p_Sstd7000.json
python scripts/paired_metrics.py --videos $W/ab9/videos_gen --reference $W/world_eval --cache $W/ab9_clips.json \
  --pairs dmd-lt-cfg4-2400:dmd-livetalk-2400-clean dmd-lt-cfg4-2400:dmd-self-forcing-2400 \
  dmd-lt-cfg4-2400:dmd-lt-cfg4 dmd-lt-cfg4-2400:ode-converged-clean dmd-lt-cfg4-2400:teacher \
  dmd-lt-cfg4-s43:dmd-lt-s43 dmd-lt-s43:dmd-livetalk-800-clean dmd-lt-cfg4-s43:dmd-lt-cfg4
# the seed-43 CFG-4 split continued 800 -> 2,400 steps (480 updates), ~1.05 s/step alone on both cores
snap $RS/dmd-lt-cfg4-s43 $RS/dmd-lt-cfg4-s43-800
livetalk train dmd --set $L seed=43 steps=2400 guidance=3.0 out_dir=$RS/dmd-lt-cfg4-s43
ev dmd-lt-cfg4-s43-2400 $RS/dmd-lt-cfg4-s43/student.safetensors $W/p_dmd-lt-cfg4-2400.json $W/p_SstdDMD2400.json \
    $W/p_SstdSF2400.json $W/p_dmd-lt-cfg4-s43.json
python scripts/paired_metrics.py --videos $W/ab9/videos_gen --reference $W/world_eval --cache $W/ab9_clips.json \
  --pairs dmd-lt-cfg4-s43-2400:dmd-lt-cfg4-2400 dmd-lt-cfg4-s43-2400:dmd-livetalk-2400-clean \
  dmd-lt-cfg4-s43-2400:dmd-self-forcing-2400

# ---- session 11 (2026-11-30): more DMD seeds at 480 updates, and recipe differences with the seed spread ----------
# LiveTalk seed 43 continued 800 -> 2,400 steps; plain Self Forcing with seed 43 from its ODE init (the batch-8
# learning rates tiny_distill.py gives it: the recipe's own are for batch 2); then seed 44 of the CFG-4 split and of
# plain. One thread each, two at a time (~1.8 s/step).
P="data=$W/world_a4x_an.pt:raw teacher=$RS/teacher/teacher.safetensors init=$RS/ode-short/student_ode.safetensors
   steps=2400 batch_size=8 save_every=200 ema_start=200 ema_decay=0.9 preset=tiny log_every=50 device=cpu
   lr=5e-5 critic_lr=1e-5"
printf 'recipe: dmd-self-forcing\n' > $W/sf.yaml  # the recipe's weight decay 0.01 and CFG 4, as in session 9's run
snap $RS/dmd-lt-s43 $RS/dmd-lt-s43-800
livetalk train dmd --set $L seed=43 steps=2400 out_dir=$RS/dmd-lt-s43 &
livetalk train dmd --config $W/sf.yaml --set $P seed=43 out_dir=$RS/dmd-sf-s43
wait
livetalk train dmd --set $L seed=44 steps=2400 guidance=3.0 out_dir=$RS/dmd-lt-cfg4-s44 &
livetalk train dmd --config $W/sf.yaml --set $P seed=44 out_dir=$RS/dmd-sf-s44
wait
ev dmd-lt-s43-2400 $RS/dmd-lt-s43/student.safetensors $W/p_SstdDMD2400.json $W/p_dmd-lt-s43.json
ev dmd-sf-s43-2400 $RS/dmd-sf-s43/student.safetensors $W/p_SstdSF2400.json
ev dmd-lt-cfg4-s44-2400 $RS/dmd-lt-cfg4-s44/student.safetensors $W/p_dmd-lt-cfg4-2400.json
ev dmd-sf-s44-2400 $RS/dmd-sf-s44/student.safetensors $W/p_SstdSF2400.json
python scripts/paired_metrics.py --videos $W/ab9/videos_gen --reference $W/world_eval --cache $W/ab9_clips.json \
  --pairs dmd-lt-s43-2400:dmd-livetalk-2400-clean dmd-sf-s43-2400:dmd-self-forcing-2400 \
  dmd-lt-cfg4-s44-2400:dmd-lt-cfg4-2400 dmd-sf-s44-2400:dmd-self-forcing-2400
# recipes over their seeds (livetalk.eval.seeds), independent and matched by seed: at 480 updates, and at 160
G="--clips $W/ab9_clips.json --fixed teacher teacher:$W/p_Sstd7000.json"
python scripts/recipe_seeds.py $G \
  --group plain dmd-self-forcing-2400:$W/p_SstdSF2400.json@42 dmd-sf-s43-2400:$W/p_dmd-sf-s43-2400.json@43 \
        dmd-sf-s44-2400:$W/p_dmd-sf-s44-2400.json@44 \
  --group livetalk dmd-livetalk-2400-clean:$W/p_SstdDMD2400.json@42 dmd-lt-s43-2400:$W/p_dmd-lt-s43-2400.json@43 \
  --group cfg4 dmd-lt-cfg4-2400:$W/p_dmd-lt-cfg4-2400.json@42 dmd-lt-cfg4-s43-2400:$W/p_dmd-lt-cfg4-s43-2400.json@43 \
        dmd-lt-cfg4-s44-2400:$W/p_dmd-lt-cfg4-s44-2400.json@44 \
  --pairs livetalk:plain cfg4:plain cfg4:livetalk cfg4:teacher livetalk:teacher plain:teacher
python scripts/recipe_seeds.py $G --group plain dmd-self-forcing-800:$W/p_SstdSF800.json@42 \
  --group livetalk dmd-livetalk-800-clean:$W/p_SstdDMD.json@42 dmd-lt-s43:$W/p_dmd-lt-s43.json@43 \
  --group cfg4 dmd-lt-cfg4:$W/p_dmd-lt-cfg4.json@42 dmd-lt-cfg4-s43:$W/p_dmd-lt-cfg4-s43.json@43 \
  --pairs livetalk:plain cfg4:plain cfg4:livetalk cfg4:teacher
