"""A tiny fake OpenAI-compatible server (chat completions with SSE streaming, speech, transcriptions),
bound to 127.0.0.1 on a free port; records the requests it gets."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


class FakeOpenAI:
    def __init__(self, reply: str = "<motion>nodding happily</motion>Hello there. I am a fake model! Bye.",
                 tts_rate: int = 24000, fail_chat: bool = False) -> None:
        self.reply = reply
        self.tts_rate = tts_rate
        self.fail_chat = fail_chat
        self.requests: list[tuple[str, dict | bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _stream_omni(self, body):
                """Text deltas interleaved with base64 PCM16 audio deltas (Qwen-Omni / gpt-4o-audio style)."""
                import base64

                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                text = outer.reply
                rate = outer.tts_rate
                for i in range(0, len(text), 8):
                    piece = text[i:i + 8]
                    n = int(0.05 * rate * len(piece))
                    pcm = (0.3 * np.sin(np.arange(n) / 5.0) * 32767).astype("<i2").tobytes()
                    for ev in ({"content": piece},
                               {"audio": {"data": base64.b64encode(pcm).decode(), "transcript": piece}}):
                        data = {"choices": [{"delta": ev, "index": 0}]}
                        self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(n)
                if self.path.endswith("/chat/completions"):
                    body = json.loads(raw)
                    outer.requests.append(("chat", body))
                    if outer.fail_chat:
                        return self._send(500, b'{"error": "boom"}', "application/json")
                    if not body.get("stream"):
                        msg = {"choices": [{"message": {"role": "assistant", "content": outer.reply}}]}
                        return self._send(200, json.dumps(msg).encode(), "application/json")
                    if "audio" in (body.get("modalities") or []):
                        return self._stream_omni(body)
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    text = outer.reply
                    for i in range(0, len(text), 5):  # stream in small pieces, tags split across events
                        ev = {"choices": [{"delta": {"content": text[i:i + 5]}, "index": 0}]}
                        self.wfile.write(f"data: {json.dumps(ev)}\n\n".encode())
                        self.wfile.flush()
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                    self.close_connection = True
                elif self.path.endswith("/audio/speech"):
                    body = json.loads(raw)
                    outer.requests.append(("speech", body))
                    n_samples = int(0.05 * outer.tts_rate * len(body["input"]))  # 50 ms per character
                    t = np.arange(n_samples) / outer.tts_rate
                    pcm = (0.3 * np.sin(2 * np.pi * 200 * t) * 32767).astype("<i2").tobytes()
                    if body.get("response_format") == "wav":
                        from livetalk.system.tts import encode_wav

                        pcm = encode_wav(np.frombuffer(pcm, "<i2").astype(np.float32) / 32768, outer.tts_rate)
                    self._send(200, pcm, "audio/pcm")
                elif self.path.endswith("/audio/transcriptions"):
                    outer.requests.append(("transcribe", raw))
                    self._send(200, json.dumps({"text": "what is the weather"}).encode(), "application/json")
                else:
                    self._send(404, b"{}", "application/json")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
