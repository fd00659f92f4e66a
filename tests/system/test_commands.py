import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from livetalk.cli import build_parser
from livetalk.system.commands import build_thinker
from livetalk.system.offline_thinker import OfflineThinker
from livetalk.system.performers import build_performer
from livetalk.system.thinker import OpenAIThinker


def test_parser_has_serve_and_bench_system():
    args = build_parser().parse_args(["serve", "--port", "8123", "--max-sessions", "3", "--performer", "stub"])
    assert args.host == "127.0.0.1" and args.port == 8123 and args.max_sessions == 3
    assert isinstance(build_thinker(args), OfflineThinker)
    args = build_parser().parse_args(["serve", "--thinker", "openai", "--openai-url", "http://127.0.0.1:9/v1",
                                      "--openai-model", "Qwen/Qwen3-Omni-30B-A3B-Instruct", "--tts", "espeak"])
    th = build_thinker(args)
    assert isinstance(th, OpenAIThinker) and th.config.model.startswith("Qwen") and th.config.tts == "espeak"
    args = build_parser().parse_args(["bench", "system", "--sessions", "2", "--seconds", "1"])
    assert args.sessions == 2


def test_default_session_limit_follows_performer_and_device():
    from livetalk.system.commands import default_max_sessions

    assert build_parser().parse_args(["serve"]).performer == "tiny"
    assert default_max_sessions("tiny", "cpu") == 1
    assert default_max_sessions("tiny", "cuda:0") == 4 and default_max_sessions("stub", "cpu") == 4


def test_unknown_performer_error_is_clear():
    with pytest.raises(ValueError, match="choose one of"):
        build_performer("giant")


def test_livetalk_serve_starts_and_serves_the_page():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "livetalk.cli", "serve", "--port", str(port), "--log-level",
                             "warning"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=1) as r:
                    status = json.loads(r.read())
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(proc.stdout.read().decode() if proc.poll() is not None else "timeout")
                time.sleep(0.2)
        # the defaults: the shipped tiny model, the offline thinker, one session per CPU server
        assert status["performer"] == "tiny" and status["thinker"] == "offline" and status["max_sessions"] == 1
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert b"LiveTalk" in r.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_unknown_performer_is_a_clear_exit_for_serve_and_bench():
    from livetalk.cli import main

    with pytest.raises(SystemExit, match="livetalk serve: cannot build the 'nope' performer: unknown performer"):
        main(["serve", "--performer", "nope", "--port", "0"])
    with pytest.raises(SystemExit, match="livetalk bench system: cannot build the 'nope' performer"):
        main(["bench", "system", "--performer", "nope", "--sessions", "1", "--seconds", "1"])


def test_parser_can_be_built_again_after_the_last_one_is_collected():
    """The bench group used to be cached by id(): a new parser at a dead one's address got its stale group."""
    import gc

    from livetalk.cli import build_parser

    parsers = []
    for i in range(30):
        p = build_parser()
        assert p.parse_args(["bench", "dit"]).bench == "dit"
        if i % 2:
            parsers.clear()  # every other parser dies, so new ones may land at a freed address
        parsers.append(p)
        del p
        gc.collect()
