"""The mouth's own part of each window's latents: encode(frames) − encode(same frames, mouth held closed).

A diagnostic for "how much of the mouth must the latents keep for a teacher to learn lip sync". Each window of a
latent file (`scripts/prep_split.py`, ids "clip#offset" of a synthetic world) is re-planned from its seed, rendered
twice (as spoken and with mouth_open = 0, mouth_width = 1, everything else identical) and encoded with the tiny
VAE; the difference is saved `[N, F, 16, h, w]`. `--amplify A --out-latents F` then writes a copy of the latent
file whose latents are `z + A·δ` (the mouth's latent signal (1 + A)× stronger, the rest unchanged).

    python scripts/mouth_delta.py --data world.pt --world world_train --out delta.pt [--part 0/2]
    python scripts/mouth_delta.py --data world.pt --delta delta_0.pt delta_1.pt --amplify 4 --out-latents world_a4.pt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from livetalk.data.clip import ClipConfig, plan_clip
from livetalk.data.render import render_frames
from livetalk.models.vae import WanVAE, frames_to_video, pixel_frames
from livetalk.runtime.tiny import WEIGHTS


@torch.no_grad()
def mouth_deltas(data: dict, world: Path, vae: WanVAE, part: tuple[int, int] = (0, 1)) -> tuple[list[int], torch.Tensor]:
    """(window indices, δ `[n, F, 16, h, w]` fp16) for this part of the windows."""
    manifest = {json.loads(line)["id"]: json.loads(line) for line in open(world / "manifest.jsonl")}
    n_pix = pixel_frames(data["latents"].shape[1])
    idx = list(range(part[0], len(data["ids"]), part[1]))
    planned, p = None, None  # windows of one clip are consecutive: plan each clip once
    out = []
    for k, i in enumerate(idx):
        clip, offset = data["ids"][i].split("#")
        if clip != planned:
            m = manifest[clip]
            planned, p = clip, plan_clip(int(m["identity_seed"]), ClipConfig(duration_s=float(m["duration_s"])))
        st = p.state.slice(int(offset), int(offset) + n_pix)
        za = vae.encode(frames_to_video(render_frames(p.identity, st, 64)))
        zb = vae.encode(frames_to_video(render_frames(p.identity, st.mouth_closed(), 64)))
        out.append((za - zb)[0].half())
        if k % 100 == 0:
            print(f"{k}/{len(idx)}", flush=True)
    return idx, torch.stack(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="latent file of a synthetic world (ids 'clip#offset')")
    ap.add_argument("--world", help="its world folder (manifest.jsonl)")
    ap.add_argument("--out", help="write δ of these windows here")
    ap.add_argument("--part", default="0/1", help="k/n: windows k, k+n, k+2n … (to run n processes)")
    ap.add_argument("--vae", default=str(WEIGHTS / "tiny_vae.safetensors"))
    ap.add_argument("--delta", nargs="*", help="δ files (all parts) to apply")
    ap.add_argument("--amplify", type=float, default=0.0)
    ap.add_argument("--out-latents", help="latent file with z + amplify·δ")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = torch.load(args.data, map_location="cpu", weights_only=False)
    if args.out:
        k, n = (int(x) for x in args.part.split("/"))
        idx, delta = mouth_deltas(data, Path(args.world), WanVAE.from_file(args.vae), (k, n))
        torch.save({"index": idx, "delta": delta}, args.out)
        z = data["latents"][idx, 1:].float()
        d = delta[:, 1:].float()
        print(json.dumps({"windows": len(idx), "mouth_energy_share": float(d.pow(2).mean() / (z - z.mean(1, keepdim=True)).pow(2).mean())}))
    if args.out_latents:
        lat = data["latents"].float().clone()
        for f in args.delta:
            part = torch.load(f, weights_only=True)
            lat[part["index"]] += args.amplify * part["delta"].float()
        data["latents"] = lat.to(data["latents"].dtype)
        data["mouth_amplify"] = args.amplify
        torch.save(data, args.out_latents)
        print(json.dumps({"wrote": args.out_latents, "amplify": args.amplify}))


if __name__ == "__main__":
    main()
