"""A bounded load test of the web server over loopback WebSockets.

`run_load_test(url, sessions=8, seconds=5)` opens `sessions` concurrent conversations, each sends a message
(and, half-way, a barge-in), keeps receiving for `seconds`, then disconnects. It reports how many sessions
the server held at once, chunks/frames received per session vs. real time, frames the server dropped or
generated late, and answer latencies. Used by the tests and by `livetalk bench system`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time

from .server import decode_chunk


async def _client(url: str, idx: int, seconds: float, face: str, results: list, stall: bool = False) -> None:
    """One conversation. `stall`: after `ready`, stop reading (a frozen client) until the time is up."""
    import websockets

    r = {"index": idx, "stalled": stall, "ready": False, "refused": False, "chunks": 0, "frames": 0, "speech_frames": 0,
         "audio_samples": 0, "errors": [], "latency_ms": None, "interrupted": 0,
         "gap_frames": 0, "next_frame": 0}
    try:
        sock = None
        if stall:  # a small receive buffer, so a frozen client back-pressures the server within seconds
            from urllib.parse import urlparse

            u = urlparse(url)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((u.hostname, u.port))
        async with websockets.connect(url, max_size=None, open_timeout=10, close_timeout=2, sock=sock,
                                      max_queue=1 if stall else 16) as ws:
            await ws.send(json.dumps({"type": "start", "face": face, "flow_control": True}))
            t_end = time.monotonic() + seconds
            t_send = None
            barge_sent = False
            while True:
                left = t_end - time.monotonic()
                if left <= 0:
                    break
                try:
                    msg = await asyncio.wait_for(ws.recv(), timeout=left)
                except asyncio.TimeoutError:
                    break
                if isinstance(msg, bytes):
                    header, audio, frames = decode_chunk(msg)
                    await ws.send(json.dumps({"type": "ack", "frame": header["start_frame"] + len(frames)}))
                    r["gap_frames"] += max(0, header["start_frame"] - r["next_frame"])  # frames never received
                    r["next_frame"] = header["start_frame"] + len(frames)
                    r["chunks"] += 1
                    r["frames"] += len(frames)
                    r["audio_samples"] += len(audio)
                    if header.get("speech"):
                        r["speech_frames"] += len(frames)
                        if r["latency_ms"] is None and t_send is not None:
                            r["latency_ms"] = round((time.monotonic() - t_send) * 1000, 1)
                    if not barge_sent and r["speech_frames"] >= 12:
                        barge_sent = True  # barge-in during the first answer
                        await ws.send(json.dumps({"type": "say", "text": "Actually, tell me a joke.", "id": 2}))
                    continue
                ev = json.loads(msg)
                if ev["type"] == "ready":
                    r["ready"] = True
                    t_send = time.monotonic()
                    await ws.send(json.dumps({"type": "say", "text": f"Hello, my name is User{idx}.", "id": 1}))
                    if stall:
                        await asyncio.sleep(max(0.0, t_end - time.monotonic()))
                        break
                elif ev["type"] == "interrupted":
                    r["interrupted"] += 1
                elif ev["type"] == "error":
                    if ev.get("code") == "server_full":
                        r["refused"] = True
                        break
                    r["errors"].append(ev.get("code"))
    except Exception as err:  # noqa: BLE001
        r["errors"].append(f"{type(err).__name__}: {err}")
    results.append(r)


async def _watch(status_url: str, stop: asyncio.Event, peak: list) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        while not stop.is_set():
            try:
                s = (await client.get(status_url, timeout=2)).json()
                peak[0] = max(peak[0], s["active_sessions"])
            except Exception:  # noqa: BLE001
                pass
            try:
                await asyncio.wait_for(stop.wait(), 0.2)
            except asyncio.TimeoutError:
                pass


async def run_load_test_async(base_url: str, sessions: int = 8, seconds: float = 5.0, stalled: int = 0) -> dict:
    import httpx

    ws_url = base_url.replace("http://", "ws://").rstrip("/") + "/ws"
    results: list = []
    peak = [0]
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch(base_url.rstrip("/") + "/api/status", stop, peak))
    t0 = time.monotonic()
    faces = ("ada", "ben", "cleo")
    await asyncio.gather(*[_client(ws_url, i, seconds, faces[i % 3], results, stall=i < stalled)
                           for i in range(sessions)])
    wall = time.monotonic() - t0
    await asyncio.sleep(0.5)  # let the server finish closing sessions
    stop.set()
    await watcher
    async with httpx.AsyncClient() as client:
        status = (await client.get(base_url.rstrip("/") + "/api/status", timeout=5)).json()
    held = [r for r in results if r["ready"] and not r["stalled"]]
    lat = sorted(r["latency_ms"] for r in held if r["latency_ms"] is not None)
    return {
        "sessions_requested": sessions,
        "sessions_held": sum(r["ready"] for r in results),
        "stalled_clients": sum(r["ready"] and r["stalled"] for r in results),
        "sessions_refused": sum(r["refused"] for r in results),
        "peak_active_sessions": max(peak[0], status.get("peak_sessions", 0)),
        "seconds": seconds,
        "wall_s": round(wall, 2),
        "frames_received": sum(r["frames"] for r in held),
        "frames_received_per_session_per_s": round(sum(r["frames"] for r in held) / max(1, len(held)) / seconds, 2),
        "speech_frames_received": sum(r["speech_frames"] for r in held),
        "barge_ins": sum(r["interrupted"] for r in held),
        "answer_latency_ms_median": lat[len(lat) // 2] if lat else None,
        "answer_latency_ms_max": lat[-1] if lat else None,
        "client_gap_frames": sum(r["gap_frames"] for r in held),  # frames the reading clients missed
        "client_errors": [e for r in results for e in r["errors"]],
        "server_frames_dropped": status["frames_dropped"],
        "server_late_frames": status["late_frames"],
        "server_frames_generated": status["frames"],
        "server_active_sessions_after": status["active_sessions"],
        "server_errors": status["errors"],
    }


def run_load_test(base_url: str, sessions: int = 8, seconds: float = 5.0, stalled: int = 0) -> dict:
    """`stalled` of the clients stop reading after `ready` (their frames pile up server-side and get dropped)."""
    return asyncio.run(run_load_test_async(base_url, sessions, seconds, stalled))
