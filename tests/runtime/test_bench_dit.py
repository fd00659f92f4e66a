"""`livetalk bench dit` runs and reports consistent numbers (no wall-clock assertions)."""

import json

from livetalk.cli import main as cli_main
from livetalk.runtime.bench_dit import block_flops, run_dit_bench
from livetalk.models.config import get_preset


def test_bench_dit_tiny_reports(capsys):
    r = run_dit_bench("tiny", iters=2, sink_size=3, local_attn_size=6)
    assert r.ms_per_block > 0 and abs(r.video_fps - 12 / (r.ms_per_block / 1e3)) < 1e-6 * r.video_fps
    assert r.peak_memory_mb > 0 and r.resolution == "64x64"
    assert cli_main(["bench", "dit", "--preset", "tiny", "--iters", "1", "--json", "--local-attn-size", "6",
                     "--sink-size", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["preset"] == "tiny"


def test_flop_count_1_3b_block():
    # 1.3B, 3 frames x 1024 tokens attending to 15 frames (one forward):
    # linear layers 2 * 41.6M params/layer * 30 layers * 3072 tokens ~ 7.7e12,
    # self-attention 4 * 3072 * 15360 * 1536 * 30 ~ 8.7e12, cross-attention over 512 tokens ~ 0.3e12
    f = block_flops(get_preset("livetalk-1.3b"), 3072, 15360, 512)
    assert 1.6e13 < f < 1.72e13
