import numpy as np
import pytest

from livetalk.system.thinker import OpenAIConfig, OpenAIThinker, ThinkerError, UserTurn

from .fake_openai import FakeOpenAI


def run(thinker, history, turn):
    events = list(thinker.reply(history, turn))
    text = " ".join(e.text for e in events if e.kind == "text")
    audio = [e.audio for e in events if e.kind == "audio"]
    return events, text, audio


def test_streaming_chat_motion_tag_and_speech():
    with FakeOpenAI() as fake:
        th = OpenAIThinker(OpenAIConfig(base_url=fake.url, model="fake-omni", api_key="k"))
        history = [{"role": "user", "content": "Hi, I am Bob."}, {"role": "assistant", "content": "Hello Bob."}]
        events, text, audio = run(th, history, UserTurn(text="How are you?"))
        assert events[0].kind == "prompt" and events[0].text == "nodding happily"
        assert text == "Hello there. I am a fake model! Bye."
        assert [e.text for e in events if e.kind == "text"] == ["Hello there.", "I am a fake model!", "Bye."]
        # speech: one TTS request per sentence, 24 kHz pcm resampled to 16 kHz
        speech_reqs = [b for k, b in fake.requests if k == "speech"]
        assert [r["input"] for r in speech_reqs] == ["Hello there.", "I am a fake model!", "Bye."]
        total = sum(len(a) for a in audio)
        expected = sum(int(0.05 * 24000 * len(r["input"])) for r in speech_reqs) * 16000 / 24000
        assert abs(total - expected) < 50
        assert all(a.dtype == np.float32 for a in audio)
        # the request carried the system prompt, the history and the new message
        chat = [b for k, b in fake.requests if k == "chat"][0]
        assert chat["model"] == "fake-omni" and chat["stream"] is True
        roles = [m["role"] for m in chat["messages"]]
        assert roles == ["system", "user", "assistant", "user"]
        assert chat["messages"][-1]["content"] == "How are you?"


def test_no_tag_non_streaming_and_wav_tts():
    with FakeOpenAI(reply="Sure, here it is. Anything else?", tts_rate=22050) as fake:
        th = OpenAIThinker(OpenAIConfig(base_url=fake.url, model="m", stream=False, tts_format="wav"))
        events, text, audio = run(th, [], UserTurn(text="hello"))
        assert events[0].kind == "prompt" and "smiling" in events[0].text  # heuristic prompt (greeting)
        assert text == "Sure, here it is. Anything else?"
        assert sum(len(a) for a in audio) > 16000


def test_speech_input_transcribe_and_native():
    audio_in = (0.1 * np.sin(np.arange(16000) / 4.0)).astype(np.float32)
    with FakeOpenAI(reply="It is sunny.") as fake:
        th = OpenAIThinker(OpenAIConfig(base_url=fake.url, model="m", stt="transcribe", tts="espeak"))
        events, text, audio = run(th, [], UserTurn(audio=audio_in))
        assert events[0].kind == "transcript" and events[0].text == "what is the weather"
        assert text == "It is sunny." and sum(len(a) for a in audio) > 4000  # espeak speech
        raw = [b for k, b in fake.requests if k == "transcribe"][0]
        assert b"RIFF" in raw and b'name="model"' in raw
        fake.requests.clear()
        th = OpenAIThinker(OpenAIConfig(base_url=fake.url, model="m", stt="native"))
        run(th, [], UserTurn(audio=audio_in))
        content = [b for k, b in fake.requests if k == "chat"][0]["messages"][-1]["content"]
        assert content[0]["type"] == "input_audio" and content[0]["input_audio"]["format"] == "wav"


def test_chat_audio_mode_omni_model_speaks_itself():
    reply = "Hello from the omni model. It speaks for itself!"
    with FakeOpenAI(reply=reply) as fake:
        th = OpenAIThinker(OpenAIConfig(base_url=fake.url, model="Qwen/Qwen3-Omni-30B-A3B-Instruct", tts="chat_audio"))
        events, text, audio = run(th, [], UserTurn(text="hi"))
        assert text == reply
        assert events[0].kind == "prompt"
        chat = [b for k, b in fake.requests if k == "chat"][0]
        assert chat["modalities"] == ["text", "audio"] and chat["audio"]["format"] == "pcm16"
        assert "<motion>" not in chat["messages"][0]["content"]  # a spoken tag would be heard
        assert not [k for k, _ in fake.requests if k == "speech"]  # no separate TTS call
        total = sum(len(a) for a in audio)
        assert abs(total - int(0.05 * 24000) * len(reply) * 16000 / 24000) < 200


def test_errors_are_clear():
    with FakeOpenAI(fail_chat=True) as fake:
        th = OpenAIThinker(OpenAIConfig(base_url=fake.url, model="m"))
        with pytest.raises(ThinkerError, match="HTTP 500"):
            run(th, [], UserTurn(text="hi"))
    th = OpenAIThinker(OpenAIConfig(base_url="http://127.0.0.1:9/v1", model="m", timeout_s=2))
    with pytest.raises(ThinkerError, match="cannot reach"):
        run(th, [], UserTurn(text="hi"))
