import json
import time

import httpx
import numpy as np
import pytest
from websockets.sync.client import connect

from livetalk.system.offline_thinker import OfflineThinker
from livetalk.system.server import BackgroundServer, create_app, decode_chunk
from livetalk.system.stub_performer import StubPerformer
from livetalk.system.tts import encode_wav

from .conftest import png_bytes, wait_for


@pytest.fixture
def server():
    started = []

    def make(max_sessions=2, **kw):
        app = create_app(StubPerformer(size=64), OfflineThinker(), max_sessions=max_sessions, **kw)
        srv = BackgroundServer(app).__enter__()
        started.append((srv, app))
        return srv, app

    yield make
    for srv, app in started:
        app.state.manager.close_all()
        srv.__exit__(None, None, None)


def ws_url(srv):
    return srv.url.replace("http://", "ws://") + "/ws"


def recv_until(ws, pred, timeout=10.0):
    """Receive messages until pred(msg) is true; returns (msg, all received)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        m = decode_chunk(msg) if isinstance(msg, bytes) else json.loads(msg)
        seen.append(m)
        if pred(m):
            return m, seen
    raise AssertionError("timeout waiting for message")


def is_event(type_):
    return lambda m: isinstance(m, dict) and m.get("type") == type_


def test_pages_and_status(server):
    srv, _ = server()
    with httpx.Client(base_url=srv.url) as c:
        r = c.get("/")
        assert r.status_code == 200 and "LiveTalk" in r.text and "/app.js" in r.text
        assert c.get("/app.js").status_code == 200
        faces = c.get("/api/faces").json()["faces"]
        assert {f["id"] for f in faces} >= {"ada", "ben", "cleo"}
        png = c.get(faces[0]["url"])
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
        assert c.get("/api/faces/nobody.png").status_code == 404
        s = c.get("/api/status").json()
        assert s["active_sessions"] == 0 and s["max_sessions"] == 2


def test_uploads_validation(server):
    srv, _ = server(max_image_bytes=200_000, max_audio_bytes=200_000)
    with httpx.Client(base_url=srv.url) as c:
        ok = c.post("/api/image", content=png_bytes(np.full((100, 80, 3), 90, np.uint8)))
        assert ok.status_code == 200 and ok.json()["width"] == 80 and ok.json()["height"] == 80
        bad = c.post("/api/image", content=b"just some text, definitely not a picture")
        assert bad.status_code == 415 and "not an image" in bad.json()["message"]
        tiny = c.post("/api/image", content=png_bytes(np.zeros((20, 20, 3), np.uint8)))
        assert tiny.status_code == 400 and tiny.json()["error"] == "too_small"
        big = c.post("/api/image", content=b"\0" * 300_000)
        assert big.status_code == 413 and "too large" in big.json()["message"]

        def chunked():  # no Content-Length: the limit is enforced while reading
            for _ in range(40):
                yield b"\0" * 10_000

        big2 = c.post("/api/image", content=chunked())
        assert big2.status_code == 413
        wav = encode_wav(np.zeros(8000, np.float32) + 0.01)
        a = c.post("/api/audio", content=wav)
        assert a.status_code == 200 and a.json()["duration_s"] == pytest.approx(0.5, abs=0.01)
        na = c.post("/api/audio", content=png_bytes(np.zeros((64, 64, 3), np.uint8)))
        assert na.status_code in (400, 415) and na.json()["message"]
        txt = c.post("/api/audio", content=b"not audio " * 50)
        assert txt.status_code == 415 and "not audio" in txt.json()["message"]


def test_conversation_over_websocket(server):
    srv, app = server()
    with httpx.Client(base_url=srv.url) as c:
        image_id = c.post("/api/image", content=png_bytes(np.full((90, 90, 3), 150, np.uint8))).json()["image_id"]
        audio_id = c.post("/api/audio", content=encode_wav(0.1 * np.sin(np.arange(16000) / 3.0))).json()["audio_id"]
    with connect(ws_url(srv), max_size=None) as ws:
        ws.send(json.dumps({"type": "start", "image_id": image_id, "prompt": "calm"}))
        ready, _ = recv_until(ws, is_event("ready"))
        assert ready["fps"] == 16 and ready["sample_rate"] == 16000
        ws.send(json.dumps({"type": "say", "text": "Hello, my name is Ann.", "id": 5}))
        first_speech, seen = recv_until(ws, lambda m: isinstance(m, tuple) and m[0]["speech"])
        header, audio, frames = first_speech
        assert header["turn"] == 5 and len(frames) == header["n_frames"] and len(audio) == 1000 * len(frames)
        assert np.abs(audio).max() > 0.01
        assert frames[0][:2] == b"\xff\xd8"  # JPEG
        assert any(is_event("reply")(m) and "Ann" in m["text"] for m in seen)
        _, seen = recv_until(ws, is_event("turn_end"), timeout=15)
        # speech input
        ws.send(json.dumps({"type": "say", "audio_id": audio_id, "id": 6}))
        reply, _ = recv_until(ws, is_event("reply"))
        assert reply["turn"] == 6 and "1.0 seconds" in reply["text"]
        session = app.state.manager.sessions()[0]
        assert session.history[0]["content"] == "Hello, my name is Ann."


def test_malformed_messages_get_errors_not_crashes(server):
    srv, app = server()
    with connect(ws_url(srv)) as ws:
        for payload, code in [
            ("not json", "bad_json"),
            (json.dumps([1, 2]), "bad_message"),
            (json.dumps({"type": "dance"}), "unknown_type"),
            (json.dumps({"type": "say", "text": "hi"}), "no_session"),
            (json.dumps({"type": "start", "face": "nobody"}), "unknown_face"),
            (json.dumps({"type": "start", "image": "%%%notbase64"}), "bad_base64"),
            (json.dumps({"type": "start", "image_id": "nope"}), "unknown_image"),
        ]:
            ws.send(payload)
            err, _ = recv_until(ws, is_event("error"))
            assert err["code"] == code and err["message"]
        ws.send(b"\x00\x01binary")
        err, _ = recv_until(ws, is_event("error"))
        assert err["code"] == "bad_message"
        ws.send(json.dumps({"type": "start", "face": "ben"}))
        recv_until(ws, is_event("ready"))
        for payload, code in [
            (json.dumps({"type": "say"}), "empty_message"),
            (json.dumps({"type": "say", "text": 42}), "bad_message"),
            (json.dumps({"type": "say", "text": "x" * 5000}), "too_long"),
            (json.dumps({"type": "say", "audio_id": "missing"}), "unknown_audio"),
            (json.dumps({"type": "start", "face": "ada"}), "already_started"),
        ]:
            ws.send(payload)
            err, _ = recv_until(ws, is_event("error"))
            assert err["code"] == code
        ws.send(json.dumps({"type": "ping", "t": 1}))
        pong, _ = recv_until(ws, is_event("pong"))
        assert pong["t"] == 1
        # the data URL path works too
        import base64
        data_url = "data:image/png;base64," + base64.b64encode(png_bytes(np.zeros((70, 70, 3), np.uint8))).decode()
    with connect(ws_url(srv), max_size=None) as ws2:
        ws2.send(json.dumps({"type": "start", "image": data_url}))
        recv_until(ws2, is_event("ready"))
    with httpx.Client(base_url=srv.url) as c:
        assert c.get("/api/status").json()["ok"]


def test_session_limit_refusal(server):
    srv, app = server(max_sessions=2)
    with connect(ws_url(srv), max_size=None) as a, connect(ws_url(srv), max_size=None) as b:
        for ws in (a, b):
            ws.send(json.dumps({"type": "start", "face": "ada"}))
            recv_until(ws, is_event("ready"))
        with connect(ws_url(srv)) as c:
            c.send(json.dumps({"type": "start", "face": "ada"}))
            err, _ = recv_until(c, is_event("error"))
            assert err["code"] == "server_full" and "2 of 2" in err["message"] and err["fatal"]
            with pytest.raises(Exception):
                c.recv(timeout=5)  # the server closes the socket
            assert c.close_code == 1013
        assert app.state.manager.refused == 1
        a.close()
        wait_for(lambda: app.state.manager.active == 1)
        with connect(ws_url(srv), max_size=None) as d:  # the freed slot is usable again
            d.send(json.dumps({"type": "start", "face": "cleo"}))
            recv_until(d, is_event("ready"))


def test_disconnect_mid_stream_frees_session(server):
    srv, app = server(max_sessions=1)
    with connect(ws_url(srv), max_size=None) as ws:
        ws.send(json.dumps({"type": "start", "face": "ada"}))
        recv_until(ws, is_event("ready"))
        ws.send(json.dumps({"type": "say", "text": "Tell me a long story about the sea and the mountains.", "id": 1}))
        recv_until(ws, lambda m: isinstance(m, tuple) and m[0]["speech"])
        assert app.state.manager.active == 1
        ws.socket.close()  # abrupt: no close handshake, mid-answer
        wait_for(lambda: app.state.manager.active == 0, timeout=10)
    assert app.state.manager.closed_sessions == 1
    with connect(ws_url(srv), max_size=None) as ws2:  # the slot is free again
        ws2.send(json.dumps({"type": "start", "face": "ada"}))
        recv_until(ws2, is_event("ready"))
    wait_for(lambda: app.state.manager.active == 0, timeout=10)


def test_outbox_drops_oldest_chunks_never_events():
    import asyncio

    from livetalk.system.server import OutBox

    async def main():
        box = OutBox(asyncio.get_running_loop(), max_chunks=2)
        box.put("event-1")
        for i in range(5):
            box.put(f"chunk-{i}".encode(), frames=12, start=12 * i)
        box.put("event-2")
        out = [await box.get() for _ in range(4)]
        # flow control: chunks too far beyond the last acknowledged frame are skipped
        flow = OutBox(asyncio.get_running_loop(), max_chunks=10, max_ahead_frames=24)
        flow.acked_frame = 0
        for i in range(5):
            flow.put(f"c{i}".encode(), frames=12, start=12 * i)
        flow.put("end")
        got = [await flow.get() for _ in range(4)]
        flow.ack(48)
        flow.put(b"c5", frames=12, start=60)
        got.append(await flow.get())
        return box, out, flow, got

    box, out, flow, got = asyncio.run(main())
    assert out == ["event-1", b"chunk-3", b"chunk-4", "event-2"]
    assert box.dropped_frames == 36 and box.dropped_chunks == 3
    assert got == [b"c0", b"c1", b"c2", "end", b"c5"]  # c3 (start 36), c4 (48): > 24 frames past ack 0
    assert flow.dropped_frames == 24


def test_start_timeout(server):
    srv, app = server(start_timeout_s=0.5)
    with connect(ws_url(srv)) as ws:
        err, _ = recv_until(ws, is_event("error"))
        assert err["code"] == "start_timeout"


def test_barge_in_over_websocket(server):
    srv, app = server()
    with connect(ws_url(srv), max_size=None) as ws:
        ws.send(json.dumps({"type": "start", "face": "ada"}))
        recv_until(ws, is_event("ready"))
        ws.send(json.dumps({"type": "say", "text": "Tell me something long about oceans and rivers and clouds.", "id": 1}))
        recv_until(ws, lambda m: isinstance(m, tuple) and m[0]["turn"] == 1)
        ws.send(json.dumps({"type": "say", "text": "What is 3 plus 4?", "id": 2}))
        ev, _ = recv_until(ws, is_event("interrupted"))
        assert ev["turn"] == 1
        _, seen = recv_until(ws, is_event("turn_end"), timeout=15)
        turns = [m[0]["turn"] for m in seen if isinstance(m, tuple) and m[0]["speech"]]
        assert 2 in turns and turns[-1] == 2 and turns.count(1) <= 1
        assert any(is_event("reply")(m) and "7" in m["text"] for m in seen)
        ws.send(json.dumps({"type": "interrupt"}))  # nothing running: harmless
        ws.send(json.dumps({"type": "ping"}))
        recv_until(ws, is_event("pong"))


def test_outbox_disconnects_a_client_that_never_reads():
    import asyncio

    from livetalk.system.server import OutBox

    async def main():
        box = OutBox(asyncio.get_running_loop())
        for i in range(OutBox.MAX_ITEMS + 5):
            box.put(f"error {i}")
        return await box.get(), box.closed

    item, closed = asyncio.run(main())
    assert item is None and closed  # the sender stops and the connection is closed
