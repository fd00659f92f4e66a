"""Validation of user uploads: face images (Pillow) and speech recordings (PyAV).

Every rejection raises `UploadError` with an HTTP-like status (400 malformed, 413 too large, 415 wrong kind)
and a message meant to be shown to the user as is.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

MAX_IMAGE_BYTES = 10 * 1024 * 1024  # 10 MB
MIN_IMAGE_SIDE = 64  # px
MAX_IMAGE_PIXELS = 40_000_000  # refuse decompression bombs (e.g. a 20000×20000 PNG)
MAX_AUDIO_BYTES = 10 * 1024 * 1024
MAX_AUDIO_SECONDS = 60.0
SAMPLE_RATE = 16000


class UploadError(ValueError):
    """A rejected upload; `status` is the HTTP status to answer with, `code` a stable machine-readable tag."""

    def __init__(self, message: str, status: int = 400, code: str = "bad_upload") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


def _human(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} kB"


def center_crop_square(image: np.ndarray) -> np.ndarray:
    """Largest centred square of an `[H, W, C]` array."""
    h, w = image.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return image[top:top + s, left:left + s]


def load_image(data: bytes, max_bytes: int = MAX_IMAGE_BYTES, min_side: int = MIN_IMAGE_SIDE,
               square: bool = True, max_side: int | None = 1024) -> np.ndarray:
    """Decode an uploaded image into RGB uint8 `[S, S, 3]` (centre-cropped square when `square`; shrunk so
    no side exceeds `max_side`, which bounds the memory a stored upload takes).

    Accepts anything Pillow decodes (PNG, JPEG, WebP, GIF: first frame, ...); grayscale, palette, RGBA
    (composited on white) and 16-bit images are converted to RGB.
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise UploadError("The uploaded image is empty.", 400, "empty_upload")
    if len(data) > max_bytes:
        raise UploadError(f"The image is too large ({_human(len(data))}); the limit is {_human(max_bytes)}.",
                          413, "too_large")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise UploadError(f"The image is too large ({img.width}×{img.height} pixels).", 413, "too_large")
            img.load()
    except UploadError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        if isinstance(err, UnidentifiedImageError):
            raise UploadError("This file is not an image (use PNG, JPEG or WebP).", 415, "not_an_image") from err
        raise UploadError("The image is too large to decode safely.", 413, "too_large") from err
    except Exception as err:  # truncated / corrupt files raise OSError, SyntaxError, ValueError...
        raise UploadError(f"The image could not be decoded ({type(err).__name__}); the file may be corrupt.",
                          400, "corrupt_image") from err
    if min(img.width, img.height) < min_side:
        raise UploadError(f"The image is too small ({img.width}×{img.height}); each side needs at least "
                          f"{min_side} pixels.", 400, "too_small")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        arr = (arr / max(arr.max(), 1.0) * 255.0).astype(np.uint8)
        img = Image.fromarray(arr, "L")
    img = img.convert("RGB")
    arr = np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
    if square:
        arr = np.ascontiguousarray(center_crop_square(arr))
    if max_side is not None and max(arr.shape[:2]) > max_side:
        scale = max_side / max(arr.shape[:2])
        size = (max(1, round(arr.shape[1] * scale)), max(1, round(arr.shape[0] * scale)))
        arr = np.asarray(Image.fromarray(arr).resize(size, Image.LANCZOS), dtype=np.uint8)
    return arr


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square and resize to `size`×`size` (RGB uint8)."""
    from PIL import Image

    sq = center_crop_square(image)
    if sq.shape[0] == size:
        return np.ascontiguousarray(sq)
    return np.asarray(Image.fromarray(sq).resize((size, size), Image.BICUBIC), dtype=np.uint8)


def load_audio(data: bytes, max_bytes: int = MAX_AUDIO_BYTES, max_seconds: float = MAX_AUDIO_SECONDS,
               sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode an uploaded recording (WAV, WebM/Opus, Ogg, MP3, M4A... anything FFmpeg reads) to float32 mono
    at `sample_rate`, in [-1, 1]."""
    import av

    if not data:
        raise UploadError("The uploaded audio is empty.", 400, "empty_upload")
    if len(data) > max_bytes:
        raise UploadError(f"The audio file is too large ({_human(len(data))}); the limit is {_human(max_bytes)}.",
                          413, "too_large")
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except Exception as err:
        raise UploadError("This file is not audio (could not read it as a sound file; use WAV, WebM, Ogg or MP3).",
                          415, "not_audio") from err
    try:
        if not container.streams.audio:
            raise UploadError("This file has no audio track.", 415, "not_audio")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        parts: list[np.ndarray] = []
        total = 0
        limit = int(max_seconds * sample_rate)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    part = out.to_ndarray().reshape(-1).astype(np.float32)
                    parts.append(part)
                    total += len(part)
                if total > limit:
                    raise UploadError(f"The recording is too long (over {max_seconds:.0f} s).", 413, "too_long")
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1).astype(np.float32))
        except UploadError:
            raise
        except Exception as err:
            raise UploadError(f"The audio could not be decoded ({type(err).__name__}); the file may be corrupt.",
                              400, "corrupt_audio") from err
    finally:
        container.close()
    audio = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if len(audio) == 0:
        raise UploadError("The recording contains no sound samples.", 400, "empty_audio")
    return np.clip(audio, -1.0, 1.0).astype(np.float32)
