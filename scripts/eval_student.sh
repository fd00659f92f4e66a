#!/bin/bash
# Score one student checkpoint on the held-out windows (and long streams) like docs/results.md, sessions 15-17.
# Kept to reproduce those sections: it decodes long streams with one continuous VAE decoder, which drifts after
# about 33 frames (session 22). For new work use scripts/score_reprimed.sh (long streams decoded re-primed, and the
# fresh 80-id set).
#
#   bash scripts/eval_student.sh DATA NAME CHECKPOINT [--windows-only]
#
# DATA holds eval.pt and eval_long.pt (`prep_split.py encode` of `world_eval` / `world_long`) and the ground-truth
# world folder world_eval (`livetalk data synth --n 40 --out world_eval --seed 900000 --duration 8`). Writes
# DATA/ev_NAME/ (generated latents), DATA/ev_all/gen_NAME.pt, long_NAME.pt, videos_gen/NAME, videos_long/NAME and
# merges the scores into DATA/ev_all/windows_NAME.json and long_NAME.json (one file per model, so several of these
# can run side by side), then prints the long streams' PSNR by stretch (`stream_drift.py`). One thread unless
# OMP_NUM_THREADS is set. Paired comparisons afterwards: `scripts/paired_metrics.py --videos DATA/ev_all/videos_gen
# --reference DATA/world_eval --cache DATA/ev_all/clips.json --pairs NAME:OTHER`.
set -euo pipefail
if [ $# -lt 3 ]; then sed -n 2,15p "$0"; exit 2; fi
here=$(cd "$(dirname "$0")" && pwd)
data=$1; name=$2; ckpt=$(realpath -e "$3")
case ${4:-} in
    "") long_streams=1 ;;
    --windows-only) long_streams=0 ;;
    *) echo "eval_student.sh: unknown option '$4' (the only one is --windows-only)" >&2; exit 2 ;;
esac
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
cd "$data"
mkdir -p "ev_$name/dmd-livetalk" ev_all
ln -sf "$ckpt" "ev_$name/dmd-livetalk/student.safetensors"
stages=(generate); long=()
if [ $long_streams = 1 ]; then stages+=(generate-long); long=(--eval-long eval_long.pt); fi
python "$here/tiny_distill.py" --data eval.pt --eval eval.pt "${long[@]}" --out "ev_$name" --only "${stages[@]}" \
    --models dmd-livetalk | tail -1
cp "ev_$name/gen_dmd-livetalk.pt" "ev_all/gen_$name.pt"
python "$here/tiny_eval.py" --run ev_all --reference world_eval --prefix gen_ --models "$name" \
    --out "ev_all/windows_$name.json" | tail -1
if [ $long_streams = 1 ]; then
    cp "ev_$name/long_dmd-livetalk.pt" "ev_all/long_$name.pt"
    python "$here/tiny_eval.py" --run ev_all --reference world_eval --prefix long_ --models "$name" \
        --out "ev_all/long_$name.json" | tail -1
    python "$here/stream_drift.py" --reference world_eval "ev_all/long_$name.pt" | tail -1
fi
