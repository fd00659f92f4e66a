"""Built-in avatar faces (drawn procedurally, so the page works without any image file).

The mouth is left out on purpose: performers animate it (the stub draws it at 72 % of the height).
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np

FACES = {
    "ada": {"name": "Ada", "bg": (196, 220, 240), "skin": (241, 200, 170), "hair": (92, 52, 30), "eyes": (60, 90, 130),
            "long_hair": True},
    "ben": {"name": "Ben", "bg": (222, 234, 206), "skin": (198, 140, 100), "hair": (30, 24, 20), "eyes": (40, 30, 25),
            "long_hair": False},
    "cleo": {"name": "Cleo", "bg": (240, 218, 228), "skin": (150, 100, 72), "hair": (20, 16, 16), "eyes": (35, 25, 20),
             "long_hair": True},
}


@lru_cache(maxsize=None)
def face_image(face_id: str, size: int = 512) -> np.ndarray:
    """RGB uint8 `[size, size, 3]` portrait for a built-in face id (KeyError when unknown)."""
    from PIL import Image, ImageDraw, ImageFilter

    spec = FACES[face_id]
    s = size * 2  # draw at 2x, downsample for anti-aliasing
    img = Image.new("RGB", (s, s), spec["bg"])
    d = ImageDraw.Draw(img)
    u = s / 100.0
    if spec["long_hair"]:
        d.rounded_rectangle([22 * u, 22 * u, 78 * u, 96 * u], radius=22 * u, fill=spec["hair"])
    d.rectangle([40 * u, 80 * u, 60 * u, 100 * u], fill=tuple(int(c * 0.9) for c in spec["skin"]))  # neck
    d.ellipse([18 * u, 86 * u, 82 * u, 130 * u], fill=(70, 90, 120))  # shoulders
    d.ellipse([26 * u, 24 * u, 74 * u, 88 * u], fill=spec["skin"])  # face
    d.chord([25 * u, 16 * u, 75 * u, 56 * u], 180, 360, fill=spec["hair"])  # hair top
    d.ellipse([22 * u, 50 * u, 29 * u, 62 * u], fill=spec["skin"])  # ears
    d.ellipse([71 * u, 50 * u, 78 * u, 62 * u], fill=spec["skin"])
    for cx in (40, 60):  # eyes and brows
        d.ellipse([(cx - 5) * u, 48 * u, (cx + 5) * u, 55 * u], fill=(250, 250, 250))
        d.ellipse([(cx - 2.4) * u, 49 * u, (cx + 2.4) * u, 54 * u], fill=spec["eyes"])
        d.ellipse([(cx - 0.9) * u, 50.6 * u, (cx + 0.9) * u, 52.4 * u], fill=(10, 10, 10))
        d.line([(cx - 6) * u, 44 * u, (cx + 5) * u, 43 * u], fill=spec["hair"], width=int(1.6 * u))
    nose = tuple(int(c * 0.85) for c in spec["skin"])
    d.line([50 * u, 55 * u, 48 * u, 64 * u, 51 * u, 65 * u], fill=nose, width=int(1.2 * u))
    for cx in (36, 64):  # cheeks
        d.ellipse([(cx - 5) * u, 62 * u, (cx + 5) * u, 68 * u], fill=tuple(min(255, int(c * 1.03) + 6) for c in spec["skin"]))
    img = img.filter(ImageFilter.GaussianBlur(0.6 * u / 2)).resize((size, size), Image.LANCZOS)
    return np.asarray(img, dtype=np.uint8)


def face_png(face_id: str, size: int = 256) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(face_image(face_id, size)).save(buf, format="PNG")
    return buf.getvalue()
