"""CLI: `livetalk serve` (the interactive web avatar) and `livetalk bench system` (a loopback load test)."""

from __future__ import annotations

import argparse
import json
import os


def _add_thinker_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("thinker (who answers)")
    g.add_argument("--thinker", choices=["offline", "openai"], default="offline",
                   help="offline: embedded rule-based responder + espeak-ng (default); "
                        "openai: any OpenAI-compatible server (vLLM, ...)")
    g.add_argument("--openai-url", default=os.environ.get("LIVETALK_OPENAI_URL", "http://127.0.0.1:8000/v1"),
                   help="base URL of the OpenAI-compatible API, ending in /v1")
    g.add_argument("--openai-model", default=os.environ.get("LIVETALK_OPENAI_MODEL", "Qwen/Qwen3-Omni-30B-A3B-Instruct"))
    g.add_argument("--openai-api-key", default=None, help="default: $OPENAI_API_KEY if set")
    g.add_argument("--tts", choices=["endpoint", "chat_audio", "espeak"], default="endpoint",
                   help="speech: POST {tts-url}/audio/speech per sentence; chat_audio: the chat model speaks "
                        "(modalities text+audio, e.g. Qwen3-Omni on vLLM-Omni); or local espeak-ng")
    g.add_argument("--chat-audio-format", default="pcm16", help="audio.format asked in chat_audio mode")
    g.add_argument("--tts-url", default=None, help="default: --openai-url")
    g.add_argument("--tts-model", default="tts-1")
    g.add_argument("--tts-voice", default="alloy")
    g.add_argument("--tts-format", choices=["pcm", "wav"], default="pcm")
    g.add_argument("--tts-sample-rate", type=int, default=24000, help="sample rate of raw pcm speech responses")
    g.add_argument("--stt", choices=["native", "transcribe", "none"], default="native",
                   help="speech input: native (input_audio to the chat model, e.g. Qwen3-Omni), "
                        "transcribe (POST /audio/transcriptions), none")
    g.add_argument("--stt-url", default=None)
    g.add_argument("--stt-model", default="whisper-1")


def build_thinker(args: argparse.Namespace):
    if args.thinker == "offline":
        from .offline_thinker import OfflineThinker

        return OfflineThinker()
    from .thinker import OpenAIConfig, OpenAIThinker

    return OpenAIThinker(OpenAIConfig(
        base_url=args.openai_url, model=args.openai_model,
        api_key=args.openai_api_key or os.environ.get("OPENAI_API_KEY"),
        tts=args.tts, tts_base_url=args.tts_url, tts_model=args.tts_model, tts_voice=args.tts_voice,
        tts_format=args.tts_format, tts_sample_rate=args.tts_sample_rate, chat_audio_format=args.chat_audio_format,
        stt=args.stt, stt_base_url=args.stt_url, stt_model=args.stt_model))


def _performer_from_args(args: argparse.Namespace, command: str, **opts):
    """The performer named by --performer with --size / --random-weights; a clear exit when it cannot be built."""
    from .performers import build_performer

    if args.size is not None:
        opts["size"] = args.size
    if args.random_weights:
        opts["random_weights"] = True
    try:
        return build_performer(args.performer, **opts)
    except (ValueError, RuntimeError, FileNotFoundError, ImportError) as err:
        raise SystemExit(f"livetalk {command}: cannot build the {args.performer!r} performer: {err}") from None


def default_max_sessions(performer: str, device: str) -> int:
    """Session limit when --max-sessions is not given: one model session per CPU (two tiny sessions on 2 cores
    fall behind real time, docs/system.md), four for the stub or on an accelerator."""
    return 1 if performer != "stub" and str(device).startswith("cpu") else 4


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .server import create_app

    performer = _performer_from_args(args, "serve", device=args.device)
    if args.max_sessions is None:
        args.max_sessions = default_max_sessions(args.performer, args.device)
    app = create_app(performer, build_thinker(args), max_sessions=args.max_sessions, lead_s=args.lead_s,
                     performer_name=args.performer)
    print(f"[livetalk] serving on http://{args.host}:{args.port}  performer={args.performer} "
          f"thinker={args.thinker} max_sessions={args.max_sessions}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, ws_max_size=16 * 1024 * 1024)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .loadtest import run_load_test
    from .offline_thinker import OfflineThinker
    from .server import BackgroundServer, create_app

    if not (1 <= args.sessions <= 64 and 0 < args.seconds <= 60):
        raise SystemExit("bench system: --sessions must be 1..64 and --seconds 0..60 (the test is bounded)")
    performer = _performer_from_args(args, "bench system", delay_s=args.delay_s)
    app = create_app(performer, OfflineThinker(), max_sessions=args.max_sessions, lead_s=args.lead_s,
                     performer_name=args.performer)
    with BackgroundServer(app) as srv:
        report = run_load_test(srv.url, sessions=args.sessions, seconds=args.seconds, stalled=args.stalled)
        app.state.manager.close_all()
    report.update(performer=args.performer, size=args.size, max_sessions=args.max_sessions)
    print(json.dumps(report, indent=2))
    return 0


def register(sub) -> None:
    p = sub.add_parser("serve", help="web page with a live talking avatar (FastAPI + uvicorn)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-sessions", type=int, default=None,
                   help="concurrent avatar sessions; more are refused (default: 1 for a model performer on the CPU, "
                   "where a second session falls behind real time on 2 cores; 4 otherwise)")
    p.add_argument("--performer", default="tiny",
                   help="video runtime: tiny (the shipped causal DiT, default) or stub (a light stand-in for tests)")
    p.add_argument("--size", type=int, default=None, help="output frame size (default: the performer's own; stub 256)")
    p.add_argument("--random-weights", action="store_true",
                   help="model performers: untrained weights (a demo of the pipeline when no checkpoint exists)")
    p.add_argument("--device", default="cpu", help="device for model performers")
    p.add_argument("--lead-s", type=float, default=0.35,
                   help="generate each block this long before it is due to play (latency vs. robustness)")
    p.add_argument("--log-level", default="info")
    _add_thinker_args(p)
    p.set_defaults(func=_serve)

    from ..cli import bench_group

    b = bench_group(sub).add_parser("system", help="loopback load test of the web server (sessions, dropped frames)")
    b.add_argument("--sessions", type=int, default=8, help="concurrent WebSocket clients")
    b.add_argument("--seconds", type=float, default=5.0, help="how long each client stays (bounded)")
    b.add_argument("--max-sessions", type=int, default=8, help="server limit (clients beyond are refused)")
    b.add_argument("--performer", default="stub")
    b.add_argument("--size", type=int, default=None, help="frame size (default: the performer's own; stub 256)")
    b.add_argument("--delay-s", type=float, default=0.0, help="stub: simulated compute per block")
    b.add_argument("--random-weights", action="store_true", help="model performers: untrained weights")
    b.add_argument("--lead-s", type=float, default=0.35)
    b.add_argument("--stalled", type=int, default=0, help="clients that stop reading (frames dropped for them)")
    b.set_defaults(func=_bench)
