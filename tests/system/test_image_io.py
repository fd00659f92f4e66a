import io

import numpy as np
import pytest

from livetalk.system.image_io import UploadError, load_audio, load_image, resize_square
from livetalk.system.tts import encode_wav

from .conftest import png_bytes


def test_load_rgb_png_center_cropped():
    arr = np.zeros((100, 160, 3), np.uint8)
    arr[:, 30:130] = 200  # the centred square
    out = load_image(png_bytes(arr))
    assert out.shape == (100, 100, 3) and out.dtype == np.uint8
    assert out.min() == 200


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "LA"])
def test_load_converts_modes_to_rgb(mode):
    arr = np.random.default_rng(0).integers(0, 255, (80, 80, 3), dtype=np.uint8)
    out = load_image(png_bytes(arr, mode=mode))
    assert out.shape == (80, 80, 3) and out.dtype == np.uint8


def test_rgba_transparent_becomes_white():
    from PIL import Image

    img = Image.new("RGBA", (70, 70), (0, 0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    assert load_image(buf.getvalue()).min() == 255


def test_jpeg_and_webp():
    arr = np.full((90, 90, 3), 120, np.uint8)
    for fmt in ("JPEG", "WEBP"):
        assert load_image(png_bytes(arr, fmt=fmt)).shape == (90, 90, 3)


def test_rejects_non_image():
    with pytest.raises(UploadError) as e:
        load_image(b"%PDF-1.4 this is not an image at all" * 10)
    assert e.value.status == 415 and "not an image" in e.value.message


def test_rejects_empty_tiny_oversized_and_corrupt():
    with pytest.raises(UploadError) as e:
        load_image(b"")
    assert e.value.code == "empty_upload"
    with pytest.raises(UploadError) as e:
        load_image(png_bytes(np.zeros((40, 200, 3), np.uint8)))
    assert e.value.code == "too_small" and "40" in e.value.message
    with pytest.raises(UploadError) as e:
        load_image(b"\x89PNG" + b"0" * 200, max_bytes=100)
    assert e.value.status == 413
    data = png_bytes(np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8))
    with pytest.raises(UploadError) as e:
        load_image(data[: len(data) // 2])
    assert e.value.status in (400, 415)


def test_resize_square():
    out = resize_square(np.zeros((100, 50, 3), np.uint8), 64)
    assert out.shape == (64, 64, 3)


def test_load_audio_wav_resampled_to_16k():
    t = np.arange(22050) / 22050
    wav = encode_wav((0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 22050)
    audio = load_audio(wav)
    assert audio.dtype == np.float32 and abs(len(audio) - 16000) < 400
    assert 0.3 < np.abs(audio).max() <= 1.0


def test_load_audio_rejects_non_audio_and_image():
    with pytest.raises(UploadError) as e:
        load_audio(b"hello, this is plain text, not a recording" * 20)
    assert e.value.status == 415 and "not audio" in e.value.message
    with pytest.raises(UploadError) as e:
        load_audio(png_bytes(np.zeros((64, 64, 3), np.uint8)))
    assert e.value.status in (400, 415)
    with pytest.raises(UploadError) as e:
        load_audio(b"")
    assert e.value.code == "empty_upload"
    with pytest.raises(UploadError) as e:
        load_audio(b"x" * 101, max_bytes=100)
    assert e.value.status == 413


def test_large_images_are_shrunk_for_storage():
    out = load_image(png_bytes(np.zeros((1500, 2000, 3), np.uint8)))
    assert out.shape == (1024, 1024, 3)
