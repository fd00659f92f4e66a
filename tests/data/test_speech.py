import numpy as np

from livetalk.data.speech import SAMPLE_RATE, synthesize
from livetalk.data.visemes import CLOSED, OPEN, ROUND, WIDE, classify_phoneme, energy_mouth_tracks, mouth_tracks


def test_synthesize_returns_timed_phonemes():
    u = synthesize("Hello world, my name is Bob.")
    assert u.audio.dtype == np.float32 and np.abs(u.audio).max() <= 1.0
    assert 0.8 < u.duration_s < 4.0
    assert len(u.phonemes) > 10
    starts = [p.start_s for p in u.phonemes]
    assert starts == sorted(starts)
    assert all(p.end_s > p.start_s for p in u.phonemes)
    assert synthesize("Hello world, my name is Bob.").audio.tobytes() == u.audio.tobytes()


def test_cli_fallback_gives_audio():
    u = synthesize("hello there", use_library=False)
    assert u.duration_s > 0.3 and u.phonemes == ()


def test_classify_phonemes():
    assert classify_phoneme("_:")[0] == CLOSED
    assert classify_phoneme("m")[0] == CLOSED and classify_phoneme("m")[1] == 0.0
    assert classify_phoneme("aI")[0] == OPEN and classify_phoneme("aI")[1] == 1.0
    assert classify_phoneme("u:")[0] == ROUND
    assert classify_phoneme("i:")[0] == WIDE


def test_mouth_track_follows_audio_energy():
    """Mouth openness from phoneme timing correlates best with the audio envelope at lag 0."""
    u = synthesize("Do you think the old man would never sell a big yellow boat after the rain?")
    n = int(u.duration_s * 16)
    tr = mouth_tracks(u.phonemes, n)
    rms = np.sqrt((u.audio[: n * 1000].reshape(n, 1000) ** 2).mean(1))
    m = tr["mouth_open"]
    corr = {k: np.corrcoef(np.roll(m, k)[4:-4], rms[4:-4])[0, 1] for k in range(-3, 4)}
    assert max(corr, key=corr.get) == 0
    assert corr[0] > 0.3 and corr[0] > max(corr[-3], corr[3]) + 0.1
    assert tr["viseme"].shape == (n,) and tr["viseme"].max() <= 3


def test_energy_fallback_tracks():
    audio = np.zeros(16 * SAMPLE_RATE // 16 * 2, np.float32)
    audio[8000:16000] = 0.5 * np.sin(np.arange(8000) * 0.3)
    tr = energy_mouth_tracks(audio, 32)
    assert tr["mouth_open"][:8].max() == 0 and tr["mouth_open"][8:16].min() > 0.5
