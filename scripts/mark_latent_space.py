"""Mark checkpoints with the latent space of the VAE whose latents they were trained on (session 38).

    python scripts/mark_latent_space.py --vae VAE.safetensors FILE [FILE ...]

FILE: a DiT checkpoint (safetensors, sets `livetalk_vae_space`) or a fast decoder (sets `vae_space`). Tensors are
copied bit for bit; only the metadata changes. For files made before `prepare_latents` recorded the encoding VAE
(the stages mark their exports from it now); the runtime then refuses to pair them with another VAE. A file already
marked with another space is refused (re-marking would hide a real mismatch); `--force` overrides.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file

from livetalk.models.checkpoint import LATENT_SPACE_METADATA_KEY
from livetalk.models.vae_fast_decoder import SPACE_METADATA_KEY
from livetalk.models.vae_tiny import load_tiny_vae


def mark(path: str | Path, space: str, force: bool = False) -> str:
    """Rewrite `path` with the space mark; returns the metadata key set."""
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    key = SPACE_METADATA_KEY if meta.get("format") == "livetalk-fast-decoder" else LATENT_SPACE_METADATA_KEY
    if key == LATENT_SPACE_METADATA_KEY and "livetalk_config" not in meta:
        raise SystemExit(f"{path}: neither a livetalk DiT (no livetalk_config) nor a fast decoder")
    if meta.get(key, space) != space and not force:
        raise SystemExit(f"{path} is marked {key}={meta[key]}, not {space}: refusing (--force to override)")
    meta[key] = space
    tmp = Path(str(path) + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--vae", required=True, help="the VAE that encoded the files' training latents")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    space = load_tiny_vae(args.vae).latent_space_id()
    for f in args.files:
        print(f"{f}: {mark(f, space, args.force)}={space}")


if __name__ == "__main__":
    main()
