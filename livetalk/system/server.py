"""The web server: FastAPI app with the page, uploads and one WebSocket per avatar conversation.

`create_app(performer, thinker, max_sessions=4, ...)` builds it; `livetalk serve` runs it with uvicorn.
The WebSocket protocol is described in docs/system.md (and in `encode_chunk` for the binary chunks).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import json
import struct
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import FileResponse, JSONResponse, Response

from ..runtime.performer import AVChunk, Performer
from .faces import FACES, face_image, face_png
from .image_io import MAX_AUDIO_BYTES, MAX_IMAGE_BYTES, UploadError, load_audio, load_image
from .session import MAX_TEXT_CHARS, Session, SessionBusyError, SessionLimitError, SessionManager
from .thinker import Thinker

WEB_DIR = Path(__file__).parent / "web"
MAGIC = b"LTC1"
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_POLICY = 1008


def encode_chunk(chunk: AVChunk, meta: dict, fps: int, sample_rate: int, jpeg_quality: int = 80) -> bytes:
    """One binary WebSocket message for a chunk:

    `b"LTC1"` | uint32 LE header length | header JSON (utf-8) | audio int16 LE mono | JPEG frames back to back.
    The header holds `start_frame, n_frames, fps, sample_rate, audio_samples, frame_sizes, turn, speech, ...`.
    """
    from PIL import Image
    import io

    frames = []
    for f in chunk.frames:
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(f)).save(buf, format="JPEG", quality=jpeg_quality)
        frames.append(buf.getvalue())
    audio = (np.clip(np.asarray(chunk.audio, np.float32), -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    header = {"type": "chunk", "start_frame": int(chunk.start_frame), "n_frames": len(frames), "fps": fps,
              "sample_rate": sample_rate, "audio_samples": len(audio) // 2, "frame_sizes": [len(b) for b in frames],
              "width": int(chunk.frames.shape[2]), "height": int(chunk.frames.shape[1]),
              "t_server": time.time(), **meta}
    hb = json.dumps(header, separators=(",", ":")).encode()
    if len(hb) % 2:  # keep the audio 2-byte aligned inside the message
        hb += b" "
    return MAGIC + struct.pack("<I", len(hb)) + hb + audio + b"".join(frames)


def decode_chunk(data: bytes) -> tuple[dict, np.ndarray, list[bytes]]:
    """Inverse of `encode_chunk` (header, float32 audio, JPEG byte strings); used by tests and the load test."""
    if data[:4] != MAGIC:
        raise ValueError("not a LiveTalk chunk")
    (hl,) = struct.unpack("<I", data[4:8])
    header = json.loads(data[8:8 + hl])
    pos = 8 + hl
    n = header["audio_samples"] * 2
    audio = np.frombuffer(data[pos:pos + n], dtype="<i2").astype(np.float32) / 32767.0
    pos += n
    frames = []
    for size in header["frame_sizes"]:
        frames.append(data[pos:pos + size])
        pos += size
    return header, audio, frames


class OutBox:
    """Per-connection outgoing queue fed from any thread. Control messages are never dropped. Video chunks
    are dropped (and counted) when the client falls behind:

    - more than `max_chunks` chunks wait to be written to the socket (the socket is back-pressured): the
      oldest waiting chunk is dropped;
    - flow control (opt-in, `start` with `"flow_control": true`): the client acknowledges the frames it
      received (`{"type": "ack", "frame": N}`); a chunk starting more than `max_ahead_frames` beyond the
      last acknowledged frame is dropped instead of sent (TCP buffers can hide a frozen client for many
      seconds on their own).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, max_chunks: int = 6, max_ahead_frames: int = 48) -> None:
        self.loop = loop
        self.max_chunks = max_chunks
        self.max_ahead_frames = max_ahead_frames
        self.items: collections.deque = collections.deque()
        self.event = asyncio.Event()
        self.chunks_waiting = 0
        self.dropped_frames = 0
        self.dropped_chunks = 0
        self.session: Session | None = None
        self.closed = False
        self.acked_frame: int | None = None  # None: no flow control

    def _drop(self, frames: int) -> None:
        self.dropped_chunks += 1
        self.dropped_frames += frames
        if self.session is not None:
            self.session.note_dropped(frames)

    MAX_ITEMS = 1000  # a client that stops reading but keeps sending (errors pile up) is disconnected

    def _put(self, item: Any, frames: int, start: int) -> None:
        if self.closed:
            return
        if len(self.items) >= self.MAX_ITEMS:
            self.items.clear()
            self.chunks_waiting = 0
            self.items.append((None, 0, 0))  # tells the sender to stop: the connection is closed
            self.closed = True
            self.event.set()
            return
        if frames:
            if self.chunks_waiting >= self.max_chunks:
                for i, (_, old_frames, _) in enumerate(self.items):
                    if old_frames:
                        del self.items[i]
                        self.chunks_waiting -= 1
                        self._drop(old_frames)
                        break
            self.chunks_waiting += 1
        self.items.append((item, frames, start))
        self.event.set()

    def put(self, item: Any, frames: int = 0, start: int = 0) -> None:
        """From the event loop thread."""
        self._put(item, frames, start)

    def put_threadsafe(self, item: Any, frames: int = 0, start: int = 0) -> None:
        try:
            self.loop.call_soon_threadsafe(self._put, item, frames, start)
        except RuntimeError:  # loop closed: the connection is gone
            pass

    def ack(self, frame: int) -> None:
        self.acked_frame = max(self.acked_frame or 0, frame)

    async def get(self) -> Any:
        while True:
            while not self.items:
                self.event.clear()
                await self.event.wait()
            item, frames, start = self.items.popleft()
            if not frames:
                return item
            self.chunks_waiting -= 1
            if self.acked_frame is not None and start - self.acked_frame > self.max_ahead_frames:
                self._drop(frames)  # the client is not keeping up: skip rather than queue
                continue
            return item


class BlobStore:
    """Small in-memory store of validated uploads (LRU, bounded in count and age)."""

    def __init__(self, max_items: int = 64, ttl_s: float = 3600.0) -> None:
        self.max_items = max_items
        self.ttl_s = ttl_s
        self._items: collections.OrderedDict[str, tuple[float, Any]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def add(self, value: Any) -> str:
        key = uuid.uuid4().hex
        with self._lock:
            self._items[key] = (time.time(), value)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or time.time() - item[0] > self.ttl_s:
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return item[1]


def _err(code: str, message: str, **extra: Any) -> str:
    return json.dumps({"type": "error", "code": code, "message": message, **extra})


def create_app(performer: Performer, thinker: Thinker, max_sessions: int = 4, *, pace: float = 1.0,
               lead_s: float = 0.35, jpeg_quality: int = 80, max_image_bytes: int = MAX_IMAGE_BYTES,
               max_audio_bytes: int = MAX_AUDIO_BYTES, start_timeout_s: float = 60.0, max_queued_chunks: int = 6,
               max_unacked_s: float = 3.0,
               performer_name: str = "stub"):
    """The FastAPI application. `app.state.manager` is the `SessionManager` (for tests and status)."""
    app = FastAPI(title="LiveTalk", docs_url=None, redoc_url=None)
    manager = SessionManager(performer, thinker, max_sessions=max_sessions, pace=pace, lead_s=lead_s)
    images = BlobStore(max_items=64)  # ≤ 1024² RGB each (≤ 3 MB)
    audios = BlobStore(max_items=32)  # ≤ 60 s float32 each (≤ 3.8 MB)
    app.state.manager = manager
    app.state.images = images
    app.state.audios = audios
    if hasattr(thinker, "warmup"):  # e.g. load espeak-ng / scipy now rather than on the first answer
        threading.Thread(target=thinker.warmup, name="thinker-warmup", daemon=True).start()

    def upload_error(err: UploadError) -> JSONResponse:
        return JSONResponse({"error": err.code, "message": err.message}, status_code=err.status)

    async def read_body(request: Request, limit: int, what: str) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise UploadError(f"The {what} is too large ({int(declared) / 1024 / 1024:.1f} MB); the limit is "
                              f"{limit / 1024 / 1024:.0f} MB.", 413, "too_large")
        body = bytearray()
        async for part in request.stream():
            body += part
            if len(body) > limit:
                raise UploadError(f"The {what} is too large; the limit is {limit / 1024 / 1024:.0f} MB.", 413,
                                  "too_large")
        return bytes(body)

    @app.get("/")
    async def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")

    @app.get("/app.js")
    async def app_js() -> FileResponse:
        return FileResponse(WEB_DIR / "app.js", media_type="text/javascript")

    @app.get("/api/status")
    async def status() -> dict:
        return {"ok": True, "performer": performer_name, "thinker": getattr(thinker, "name", "?"),
                **manager.totals(), "sessions": [s.info() for s in manager.sessions()]}

    @app.get("/api/faces")
    async def faces() -> dict:
        return {"faces": [{"id": k, "name": v["name"], "url": f"/api/faces/{k}.png"} for k, v in FACES.items()]}

    @app.get("/api/faces/{face_id}.png")
    async def face(face_id: str) -> Response:
        if face_id not in FACES:
            return JSONResponse({"error": "unknown_face", "message": f"No built-in face {face_id!r}."}, 404)
        return Response(face_png(face_id), media_type="image/png")

    @app.post("/api/image")
    async def upload_image(request: Request) -> JSONResponse:
        """Body: the raw image file. Answers `{"image_id", "width", "height"}` or an error with a message."""
        try:
            data = await read_body(request, max_image_bytes, "image")
            image = await asyncio.to_thread(load_image, data, max_image_bytes)
        except UploadError as err:
            return upload_error(err)
        return JSONResponse({"image_id": images.add(image), "width": image.shape[1], "height": image.shape[0]})

    @app.post("/api/audio")
    async def upload_audio(request: Request) -> JSONResponse:
        """Body: a recording (WAV, WebM/Opus, Ogg, MP3...). Answers `{"audio_id", "duration_s"}`."""
        try:
            data = await read_body(request, max_audio_bytes, "audio file")
            audio = await asyncio.to_thread(load_audio, data, max_audio_bytes)
        except UploadError as err:
            return upload_error(err)
        return JSONResponse({"audio_id": audios.add(audio), "duration_s": round(len(audio) / 16000, 3)})

    def resolve_image(msg: dict) -> np.ndarray:
        if isinstance(msg.get("image_id"), str):
            image = images.get(msg["image_id"])
            if image is None:
                raise UploadError("Unknown or expired image_id; upload the image again.", 400, "unknown_image")
            return image
        if isinstance(msg.get("image"), str):  # data URL or plain base64
            raw = msg["image"].split(",", 1)[1] if msg["image"].startswith("data:") else msg["image"]
            try:
                data = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError) as err:
                raise UploadError("'image' is not valid base64.", 400, "bad_base64") from err
            return load_image(data, max_image_bytes)
        face_id = msg.get("face", "ada")
        if not isinstance(face_id, str) or face_id not in FACES:
            raise UploadError(f"Unknown face {face_id!r}; choose one of {sorted(FACES)}.", 400, "unknown_face")
        return face_image(face_id)

    @app.websocket("/ws")
    async def ws_endpoint(ws: WebSocket) -> None:
        await ws.accept()
        loop = asyncio.get_running_loop()
        box = OutBox(loop, max_chunks=max_queued_chunks, max_ahead_frames=int(max_unacked_s * 16))
        session: Session | None = None
        close_code = 1000

        async def sender() -> None:
            while True:
                item = await box.get()
                if item is None:
                    return
                if isinstance(item, bytes):
                    await ws.send_bytes(item)
                else:
                    await ws.send_text(item)

        def sink(kind: str, *payload: Any) -> None:
            if kind == "chunk":
                chunk, meta = payload
                box.put_threadsafe(encode_chunk(chunk, meta, session_fps, session_rate, jpeg_quality),
                                   frames=int(chunk.frames.shape[0]), start=int(chunk.start_frame))
            elif kind == "event":
                box.put_threadsafe(json.dumps(payload[0]))
            elif kind == "closed":
                box.put_threadsafe(None)

        session_fps, session_rate = 16, 16000
        send_task = asyncio.create_task(sender())
        try:
            while True:
                recv = asyncio.ensure_future(ws.receive())
                done, _ = await asyncio.wait({recv, send_task}, timeout=start_timeout_s if session is None else None,
                                             return_when=asyncio.FIRST_COMPLETED)
                if send_task in done:  # sender ended: fatal session error or the socket broke
                    recv.cancel()
                    break
                if not done:
                    recv.cancel()
                    box.put(_err("start_timeout", f"No 'start' message within {start_timeout_s:.0f} s."))
                    close_code = CLOSE_POLICY
                    break
                message = recv.result()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    box.put(_err("bad_message", "Binary messages are not accepted; send JSON text."))
                    continue
                try:
                    msg = json.loads(message.get("text") or "")
                except ValueError:
                    box.put(_err("bad_json", "The message is not valid JSON."))
                    continue
                if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
                    box.put(_err("bad_message", "A message must be a JSON object with a string 'type'."))
                    continue
                kind = msg["type"]
                if kind == "ack":
                    frame = msg.get("frame")
                    if isinstance(frame, int) and not isinstance(frame, bool) and frame >= 0:
                        if box.acked_frame is not None:
                            box.ack(frame)
                    else:
                        box.put(_err("bad_message", "'ack' needs an integer 'frame' >= 0."))
                elif kind == "ping":
                    box.put(json.dumps({"type": "pong", "t": msg.get("t"), "t_server": time.time()}))
                elif kind == "start":
                    if session is not None:
                        box.put(_err("already_started", "This connection already has a session."))
                        continue
                    prompt = msg.get("prompt")
                    if prompt is not None and (not isinstance(prompt, str) or len(prompt) > 500):
                        box.put(_err("bad_prompt", "'prompt' must be a string of at most 500 characters."))
                        continue
                    try:
                        image = await asyncio.to_thread(resolve_image, msg)
                    except UploadError as err:
                        box.put(_err(err.code, err.message))
                        continue
                    try:
                        session = await asyncio.to_thread(manager.open, image, sink, prompt or None)
                    except SessionLimitError as err:
                        box.put(_err("server_full", str(err), fatal=True, active=manager.active,
                                     max_sessions=manager.max_sessions))
                        close_code = CLOSE_TRY_AGAIN_LATER
                        break
                    box.session = session
                    box.max_ahead_frames = int(max_unacked_s * session.fps)
                    if msg.get("flow_control") is True:
                        box.acked_frame = 0
                    session_fps, session_rate = session.fps, session.sample_rate
                    box.put(json.dumps({"type": "ready", "session": session.id, "fps": session.fps,
                                        "sample_rate": session.sample_rate, "performer": performer_name,
                                        "thinker": getattr(thinker, "name", "?"), "active": manager.active,
                                        "max_sessions": manager.max_sessions}))
                elif kind in ("say", "interrupt", "stop"):
                    if session is None:
                        box.put(_err("no_session", "Send a 'start' message first."))
                        continue
                    if kind == "stop":
                        break
                    if kind == "interrupt":
                        session.interrupt()
                        continue
                    text, audio_id, turn_id = msg.get("text"), msg.get("audio_id"), msg.get("id")
                    if text is not None and not isinstance(text, str):
                        box.put(_err("bad_message", "'text' must be a string."))
                        continue
                    if turn_id is not None and (not isinstance(turn_id, int) or isinstance(turn_id, bool)):
                        box.put(_err("bad_message", "'id' must be an integer."))
                        continue
                    if text is not None and len(text) > MAX_TEXT_CHARS:
                        box.put(_err("too_long", f"Messages are limited to {MAX_TEXT_CHARS} characters."))
                        continue
                    audio = None
                    if audio_id is not None:
                        audio = audios.get(audio_id) if isinstance(audio_id, str) else None
                        if audio is None:
                            box.put(_err("unknown_audio", "Unknown or expired audio_id; upload the recording again."))
                            continue
                    if not (text and text.strip()) and audio is None:
                        box.put(_err("empty_message", "Send some 'text' or an 'audio_id'."))
                        continue
                    try:
                        tid = session.say(text=text, audio=audio, turn_id=turn_id)
                    except SessionBusyError as err:
                        box.put(_err("rate_limited", str(err)))
                        continue
                    box.put(json.dumps({"type": "ack", "turn": tid}))
                else:
                    box.put(_err("unknown_type", f"Unknown message type {kind!r}.",
                                 known=["start", "say", "interrupt", "stop", "ping", "ack"]))
        except Exception:  # noqa: BLE001 - socket errors: fall through to cleanup
            pass
        finally:
            if session is not None:
                await asyncio.to_thread(session.close)
            # flush what is queued (errors, refusal) then close
            box.put(None)
            try:
                await asyncio.wait_for(send_task, timeout=2.0)
            except BaseException:  # noqa: BLE001
                send_task.cancel()
            box.closed = True
            try:
                await asyncio.wait_for(ws.close(code=close_code), timeout=2.0)
            except BaseException:  # noqa: BLE001 - already closed, or a frozen peer
                pass

    return app


class BackgroundServer:
    """Run an app with uvicorn in a daemon thread on 127.0.0.1 (port 0 = any free port); for tests and the
    load-test command. Use as a context manager; `url` is `http://127.0.0.1:PORT`."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.config = uvicorn.Config(app, host=host, port=port, log_level="warning", ws_max_size=16 * 1024 * 1024,
                                     lifespan="off")
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.url = ""

    def __enter__(self) -> "BackgroundServer":
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        sock = self.server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
