"""CLI: `livetalk generate`, `livetalk demo`, `livetalk bench dit`, `livetalk bench stream`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..cli import bench_group
from . import bench_dit, bench_stream


def _write(out: Path, frames, audio) -> None:
    from ..data.media import write_video

    out.parent.mkdir(parents=True, exist_ok=True)
    write_video(out, frames, fps=16, audio=audio)


def _report(report, out: Path) -> None:
    print(f"wrote {out}: {report.frames} frames ({report.seconds_of_video:.2f} s)")
    print(f"first chunk {report.first_chunk_s * 1e3:.0f} ms, {report.fps:.1f} frames/s, "
          f"real-time factor {report.realtime_factor:.2f} (< 1: faster than real time)")


def _generate(args) -> int:
    from ..models.media_io import load_audio
    from ..system.image_io import load_image
    from .offline import generate_video
    from .tiny import tiny_performer

    image = load_image(Path(args.image).read_bytes())
    audio = load_audio(args.audio)
    perf = tiny_performer(random_weights=args.random_weights, decoder=args.decoder, **decoder_warmup_kwargs(args))
    frames, sound, report = generate_video(perf, image, audio, args.prompt)
    out = Path(args.output)
    _write(out, frames, sound)
    _report(report, out)
    return 0


def _demo(args) -> int:
    from ..data.identity import sample_identity
    from ..data.render import render_reference
    from ..data.speech import synthesize
    from .offline import generate_video
    from .tiny import tiny_performer

    image = render_reference(sample_identity(args.seed), size=64)
    text = args.text
    speech = synthesize(text).audio
    perf = tiny_performer(random_weights=args.random_weights, decoder=args.decoder, **decoder_warmup_kwargs(args))
    frames, sound, report = generate_video(perf, image, speech, args.prompt)
    out = Path(args.output)
    _write(out, frames, sound)
    _report(report, out)
    if args.json:
        print(json.dumps(report.__dict__))
    return 0


def decoder_warmup_arg(text: str) -> int | None:
    """`--decoder-warmup`: a number of latent frames (>= 0), or 'none' for one continuous decoder."""
    if text.lower() == "none":
        return None
    value = int(text)
    if value < 0:
        raise ValueError(f"decoder warm-up must be >= 0 latent frames or 'none', got {value}")
    return value


def add_decoder_warmup(p) -> None:
    p.add_argument("--decoder-warmup", type=decoder_warmup_arg, default=argparse.SUPPRESS, metavar="N|none",
                   help="decode each block with fresh decoders primed with the reference latent and N latent frames "
                        "before it, crossfaded (stops the VAE decoder's drift on long streams; default 1 with --decoder vae, "
                        "none with fast); 'none': one continuous decoder, as published (docs/vae.md, "
                        "'Re-primed decoding')")


def decoder_warmup_kwargs(args) -> dict:
    """`{"decoder_warmup": N}` when `--decoder-warmup` was given, else `{}` (the tiny Performer's default)."""
    return {"decoder_warmup": args.decoder_warmup} if hasattr(args, "decoder_warmup") else {}


DECODER_HELP = ("vae (default): the tiny Wan VAE decoder, re-primed, the best picture, ~10 FPS on 2 CPU cores; "
                "fast: the TAEHV-style decoder conditioned on the reference latent, ~10x faster, ~0.5 dB lower "
                "(docs/vae.md)")


def register(sub) -> None:
    g = bench_group(sub)
    bench_dit.register(g)
    bench_stream.register(g)

    p = sub.add_parser("generate", help="image + speech audio + prompt → mp4 with sound (tiny model)")
    p.add_argument("--image", required=True)
    p.add_argument("--audio", required=True)
    p.add_argument("--prompt", default="A person speaking calmly, facing the camera.")
    p.add_argument("-o", "--output", default="out/generated.mp4")
    p.add_argument("--decoder", default="vae", choices=["fast", "vae"], help=DECODER_HELP)
    p.add_argument("--random-weights", action="store_true", help="untrained models (pipeline check only)")
    add_decoder_warmup(p)
    p.set_defaults(func=_generate)

    p = sub.add_parser("demo", help="the shipped tiny model end to end: a world identity says a sentence")
    p.add_argument("--text", default="Hello! I am a tiny talking avatar, generated live on your CPU.")
    p.add_argument("--prompt", default="A person nodding while speaking calmly, facing the camera.")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("-o", "--output", default="out/demo.mp4")
    p.add_argument("--decoder", default="vae", choices=["fast", "vae"], help=DECODER_HELP)
    p.add_argument("--random-weights", action="store_true", help="untrained models (pipeline check only)")
    p.add_argument("--json", action="store_true")
    add_decoder_warmup(p)
    p.set_defaults(func=_demo)
