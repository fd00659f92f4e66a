import io
import time

import numpy as np
import pytest

from livetalk.system.faces import face_image


@pytest.fixture
def face() -> np.ndarray:
    return face_image("ada", 128)


def png_bytes(arr: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> bytes:
    from PIL import Image

    img = Image.fromarray(arr)
    if mode:
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def wait_for(pred, timeout: float = 10.0, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


class Collector:
    """A session sink that records everything (thread-safe enough for tests: list.append is atomic)."""

    def __init__(self) -> None:
        self.items: list = []

    def __call__(self, kind, *payload) -> None:
        self.items.append((kind, payload))

    def events(self, type_: str | None = None) -> list[dict]:
        return [p[0] for k, p in list(self.items) if k == "event" and (type_ is None or p[0]["type"] == type_)]

    def chunks(self) -> list:
        return [(p[0], p[1]) for k, p in list(self.items) if k == "chunk"]
