"""Vectorised 2-D signed-distance primitives and anti-aliased compositing (numpy).

Coordinates are normalised image units (x right, y down, both in [-1, 1]); arrays broadcast, typically
[T, H, W] for frames or [T, 1, 1] for per-frame parameters. Negative distance = inside.
"""

from __future__ import annotations

import numpy as np


def ellipse(x, y, cx, cy, rx, ry):
    """Approximate signed distance to an axis-aligned ellipse (Quilez' first-order bound)."""
    px, py = (x - cx) / rx, (y - cy) / ry
    k0 = np.sqrt(px * px + py * py)
    k1 = np.sqrt((px / rx) ** 2 + (py / ry) ** 2) + 1e-9
    return k0 * (k0 - 1.0) / k1


def superellipse(x, y, cx, cy, rx, ry, n: float):
    """Approximate signed distance to |x/rx|^n + |y/ry|^n = 1 (n=2 ellipse, larger n squarer)."""
    px, py = np.abs((x - cx) / rx), np.abs((y - cy) / ry)
    k = (px ** n + py ** n) ** (1.0 / n)
    return (k - 1.0) * np.minimum(rx, ry) * 1.15


def circle(x, y, cx, cy, r):
    return np.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r


def box(x, y, cx, cy, hx, hy, r=0.0):
    """Rounded box with half sizes hx, hy and corner radius r."""
    qx = np.abs(x - cx) - hx + r
    qy = np.abs(y - cy) - hy + r
    out = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
    return out + np.minimum(np.maximum(qx, qy), 0) - r


def segment(x, y, ax, ay, bx, by, r):
    """Capsule from (ax, ay) to (bx, by) with radius r."""
    pax, pay = x - ax, y - ay
    bax, bay = bx - ax, by - ay
    h = np.clip((pax * bax + pay * bay) / (bax * bax + bay * bay + 1e-12), 0, 1)
    return np.sqrt((pax - bax * h) ** 2 + (pay - bay * h) ** 2) - r


def coverage(d, px: float):
    """Anti-aliased coverage in [0, 1] of a shape with signed distance `d`, for pixel size `px`."""
    return np.clip(0.5 - d / px, 0.0, 1.0)


def paint(img, alpha, color) -> None:
    """In place: img [T, H, W, 3] ← img·(1−α) + color·α, touching only the bounding box where α > 0.

    `alpha` broadcasts to img[..., 0]; `color` is an RGB triple or an array broadcasting to img."""
    alpha = np.broadcast_to(alpha, img.shape[:-1])
    nz = alpha > 0
    rows = np.flatnonzero(nz.any(axis=(0, 2)))
    if rows.size == 0:
        return
    cols = np.flatnonzero(nz.any(axis=(0, 1)))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    a = alpha[:, r0:r1, c0:c1, None]
    sub = img[:, r0:r1, c0:c1]
    color = np.asarray(color, dtype=img.dtype)
    if color.ndim >= 3:
        color = np.broadcast_to(color, img.shape)[:, r0:r1, c0:c1]
    sub += a * (color - sub)
