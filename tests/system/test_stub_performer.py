import numpy as np

from livetalk.runtime.performer import chunk_stream
from livetalk.system.performers import build_performer
from livetalk.system.stub_performer import StubPerformer

import pytest


def test_chunk_sizes_and_alignment(face):
    s = StubPerformer(size=64).new_session(face, "calm")
    chunks = list(chunk_stream(s, 3))
    assert [c.frames.shape[0] for c in chunks] == [9, 12, 12]
    assert [c.start_frame for c in chunks] == [0, 9, 21]
    for c in chunks:
        assert c.frames.dtype == np.uint8 and c.frames.shape[1:] == (64, 64, 3)
        assert c.audio.dtype == np.float32 and len(c.audio) == c.frames.shape[0] * 1000
        assert not np.any(c.audio)  # idle = silence
    s.close()


def test_mouth_follows_audio_and_audio_passes_through(face):
    s = StubPerformer(size=64).new_session(face, "calm")
    speech = (0.3 * np.sin(np.arange(9000) / 5.0)).astype(np.float32)
    s.push_audio(speech[:4000])
    s.push_audio(speech[4000:])
    c = s.next_chunk()
    np.testing.assert_array_equal(c.audio, speech)
    idle = s.next_chunk()
    mouth = (slice(40, 52), slice(24, 40))
    speaking_dark = (c.frames[4][mouth].astype(int).sum(-1) < 200).sum()
    idle_dark = (idle.frames[4][mouth].astype(int).sum(-1) < 200).sum()
    assert speaking_dark > idle_dark + 10


def test_interrupt_drops_pending_audio_and_is_deterministic(face):
    def run():
        s = StubPerformer(size=64).new_session(face, "calm")
        s.push_audio(np.full(30000, 0.2, np.float32))
        a = s.next_chunk()
        s.interrupt()
        b = s.next_chunk()
        return a, b

    a1, b1 = run()
    a2, b2 = run()
    assert np.any(a1.audio) and not np.any(b1.audio)
    np.testing.assert_array_equal(a1.frames, a2.frames)
    np.testing.assert_array_equal(b1.frames, b2.frames)


def test_build_performer():
    assert isinstance(build_performer("stub", size=32), StubPerformer)
    with pytest.raises(ValueError, match="unknown performer"):
        build_performer("nope")
