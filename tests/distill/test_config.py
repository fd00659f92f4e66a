"""Training recipes keep the published ratios, and every shipped config file loads as the recipe it names."""

from pathlib import Path

import pytest
import yaml

from livetalk.distill.config import RECIPES, load_train_config

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))


def test_dmd_recipes_keep_the_published_ratios():
    plain, livetalk, cfg4 = (RECIPES[k] for k in ("dmd-self-forcing", "dmd-livetalk", "dmd-livetalk-cfg4"))
    for r in (plain, livetalk, cfg4):
        assert r.stage == "dmd" and r.critic_lr == pytest.approx(r.lr / 5)  # critic = generator / 5
    assert livetalk.lr == pytest.approx(2 * plain.lr) and cfg4.lr == livetalk.lr  # LiveTalk: 2x learning rates
    # guidance g gives cond + g * (cond - uncond): CFG 4 for plain Self Forcing, CFG 6 for LiveTalk
    assert (plain.guidance, livetalk.guidance, cfg4.guidance) == (3.0, 5.0, 3.0)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_files_load_as_their_recipe(path):
    data = yaml.safe_load(path.read_text())
    cfg = load_train_config(path)
    base = RECIPES[data["recipe"]]
    assert cfg.stage == base.stage
    for key, value in data.items():
        if key == "parallel":
            for k, v in value.items():
                assert getattr(cfg.parallel, k) == v, f"parallel.{k}"
        elif key != "recipe":
            assert getattr(cfg, key) == (tuple(value) if isinstance(value, list) else value), key
    for key in ("lr", "critic_lr", "guidance", "weight_decay"):
        if key not in data:
            assert getattr(cfg, key) == getattr(base, key), key
