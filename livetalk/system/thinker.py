"""The Thinker/Talker interface: a user turn (text or speech) in, a streamed reply out.

A reply is an iterator of `ReplyEvent`s, in this order:

- `transcript` (only for speech input, when the thinker transcribed it): what the user said;
- `prompt`: the motion prompt for the avatar while it answers (e.g. "nodding while speaking calmly");
- then, repeatedly, `text` (the next sentence of the answer) followed by `audio` pieces (float32 16 kHz
  mono) that speak it.

The consumer (the session) may stop iterating at any time (barge-in) and must then call `close()` on the
iterator, which releases the HTTP stream / subprocess behind it.

Adapters: `OpenAIThinker` (any OpenAI-compatible server: `/v1/chat/completions` + `/v1/audio/speech`
+ optionally `/v1/audio/transcriptions`; e.g. vLLM serving Qwen3-Omni) in this file, and
`livetalk.system.offline_thinker.OfflineThinker` (no network, espeak-ng speech).
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Iterator, Literal, Protocol

import numpy as np

from .tts import (SAMPLE_RATE, SpeechError, StreamingResampler, chunk_audio, encode_wav, espeak_tts,
                  pcm16_to_float, split_sentences)

DEFAULT_PROMPT = "a person nodding while speaking calmly"
LISTENING_PROMPT = "a person listening attentively, still, with a gentle expression"


@dataclass
class UserTurn:
    """One user message: text, or speech (float32 16 kHz mono), or both (text wins for the history)."""

    text: str | None = None
    audio: np.ndarray | None = None


@dataclass
class ReplyEvent:
    kind: Literal["transcript", "prompt", "text", "audio"]
    text: str = ""
    audio: np.ndarray | None = field(default=None, repr=False)


class ThinkerError(RuntimeError):
    """The thinker could not answer (endpoint unreachable, bad response...); the message is user-facing."""


class Thinker(Protocol):
    """Produces replies; stateless across sessions (the session owns the history)."""

    name: str

    def reply(self, history: list[dict], turn: UserTurn) -> Iterator[ReplyEvent]:
        """`history`: earlier messages `{"role": "user"|"assistant", "content": str}`, oldest first."""


# --- motion prompts ---------------------------------------------------------------------------------------

_MOTION_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("sorry", "sad", "unfortunately", "condolence", "miss you", "lost"),
     "a person speaking softly with a gentle, sympathetic expression"),
    ((" hello", " hi ", " hi,", " hi!", "hey", "welcome", "nice to meet", "good morning", "good evening"),
     "a person smiling warmly and nodding while speaking"),
    (("bye", "goodbye", "see you", "take care"),
     "a person smiling and nodding slowly while saying goodbye"),
    (("great", "awesome", "wonderful", "congrat", "amazing", "fantastic", "joke", "laugh"),
     "a person smiling and speaking energetically with lively head movements"),
    (("?", "maybe", "perhaps", "think", "wonder", "not sure", "guess"),
     "a person tilting the head slightly, speaking thoughtfully"),
)


def pick_motion(user_text: str, reply_text: str = "") -> str:
    """A motion prompt from simple cues in the user message and the start of the reply."""
    text = f" {reply_text.lower()} {user_text.lower()} "
    for keys, prompt in _MOTION_RULES:
        if any(k in text for k in keys):
            return prompt
    return DEFAULT_PROMPT


_BOUNDARY = re.compile(r"[.!?;:]\s+")


def _last_boundary(text: str) -> int:
    """Index just after the last sentence end followed by whitespace (0 when none)."""
    last = 0
    for m in _BOUNDARY.finditer(text):
        last = m.end()
    return last


_MOTION_TAG = re.compile(r"^\s*<motion>(.*?)</motion>\s*", re.S | re.I)


def strip_motion_tag(text: str) -> tuple[str | None, str]:
    """`"<motion>nodding</motion> Hello"` -> `("nodding", "Hello")`; no tag -> `(None, text)`."""
    m = _MOTION_TAG.match(text)
    if not m:
        return None, text
    return m.group(1).strip() or None, text[m.end():]


# --- OpenAI-compatible adapter ----------------------------------------------------------------------------

OPENAI_SYSTEM_PROMPT = (
    "You are a friendly talking avatar in a live video call. Answer in one to three short spoken sentences, "
    "no lists, no markdown, no emoji. Begin every answer with a motion tag describing your head and face "
    "motion while you speak, for example: <motion>nodding while speaking calmly</motion>"
)


OMNI_SYSTEM_PROMPT = (
    "You are a friendly talking avatar in a live video call. Answer in one to three short spoken sentences, "
    "no lists, no markdown, no emoji."
)


@dataclass
class OpenAIConfig:
    """Where and how to reach an OpenAI-compatible server.

    base_url: e.g. `http://127.0.0.1:8000/v1` (vLLM) — `/chat/completions` is appended.
    model: chat model name as served (e.g. `Qwen/Qwen3-Omni-30B-A3B-Instruct`).
    tts: "endpoint" (POST `{tts_base_url}/audio/speech` per sentence), "chat_audio" (the chat model speaks
        itself: `modalities: ["text", "audio"]`, audio streamed back in `delta.audio.data` as base64 PCM16 —
        Qwen3-Omni on vLLM-Omni / DashScope, gpt-4o-audio) or "espeak" (local espeak-ng speech).
    stt: how speech input is understood: "native" (sent to the chat model as an `input_audio` content
        part: Qwen3-Omni, gpt-4o-audio), "transcribe" (POST `/audio/transcriptions`, Whisper API), "none".
    """

    base_url: str
    model: str
    api_key: str | None = None
    system_prompt: str = OPENAI_SYSTEM_PROMPT
    temperature: float = 0.7
    max_tokens: int = 200
    max_history_messages: int = 20
    stream: bool = True
    timeout_s: float = 60.0
    tts: Literal["endpoint", "chat_audio", "espeak"] = "endpoint"
    tts_base_url: str | None = None  # default: base_url
    tts_model: str = "tts-1"
    tts_voice: str = "alloy"
    tts_format: Literal["pcm", "wav"] = "pcm"
    tts_sample_rate: int = 24000  # of raw PCM speech (OpenAI and Qwen-Omni: 24 kHz 16-bit mono)
    chat_audio_format: str = "pcm16"  # `audio.format` asked in chat_audio mode (DashScope wants "wav")
    stt: Literal["native", "transcribe", "none"] = "native"
    stt_base_url: str | None = None
    stt_model: str = "whisper-1"
    extra_body: dict = field(default_factory=dict)


class OpenAIThinker:
    """Thinker backed by an OpenAI-compatible chat (+ speech) server, streamed sentence by sentence."""

    name = "openai"

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config

    # -- HTTP helpers
    def _headers(self, content_type: str = "application/json") -> dict:
        h = {"Content-Type": content_type, "Accept": "*/*"}
        if self.config.api_key:
            h["Authorization"] = f"Bearer {self.config.api_key}"
        return h

    def _open(self, url: str, body: bytes, content_type: str = "application/json"):
        req = urllib.request.Request(url, data=body, headers=self._headers(content_type), method="POST")
        try:
            return urllib.request.urlopen(req, timeout=self.config.timeout_s)  # noqa: S310 (configured URL)
        except urllib.error.HTTPError as err:
            detail = err.read(500).decode(errors="replace")
            raise ThinkerError(f"{url} answered HTTP {err.code}: {detail}") from err
        except (urllib.error.URLError, OSError) as err:
            raise ThinkerError(f"cannot reach {url}: {getattr(err, 'reason', err)}") from err

    def _url(self, base: str | None, path: str) -> str:
        return (base or self.config.base_url).rstrip("/") + path

    # -- steps
    def transcribe(self, audio: np.ndarray) -> str:
        boundary = uuid.uuid4().hex
        parts = [
            (f"--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n"
             f"{self.config.stt_model}\r\n").encode(),
            (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"speech.wav\"\r\n"
             "Content-Type: audio/wav\r\n\r\n").encode() + encode_wav(audio) + b"\r\n",
            f"--{boundary}--\r\n".encode(),
        ]
        url = self._url(self.config.stt_base_url, "/audio/transcriptions")
        with self._open(url, b"".join(parts), f"multipart/form-data; boundary={boundary}") as resp:
            data = json.loads(resp.read().decode())
        return str(data.get("text", "")).strip()

    def _messages(self, history: list[dict], turn: UserTurn, text: str | None) -> list[dict]:
        msgs: list[dict] = [{"role": "system", "content": self.config.system_prompt}]
        msgs += [{"role": m["role"], "content": m["content"]} for m in history[-self.config.max_history_messages:]]
        if text is not None:
            msgs.append({"role": "user", "content": text})
        else:  # native audio understanding
            b64 = base64.b64encode(encode_wav(turn.audio)).decode()
            msgs.append({"role": "user", "content": [
                {"type": "input_audio", "input_audio": {"data": b64, "format": "wav"}}]})
        return msgs

    def _chat_events(self, messages: list[dict], extra: dict | None = None) -> Iterator[dict]:
        """Stream the chat completion; yields `delta` dicts (a non-streaming answer yields its `message`)."""
        body = {"model": self.config.model, "messages": messages, "temperature": self.config.temperature,
                "max_tokens": self.config.max_tokens, "stream": self.config.stream, **(extra or {}),
                **self.config.extra_body}
        url = self._url(None, "/chat/completions")
        resp = self._open(url, json.dumps(body).encode())
        try:
            ctype = resp.headers.get("Content-Type", "")
            if "text/event-stream" not in ctype:
                data = json.loads(resp.read().decode())
                try:
                    yield data["choices"][0]["message"]
                except (KeyError, IndexError, TypeError) as err:
                    raise ThinkerError(f"unexpected chat response from {url}: {str(data)[:200]}") from err
                return
            for raw in resp:
                line = raw.decode("utf-8", errors="replace").strip()
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                try:
                    choices = json.loads(payload).get("choices") or []
                except ValueError as err:
                    raise ThinkerError(f"malformed stream event from {url}: {payload[:200]}") from err
                if choices and isinstance(choices[0], dict):
                    yield choices[0].get("delta") or {}
        finally:
            resp.close()

    def _chat_deltas(self, messages: list[dict]) -> Iterator[str]:
        for delta in self._chat_events(messages):
            if delta.get("content"):
                yield delta["content"]

    def speak(self, text: str) -> Iterator[np.ndarray]:
        """Stream 16 kHz float32 audio for one sentence."""
        if self.config.tts == "espeak":
            try:
                yield from chunk_audio(espeak_tts(text))
            except SpeechError as err:
                raise ThinkerError(str(err)) from err
            return
        body = {"model": self.config.tts_model, "input": text, "voice": self.config.tts_voice,
                "response_format": self.config.tts_format}
        url = self._url(self.config.tts_base_url, "/audio/speech")
        resp = self._open(url, json.dumps(body).encode())
        try:
            rate = self.config.tts_sample_rate
            header = b""
            if self.config.tts_format == "wav":  # parse the RIFF header incrementally, then raw PCM follows
                while b"data" not in header or len(header) < header.find(b"data") + 8:
                    more = resp.read(4096)
                    if not more:
                        raise ThinkerError(f"truncated WAV from {url}")
                    header += more
                fmt = header.find(b"fmt ")
                channels = int.from_bytes(header[fmt + 10:fmt + 12], "little") if fmt >= 0 else 1
                rate = int.from_bytes(header[fmt + 12:fmt + 16], "little") if fmt >= 0 else rate
                if channels != 1:
                    raise ThinkerError("the TTS endpoint returned multi-channel WAV; ask for mono")
                d = header.find(b"data")
                header = header[d + 8:]
            resampler = StreamingResampler(rate, SAMPLE_RATE)
            carry = header
            while True:
                block = resp.read(8192)
                if not block:
                    break
                carry += block
                usable = len(carry) // 2 * 2
                if usable >= 4800:  # ~0.1 s at 24 kHz
                    out = resampler.process(pcm16_to_float(carry[:usable]))
                    carry = carry[usable:]
                    if len(out):
                        yield out
            if len(carry) >= 2:
                out = resampler.process(pcm16_to_float(carry))
                if len(out):
                    yield out
        finally:
            resp.close()

    # -- the Thinker protocol
    def reply(self, history: list[dict], turn: UserTurn) -> Iterator[ReplyEvent]:
        text = turn.text.strip() if turn.text else None
        if text is None and turn.audio is not None:
            if self.config.stt == "transcribe":
                text = self.transcribe(turn.audio)
                yield ReplyEvent("transcript", text=text)
            elif self.config.stt == "none":
                raise ThinkerError("this thinker does not accept speech input; please type")
        if text is None and turn.audio is None:
            raise ThinkerError("empty user turn")
        if self.config.tts == "chat_audio":
            yield from self._reply_chat_audio(self._messages(history, turn, text), text or "")
            return
        buffer = ""
        prompt_sent = False
        tag_checked = False
        for delta in self._chat_deltas(self._messages(history, turn, text)):
            buffer += delta
            if not tag_checked:
                stripped = buffer.lstrip()
                if stripped.lower().startswith("<motion>") or "<motion>".startswith(stripped.lower()[:8]):
                    if "</motion>" not in stripped.lower():
                        continue  # wait for the closing tag
                tag_checked = True
                prompt, buffer = strip_motion_tag(buffer)
                if prompt:
                    prompt_sent = True
                    yield ReplyEvent("prompt", text=prompt)
            cut = _last_boundary(buffer)
            if cut > 0:
                complete, buffer = split_sentences(buffer[:cut]), buffer[cut:]
                for s in complete:
                    if not prompt_sent:
                        prompt_sent = True
                        yield ReplyEvent("prompt", text=pick_motion(text or "", s))
                    yield ReplyEvent("text", text=s)
                    for a in self.speak(s):
                        yield ReplyEvent("audio", audio=a)
        if not tag_checked:
            _, buffer = strip_motion_tag(buffer)
        for s in split_sentences(buffer):
            if not prompt_sent:
                prompt_sent = True
                yield ReplyEvent("prompt", text=pick_motion(text or "", s))
            yield ReplyEvent("text", text=s)
            for a in self.speak(s):
                yield ReplyEvent("audio", audio=a)
        if not prompt_sent:
            yield ReplyEvent("prompt", text=pick_motion(text or ""))

    def _reply_chat_audio(self, messages: list[dict], user_text: str) -> Iterator[ReplyEvent]:
        """One request returns text and speech (omni models). The motion prompt comes from the text cues
        (a spoken tag would be heard), so the system prompt must not ask for a tag."""
        if messages and messages[0]["role"] == "system" and messages[0]["content"] == OPENAI_SYSTEM_PROMPT:
            messages[0] = {"role": "system", "content": OMNI_SYSTEM_PROMPT}
        extra = {"modalities": ["text", "audio"],
                 "audio": {"voice": self.config.tts_voice, "format": self.config.chat_audio_format}}
        resampler = StreamingResampler(self.config.tts_sample_rate, SAMPLE_RATE)
        text_buf, carry = "", b""
        prompt_sent = header_checked = saw_content = False
        for delta in self._chat_events(messages, extra):
            piece = delta.get("content") or ""
            audio = delta.get("audio") or {}
            if piece:
                saw_content = True
            elif not saw_content and isinstance(audio, dict) and audio.get("transcript"):
                piece = audio["transcript"]
            if piece:
                text_buf += piece
                cut = _last_boundary(text_buf)
                if cut > 0:
                    for sentence in split_sentences(text_buf[:cut]):
                        if not prompt_sent:
                            prompt_sent = True
                            yield ReplyEvent("prompt", text=pick_motion(user_text, sentence))
                        yield ReplyEvent("text", text=sentence)
                    text_buf = text_buf[cut:]
            data = audio.get("data") if isinstance(audio, dict) else None
            if data:
                try:
                    raw = base64.b64decode(data)
                except (ValueError, TypeError) as err:
                    raise ThinkerError("the chat model sent undecodable audio") from err
                carry += raw
                if not header_checked and len(carry) >= 44:
                    header_checked = True
                    if carry[:4] == b"RIFF" and b"data" in carry[:200]:  # a WAV header: skip it
                        fmt = carry.find(b"fmt ")
                        if fmt >= 0:
                            resampler = StreamingResampler(int.from_bytes(carry[fmt + 12:fmt + 16], "little"),
                                                           SAMPLE_RATE)
                        carry = carry[carry.find(b"data") + 8:]
                if header_checked and len(carry) >= 2:
                    usable = len(carry) // 2 * 2
                    out = resampler.process(pcm16_to_float(carry[:usable]))
                    carry = carry[usable:]
                    if len(out):
                        if not prompt_sent:
                            prompt_sent = True
                            yield ReplyEvent("prompt", text=pick_motion(user_text, text_buf))
                        yield ReplyEvent("audio", audio=out)
        if carry and len(carry) >= 2:
            out = resampler.process(pcm16_to_float(carry))
            if len(out):
                yield ReplyEvent("audio", audio=out)
        if not prompt_sent:
            yield ReplyEvent("prompt", text=pick_motion(user_text, text_buf))
        for sentence in split_sentences(text_buf):
            yield ReplyEvent("text", text=sentence)
