"""Numpy renderer: identity + per-frame face state → RGB frames (anti-aliased signed-distance shapes).

Resolution-independent: all geometry lives in normalised coordinates (x right, y down, [-1, 1]), so the
same call renders 64×64, 128×128 or 512×512 frames. Frames are processed in chunks to bound memory.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from . import sdf
from .identity import Identity

NECK = (0.0, 0.62)  # roll pivot in normalised coordinates
ZOOM = 0.86  # geometry units per image unit


@dataclass
class FaceState:
    """Per-frame face state; every field is float32 [T].

    yaw/pitch/roll: head pose in radians (yaw > 0 turns towards image right, pitch > 0 looks down,
    roll > 0 tilts clockwise); mouth_open in [0,1]; mouth_width multiplier (~0.7 round … 1.2 wide);
    smile, brow (raise), blink (1 = eyes shut) in [0,1]; dx, dy: head translation in normalised units.
    """

    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    mouth_open: np.ndarray
    mouth_width: np.ndarray
    smile: np.ndarray
    brow: np.ndarray
    blink: np.ndarray
    dx: np.ndarray
    dy: np.ndarray

    @classmethod
    def neutral(cls, n_frames: int = 1) -> "FaceState":
        z = np.zeros(n_frames, np.float32)
        return cls(**{f.name: (np.ones_like(z) if f.name == "mouth_width" else z.copy()) for f in fields(cls)})

    def __len__(self) -> int:
        return len(self.yaw)

    def slice(self, a: int, b: int) -> "FaceState":
        return FaceState(**{f.name: getattr(self, f.name)[a:b] for f in fields(self)})

    def mouth_closed(self) -> "FaceState":
        """The same frames with the mouth held closed and neutral (mouth_open 0, mouth_width 1): rendered beside
        the original, the difference is the mouth's own part of the image (scripts/mouth_delta.py)."""
        return replace(self, mouth_open=np.zeros_like(self.mouth_open), mouth_width=np.ones_like(self.mouth_width))

    def as_dict(self) -> dict[str, np.ndarray]:
        return {f.name: np.asarray(getattr(self, f.name), np.float32) for f in fields(self)}


def _col(c, k: float = 1.0) -> np.ndarray:
    return np.clip(np.asarray(c, np.float32) * k, 0, 1)


def _background(idt: Identity, X, Y) -> np.ndarray:
    """[H, W, 3] static background."""
    c1, c2 = _col(idt.bg1), _col(idt.bg2)
    kind = idt.background
    t = np.zeros_like(X)
    if kind == 1:  # gradient
        t = (Y + 1) / 2
    elif kind == 2:  # stripes
        t = (np.sin((X + 0.3 * Y) * 9.0) > 0).astype(np.float32) * 0.6
    elif kind == 3:  # dots
        gx, gy = np.mod(X * 3.5, 1.0) - 0.5, np.mod(Y * 3.5, 1.0) - 0.5
        t = np.clip(0.5 - (np.sqrt(gx ** 2 + gy ** 2) - 0.18) * X.shape[1] / 7, 0, 1) * 0.7
    elif kind == 4:  # vignette
        t = np.clip(np.sqrt(X ** 2 + Y ** 2) / 1.4, 0, 1)
    return c1 * (1 - t[..., None]) + c2 * t[..., None]


def _body(idt: Identity, img, X, Y, px, s: FaceState) -> None:
    skin = _col(idt.skin)
    sway = 0.05 * s.yaw[:, None, None]
    neck = sdf.box(X, Y, sway * 0.5, 0.72, 0.13 * idt.face_w / 0.4, 0.22, 0.05)
    sdf.paint(img, sdf.coverage(neck, px), skin * 0.82)
    torso = sdf.ellipse(X, Y, sway, 1.2, 1.0, 0.52)
    cloth = _col(idt.cloth)
    a = sdf.coverage(torso, px)
    if idt.clothing == 4:  # striped
        stripe = (np.sin(Y * 40.0) > 0)[..., None]
        col = np.where(stripe, cloth, cloth * 0.55 + 0.4)
        sdf.paint(img, a, col)
    else:
        sdf.paint(img, a, cloth)
    if idt.clothing == 1:  # v-neck: skin triangle
        v = np.maximum(np.abs(X - sway) * 1.6 + (Y - 0.92), 0.66 - Y)
        sdf.paint(img, sdf.coverage(v, px) * a, skin * 0.82)
    elif idt.clothing == 2:  # white collar flaps
        for side in (-1, 1):
            flap = sdf.segment(X, Y, sway + side * 0.03, 0.73, sway + side * 0.17, 0.77, 0.04)
            sdf.paint(img, sdf.coverage(flap, px), (0.95, 0.95, 0.95))
    elif idt.clothing == 3:  # hoodie rim
        rim = np.abs(sdf.ellipse(X, Y, sway, 0.74, 0.26, 0.1)) - 0.03
        sdf.paint(img, sdf.coverage(rim, px), cloth * 0.6)


def render_frames(idt: Identity, state: FaceState, size: int = 64, chunk_pixels: int = 1 << 21) -> np.ndarray:
    """Render `len(state)` frames of `idt`. Returns uint8 [T, size, size, 3]."""
    if size < 16:
        raise ValueError(f"render size must be >= 16 pixels, got {size}")
    n = len(state)
    out = np.empty((n, size, size, 3), np.uint8)
    step = max(1, chunk_pixels // (size * size))
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    X = np.broadcast_to(coords[None, :], (size, size))
    Y = np.broadcast_to(coords[:, None], (size, size))
    bg = _background(idt, X, Y).astype(np.float32)
    X, Y = X * ZOOM, Y * ZOOM + 0.04  # figure geometry is zoomed so the head fills the frame
    for a in range(0, n, step):
        b = min(n, a + step)
        out[a:b] = _render_chunk(idt, state.slice(a, b), X, Y, bg)
    return out


def _render_chunk(idt: Identity, s: FaceState, X, Y, bg) -> np.ndarray:
    T = len(s)
    size = X.shape[0]
    px = 2.0 / size * ZOOM
    img = np.repeat(bg[None], T, axis=0).copy()
    Xt = np.broadcast_to(X, (T, size, size))
    Yt = np.broadcast_to(Y, (T, size, size))
    _body(idt, img, Xt, Yt, px, s)

    P = lambda v: np.asarray(v, np.float32)[:, None, None]  # noqa: E731  per-frame → [T,1,1]
    yaw, pitch, roll = P(s.yaw), P(s.pitch), P(s.roll)
    # head-local coordinates: undo roll about the neck, undo translation
    cr, sr = np.cos(roll), np.sin(roll)
    x0, y0 = X[None] - NECK[0] - P(s.dx), Y[None] - NECK[1] - P(s.dy)
    x = cr * x0 + sr * y0 + NECK[0]
    y = -sr * x0 + cr * y0 + NECK[1]

    fw, fh = idt.face_w, idt.face_h
    cy = -0.05
    hx = 0.07 * np.sin(yaw)  # outline shift with yaw
    hy = 0.04 * np.sin(pitch)
    fx = 0.30 * np.sin(yaw)  # feature shift (features sit on the front of the head)
    fy = 0.22 * np.sin(pitch)
    squash = 1.0 - 0.25 * np.abs(np.sin(yaw))  # feature spacing foreshortening
    skin = _col(idt.skin)
    hair = _col(idt.hair)

    style = idt.hair_style
    hv = idt.hair_volume
    # long hair behind the head
    if style == 4:
        back = sdf.box(x, y, hx * 0.5, cy + 0.25, (fw + 0.07) * hv, fh * 0.95, 0.25)
        sdf.paint(img, sdf.coverage(back, px), hair * 0.85)
    if style == 5:  # bun on top
        bun = sdf.circle(x, y, hx * 0.6, cy - fh - 0.08, 0.14)
        sdf.paint(img, sdf.coverage(bun, px), hair)
    # ears
    for side in (-1, 1):
        ex = side * fw * 0.98 * squash + hx * 0.6
        ear = sdf.ellipse(x, y, ex, idt.eye_y + 0.07 + hy, 0.065, 0.11)
        sdf.paint(img, sdf.coverage(ear, px), skin * 0.9)
        if idt.earrings:
            ring = np.abs(sdf.circle(x, y, ex, idt.eye_y + 0.2 + hy, 0.03)) - 0.01
            sdf.paint(img, sdf.coverage(ring, px), (0.95, 0.8, 0.25))
    # face with jaw taper / square shape
    taper = {0: 0.16, 1: 0.06, 2: 0.2, 3: 0.05, 4: 0.38}[idt.face_shape]
    ly = (y - cy - hy) / fh
    xs = (x - hx) / (1.0 - taper * np.clip(ly, 0, 1) ** 2)
    if idt.face_shape == 3:
        face = sdf.superellipse(xs, y, 0, cy + hy, fw, fh, 3.2)
    else:
        face = sdf.ellipse(xs, y, 0, cy + hy, fw, fh)
    fa = sdf.coverage(face, px)
    shade = 1.0 - 0.22 * np.clip(((x - hx - 0.5 * fx) / fw) ** 2 + 0.4 * np.clip(ly, 0, 1) ** 2, 0, 1)
    sdf.paint(img, fa, skin * shade[..., None])
    inside = fa  # feature masks are clipped to the face

    # facial hair beneath features
    mx, my = fx, idt.mouth_y + fy
    if idt.facial_hair in (1, 3):
        region = np.maximum(face, (my - 0.1 - y))
        amount = 0.35 if idt.facial_hair == 1 else 0.95
        sdf.paint(img, sdf.coverage(region, px) * amount, hair * 0.9)
    # blush
    if idt.blush > 0.05:
        for side in (-1, 1):
            ch = sdf.circle(x, y, side * 0.2 * squash + fx * 0.8, idt.eye_y + 0.2 + fy, 0.07)
            sdf.paint(img, np.clip(0.5 - ch / 0.06, 0, 1) * idt.blush * inside, (0.95, 0.45, 0.45))

    # smile lifts the cheeks: two soft highlights under the eyes
    for side in (-1, 1):
        ck = sdf.ellipse(x, y, side * 0.21 * squash + fx * 0.8, idt.eye_y + 0.15 + fy, 0.08, 0.05)
        sdf.paint(img, np.clip(0.5 - ck / 0.04, 0, 1) * 0.35 * P(s.smile) * inside, skin * 1.12 + 0.04)

    # eyes
    es = idt.eye_size
    ew, eh = 0.075 * es, 0.047 * es
    blink = np.maximum(P(s.blink), 0.3 * P(s.smile))  # smiling eyes narrow a little
    for side in (-1, 1):
        ex = side * idt.eye_sep * squash + fx
        ey = idt.eye_y + fy
        h = eh * np.clip(1.0 - blink, 0.15, 1.0)
        show = np.clip((1.0 - blink) * 5.0, 0, 1)  # eye fully hidden once nearly shut
        sclera = sdf.ellipse(x, y, ex, ey + (eh - h) * 0.6, ew, h)
        sa = sdf.coverage(sclera, px) * show
        sdf.paint(img, sa, (0.96, 0.96, 0.94))
        look = 0.02 * np.sin(yaw)
        iris = sdf.circle(x, y, ex + look, ey, eh * 0.85)
        sdf.paint(img, sdf.coverage(iris, px) * sa, _col(idt.iris))
        pupil = sdf.circle(x, y, ex + look, ey, eh * 0.4)
        sdf.paint(img, sdf.coverage(pupil, px) * sa, (0.03, 0.03, 0.03))
        lid = np.maximum(np.abs(sclera) - 0.007, y - (ey + (eh - h) * 0.6))  # upper lash line
        sdf.paint(img, sdf.coverage(lid, px) * 0.9 * show, (0.12, 0.08, 0.07))
        shut = sdf.segment(x, y, ex - ew * 0.95, ey + eh * 0.4, ex + ew * 0.95, ey + eh * 0.4, 0.008)
        sdf.paint(img, sdf.coverage(shut, px) * 0.9 * (1 - show), (0.12, 0.08, 0.07))
        # brows
        by = ey - eh - 0.045 - 0.075 * P(s.brow)
        bw = 0.075
        thick = {0: 0.011, 1: 0.02, 2: 0.014}[idt.brows] * idt.brow_thick
        arch = 0.03 if idt.brows == 2 else 0.012
        lx = x - ex
        curve = y - (by - arch * (1 - np.clip(lx / bw, -1, 1) ** 2)) + side * 0.1 * lx * 0  # noqa
        brow = np.maximum(np.abs(curve) - thick, np.abs(lx) - bw)
        sdf.paint(img, sdf.coverage(brow, px) * inside, hair * 0.7 if idt.hair_style != 0 else (0.2, 0.15, 0.1))

    # nose
    nx = fx * 1.15
    ny = idt.eye_y + 0.15 * idt.nose_len + fy
    nshade = skin * 0.72
    if idt.nose == 0:
        for side in (-1, 1):
            sdf.paint(img, sdf.coverage(sdf.circle(x, y, nx + side * 0.025, ny, 0.011), px), nshade * 0.8)
    elif idt.nose == 1:
        ridge = sdf.segment(x, y, nx + 0.01, ny - 0.12 * idt.nose_len, nx + 0.025, ny, 0.008)
        sdf.paint(img, sdf.coverage(ridge, px) * 0.7, nshade)
        sdf.paint(img, sdf.coverage(sdf.segment(x, y, nx - 0.03, ny + 0.005, nx + 0.03, ny + 0.005, 0.009), px), nshade)
    else:
        sdf.paint(img, sdf.coverage(sdf.ellipse(x, y, nx, ny - 0.005, 0.04, 0.03), px), skin * 0.88)
        for side in (-1, 1):
            sdf.paint(img, sdf.coverage(sdf.circle(x, y, nx + side * 0.02, ny + 0.012, 0.009), px), nshade * 0.8)

    # mouth: lips + cavity + teeth, smile bends the corners up
    op = P(s.mouth_open)
    smile = P(s.smile)
    mw = idt.mouth_w * P(s.mouth_width) * (1 + 0.4 * smile) * squash
    lx = (x - mx) / mw
    ym = y - my + smile * 0.08 * np.clip(lx, -1.2, 1.2) ** 2
    cav = 0.004 + op * 0.075
    lip_t = 0.022
    lips = sdf.ellipse(x, ym, mx, 0.0, mw, cav + lip_t)
    sdf.paint(img, sdf.coverage(lips, px), _col(idt.lips))
    cavity = sdf.ellipse(x, ym, mx, 0.0, mw * 0.82, cav)
    ca = sdf.coverage(cavity, px)
    sdf.paint(img, ca, (0.25, 0.05, 0.06))
    teeth = np.maximum(cavity, ym + cav * 0.45)
    sdf.paint(img, sdf.coverage(teeth, px) * ca, (0.94, 0.93, 0.88))
    if idt.facial_hair == 2:  # mustache
        mus = sdf.ellipse(x, y, mx, my - cav - 0.045, mw * 1.05, 0.022)
        sdf.paint(img, sdf.coverage(mus, px), hair * 0.85)

    # hair in front
    if style not in (0, 4) or style == 4:
        if style != 0:
            cur = 1.0 if style != 6 else 1.0 + 0.06 * np.sin(12 * np.arctan2(y - cy, x - hx))
            outer = sdf.ellipse(x, y, hx * 1.1, cy + hy - 0.02, (fw + 0.035) * hv * cur, (fh + 0.04) * hv * cur)
            hl = cy + hy - fh * {1: 0.45, 2: 0.2, 3: 0.42, 4: 0.45, 5: 0.5, 6: 0.4, 7: 0.62}[style]
            rel = (x - hx * 1.4) / fw
            if style == 3:
                line = hl + 0.25 * np.clip(rel + 0.3, -1, 1) ** 2 - 0.06 * rel
            elif style == 2:
                line = hl + 0.05 * rel ** 2 + 0.015 * np.sin(rel * 25)
            else:
                line = hl + 0.28 * rel ** 2
            region = np.maximum(outer, y - line)
            if style == 4:  # long hair framing the face
                sides = np.maximum(outer, np.abs(x - hx) * -1 + fw * 0.82)
                sides = np.maximum(sides, y - (cy + 0.3))
                region = np.minimum(region, sides)
            col = hair if style != 7 else hair * 0.6 + skin * 0.4
            sdf.paint(img, sdf.coverage(region, px), col)

    # glasses
    if idt.glasses:
        gc = _col(idt.glasses_color)
        r = ew * 1.45
        for side in (-1, 1):
            ex = side * idt.eye_sep * squash + fx
            ey = idt.eye_y + fy
            lens = sdf.circle(x, y, ex, ey, r)
            if idt.glasses == 2:
                sdf.paint(img, sdf.coverage(lens, px) * 0.88, (0.05, 0.05, 0.08))
            sdf.paint(img, sdf.coverage(np.abs(lens) - 0.009, px), gc)
        ey = idt.eye_y + fy
        bridge = sdf.segment(x, y, fx - idt.eye_sep * squash + r, ey, fx + idt.eye_sep * squash - r, ey, 0.008)
        sdf.paint(img, sdf.coverage(bridge, px), gc)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def render_reference(idt: Identity, size: int = 64) -> np.ndarray:
    """The identity's neutral frame (frontal, mouth closed, eyes open): uint8 [size, size, 3]."""
    return render_frames(idt, FaceState.neutral(1), size)[0]
