"""The streaming Performer: chunk sizes, audio/video sync, speech vs idle, prompt change, barge-in,
pipelined == sequential, unbounded streaming, offline mp4 generation."""

import numpy as np
import pytest
import torch

from livetalk.runtime.avatar import AvatarSession, PipelinedSession, RuntimeConfig, block_pixel_frames, center_square
from livetalk.runtime.offline import generate_video
from livetalk.runtime.tiny import AvatarPerformer, build_tiny_models


@pytest.fixture(scope="module")
def models():
    return build_tiny_models(random_weights=True)


def image(seed=0, shape=(80, 100, 3)):
    return (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8)


def speech(n, seed=0):
    rng = np.random.default_rng(seed)
    return (0.2 * rng.standard_normal(n)).astype(np.float32)


def test_block_pixel_frames():
    assert block_pixel_frames(0) == (0, 9)
    assert block_pixel_frames(1) == (9, 21)
    assert block_pixel_frames(5) == (57, 69)


def test_center_square_crops_then_resizes():
    img = np.zeros((60, 100, 3), np.uint8)
    img[:, 20:80] = 255  # the central 60 columns are white
    out = center_square(img, 32)
    assert out.shape == (32, 32, 3) and out.min() > 200
    with pytest.raises(ValueError):
        center_square(np.zeros((10, 10), np.uint8), 32)


def test_chunks_sizes_and_audio_sync(models):
    s = AvatarSession(models, image(), "A person nodding", RuntimeConfig())
    voice = speech(15000)
    s.push_audio(voice)
    chunks = [s.next_chunk() for _ in range(3)]
    assert [len(c.frames) for c in chunks] == [9, 12, 12]
    assert [c.start_frame for c in chunks] == [0, 9, 21]
    assert all(len(c.audio) == 1000 * len(c.frames) for c in chunks)
    played = np.concatenate([c.audio for c in chunks])
    assert np.array_equal(played[:15000], voice) and not played[15000:].any()  # then silence
    assert chunks[0].stats["speaking"] and not chunks[2].stats["speaking"]
    assert chunks[0].frames.dtype == np.uint8 and chunks[0].frames.shape[1:] == (64, 64, 3)


def test_prompt_change_and_interrupt(models):
    s = AvatarSession(models, image(), "A person nodding", RuntimeConfig())
    s.push_audio(speech(40000))
    s.next_chunk()
    s.set_prompt("A person shaking the head")
    s.next_chunk()
    assert s.prompt == "A person shaking the head"
    s.interrupt()
    c = s.next_chunk()
    # only the audio already fed as look-ahead (one frame, 62.5 ms) still plays; then silence
    assert not c.audio[1000:].any()
    assert not s.next_chunk().audio.any()


def test_pipelined_equals_sequential(models):
    a = AvatarSession(models, image(1), "A person smiling", RuntimeConfig(seed=5))
    b = PipelinedSession(AvatarSession(models, image(1), "A person smiling", RuntimeConfig(seed=5)))
    voice = speech(30000, seed=2)
    a.push_audio(voice)
    b.push_audio(voice)  # threads start at the first next_chunk, so both see the same timeline
    try:
        for _ in range(4):
            ca, cb = a.next_chunk(), b.next_chunk()
            assert ca.start_frame == cb.start_frame
            assert np.array_equal(ca.frames, cb.frames) and np.array_equal(ca.audio, cb.audio)
    finally:
        b.close()


def test_speech_changes_the_video(models):
    outs = []
    for voice in (np.zeros(20000, np.float32), speech(20000)):
        s = AvatarSession(models, image(2), "A person speaking", RuntimeConfig(seed=1))
        s.push_audio(voice)
        s.next_chunk()
        outs.append(s.denoise_next()[0])  # latents: the random decoder maps everything to near-grey
    assert (outs[0] - outs[1]).abs().mean() > 0.1 * outs[0].std()


def test_long_stream_memory_bounded(models):
    s = AvatarSession(models, image(3), "A person listening", RuntimeConfig(sink_size=3, local_attn_size=9))
    for _ in range(12):
        c = s.next_chunk()
    assert s.cache.cached_frames == 9 and s._feat.shape[0] == 0 and len(s._timeline) <= 2000
    assert c.start_frame == 9 + 12 * 10


def test_bad_audio_rejected(models):
    s = AvatarSession(models, image(), "x", RuntimeConfig())
    with pytest.raises(ValueError, match="NaN"):
        s.push_audio(np.array([0.0, np.nan], np.float32))


def test_generate_video_offline(models, tmp_path):
    perf = AvatarPerformer(models, RuntimeConfig(), pipelined=True)
    voice = speech(25500)
    frames, sound, report = generate_video(perf, image(), voice, "A person speaking")
    assert frames.shape == (26, 64, 64, 3) and len(sound) == 26000
    assert np.array_equal(sound[:25500], voice)
    assert report.frames == 26 and report.first_chunk_s > 0
    from livetalk.data.media import read_video, write_video

    write_video(tmp_path / "a.mp4", frames, audio=sound)
    back, fps = read_video(tmp_path / "a.mp4")
    assert back.shape == frames.shape and fps == 16


def test_reprimed_decoder_in_a_session(models):
    """`decoder_warmup`: the session's frames are the re-primed decode of its own latents (blocks of 3), and the
    tiny Performer uses it by default with the VAE decoder; None keeps one continuous decoder."""
    from livetalk.models.vae import video_to_frames
    from livetalk.models.vae_reprime import FIRST_SPAN, RePrimedDecoder, decode_reprimed
    from livetalk.runtime.tiny import TINY_DECODER_WARMUP, tiny_performer

    s = AvatarSession(models, image(2), "A person nodding", RuntimeConfig(seed=3, decoder_warmup=1))
    assert isinstance(s.decoder, RePrimedDecoder) and s.decoder.warmup == 1
    s.push_audio(speech(40000, seed=4))
    latents, frames = [], []
    for _ in range(5):  # blocks 3 and 4 are re-primed (first span: 9 latent frames)
        x0, _, _, _ = s.denoise_next()
        latents.append(x0)
        frames.append(s.decode(x0)[0])
    want = video_to_frames(decode_reprimed(models.decoder_factory, torch.cat(latents, 1), 1, first_span=FIRST_SPAN)[0])
    assert np.abs(np.concatenate(frames).astype(int) - want.astype(int)).max() <= 1  # uint8 rounding
    assert AvatarSession(models, image(2), "x", RuntimeConfig()).decoder.warmup is None
    assert tiny_performer(random_weights=True, decoder="vae").cfg.decoder_warmup == TINY_DECODER_WARMUP["vae"] == 1
    assert tiny_performer(random_weights=True, decoder="fast").cfg.decoder_warmup is None
    assert tiny_performer(random_weights=True, decoder="vae", decoder_warmup=None).cfg.decoder_warmup is None


def test_decoder_warmup_argument():
    from livetalk.runtime.commands import decoder_warmup_arg

    assert decoder_warmup_arg("none") is None and decoder_warmup_arg("2") == 2
    with pytest.raises(ValueError):
        decoder_warmup_arg("-1")


def test_a_still_cond_student_gets_the_reference_as_a_still_video(models, tmp_path):
    """Students trained with `ref_video` (session 33): each block's cond holds the still video's latents of its
    frames (frame 0 the reference latent, frames past the 9th the 9th), and the tiny loader sets this up from the
    checkpoint's metadata."""
    from livetalk.models.checkpoint import COND_METADATA_KEY, save_dit
    from livetalk.models.vae import frames_to_video
    from livetalk.runtime.avatar import STILL_LATENT_FRAMES, AvatarModels

    still_models = AvatarModels(models.dit, models.vae, models.decoder_factory, models.text_encoder,
                                models.audio_encoder, still_cond=True)
    img = image(3)
    s = AvatarSession(still_models, img, "A person nodding", RuntimeConfig())
    plain = AvatarSession(models, img, "A person nodding", RuntimeConfig())
    ref = center_square(img, RuntimeConfig().size)
    with torch.no_grad():
        still = models.vae.encode(frames_to_video(np.repeat(ref[None], 4 * (STILL_LATENT_FRAMES - 1) + 1, 0)))
    assert s.still.shape[1] == 3  # only the first block's still frames before the first chunk (the encoder is causal)
    for b, frames in ((0, [0, 1, 2]), (2, [6, 7, 8]), (3, [8, 8, 8]), (40, [8, 8, 8])):
        cond, published = s.block_cond(b), plain.block_cond(b)
        assert torch.equal(cond[:, :, 16], published[:, :, 16])  # the mask: 0 on frame 0 only
        want = still[:, frames].clone()
        if b == 0:
            want[:, 0] = plain.ref_latent
            assert torch.equal(published[:, 1, :16], plain.ref_latent)  # published: the reference latent repeated
        assert torch.allclose(cond[:, :, :16], want, atol=1e-5), b
    a, c = s.next_chunk(), plain.next_chunk()
    assert a.frames.shape == c.frames.shape and not np.array_equal(a.frames, c.frames)
    path = tmp_path / "still_student.safetensors"
    save_dit(models.dit, path, {COND_METADATA_KEY: "still-video"})
    save_dit(models.dit, tmp_path / "published.safetensors")
    assert build_tiny_models(student=path).still_cond
    assert not build_tiny_models(student=tmp_path / "published.safetensors").still_cond
