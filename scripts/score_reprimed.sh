#!/bin/bash
# Score one student checkpoint as docs/results.md sessions 24-28 do: 33-frame windows (FD, identity, PSNR, flicker)
# and long streams decoded re-primed (PSNR by stretch).
#
#   bash scripts/score_reprimed.sh DATA SET NAME CHECKPOINT [TINY_DISTILL_ARGS...]
#
# Arguments after the fourth go to tiny_distill.py's generate steps, e.g. `--cache 3 6 7` to stream with another
# KV cache (session 30). A student trained with the still-reference cond (the shipped one since session 33) needs
# its still latents: `--ref-video DATA/ev_allSET/baselines/long_static.pt` (made by this script's baseline step on
# a set's first run, or `still_baseline.py make --eval DATA/eval_longSET.pt --world DATA/world_evalSET --out ...`;
# the long clips' still serves the windows too); without them tiny_distill.py stops with that message.
# SET "" is the 40-id set (DATA/eval.pt, eval_long.pt, world_eval); SET 2 is the fresh 80-id set of session 28
# (eval2.pt, eval_long2.pt, world_eval2: `livetalk data synth --n 80 --seed 910000 --duration 8 --out world_eval2`,
# then `livetalk prepare-latents --data world_eval2 --out eval_long2.pt --latent-frames 32 --windows-per-clip 1
# --variants curated clean` and the same with `--out eval2.pt --latent-frames 9`). Decide on SET 2: the 40-id set
# chose among the arms of sessions 22-28. Writes DATA/evSET/NAME/ and DATA/ev_allSET/{videos_gen/NAME,rpb_NAME.json}.
# Pairs afterwards: `python scripts/reprime_check.py --pair DATA/ev_allSET/rpb_A.json:DATA/ev_allSET/rpb_B.json` and
# `python scripts/paired_metrics.py --videos DATA/ev_allSET/videos_gen --reference DATA/world_evalSET
# --cache DATA/ev_allSET/clips.json --pairs A:B`. One thread unless OMP_NUM_THREADS is set.
# Every run also prints the arm beside two baselines that are made once per set in DATA/ev_allSET/baselines
# (session 31): the reference held still (`still_baseline.py make`: any metric it wins cannot see motion) and the
# ground truth encoded window by window like the training data (`still_baseline.py windowed`): the arm minus each
# in pixels, paired, and latent motion and error against the windowed truth (`still_baseline.py motion`).
# VAE=CHECKPOINT (default: the shipped tiny VAE) is the VAE that encoded DATA's eval files (`prepare-latents --vae`):
# every decode (windows, re-primed long streams, baselines) then uses it. Keep one DATA folder per VAE: the
# baselines are made once per set and folder, in that VAE's space (session 38 scored VMH's student this way).
set -euo pipefail
if [ $# -lt 4 ]; then sed -n 2,26p "$0"; exit 2; fi
here=$(cd "$(dirname "$0")" && pwd)
data=$(realpath -e "$1"); set=$2; name=$3; ckpt=$(realpath -e "$4"); shift 4
for f in "eval$set.pt" "eval_long$set.pt" "world_eval$set"; do
    [ -e "$data/$f" ] || { echo "score_reprimed.sh: $data/$f is missing (see the header for how to make it)" >&2; exit 2; }
done
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
vae=(); new=vae:reprimed
if [ -n "${VAE:-}" ]; then vae=(--vae "$(realpath -e "$VAE")"); new="vae=${vae[1]}:reprimed"; fi
run=$data/ev$set/$name; all=$data/ev_all$set
mkdir -p "$run/dmd-livetalk" "$all/videos_gen"
cp "$ckpt" "$run/dmd-livetalk/student.safetensors"
python "$here/tiny_distill.py" --data "$data/eval$set.pt" --eval "$data/eval$set.pt" --out "$run" \
    --only generate generate-long --models dmd-livetalk --eval-long "$data/eval_long$set.pt" "$@" | tail -1
python "$here/tiny_eval.py" --run "$run" --reference "$data/world_eval$set" --prefix gen_ --models dmd-livetalk \
    --out "$run/windows.json" "${vae[@]}" | tail -1
ln -sfn "$run/videos_gen/dmd-livetalk" "$all/videos_gen/$name"
python "$here/reprime_check.py" "$run/long_dmd-livetalk.pt" --reference "$data/world_eval$set" --base none \
    --new "$new" --batch 8 --threads "$OMP_NUM_THREADS" --out "$all/rpb_$name.json"

base=$all/baselines
refresh=("$name")  # the arm's videos were just remade: never pair them from an older --cache entry
if [ ! -e "$base/rpb_truth-windowed.json" ]; then  # once per set: the still reference and the windowed truth
    mkdir -p "$base"; refresh+=(still)
    python "$here/still_baseline.py" make --eval "$data/eval$set.pt" --world "$data/world_eval$set" \
        --out "$base/gen_static.pt" "${vae[@]}"
    python "$here/tiny_eval.py" --run "$base" --reference "$data/world_eval$set" --prefix gen_ \
        --models static vae-ceiling --out "$base/windows.json" "${vae[@]}" | tail -3
    ln -sfn "$base/videos_gen/static" "$all/videos_gen/still"
    python "$here/still_baseline.py" make --eval "$data/eval_long$set.pt" --world "$data/world_eval$set" \
        --out "$base/long_static.pt" "${vae[@]}"
    python "$here/still_baseline.py" windowed --eval "$data/eval_long$set.pt" --world "$data/world_eval$set" \
        --out "$base/long_windowed.pt" "${vae[@]}"
    for b in still:long_static truth-windowed:long_windowed; do
        python "$here/reprime_check.py" "$base/${b#*:}.pt" --reference "$data/world_eval$set" --base none \
            --new "$new" --batch 8 --threads "$OMP_NUM_THREADS" --out "$base/rpb_${b%%:*}.json" | tail -1
    done
fi
echo "== $name beside the baselines (windows: minus the still reference; long streams: minus the still reference,"
echo "   then minus the windowed truth; latents: against the windowed truth)"
python "$here/paired_metrics.py" --videos "$all/videos_gen" --reference "$data/world_eval$set" \
    --cache "$all/clips.json" --refresh "${refresh[@]}" --pairs "$name:still" | sed -n '/^|/p'
python "$here/reprime_check.py" --pair "$all/rpb_$name.json:$base/rpb_still.json" \
    "$all/rpb_$name.json:$base/rpb_truth-windowed.json"
python "$here/still_baseline.py" motion --eval "$data/eval_long$set.pt" --truth "$base/long_windowed.pt" \
    "$name=$run/long_dmd-livetalk.pt" "still=$base/long_static.pt"
echo "scored $name on set '$set': $run/windows.json, $all/rpb_$name.json"
