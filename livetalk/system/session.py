"""Conversation sessions: one avatar identity each, multi-turn history, barge-in, a server-wide limit.

Threads of one `Session`:

- the *producer* drives the `PerformerSession` (which is not thread-safe): it is the only thread that calls
  `push_audio / set_prompt / end_of_speech / interrupt / next_chunk`. Other threads talk to it through a
  command queue. It paces generation to real time (a chunk is generated `lead_s` before it is due to
  play), so idle/listening video flows continuously, and hands each chunk to the session's `sink`.
- one *thinker* thread per user turn iterates the Thinker's reply (prompt, sentences, audio pieces) and
  posts them to the producer. A new user message while a turn is active (barge-in) cancels that thread,
  tells the producer to `interrupt()` the performer and starts the new turn.

The sink receives `("chunk", AVChunk, meta)` and `("event", dict)` from the session's threads and must not
block (the web server encodes the chunk and queues it for the socket, dropping the oldest chunks when the
client falls behind).
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from ..runtime.performer import Performer, PerformerSession
from .thinker import LISTENING_PROMPT, Thinker, ThinkerError, UserTurn

Sink = Callable[..., None]
MAX_TEXT_CHARS = 2000


class SessionLimitError(RuntimeError):
    """Refusal: the server already holds `max_sessions` sessions."""


class SessionClosedError(RuntimeError):
    pass


class SessionBusyError(RuntimeError):
    """Too many answers still being computed for this session (a client flooding messages)."""


MAX_THINKERS_IN_FLIGHT = 3  # per session: the current answer plus a couple being cancelled


@dataclass
class SessionStats:
    chunks: int = 0
    frames: int = 0
    speech_frames: int = 0
    frames_dropped: int = 0  # dropped by the transport because the client could not keep up
    late_frames: int = 0  # generated after their playback time (the performer fell behind real time)
    turns: int = 0
    interrupts: int = 0
    errors: int = 0
    first_audio_latency_s: list = field(default_factory=list)  # user message -> first speech chunk out
    gen_s: float = 0.0  # total time inside next_chunk

    def as_dict(self) -> dict:
        d = asdict(self)
        lat = d.pop("first_audio_latency_s")
        d["first_audio_latency_ms"] = [round(x * 1000, 1) for x in lat]
        return d


@dataclass
class _Turn:
    id: int
    user_index: int  # index of the user message in history
    t_start: float
    cancel: threading.Event = field(default_factory=threading.Event)
    text: list[str] = field(default_factory=list)
    finalized: bool = False  # no longer interruptible (interrupted, or fully spoken)
    assistant_index: int | None = None  # index of the answer in history once written
    first_chunk_sent: bool = False


class Session:
    """One live avatar conversation. Create through `SessionManager.open`."""

    close_timeout_s = 10.0  # how long close() waits for the producer before leaving the cleanup to it

    def __init__(self, manager: "SessionManager", sid: str, performer_session: PerformerSession,
                 thinker: Thinker, sink: Sink, base_prompt: str, pace: float, lead_s: float) -> None:
        self.manager = manager
        self.id = sid
        self.perf = performer_session
        self.thinker = thinker
        self.sink = sink
        self.base_prompt = base_prompt
        self.pace = pace
        self.lead_s = lead_s
        self.fps = int(getattr(performer_session, "fps", 16))
        self.sample_rate = int(getattr(performer_session, "sample_rate", 16000))
        self.history: list[dict] = []
        self.stats = SessionStats()
        self.created = time.time()
        self._lock = threading.RLock()
        self._cmds: queue.Queue = queue.Queue()
        self._turn: _Turn | None = None
        self._turn_ids = itertools.count(1)
        self._closed = threading.Event()
        self._thinkers = 0  # thinker threads alive (cancelled ones finish their current step first)
        self._producer_done = False
        self._close_deferred = False
        self._producer = threading.Thread(target=self._run, name=f"producer-{sid[:8]}", daemon=True)
        self._producer.start()

    # --- public API (any thread) ----------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def turn_active(self) -> bool:
        with self._lock:
            return self._turn is not None and not self._turn.finalized

    def say(self, text: str | None = None, audio: np.ndarray | None = None, turn_id: int | None = None) -> int:
        """A new user message (text and/or speech). Interrupts the current answer if there is one.
        Returns the turn id (the client's `turn_id` when given)."""
        if self.closed:
            raise SessionClosedError("session is closed")
        if text is not None:
            text = text.strip()[:MAX_TEXT_CHARS]
        if not text and (audio is None or len(audio) == 0):
            raise ValueError("empty message: send some text or a recording")
        with self._lock:
            if self._thinkers >= MAX_THINKERS_IN_FLIGHT:
                raise SessionBusyError("Too many messages at once: wait for the avatar to start answering.")
            self._thinkers += 1
            self._interrupt_locked(reason="barge-in")
            tid = int(turn_id) if turn_id is not None else next(self._turn_ids)
            content = text if text else f"(spoken message, {len(audio) / self.sample_rate:.1f} s)"
            self.history.append({"role": "user", "content": content})
            turn = _Turn(id=tid, user_index=len(self.history) - 1, t_start=time.perf_counter())
            self._turn = turn
            history = [dict(m) for m in self.history[:-1]]
            self.stats.turns += 1
            self._cmds.put(("begin", tid, None))
        threading.Thread(target=self._think, args=(turn, history, UserTurn(text=text or None, audio=audio)),
                         name=f"thinker-{self.id[:8]}-{tid}", daemon=True).start()
        return tid

    def interrupt(self) -> bool:
        """Stop the current answer (if any). Returns whether something was interrupted."""
        with self._lock:
            return self._interrupt_locked(reason="user")

    def close(self) -> None:
        """Stop the threads, free the performer session and the server slot. Idempotent."""
        if self._closed.is_set():
            return
        with self._lock:
            if self._turn is not None:
                self._turn.cancel.set()
            self._closed.set()
        self._cmds.put(("close", 0, None))
        if threading.current_thread() is not self._producer:
            self._producer.join(timeout=self.close_timeout_s)
        try:
            with self._lock:  # never call the performer session while its producer is still inside it
                if self._producer_done or threading.current_thread() is self._producer:
                    close_now = True
                else:
                    close_now = False
                    self._close_deferred = True
            if close_now:
                self.perf.close()
        finally:
            self.manager._release(self)

    def note_dropped(self, frames: int) -> None:
        """Called by the transport when it drops an undelivered chunk."""
        with self._lock:
            self.stats.frames_dropped += frames

    def info(self) -> dict:
        return {"id": self.id, "age_s": round(time.time() - self.created, 1), "turns": len(self.history),
                **self.stats.as_dict()}

    # --- internals --------------------------------------------------------------------------------------
    def _emit(self, kind: str, *payload: Any) -> None:
        try:
            self.sink(kind, *payload)
        except Exception:  # a broken sink must not kill the session threads
            pass

    def _interrupt_locked(self, reason: str) -> bool:
        turn = self._turn
        if turn is None or turn.finalized:
            return False
        turn.cancel.set()
        turn.finalized = True
        spoken = " ".join(turn.text).strip()
        content = (spoken + " " if spoken else "") + "(interrupted)"
        if turn.assistant_index is not None:  # the text was complete, the speech was cut
            self.history[turn.assistant_index]["content"] = content
        else:
            self.history.append({"role": "assistant", "content": content})
        self.stats.interrupts += 1
        self._cmds.put(("interrupt", turn.id, None))
        self._emit("event", {"type": "interrupted", "turn": turn.id, "reason": reason})
        return True

    def _think(self, turn: _Turn, history: list[dict], user: UserTurn) -> None:
        try:
            self._think_inner(turn, history, user)
        finally:
            with self._lock:
                self._thinkers -= 1

    def _think_inner(self, turn: _Turn, history: list[dict], user: UserTurn) -> None:
        gen = None
        error: str | None = None
        try:
            gen = self.thinker.reply(history, user)
            for ev in gen:
                if turn.cancel.is_set() or self.closed:
                    break
                if ev.kind == "transcript":
                    with self._lock:
                        if not turn.finalized and ev.text:
                            self.history[turn.user_index]["content"] = ev.text
                    self._emit("event", {"type": "transcript", "turn": turn.id, "text": ev.text})
                elif ev.kind == "prompt":
                    self._cmds.put(("prompt", turn.id, ev.text))
                    self._emit("event", {"type": "prompt", "turn": turn.id, "prompt": ev.text})
                elif ev.kind == "text":
                    with self._lock:
                        if turn.cancel.is_set():
                            break
                        turn.text.append(ev.text)
                    self._emit("event", {"type": "reply", "turn": turn.id, "text": ev.text})
                elif ev.kind == "audio" and ev.audio is not None and len(ev.audio):
                    self._cmds.put(("audio", turn.id, np.asarray(ev.audio, np.float32).reshape(-1)))
        except ThinkerError as err:
            error = str(err)
        except Exception as err:  # noqa: BLE001 - any thinker failure becomes a user-visible error
            error = f"{type(err).__name__}: {err}"
        finally:
            if gen is not None and hasattr(gen, "close"):
                try:
                    gen.close()
                except Exception:
                    pass
        with self._lock:
            if turn.finalized:
                return  # interrupted: the barge-in already wrote the history
            if error:
                self.stats.errors += 1
                self._emit("event", {"type": "error", "code": "thinker_failed", "turn": turn.id,
                                     "message": f"The assistant could not answer: {error}"})
            spoken = " ".join(turn.text).strip()
            self.history.append({"role": "assistant", "content": spoken or "(no answer)"})
            turn.assistant_index = len(self.history) - 1
            self._cmds.put(("end", turn.id, None))

    def _run(self) -> None:
        try:
            self._run_inner()
        finally:
            with self._lock:
                self._producer_done = True
                deferred = self._close_deferred
            if deferred:  # close() gave up waiting for us: free the performer session here
                try:
                    self.perf.close()
                except Exception:  # noqa: BLE001
                    pass

    def _run_inner(self) -> None:
        perf = self.perf
        cur: int | None = None  # turn whose audio the producer accepts
        staged: list[np.ndarray] = []  # audio received but held back until enough to start speaking
        staged_len = 0
        started = ended = False
        buffered = 0  # samples pushed to the performer and not yet rendered
        t0: float | None = None
        next_start = 0  # start frame of the next chunk
        first = True
        need = 12 * 1000  # one block of audio: start speaking only with a block in hand (or the whole reply)
        grace = min(0.3, self.lead_s / 2)

        def apply(cmd) -> None:
            nonlocal cur, staged, staged_len, started, ended, buffered
            op, tid, arg = cmd
            if op == "begin":
                cur, staged, staged_len, started, ended = tid, [], 0, False, False
            elif op == "interrupt":
                perf.interrupt()
                buffered = 0
                if cur == tid:
                    cur, staged, staged_len, started, ended = None, [], 0, False, False
                perf.set_prompt(self.base_prompt)
            elif tid != cur:
                return  # stale command of an interrupted turn
            elif op == "prompt":
                perf.set_prompt(arg)
            elif op == "audio":
                if started:
                    perf.push_audio(arg)
                    buffered += len(arg)
                else:
                    staged.append(arg)
                    staged_len += len(arg)
            elif op == "end":
                ended = True
            if cur is not None and not started and (staged_len >= need or (ended and staged_len > 0)):
                for a in staged:
                    perf.push_audio(a)
                buffered += staged_len
                staged, staged_len, started = [], 0, True
            if cur is not None and ended and started:
                perf.end_of_speech()

        try:
            while not self._closed.is_set():
                # 1. apply pending commands without blocking
                try:
                    while True:
                        cmd = self._cmds.get_nowait()
                        if cmd[0] == "close":
                            return
                        apply(cmd)
                except queue.Empty:
                    pass
                # turn finished without any audio (e.g. thinker error): close it
                if cur is not None and ended and not started and staged_len == 0:
                    self._finish_turn(cur)
                    cur = None
                    continue
                # 2. pacing: wait until the next chunk is due (minus the lead), waking up for commands
                if t0 is not None and self.pace > 0:
                    due = t0 + next_start / self.fps / self.pace - self.lead_s
                    now = time.perf_counter()
                    underrun = cur is not None and started and not ended and buffered < need
                    wait = (due + (grace if underrun else 0.0)) - now
                    if wait > 0:
                        try:
                            cmd = self._cmds.get(timeout=min(wait, 0.25))
                            if cmd[0] == "close":
                                return
                            apply(cmd)
                        except queue.Empty:
                            pass
                        continue
                # 3. generate
                turn_in_chunk = cur if (cur is not None and buffered > 0) else None
                g0 = time.perf_counter()
                chunk = perf.next_chunk()
                g1 = time.perf_counter()
                n = int(chunk.frames.shape[0])
                if t0 is None:
                    t0 = g1
                play_at = t0 + chunk.start_frame / self.fps / max(self.pace, 1e-9)
                late = self.pace > 0 and not first and g1 > play_at
                if late:  # fell behind real time: count it, and re-anchor the clock like a re-buffering player
                    t0 = g1 - chunk.start_frame / self.fps / self.pace
                first = False
                next_start = chunk.start_frame + n
                used = min(buffered, len(chunk.audio))
                buffered -= used
                speech = turn_in_chunk is not None and used > 0
                meta: dict[str, Any] = {"turn": turn_in_chunk if speech else None, "speech": speech,
                                        "gen_ms": round((g1 - g0) * 1000, 2), "late": bool(late)}
                with self._lock:
                    s = self.stats
                    s.chunks += 1
                    s.frames += n
                    s.gen_s += g1 - g0
                    if speech:
                        s.speech_frames += n
                    if late:
                        s.late_frames += n
                    turn = self._turn
                    if speech and turn is not None and turn.id == turn_in_chunk and not turn.first_chunk_sent:
                        turn.first_chunk_sent = True
                        lat = g1 - turn.t_start
                        s.first_audio_latency_s.append(lat)
                        meta["turn_latency_ms"] = round(lat * 1000, 1)
                self._emit("chunk", chunk, meta)
                if cur is not None and started and ended and buffered <= 0:
                    self._finish_turn(cur)
                    cur, started, ended = None, False, False
                    perf.set_prompt(self.base_prompt)
        except Exception as err:  # noqa: BLE001 - report and end the session
            with self._lock:
                self.stats.errors += 1
            self._emit("event", {"type": "error", "code": "performer_failed", "fatal": True,
                                 "message": f"The avatar renderer failed: {type(err).__name__}: {err}"})
            self._emit("closed", None)

    def _finish_turn(self, tid: int) -> None:
        with self._lock:
            if self._turn is not None and self._turn.id == tid:
                self._turn.finalized = True
        self._emit("event", {"type": "turn_end", "turn": tid})


class SessionManager:
    """Creates sessions up to `max_sessions` and refuses beyond; keeps totals for reporting.

    pace: 1.0 = real time; 2.0 = twice as fast (tests); 0 = no pacing (as fast as the performer goes).
    lead_s: how far ahead of its playback time a chunk is generated.
    """

    def __init__(self, performer: Performer, thinker: Thinker, max_sessions: int = 4, pace: float = 1.0,
                 lead_s: float = 0.35, idle_prompt: str = LISTENING_PROMPT) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be >= 1")
        self.performer = performer
        self.thinker = thinker
        self.max_sessions = max_sessions
        self.pace = pace
        self.lead_s = lead_s
        self.idle_prompt = idle_prompt
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._reserved = 0
        self.peak_sessions = 0
        self.refused = 0
        self.closed_totals = SessionStats()
        self.closed_sessions = 0

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._sessions) + self._reserved

    def sessions(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    def open(self, image: np.ndarray, sink: Sink, prompt: str | None = None) -> Session:
        with self._lock:
            n = len(self._sessions) + self._reserved
            if n >= self.max_sessions:
                self.refused += 1
                raise SessionLimitError(f"The server is full: {n} of {self.max_sessions} avatar sessions are in "
                                        "use. Please try again in a moment.")
            self._reserved += 1
        try:
            base = prompt or self.idle_prompt
            perf_session = self.performer.new_session(image, base)
            session = Session(self, uuid.uuid4().hex, perf_session, self.thinker, sink, base, self.pace, self.lead_s)
        finally:
            with self._lock:
                self._reserved -= 1
        with self._lock:
            self._sessions[session.id] = session
            self.peak_sessions = max(self.peak_sessions, len(self._sessions) + self._reserved)
        return session

    def _release(self, session: Session) -> None:
        with self._lock:
            if self._sessions.pop(session.id, None) is None:
                return
            t = self.closed_totals
            s = session.stats
            for name in ("chunks", "frames", "speech_frames", "frames_dropped", "late_frames", "turns",
                         "interrupts", "errors"):
                setattr(t, name, getattr(t, name) + getattr(s, name))
            t.gen_s += s.gen_s
            t.first_audio_latency_s.extend(s.first_audio_latency_s)
            self.closed_sessions += 1

    def totals(self) -> dict:
        """Sums over closed and open sessions."""
        t = SessionStats()
        for src in [self.closed_totals] + [s.stats for s in self.sessions()]:
            for name in ("chunks", "frames", "speech_frames", "frames_dropped", "late_frames", "turns",
                         "interrupts", "errors"):
                setattr(t, name, getattr(t, name) + getattr(src, name))
            t.gen_s += src.gen_s
            t.first_audio_latency_s.extend(src.first_audio_latency_s)
        d = t.as_dict()
        d.update(active_sessions=self.active, max_sessions=self.max_sessions, peak_sessions=self.peak_sessions,
                 refused=self.refused, closed_sessions=self.closed_sessions)
        return d

    def close_all(self) -> None:
        for s in self.sessions():
            s.close()
