"""Random English sentences (deterministic by rng) for synthetic speech."""

from __future__ import annotations

import numpy as np

_SUBJ = ("I", "we", "my friend", "the teacher", "our team", "the old man", "a little girl", "everyone",
         "the doctor", "my brother", "the pilot", "this company", "the robot", "your neighbour")
_VERB = ("wants to visit", "is looking at", "will paint", "forgot about", "really loves", "talked about",
         "cannot find", "is building", "bought", "likes to cook", "often thinks about", "found",
         "would never sell", "is waiting for", "opened", "carefully moved")
_OBJ = ("the blue house", "a big yellow boat", "the morning news", "some fresh apples", "the old bridge",
        "a quiet garden", "the new machine", "a strange map", "the city museum", "a box of books",
        "the mountain road", "a warm cup of coffee", "the broken window", "our summer plans", "the red balloon")
_TAIL = ("today", "every weekend", "before lunch", "in the evening", "next month", "with great care",
         "after the rain", "without any help", "once again", "right now", "at the station", "")
_OPEN = ("", "", "", "Well, ", "You know, ", "Honestly, ", "Oh, ", "So, ", "Yesterday ", "Maybe ")
_QUESTIONS = ("Do you think {s} {v} {o}?", "Why does {s} keep talking about {o}?", "Have you seen {o}?")


def random_sentence(rng: np.random.Generator) -> str:
    """One sentence of 4–14 words."""
    pick = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
    if rng.random() < 0.15:
        q = pick(_QUESTIONS)
        return q.format(s=pick(_SUBJ), v=pick(_VERB), o=pick(_OBJ))
    s = f"{pick(_OPEN)}{pick(_SUBJ)} {pick(_VERB)} {pick(_OBJ)} {pick(_TAIL)}".strip()
    s = s[0].upper() + s[1:]
    return s + pick((".", ".", ".", "!"))
