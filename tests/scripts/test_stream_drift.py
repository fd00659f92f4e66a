"""scripts/stream_drift.py: PSNR by stretch of a long stream, the window-encoded ceiling, paired differences."""

import json
import re
import subprocess
import sys
from pathlib import Path

import torch

from livetalk.data.clip import ClipConfig
from livetalk.data.dataset import TalkingHeadDataset
from livetalk.data.synth import synth_dataset
from livetalk.models.vae import frames_to_video
from livetalk.models.vae_long_decoder import window_latents
from livetalk.models.vae_tiny import load_tiny_vae

SCRIPT = Path(__file__).parents[2] / "scripts" / "stream_drift.py"


def test_ground_truth_latents_score_the_ceiling_and_noise_scores_low(tmp_path):
    synth_dataset(tmp_path / "world", 1, ClipConfig(duration_s=8.0))
    ds = TalkingHeadDataset(tmp_path / "world")
    with torch.no_grad():
        z = window_latents(load_tiny_vae(None), frames_to_video(ds[0].frames[:125]))  # [1, 32, 16, 8, 8]
    cid = ds.ids()[0]
    torch.save({"latents": z.half(), "ids": [f"{cid}#0"]}, tmp_path / "gt.pt")
    torch.save({"latents": torch.randn_like(z).half() * 3, "ids": [cid]}, tmp_path / "noise.pt")
    torch.save({"latents": torch.randn_like(z).half() * 3, "ids": [f"{cid}#0"]}, tmp_path / "noise0.pt")
    run = lambda *a: subprocess.run([sys.executable, str(SCRIPT), "--reference", str(tmp_path / "world"),  # noqa: E731
                                     "--threads", "1", *map(str, a)], capture_output=True, text=True, timeout=300)
    r = run(tmp_path / "gt.pt", tmp_path / "noise.pt", tmp_path / "noise0.pt", "--ceiling")
    assert r.returncode == 0, r.stderr[-2000:]
    r_paired = run(tmp_path / "gt.pt", tmp_path / "noise0.pt", "--baseline", tmp_path / "gt.pt")
    assert r_paired.returncode == 0, r_paired.stderr[-2000:]
    # a file that shares no stream id with the baseline is an error, not a silent zero
    r_none = run(tmp_path / "noise.pt", "--baseline", tmp_path / "gt.pt")
    assert r_none.returncode != 0 and "share no stream" in r_none.stderr
    rows = {line.split(":")[0]: [float(x) for x in line.split(":")[1].split("/")]
            for line in r.stdout.splitlines()[1:]}
    lines = r_paired.stdout.splitlines()[1:]
    assert str(tmp_path / "gt.pt") + ":" in lines[0]
    paired = {line.split(" - baseline")[0]: [[float(v) for v in x.split("±")] for x in line.split(":")[1].split("/")]
              for line in lines if "(paired)" in line}
    gt, noise = rows[str(tmp_path / "gt.pt")], rows[str(tmp_path / "noise.pt")]
    ceiling = rows["ground truth, window by window"]
    assert len(gt) == 4
    assert all(abs(a - b) < 0.05 for a, b in zip(gt, ceiling))  # fp16 round trip only
    assert all(n < g - 3 for n, g in zip(noise, gt))
    # paired: A − B per stretch over the streams both hold; one stream, so standard error 0
    assert set(paired) == {str(tmp_path / "noise0.pt")}
    noise0 = rows[str(tmp_path / "noise0.pt")]
    for (diff, sem), n, g in zip(paired[str(tmp_path / "noise0.pt")], noise0, gt):
        assert abs(diff - (n - g)) < 0.01 and sem == 0 and diff < -3
    # the same file decoded re-primed against itself decoded continuously: a paired line, the first window identical
    # (the first decoder decodes latent frames 0-8 alone), and the same numbers from scripts/reprime_check.py
    r_rp = run(tmp_path / "gt.pt", "--decode-warmup", 1, "--baseline", tmp_path / "gt.pt")
    assert r_rp.returncode == 0, r_rp.stderr[-2000:]
    line = [x for x in r_rp.stdout.splitlines() if "(paired)" in x]
    assert len(line) == 1
    diffs = [[float(v) for v in x.split("±")] for x in line[0].split(":")[1].split("/")]
    assert abs(diffs[0][0]) < 0.005 and any(abs(d) > 0.005 for d, _ in diffs[1:])
    reprimed = [float(x) for x in r_rp.stdout.splitlines()[1].split(":")[1].split("/")]
    check = subprocess.run([sys.executable, str(SCRIPT.parent / "reprime_check.py"), str(tmp_path / "gt.pt"),
                            "--reference", str(tmp_path / "world")], capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr[-2000:]
    row = next(x for x in check.stdout.splitlines() if x.startswith("new "))
    values = [float(v) for v in re.findall(r"psnr \S+ (-?[\d.]+)", row)]
    assert len(values) == 4
    assert all(abs(a - b) < 0.01 for a, b in zip(values, reprimed))
    # any two named decodes: the shipped fast decoder against itself differs by exactly nothing
    same = subprocess.run([sys.executable, str(SCRIPT.parent / "reprime_check.py"), str(tmp_path / "gt.pt"),
                           "--reference", str(tmp_path / "world"), "--base", "fast", "--new",
                           "fast=livetalk/models/weights/tiny_vae_fast_decoder.safetensors:continuous"],
                          capture_output=True, text=True, timeout=300, cwd=SCRIPT.parents[1])
    assert same.returncode == 0, same.stderr[-2000:]
    row = next(x for x in same.stdout.splitlines() if x.startswith("difference"))
    assert all(float(x.split("±")[0].split()[-1]) == 0.0 for x in row.split("  ")[1:]), row
    bad = subprocess.run([sys.executable, str(SCRIPT.parent / "reprime_check.py"), str(tmp_path / "gt.pt"),
                          "--reference", str(tmp_path / "world"), "--new", "taehv"], capture_output=True, text=True)
    assert bad.returncode != 0 and "bad decode spec" in bad.stderr


def test_reprime_check_batches_scores_one_decode_and_pairs_files(tmp_path):
    """--batch gives the per-stream numbers of one-at-a-time decoding; --base none scores only the new decode;
    --pair compares two --out files stream by stream, and refuses files with nothing in common."""
    synth_dataset(tmp_path / "world", 1, ClipConfig(duration_s=8.0))
    ds = TalkingHeadDataset(tmp_path / "world")
    with torch.no_grad():
        z = window_latents(load_tiny_vae(None), frames_to_video(ds[0].frames[:125]))  # [1, 32, 16, 8, 8]
    cid = ds.ids()[0]
    g = torch.Generator().manual_seed(0)
    noisy = torch.cat([z, z + 0.5 * torch.randn(z.shape, generator=g), z + 3 * torch.randn(z.shape, generator=g)])
    torch.save({"latents": noisy.half(), "ids": [f"{cid}#{k}" for k in range(3)]}, tmp_path / "a.pt")
    torch.save({"latents": z.half(), "ids": [f"{cid}#2"]}, tmp_path / "b.pt")
    check = SCRIPT.parent / "reprime_check.py"
    run = lambda *a: subprocess.run([sys.executable, str(check), *map(str, a)],  # noqa: E731
                                    capture_output=True, text=True, timeout=300)
    world = ("--reference", tmp_path / "world")
    r1 = run(tmp_path / "a.pt", *world, "--out", tmp_path / "one.json")
    r2 = run(tmp_path / "a.pt", *world, "--base", "none", "--batch", 2, "--out", tmp_path / "two.json")
    r3 = run(tmp_path / "b.pt", *world, "--base", "none", "--out", tmp_path / "b.json")
    for r in (r1, r2, r3):
        assert r.returncode == 0, r.stderr[-2000:]
    one, two = (json.loads((tmp_path / f).read_text()) for f in ("one.json", "two.json"))
    assert set(one["streams"]) == set(two["streams"]) and len(two["streams"]) == 3
    for k, row in two["streams"].items():
        assert set(row) == {"reprimed"} and set(one["streams"][k]) == {"continuous", "reprimed"}
        assert max(abs(x - y) for x, y in zip(row["reprimed"], one["streams"][k]["reprimed"])) < 1e-3
    # a − b over the one shared stream (#2, noise 3 against clean): the difference of the two files' own numbers
    p = run("--pair", f"{tmp_path / 'two.json'}:{tmp_path / 'b.json'}")
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.splitlines()
    assert "1 streams" in lines[0]
    diff = {k: v for k, v, _ in re.findall(r"(\S+) ([+-][\d.]+) ± ([\d.]+)", lines[3])}
    b_row = json.loads((tmp_path / "b.json").read_text())["streams"][f"{cid}#2"]["reprimed"]
    a_row = two["streams"][f"{cid}#2"]["reprimed"]
    assert abs(float(diff["0-32"]) - (a_row[0] - b_row[0])) < 0.01 and float(diff["all"]) < -0.5
    assert abs(float(diff["all"]) - sum(a - b for a, b in zip(a_row[:4], b_row[:4])) / 4) < 0.01
    # continuous scores were not made for b.json: asking for them is an error, not a silent zero
    bad = run("--pair", f"{tmp_path / 'one.json'}:{tmp_path / 'b.json'}", "--key", "continuous")
    assert bad.returncode != 0 and "no 'continuous' scores" in bad.stderr
    (tmp_path / "c.json").write_text(json.dumps({**two, "streams": {"other#0": two["streams"][f"{cid}#0"]}}))
    none = run("--pair", f"{tmp_path / 'b.json'}:{tmp_path / 'c.json'}")
    assert none.returncode != 0 and "share no stream" in none.stderr
