import numpy as np

from livetalk.system.offline_thinker import OfflineThinker, babble, compose_reply
from livetalk.system.thinker import UserTurn, pick_motion, strip_motion_tag


def converse(thinker, history, text):
    events = list(thinker.reply(history, UserTurn(text=text)))
    answer = " ".join(e.text for e in events if e.kind == "text")
    history += [{"role": "user", "content": text}, {"role": "assistant", "content": answer}]
    return events, answer


def test_multi_turn_memory():
    t = OfflineThinker()
    h: list[dict] = []
    events, a1 = converse(t, h, "Hello! My name is Alice.")
    assert "Alice" in a1
    assert events[0].kind == "prompt" and events[0].text
    kinds = [e.kind for e in events]
    assert kinds.index("text") < kinds.index("audio")
    _, a2 = converse(t, h, "What is 12 times 3?")
    assert "36" in a2
    _, a3 = converse(t, h, "What did I just say?")
    assert "12 times 3" in a3
    _, a4 = converse(t, h, "What's my name?")
    assert "Alice" in a4
    _, a5 = converse(t, h, "How many messages so far?")
    assert "5" in a5


def test_audio_is_16k_float_chunked():
    t = OfflineThinker(chunk_samples=4000)
    events = list(t.reply([], UserTurn(text="Tell me a joke.")))
    pieces = [e.audio for e in events if e.kind == "audio"]
    assert pieces and all(p.dtype == np.float32 and p.ndim == 1 and len(p) <= 4000 for p in pieces)
    audio = np.concatenate(pieces)
    assert 0.5 * 16000 < len(audio) < 15 * 16000
    assert 0.05 < np.abs(audio).max() <= 1.0


def test_speech_input_without_transcription():
    t = OfflineThinker()
    audio = (0.2 * np.sin(np.arange(32000) / 3.0)).astype(np.float32)
    events = list(t.reply([], UserTurn(audio=audio)))
    text = " ".join(e.text for e in events if e.kind == "text")
    assert "2.0 seconds" in text and "type" in text


def test_motion_prompts_and_tags():
    assert "sympathetic" in pick_motion("I am sad today", "I am sorry to hear that.")
    assert "smiling" in pick_motion("hello there")
    assert "nodding" in pick_motion("the weather", "It is cloudy.")
    assert strip_motion_tag("<motion>nodding slowly</motion> Hi there.") == ("nodding slowly", "Hi there.")
    assert strip_motion_tag("Hi.") == (None, "Hi.")


def test_compose_reply_deterministic_and_babble():
    assert compose_reply([], "hi") == compose_reply([], "hi")
    b = babble("hello there friend")
    assert b.dtype == np.float32 and len(b) > 1000


def test_espeak_missing_falls_back_to_babble(monkeypatch):
    t = OfflineThinker()
    t.has_espeak = False
    audio = np.concatenate([e.audio for e in t.reply([], UserTurn(text="Hello.")) if e.kind == "audio"])
    assert len(audio) > 1000
