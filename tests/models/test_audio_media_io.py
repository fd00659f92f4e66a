"""load_audio / check_audio: decode, downmix, resample, bad files."""

import warnings

import numpy as np
import pytest

from livetalk.models.audio_base import AudioInputError
from livetalk.models.media_io import (AudioFileError, SilentAudioWarning, check_audio, load_audio, resample,
                                      to_mono, write_wav)

av = pytest.importorskip("av")
pytest.importorskip("scipy")


def tone(sr, seconds, freq=440.0, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_stereo_44k_wav_to_mono_16k(tmp_path):
    left, right = tone(44100, 0.5, 440), tone(44100, 0.5, 660, 0.25)
    p = tmp_path / "stereo.wav"
    write_wav(p, np.stack([left, right]), 44100)
    wave, rep = load_audio(p, return_report=True)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert len(wave) == 8000 and rep.sample_rate == 16000 and abs(rep.duration_s - 0.5) < 1e-9
    expect = resample((left + right) / 2, 44100, 16000)
    assert np.abs(wave - expect).max() < 2e-4  # int16 quantisation only
    assert not rep.is_silent and not rep.clipped


def test_flac_48k_via_pyav(tmp_path):
    """Any container/codec PyAV reads: write a 48 kHz mono FLAC with PyAV itself."""
    p = tmp_path / "a.flac"
    src = tone(48000, 0.25)
    with av.open(str(p), "w") as out:
        st = out.add_stream("flac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray((src * 32767).astype(np.int16)[None], format="s16", layout="mono")
        frame.sample_rate = 48000
        for pkt in st.encode(frame):
            out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    wave = load_audio(p)
    assert len(wave) == 4000
    assert np.abs(wave - resample(src, 48000, 16000)).max() < 1e-3


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(AudioFileError, match="not found"):
        load_audio(tmp_path / "nope.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" + bytes(range(256)) * 4)
    with pytest.raises(AudioFileError):
        load_audio(bad)
    txt = tmp_path / "text.mp3"
    txt.write_text("definitely not audio\n" * 50)
    with pytest.raises(AudioFileError):
        load_audio(txt)


def test_empty_file_is_an_input_error(tmp_path):
    p = tmp_path / "empty.wav"
    write_wav(p, np.zeros(0, np.float32))
    with pytest.raises((AudioInputError, AudioFileError), match="empty|no audio|0 samples|cannot open"):
        load_audio(p)


def test_silent_file_warns_but_loads(tmp_path):
    p = tmp_path / "silence.wav"
    write_wav(p, np.zeros(16000, np.float32))
    with pytest.warns(SilentAudioWarning):
        wave, rep = load_audio(p, return_report=True)
    assert rep.is_silent and len(wave) == 16000 and not wave.any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_audio(p, warn_silent=False)


def test_check_audio_and_to_mono():
    with pytest.raises(AudioInputError, match="NaN"):
        check_audio(np.array([0.1, np.nan], np.float32))
    with pytest.raises(AudioInputError, match="empty"):
        check_audio(np.zeros(0, np.float32))
    with pytest.raises(AudioInputError, match="mono"):
        check_audio(np.zeros((2, 10), np.float32))
    with pytest.raises(AudioInputError, match="float"):
        check_audio(np.zeros(10, np.int16))
    assert check_audio(np.array([0.0, 1.5], np.float32)).clipped
    st = np.stack([np.ones(5, np.float32), -np.ones(5, np.float32) * 0.5])
    assert np.allclose(to_mono(st), 0.25) and np.allclose(to_mono(st.T, channel_axis=1), 0.25)


def test_video_without_audio_stream(tmp_path):
    p = tmp_path / "silent_video.mp4"
    with av.open(str(p), "w") as c:
        s = c.add_stream("mpeg4", rate=16)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for _ in range(2):
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    with pytest.raises(AudioFileError, match="no audio stream"):
        load_audio(p)
