"""Procedural talking-head world: identities, espeak speech with phoneme-timed visemes, prompt-driven
motion, a numpy renderer, and a dataset format shared with real data (see docs/world.md)."""

from .clip import FPS, Clip, ClipConfig, make_clip
from .dataset import Sample, TalkingHeadDataset
from .identity import Identity, sample_identity
from .motion import MOTIONS, label_from_prompt
from .render import FaceState, render_frames, render_reference

__all__ = ["FPS", "Clip", "ClipConfig", "make_clip", "Sample", "TalkingHeadDataset", "Identity",
           "sample_identity", "MOTIONS", "label_from_prompt", "FaceState", "render_frames", "render_reference"]
