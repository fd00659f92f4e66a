"""The system layer driving the real tiny Performer from livetalk.runtime (untrained weights, CPU)."""

import json
import time

import pytest
from websockets.sync.client import connect

from livetalk.system.offline_thinker import OfflineThinker
from livetalk.system.performers import build_performer
from livetalk.system.server import BackgroundServer, create_app, decode_chunk


def test_server_with_tiny_performer():
    try:
        performer = build_performer("tiny", random_weights=True)
    except (ImportError, RuntimeError) as err:
        pytest.skip(f"tiny performer unavailable: {err}")
    app = create_app(performer, OfflineThinker(), max_sessions=1, performer_name="tiny")
    with BackgroundServer(app) as srv, connect(srv.url.replace("http", "ws") + "/ws", max_size=None) as ws:
        ws.send(json.dumps({"type": "start", "face": "ben"}))
        ws.send(json.dumps({"type": "say", "text": "Hello there, my name is Kim.", "id": 1}))
        deadline = time.monotonic() + 30
        sizes, speech = [], 0
        while time.monotonic() < deadline and speech < 2:
            msg = ws.recv(timeout=30)
            if isinstance(msg, bytes):
                header, audio, frames = decode_chunk(msg)
                sizes.append(header["n_frames"])
                assert header["width"] == header["height"] == 64 and len(audio) == 1000 * header["n_frames"]
                speech += bool(header["speech"])
        assert sizes[0] == 9 and all(n == 12 for n in sizes[1:]) and speech >= 1
    app.state.manager.close_all()
    assert app.state.manager.active == 0
