"""Read any talking-head dataset folder in the livetalk layout.

Layout: DIR/manifest.jsonl, one JSON object per clip with keys
    id, prompt, image (png, relative), audio (wav, relative), video (mp4, relative),
    tracks (npz, relative; optional), duration_s, fps
Only id, video and prompt are required; a missing image falls back to the first video frame and a missing
wav to the mp4's audio track (or silence), so real datasets (HDTF, CelebV-HQ, AVSpeech) converted to this
manifest load without code changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .media import SAMPLE_RATE, read_png, read_video, read_wav

MANIFEST = "manifest.jsonl"


@dataclass
class Sample:
    """frames uint8 [T, H, W, 3]; audio float32 [N] at 16 kHz; reference uint8 [H, W, 3];
    tracks: ground-truth arrays (synthetic data) or None."""

    id: str
    prompt: str
    frames: np.ndarray
    audio: np.ndarray
    reference: np.ndarray
    fps: float
    tracks: dict[str, np.ndarray] | None
    meta: dict


def read_manifest(root: str | Path) -> list[dict]:
    """Parse DIR/manifest.jsonl → list of entries (dicts). Raises with the line number on bad JSON."""
    path = Path(root) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"no {MANIFEST} in {root}")
    entries = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{i}: invalid JSON ({err})") from err
        for key in ("id", "video"):
            if key not in e:
                raise ValueError(f"{path}:{i}: entry lacks required key {key!r}")
        entries.append(e)
    return entries


def load_tracks(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(str(path)) as z:
        return {k: z[k] for k in z.files}


def _audio_from_video(path: Path) -> np.ndarray | None:
    import av

    with av.open(str(path)) as box:
        if not box.streams.audio:
            return None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks = []
        for frame in box.decode(box.streams.audio[0]):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.float32) if chunks else None


class TalkingHeadDataset:
    """Indexable dataset over a manifest folder; `ds[i]` → Sample, `ds.by_id(id)` → Sample."""

    def __init__(self, root: str | Path, load_tracks: bool = True):
        self.root = Path(root)
        self.entries = read_manifest(self.root)
        self.load_tracks = load_tracks
        self._index = {e["id"]: i for i, e in enumerate(self.entries)}

    def __len__(self) -> int:
        return len(self.entries)

    def ids(self) -> list[str]:
        return [e["id"] for e in self.entries]

    def by_id(self, clip_id: str) -> Sample:
        if clip_id not in self._index:
            raise KeyError(f"clip {clip_id!r} not in {self.root}")
        return self[self._index[clip_id]]

    def __getitem__(self, i: int) -> Sample:
        e = self.entries[i]
        video = self.root / e["video"]
        frames, fps = read_video(video)
        fps = float(e.get("fps", fps))
        if e.get("image") and (self.root / e["image"]).exists():
            ref = read_png(self.root / e["image"])
        else:
            ref = frames[0].copy()
        audio = None
        if e.get("audio") and (self.root / e["audio"]).exists():
            audio = read_wav(self.root / e["audio"])
        if audio is None:
            audio = _audio_from_video(video)
        if audio is None:
            audio = np.zeros(int(round(len(frames) / fps * SAMPLE_RATE)), np.float32)
        tracks = None
        if self.load_tracks and e.get("tracks") and (self.root / e["tracks"]).exists():
            tracks = load_tracks(self.root / e["tracks"])
        return Sample(e["id"], e.get("prompt", ""), frames, audio, ref, fps, tracks, e)
