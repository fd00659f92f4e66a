import pytest

from livetalk.system.offline_thinker import OfflineThinker
from livetalk.system.session import SessionLimitError, SessionManager
from livetalk.system.stub_performer import StubPerformer, StubSession
from livetalk.system.thinker import ReplyEvent, ThinkerError

from .conftest import Collector, wait_for


class SpyPerformer(StubPerformer):
    def __init__(self):
        super().__init__(size=32)
        self.sessions: list = []

    def new_session(self, reference_image, prompt):
        s = SpySession(reference_image, prompt, size=self.size)
        self.sessions.append(s)
        return s


class SpySession(StubSession):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.calls: list[str] = []
        self.prompts: list[str] = []
        self.closed_called = False

    def interrupt(self):
        self.calls.append("interrupt")
        super().interrupt()

    def set_prompt(self, prompt):
        self.prompts.append(prompt)
        super().set_prompt(prompt)

    def close(self):
        self.closed_called = True
        super().close()


def test_limit_refusal_and_release(face):
    m = SessionManager(StubPerformer(size=32), OfflineThinker(), max_sessions=2, pace=4.0)
    a, b = m.open(face, Collector()), m.open(face, Collector())
    assert m.active == 2
    with pytest.raises(SessionLimitError, match="full: 2 of 2"):
        m.open(face, Collector())
    assert m.refused == 1
    a.close()
    a.close()  # idempotent
    assert m.active == 1
    c = m.open(face, Collector())
    assert m.active == 2 and m.peak_sessions == 2
    b.close(), c.close()
    assert m.active == 0


def test_turn_speech_history_and_prompt(face):
    perf = SpyPerformer()
    m = SessionManager(perf, OfflineThinker(), max_sessions=1, pace=4.0)
    sink = Collector()
    s = m.open(face, sink)
    tid = s.say("Hello, my name is Zoe.", turn_id=7)
    assert tid == 7
    wait_for(lambda: sink.events("turn_end"), timeout=20)
    speech = [(c, meta) for c, meta in sink.chunks() if meta["speech"]]
    assert speech and all(meta["turn"] == 7 for _, meta in speech)
    assert "turn_latency_ms" in speech[0][1]
    assert any("smiling" in p for p in perf.sessions[0].prompts)  # the thinker's motion prompt reached it
    assert s.history[0] == {"role": "user", "content": "Hello, my name is Zoe."}
    assert "Zoe" in s.history[1]["content"] and s.history[1]["role"] == "assistant"
    assert [e["text"] for e in sink.events("reply")][0].startswith("Nice to meet you")
    # frames are continuous
    starts = [c.start_frame for c, _ in sink.chunks()]
    assert starts == sorted(starts) and starts[0] == 0
    s.close()
    assert perf.sessions[0].closed_called and m.active == 0


def test_barge_in(face):
    perf = SpyPerformer()
    m = SessionManager(perf, OfflineThinker(), max_sessions=1, pace=2.0)
    sink = Collector()
    s = m.open(face, sink)
    s.say("Tell me something about the history of the universe and the stars and the planets please.", turn_id=1)
    wait_for(lambda: any(meta["turn"] == 1 for _, meta in sink.chunks()), timeout=20)
    n_before = len(sink.chunks())
    s.say("Stop. What is 2 plus 2?", turn_id=2)
    wait_for(lambda: sink.events("turn_end"), timeout=20)
    assert sink.events("interrupted")[0]["turn"] == 1
    assert "interrupt" in perf.sessions[0].calls
    # after the barge-in, speech chunks belong to turn 2 only (at most one chunk already in flight)
    later = [meta["turn"] for _, meta in sink.chunks()[n_before + 1:] if meta["speech"]]
    assert later and set(later) == {2}
    assert sink.events("turn_end")[-1]["turn"] == 2
    roles = [h["role"] for h in s.history]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert s.history[1]["content"].endswith("(interrupted)")
    assert "4" in s.history[3]["content"]
    assert s.stats.interrupts == 1
    # interrupt with nothing running is a no-op
    assert s.interrupt() is False
    s.close()


def test_thinker_error_is_reported(face):
    class Broken:
        name = "broken"

        def reply(self, history, turn):
            yield ReplyEvent("prompt", text="x")
            raise ThinkerError("endpoint down")

    sink = Collector()
    m = SessionManager(StubPerformer(size=32), Broken(), max_sessions=1, pace=4.0)
    s = m.open(face, sink)
    s.say("hi", turn_id=3)
    wait_for(lambda: sink.events("turn_end"), timeout=10)
    err = sink.events("error")[0]
    assert err["code"] == "thinker_failed" and "endpoint down" in err["message"]
    assert s.history[-1]["content"] == "(no answer)"
    with pytest.raises(ValueError, match="empty"):
        s.say("   ")
    s.close()


def test_performer_failure_closes_cleanly(face):
    class Exploding(StubPerformer):
        def new_session(self, image, prompt):
            s = super().new_session(image, prompt)
            s.next_chunk = lambda: (_ for _ in ()).throw(RuntimeError("gpu on fire"))
            return s

    sink = Collector()
    m = SessionManager(Exploding(size=32), OfflineThinker(), max_sessions=1)
    s = m.open(face, sink)
    wait_for(lambda: sink.events("error"))
    assert sink.events("error")[0]["fatal"] and "gpu on fire" in sink.events("error")[0]["message"]
    assert any(k == "closed" for k, _ in sink.items)
    s.close()
    assert m.active == 0


def test_flooding_messages_is_refused_not_spawning_threads(face):
    import threading

    from livetalk.system.session import SessionBusyError

    gate = threading.Event()

    class Slow:
        name = "slow"

        def reply(self, history, turn):
            gate.wait(10)
            yield ReplyEvent("prompt", text="x")

    m = SessionManager(StubPerformer(size=32), Slow(), max_sessions=1, pace=4.0)
    s = m.open(face, Collector())
    for i in range(3):
        s.say(f"message {i}")
    with pytest.raises(SessionBusyError):
        s.say("one too many")
    gate.set()
    wait_for(lambda: s._thinkers == 0)
    s.say("accepted again")
    s.close()


def test_close_never_races_a_busy_producer(face):
    import threading
    import time

    slow = threading.Event()
    log: list[str] = []

    class Busy(StubPerformer):
        def new_session(self, image, prompt):
            s = super().new_session(image, prompt)
            inner_next, inner_close = s.next_chunk, s.close

            def next_chunk():
                log.append("enter")
                if slow.is_set():
                    time.sleep(1.0)
                log.append("exit")
                return inner_next()

            def close():
                log.append("close")
                inner_close()

            s.next_chunk, s.close = next_chunk, close
            return s

    m = SessionManager(Busy(size=32), OfflineThinker(), max_sessions=1, pace=0)  # no pacing: always busy
    s = m.open(face, Collector())
    s.close_timeout_s = 0.1
    slow.set()
    wait_for(lambda: log and log[-1] == "enter")
    s.close()
    assert m.active == 0  # the slot is free at once
    wait_for(lambda: "close" in log, timeout=5)
    assert log[-1] == "close" and log[-2] == "exit" and log.count("close") == 1
