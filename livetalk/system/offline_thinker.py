"""The embedded offline Thinker: a small rule/template responder plus espeak-ng speech (no network).

It reads its memory from the session history (the user's name, earlier messages, the turn count), so it
carries a multi-turn conversation, picks a motion prompt from the mood of the exchange, and speaks sentence
by sentence (the first sentence is synthesised and streamed before the next one is started).
Speech input cannot be transcribed offline: the reply says so and asks the user to type.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Iterator

import numpy as np

from .thinker import ReplyEvent, UserTurn, pick_motion
from .tts import SAMPLE_RATE, SpeechError, chunk_audio, espeak_available, espeak_tts, split_sentences

_NAME_PATTERNS = (
    re.compile(r"\bmy name is\s+([A-Za-z][A-Za-z'\-]{0,30})", re.I),
    re.compile(r"\bcall me\s+([A-Za-z][A-Za-z'\-]{0,30})", re.I),
    re.compile(r"\bi am\s+([A-Z][a-z'\-]{1,30})\b"),
    re.compile(r"\bi'm\s+([A-Z][a-z'\-]{1,30})\b"),
)
_NOT_NAMES = {"Fine", "Good", "Okay", "Ok", "Great", "Here", "Back", "Sorry", "Not", "So", "Just", "Very", "Happy",
              "Sad", "Tired", "Well", "Bored", "Hungry"}
_ARITH = re.compile(r"(-?\d+(?:\.\d+)?)\s*(\+|-|\*|x|times|plus|minus|/|divided by|over)\s*(-?\d+(?:\.\d+)?)", re.I)
_JOKES = (
    "Why did the neural network cross the road? It was trained on the other side.",
    "I told my video model a joke about latency. It laughed a little later.",
    "Why do avatars never get lost? They always follow the prompt.",
)
_STOP = {"the", "a", "an", "is", "are", "was", "were", "i", "you", "me", "my", "your", "to", "of", "and", "or",
         "in", "on", "it", "that", "this", "what", "do", "does", "can", "could", "would", "should", "about",
         "tell", "please", "with", "for", "have", "has", "just", "think", "really", "like", "so", "some"}


def _remembered_name(history: list[dict], text: str) -> str | None:
    for content in [text] + [m["content"] for m in reversed(history) if m["role"] == "user"]:
        for pat in _NAME_PATTERNS:
            m = pat.search(content)
            if m and m.group(1).capitalize() not in _NOT_NAMES:
                return m.group(1).capitalize()
    return None


def _topic(text: str) -> str | None:
    words = [w for w in re.findall(r"[A-Za-z']+", text.lower()) if w not in _STOP and len(w) > 2]
    return max(words, key=len) if words else None


def _fmt_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.4g}"


def compose_reply(history: list[dict], text: str) -> str:
    """The reply text to `text` given the earlier messages (deterministic)."""
    t = text.strip()
    low = t.lower()
    n_user = sum(1 for m in history if m["role"] == "user") + 1
    earlier_user = [m["content"] for m in history if m["role"] == "user"]
    name_before = _remembered_name(history, "")
    name = _remembered_name(history, t)

    if not t:
        return "I did not catch that. Could you say it again?"
    m = None
    for pat in _NAME_PATTERNS[:2]:
        m = m or pat.search(t)
    if m and name:
        again = " again" if name_before == name else ""
        return f"Nice to meet you{again}, {name}! What would you like to talk about?"
    if re.search(r"\b(what'?s|what is|do you know|remember) my name\b|\bwho am i\b", low):
        return f"Your name is {name}." if name else "You have not told me your name yet. What is it?"
    if re.search(r"\bwhat did i (just )?(say|ask|tell)\b|\brepeat that\b|\bmy last message\b", low):
        if earlier_user:
            return f"You said: {earlier_user[-1].rstrip('.!?')}."
        return "This is the first thing you have said to me."
    if re.search(r"\bhow many (messages|turns|questions)\b", low):
        return f"This is message number {n_user} of our conversation."
    m = _ARITH.search(low)
    if m and re.search(r"\b(what|how much|calculate|compute)\b|=|\?", low):
        a, op, b = float(m.group(1)), m.group(2).lower(), float(m.group(3))
        if op in ("+", "plus"):
            r = a + b
        elif op in ("-", "minus"):
            r = a - b
        elif op in ("*", "x", "times"):
            r = a * b
        else:
            if b == 0:
                return "Dividing by zero is not something even an avatar can do."
            r = a / b
        return f"{_fmt_number(a)} {op} {_fmt_number(b)} is {_fmt_number(r)}."
    if re.search(r"\b(hello|hi|hey|good (morning|afternoon|evening))\b", low):
        who = f", {name}" if name else ""
        if n_user > 1:
            return f"Hello again{who}! What else is on your mind?"
        return f"Hello{who}! I am your LiveTalk avatar. How can I help you today?"
    if re.search(r"\bhow are you\b", low):
        return "I am doing well, thank you for asking. My frames are flowing smoothly today. How are you?"
    if re.search(r"\b(who|what) are you\b|\byour name\b", low):
        return ("I am LiveTalk, a real-time talking avatar. A causal video diffusion model draws my face, "
                "block by block, while I speak.")
    if re.search(r"\b(time|date|day is it)\b", low):
        now = _dt.datetime.now(_dt.timezone.utc)
        return f"It is {now:%H:%M} UTC on {now:%A, %B} {now.day}."
    if "joke" in low:
        return _JOKES[(n_user - 1) % len(_JOKES)]
    if re.search(r"\b(thanks|thank you)\b", low):
        return f"You are welcome{', ' + name if name else ''}!"
    if re.search(r"\b(bye|goodbye|see you)\b", low):
        return f"Goodbye{', ' + name if name else ''}! It was nice talking with you."
    if re.search(r"\b(sad|unhappy|tired|stressed|lonely)\b", low):
        return "I am sorry to hear that. Do you want to tell me what happened?"
    if re.search(r"\b(great|happy|excited|awesome)\b", low):
        return "That is wonderful to hear! Tell me more."
    topic = _topic(t)
    if t.endswith("?"):
        if topic:
            return f"That is a good question about {topic}. I am a small offline model, so I can only guess. What do you think?"
        return "That is a good question. What do you think?"
    templates = (
        "I see. Tell me more about {topic}.",
        "Interesting, {topic}. Why does that matter to you?",
        "Thanks for sharing that. How do you feel about {topic}?",
    )
    return templates[(n_user - 1) % len(templates)].format(topic=topic or "that")


def babble(text: str, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Deterministic speech-like sound (syllable-rate amplitude modulation) when espeak-ng is missing."""
    n_syll = max(1, len(re.findall(r"[aeiouy]+", text.lower())))
    dur = 0.2 * n_syll
    t = np.arange(int(dur * rate)) / rate
    env = np.clip(np.sin(np.pi * t / 0.2), 0, None) ** 0.5
    f0 = 140 + 20 * np.sin(2 * np.pi * 0.7 * t)
    tone = np.sin(2 * np.pi * np.cumsum(f0) / rate) + 0.3 * np.sin(4 * np.pi * np.cumsum(f0) / rate)
    return (0.25 * env * tone).astype(np.float32)


class OfflineThinker:
    """Rule/template responder + espeak-ng (or a babble fallback when espeak-ng is missing)."""

    name = "offline"

    def __init__(self, voice: str = "en-us", rate_wpm: int = 165, chunk_samples: int = 4000) -> None:
        self.voice = voice
        self.rate_wpm = rate_wpm
        self.chunk_samples = chunk_samples
        self.has_espeak = espeak_available()

    def warmup(self) -> None:
        """Synthesise one word so the first real answer does not pay for loading espeak-ng and scipy."""
        try:
            self.speak("ok")
        except Exception:  # noqa: BLE001
            pass

    def speak(self, sentence: str) -> np.ndarray:
        if self.has_espeak:
            try:
                return espeak_tts(sentence, voice=self.voice, rate_wpm=self.rate_wpm)
            except SpeechError:
                pass
        return babble(sentence)

    def reply(self, history: list[dict], turn: UserTurn) -> Iterator[ReplyEvent]:
        if turn.text and turn.text.strip():
            user_text = turn.text.strip()
            answer = compose_reply(history, user_text)
        elif turn.audio is not None and len(turn.audio):
            user_text = ""
            secs = len(turn.audio) / SAMPLE_RATE
            loud = float(np.sqrt(np.mean(np.square(turn.audio)))) > 0.005
            heard = f"I heard about {secs:.1f} seconds of speech" if loud else f"I received {secs:.1f} seconds of silence"
            answer = (f"{heard}, but in offline mode I cannot understand spoken words. "
                      "Please type your message, or connect a speech model.")
        else:
            user_text = ""
            answer = "I did not catch that. Could you say it again?"
        yield ReplyEvent("prompt", text=pick_motion(user_text, answer))
        for sentence in split_sentences(answer):
            yield ReplyEvent("text", text=sentence)
            for piece in chunk_audio(self.speak(sentence), self.chunk_samples):
                yield ReplyEvent("audio", audio=piece)
