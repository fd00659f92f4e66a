"""`livetalk eval …`: evaluate generated videos (`livetalk eval --generated G --reference R`) and
train the probes (`livetalk eval train-probes`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate generated videos against the ground-truth world")
    p.add_argument("--generated", help="folder of generated videos (manifest, clips/<id>.mp4 or <id>.mp4)")
    p.add_argument("--reference", help="reference dataset folder (manifest.jsonl)")
    p.add_argument("--out", default=None, help="output folder for eval.json and eval.md (default: --generated)")
    p.add_argument("--max-lag", type=int, default=8, help="lip-sync lag search range (frames)")
    p.add_argument("--limit", type=int, default=None, help="evaluate at most this many clips")
    p.add_argument("--weights", default=None, help="probe checkpoint folder (default: shipped weights)")
    sub = p.add_subparsers(dest="eval_command")
    t = sub.add_parser("train-probes", help="train the probes on the synthetic world and save weights")
    t.add_argument("--out", dest="weights_out", default=None, help="weights folder (default: shipped location)")
    t.add_argument("--quick", action="store_true", help="tiny budget (smoke test, poor accuracy)")
    lt = sub.add_parser("train-latent-probes", help="train the latent-space face-state and motion probes (tiny VAE latents)")
    lt.add_argument("--latents", required=True, help="training latent file (scripts/prep_split.py / prepare_latents)")
    lt.add_argument("--data", required=True, help="world folder the training latents were encoded from (tracks)")
    lt.add_argument("--heldout-latents", required=True, help="held-out latent file")
    lt.add_argument("--heldout-data", required=True, help="world folder of the held-out latents")
    lt.add_argument("--out", dest="latent_out", default=None, help="weights folder (default: shipped location)")
    lt.add_argument("--state-steps", type=int, default=2000)
    lt.add_argument("--motion-steps", type=int, default=1500)
    lt.add_argument("--noise", type=float, default=0.5, help="latent noise augmentation (max std)")
    lt.add_argument("--dropout", type=float, default=0.3)
    lt.add_argument("--threads", type=int, default=1)
    la = sub.add_parser("latents", help="lip sync and text following of a latent file, scored in latent space")
    la.add_argument("--latents", dest="eval_latents", required=True, help="latent file ({'latents', 'ids'})")
    la.add_argument("--reference", dest="latent_reference", required=True, help="world folder with the clips' tracks")
    la.add_argument("--weights", dest="latent_weights", default=None, help="latent probe folder (default: shipped)")
    c = sub.add_parser("corrupt", help="write a corrupted copy of a reference dataset (metric sanity checks)")
    c.add_argument("--reference", dest="corrupt_reference", required=True, help="reference dataset folder")
    c.add_argument("--out", dest="corrupt_out", required=True, help="output folder")
    c.add_argument("--kind", required=True, help="copy, shift, black, noise, flicker, blur_late, freeze, swap_identity")
    c.add_argument("--amount", type=float, default=0.0, help="corruption strength (see livetalk/eval/corrupt.py)")
    c.add_argument("--limit", dest="corrupt_limit", type=int, default=None, help="at most this many clips")
    q = sub.add_parser("sanity", help="evaluate all controlled corruptions of a reference dataset")
    q.add_argument("--reference", dest="sanity_reference", required=True, help="reference dataset folder")
    q.add_argument("--work", required=True, help="scratch folder for corrupted copies")
    q.add_argument("--limit", dest="sanity_limit", type=int, default=None, help="at most this many clips")
    p.set_defaults(func=_dispatch)


def _dispatch(args: argparse.Namespace) -> int:
    if getattr(args, "eval_command", None) == "train-probes":
        return _train(args)
    if getattr(args, "eval_command", None) == "train-latent-probes":
        return _train_latent(args)
    if getattr(args, "eval_command", None) == "latents":
        return _eval_latents(args)
    if getattr(args, "eval_command", None) == "corrupt":
        return _corrupt(args)
    if getattr(args, "eval_command", None) == "sanity":
        return _sanity(args)
    return _eval(args)


def _eval(args: argparse.Namespace) -> int:
    import torch

    from .evaluate import EvalConfig, evaluate_dirs
    from .probes import WEIGHTS_DIR
    from .report import markdown_table

    if not args.generated or not args.reference:
        raise SystemExit("livetalk eval: --generated and --reference are required")
    torch.set_num_threads(1)  # bit-stable reductions
    cfg = EvalConfig(max_lag=args.max_lag, weights=Path(args.weights) if args.weights else WEIGHTS_DIR)
    res = evaluate_dirs(args.generated, args.reference, cfg, args.limit)
    out = Path(args.out or args.generated)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(res, indent=2, sort_keys=True))
    md = f"# Evaluation\n\ngenerated: `{args.generated}`  \nreference: `{args.reference}`\n\n" + markdown_table(res["summary"])
    if res["missing"]:
        md += f"\n{len(res['missing'])} reference clips had no generated video.\n"
    (out / "eval.md").write_text(md)
    print(markdown_table(res["summary"]))
    print(f"wrote {out / 'eval.json'} and {out / 'eval.md'}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from .train import TrainConfig, train_probes

    cfg = TrainConfig()
    if args.quick:
        cfg = TrainConfig(n_train_ids=200, n_val_ids=50, frame_steps=40, id_steps=40, n_motion_clips=45, n_motion_render=18,
                          motion_steps=40, n_motion_val=9)
    if args.weights_out:
        cfg.out_dir = args.weights_out
    report = train_probes(cfg)
    report.pop("config", None)
    print(json.dumps(report, indent=2))
    return 0


def _train_latent(args: argparse.Namespace) -> int:
    from .latent_probes import LATENT_WEIGHTS_DIR, LatentProbeConfig, load_latent_file, train_latent_probes

    cfg = LatentProbeConfig(state_steps=args.state_steps, motion_steps=args.motion_steps, threads=args.threads,
                            noise=args.noise, dropout=args.dropout)
    train = (*load_latent_file(args.latents), args.data)
    heldout = (*load_latent_file(args.heldout_latents), args.heldout_data)
    _, _, report = train_latent_probes(train, heldout, cfg, args.latent_out or LATENT_WEIGHTS_DIR)
    print(json.dumps(report["heldout"], indent=2))
    return 0


def _eval_latents(args: argparse.Namespace) -> int:
    from .latent_probes import LATENT_WEIGHTS_DIR, evaluate_latents, load_latent_file

    latents, ids = load_latent_file(args.eval_latents)
    res = evaluate_latents(latents, ids, args.latent_reference, args.latent_weights or LATENT_WEIGHTS_DIR)
    print(json.dumps(res["summary"], indent=2))
    return 0


def _corrupt(args: argparse.Namespace) -> int:
    from .corrupt import KINDS, corrupt_dataset

    if args.kind not in KINDS:
        raise SystemExit(f"--kind must be one of {', '.join(KINDS)}")
    n = corrupt_dataset(args.corrupt_reference, args.corrupt_out, args.kind, args.amount, args.corrupt_limit)
    print(f"wrote {n} corrupted clips ({args.kind}, amount {args.amount}) to {args.corrupt_out}")
    return 0


def _sanity(args: argparse.Namespace) -> int:
    import torch

    from .sanity import run_sanity

    torch.set_num_threads(1)
    table = run_sanity(args.sanity_reference, args.work, limit=args.sanity_limit)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    (Path(args.work) / "sanity.md").write_text(table)
    print(table)
    return 0
