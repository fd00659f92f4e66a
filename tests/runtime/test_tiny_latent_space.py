"""The runtime refuses a student or fast decoder trained on another VAE's latents (session 38): such a pairing runs
without any error and draws the wrong picture, so the marks (`livetalk_vae_space`, fast decoder `vae_space`) are
checked against the loaded VAE's `latent_space_id()`. Unmarked files (published checkpoints) are not checked."""

import pytest

from livetalk.models.checkpoint import LATENT_SPACE_METADATA_KEY, load_dit, read_shapes, save_dit
from livetalk.models.vae_tiny import load_tiny_fast_decoder, load_tiny_vae
from livetalk.runtime.tiny import TINY_STUDENT, build_tiny_models


def _student(tmp_path, space):
    meta = {k: v for k, v in read_shapes(TINY_STUDENT)[1].items() if k != "livetalk_config"}
    meta.pop(LATENT_SPACE_METADATA_KEY, None)
    if space:
        meta[LATENT_SPACE_METADATA_KEY] = space
    return save_dit(load_dit(TINY_STUDENT), tmp_path / f"s_{space}.safetensors", meta)


def test_student_of_another_latent_space_is_refused(tmp_path):
    space = load_tiny_vae().latent_space_id()
    build_tiny_models(_student(tmp_path, space), decoder="vae")
    build_tiny_models(_student(tmp_path, None), decoder="vae")  # unmarked: trusted
    with pytest.raises(ValueError, match=f"space 0123456789abcdef, but the VAE .* is space {space}"):
        build_tiny_models(_student(tmp_path, "0123456789abcdef"), decoder="vae")


def test_fast_decoder_of_another_latent_space_is_refused(tmp_path):
    fast = load_tiny_fast_decoder()
    other = tmp_path / "fast.safetensors"
    fast.save_file(other, {"vae_space": "0123456789abcdef"})
    assert load_tiny_fast_decoder(other).vae_space == "0123456789abcdef"
    with pytest.raises(ValueError, match="re-distil it"):
        build_tiny_models(decoder="fast", fast_decoder_path=other)
    build_tiny_models(decoder="vae", fast_decoder_path=other)  # not loaded for the VAE decoder
    fast.save_file(other, {"vae_space": load_tiny_vae().latent_space_id()})
    build_tiny_models(decoder="fast", fast_decoder_path=other)


def test_shipped_files_are_marked_with_the_shipped_vae_space():
    """Every shipped DiT and the fast decoder carry the shipped VAE's space, so the checks above are live for them."""
    from livetalk.models.checkpoint import trained_latent_space
    from livetalk.runtime.tiny import WEIGHTS

    space = load_tiny_vae().latent_space_id()
    for f in ("tiny_student.safetensors", "tiny_teacher.safetensors"):
        assert trained_latent_space(WEIGHTS / f) == space, f
    assert load_tiny_fast_decoder().vae_space == space
    vmh = WEIGHTS / "candidates" / "tiny_vae_mouth_vmh.safetensors"
    fast = WEIGHTS / "candidates" / "tiny_vae_fast_decoder_vmh.safetensors"
    if vmh.exists() and fast.exists():  # the candidate pair of session 38 (repository checkout only)
        assert load_tiny_fast_decoder(fast).vae_space == load_tiny_vae(vmh).latent_space_id() != space
