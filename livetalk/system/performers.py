"""Choice of the Performer behind `livetalk serve --performer NAME`.

Add a new kind by registering a builder: `PERFORMER_BUILDERS["tiny"] = lambda **kw: ...` (or edit the
table below). Builders take keyword options (e.g. `device`, `size`) and ignore the ones they do not use.
"""

from __future__ import annotations

from typing import Any, Callable

from ..runtime.performer import Performer


def _build_stub(size: int | None = 256, delay_s: float = 0.0, **_: Any) -> Performer:
    from .stub_performer import StubPerformer

    return StubPerformer(size=size or 256, delay_s=delay_s)


def _build_tiny(**kwargs: Any) -> Performer:
    from ..runtime import build_tiny_performer

    return build_tiny_performer(**kwargs)


PERFORMER_BUILDERS: dict[str, Callable[..., Performer]] = {
    "stub": _build_stub,
    "tiny": _build_tiny,
}


def build_performer(name: str, **kwargs: Any) -> Performer:
    """A Performer by name (`stub`, `tiny`, ...); unknown names raise `ValueError` listing the choices."""
    try:
        builder = PERFORMER_BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown performer {name!r}; choose one of {sorted(PERFORMER_BUILDERS)}") from None
    return builder(**kwargs)
