"""Several latent files → one: windows in order, shared prompts merged, each window keeps its own conditions."""

import pytest
import torch

from livetalk.distill.data import LatentClips
from livetalk.distill.prepare import NEGATIVE_PROMPT, merge_latent_files, pack_latent_file


def _states(prompts: list[str]) -> torch.Tensor:
    """A stand-in text encoder: each prompt → a `[32, 384]` state determined by its text."""
    out = []
    for p in prompts:
        g = torch.Generator().manual_seed(sum(map(ord, p)) * 7919 + len(p))
        out.append(torch.randn(32, 384, generator=g))
    return torch.stack(out)


def _part(seed: int, n: int, prompts: list[str], tag: str) -> dict:
    g = torch.Generator().manual_seed(seed)
    lat = [torch.randn(3, 16, 8, 8, generator=g) for _ in range(n)]
    audio = torch.randn(n, 3, 4, 80, generator=g)
    refs = {v: [torch.randn(16, 8, 8, generator=g) for _ in range(n)] for v in ("clean", "raw")}
    return pack_latent_file(lat, audio, [f"{tag}{i}#0" for i in range(n)], refs,
                            {"clean": prompts, "raw": [p.upper() for p in prompts]}, _states, 0.3)


def _load(d: dict, path) -> LatentClips:
    torch.save(d, path)
    return LatentClips.load(f"{path}:clean")


def test_merge_keeps_every_window_and_its_conditions(tmp_path):
    a = _part(0, 3, ["smile", "nod", "smile"], "a")
    b = _part(1, 4, ["nod", "blink", "blink", "frown"], "b")
    m = merge_latent_files([a, b])
    assert m["ids"] == a["ids"] + b["ids"]
    assert m["variants"]["clean"]["prompts"] == ["smile", "nod", "blink", "frown"]  # shared ones stored once
    both, ca, cb = (_load(d, tmp_path / f"{k}.pt") for k, d in enumerate((m, a, b)))
    for k in range(7):
        src, j = (ca, k) if k < 3 else (cb, k - 3)
        assert torch.equal(both.latents[k], src.latents[j]) and torch.equal(both.audio[k], src.audio[j])
        assert torch.equal(both.ref[k], src.ref[j]) and torch.equal(both.context[k], src.context[j])
        assert both.prompts[k] == src.prompts[j]


def test_merge_refuses_parts_that_do_not_belong_together():
    a = _part(0, 2, ["smile", "nod"], "a")
    with pytest.raises(ValueError, match="repeat"):
        merge_latent_files([a, a])
    b = _part(1, 2, ["smile", "nod"], "b")
    b["degrade"] = 0.0
    with pytest.raises(ValueError, match="degraded"):
        merge_latent_files([a, b])
    c = _part(2, 2, ["smile", "nod"], "c")
    c["neg_context"] = _states([NEGATIVE_PROMPT + "!"])[0].half()
    with pytest.raises(ValueError, match="negative prompt"):
        merge_latent_files([a, c])
    with pytest.raises(ValueError, match="nothing"):
        merge_latent_files([])
