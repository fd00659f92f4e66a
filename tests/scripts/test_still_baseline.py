"""scripts/still_baseline.py: the reference held still as a model's latent file, and latent motion / error."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from livetalk.data.clip import ClipConfig
from livetalk.data.synth import synth_dataset
from livetalk.distill.data import LatentClips
from livetalk.distill.prepare import prepare_latents
from livetalk.models.vae_tiny import TINY_VAE_PATH

pytestmark = pytest.mark.skipif(not TINY_VAE_PATH.exists(), reason="shipped tiny VAE not present")

SCRIPT = Path(__file__).parents[2] / "scripts" / "still_baseline.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300)


def test_still_reference_latents_hold_still_and_score_against_the_truth(tmp_path):
    ev = tmp_path / "eval.pt"
    synth_dataset(tmp_path / "world", 3, ClipConfig(duration_s=2.0), start_seed=0)
    prepare_latents(tmp_path / "world", ev, latent_frames=5, windows_per_clip=1, variants=("curated", "clean"),
                    degrade=0.5, progress=False)
    for variant in ("curated", "clean"):  # the variant's reference image, re-made and checked against its latent
        r = _run("make", "--eval", ev, "--world", tmp_path / "world", "--out", tmp_path / f"{variant}.pt",
                 "--variant", variant)
        assert r.returncode == 0, r.stderr[-2000:]
        still = torch.load(tmp_path / f"{variant}.pt", weights_only=False)
        ref = LatentClips.load(f"{ev}:{variant}").ref
        assert torch.equal(still["latents"][:, 0].float(), ref.half().float())  # frame 0: the eval reference
        assert still["timing"]["variant"] == variant
    held = [torch.load(tmp_path / f"{v}.pt", weights_only=False)["latents"][:, 2] for v in ("curated", "clean")]
    assert not torch.equal(*held)  # a degraded-then-repaired reference is not the clean one
    r = _run("make", "--eval", ev, "--world", tmp_path / "world", "--out", tmp_path / "gen_static.pt")
    assert r.returncode == 0, r.stderr[-2000:]
    truth = LatentClips.load(f"{ev}:curated")
    still = torch.load(tmp_path / "gen_static.pt", weights_only=False)
    assert still["ids"] == truth.ids and still["latents"].shape == truth.latents.shape
    assert torch.equal(still["latents"][:, 0].float(), truth.ref.half().float())  # frame 0: the eval reference
    r = _run("motion", "--eval", ev, f"still={tmp_path / 'gen_static.pt'}")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {line.split(" motion ")[0].strip(): line for line in r.stdout.splitlines()[1:]}
    assert set(rows) == {"ground truth", "still"}
    assert rows["ground truth"].endswith("mse 0.000")  # 5 latent frames: one stretch, 1-4
    assert not rows["still"].endswith("mse 0.000")
    # a latent file of another shape is an error, not a silent partial score
    torch.save({"latents": still["latents"][:, :3], "ids": still["ids"]}, tmp_path / "short.pt")
    r = _run("motion", "--eval", ev, f"short={tmp_path / 'short.pt'}")
    assert r.returncode != 0 and "ground truth" in r.stderr


def test_windowed_truth_restarts_the_encoder_every_33_frames(tmp_path):
    """`windowed`: frames 1-8 are the continuous encode, frame 9 starts a new window; `motion --truth` scores
    against it and lists the eval file's own (continuous) latents as a row."""
    synth_dataset(tmp_path / "world", 2, ClipConfig(duration_s=3.0))  # 48 frames: 11 latent frames need 41
    ev = tmp_path / "eval.pt"
    prepare_latents(tmp_path / "world", ev, latent_frames=11, windows_per_clip=1, variants=("curated",),
                    progress=False)
    out = tmp_path / "long_windowed.pt"
    r = _run("windowed", "--eval", ev, "--world", tmp_path / "world", "--out", out)
    assert r.returncode == 0, r.stderr[-2000:]
    truth = LatentClips.load(f"{ev}:curated")
    win = torch.load(out, weights_only=False)
    assert win["ids"] == truth.ids and win["latents"].shape == truth.latents.shape
    assert torch.equal(win["latents"][:, 0], truth.latents[:, 0].half())  # the variant's frame 0
    assert (win["latents"][:, 1:9].float() - truth.latents[:, 1:9]).abs().max() < 5e-3
    assert (win["latents"][:, 9].float() - truth.latents[:, 9]).abs().max() > 0.05  # a fresh window
    r = _run("motion", "--eval", ev, "--truth", out, f"windowed={out}")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {line.split(" motion ")[0].strip(): line for line in r.stdout.splitlines()[1:]}
    assert set(rows) == {"ground truth", "continuous encode", "windowed"}
    assert rows["windowed"].endswith("mse 0.000 / 0.000") and not rows["continuous encode"].endswith("0.000")


def test_error_split_adds_up_and_puts_a_still_videos_error_in_the_motion(tmp_path):
    from livetalk.data.dataset import TalkingHeadDataset
    from livetalk.data.media import write_video

    synth_dataset(tmp_path / "world", 2, ClipConfig(duration_s=2.5))
    ds = TalkingHeadDataset(tmp_path / "world", load_tracks=False)
    for name, make in (("same", lambda f: f), ("still", lambda f: np.repeat(f[:1], len(f), 0)),
                       ("dark", lambda f: (f * 0.7).astype(np.uint8))):
        (tmp_path / name).mkdir()
        for i in range(len(ds)):
            write_video(tmp_path / name / f"{ds[i].id}.mp4", make(ds[i].frames[:33]))
    r = _run("error-split", "--world", tmp_path / "world", *(f"{n}={tmp_path / n}" for n in ("same", "still", "dark")))
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {}
    lines = r.stdout.splitlines()[1:]
    assert [line.split(":")[0] for line in lines[3:]] == ["still - same", "dark - same"]  # paired on the first arm
    for line in lines[:3]:
        v = line.split()
        rows[v[0]] = {"total": float(v[2]), "static": float(v[5]), "dynamic": float(v[10])}
        assert abs(rows[v[0]]["total"] - rows[v[0]]["static"] - rows[v[0]]["dynamic"]) < 0.15
    assert rows["same"]["total"] < rows["still"]["total"] and rows["same"]["total"] < rows["dark"]["total"]
    # a still video's dynamic error is the world's own motion about its mean over the window (+ mp4 noise)
    world_motion = np.mean([((f - f.mean(0)) ** 2).mean() for f in
                            (ds[i].frames[1:33].astype(np.float64) for i in range(len(ds)))])
    assert abs(rows["still"]["dynamic"] - world_motion) < 0.2 * world_motion + 5
    assert rows["dark"]["static"] > rows["dark"]["dynamic"]  # a dark one has the wrong appearance


def test_error_split_eval_scores_only_that_files_clips_and_refuses_later_windows(tmp_path):
    from livetalk.data.dataset import TalkingHeadDataset
    from livetalk.data.media import write_video

    synth_dataset(tmp_path / "world", 3, ClipConfig(duration_s=2.5))
    ds = TalkingHeadDataset(tmp_path / "world", load_tracks=False)
    one = ds[1]
    for name in ("same", "dark"):  # videos of one clip only: without --eval the others would be missing
        (tmp_path / name).mkdir()
        frames = one.frames[:33] if name == "same" else (one.frames[:33] * 0.7).astype(np.uint8)
        write_video(tmp_path / name / f"{one.id}.mp4", frames)
    torch.save({"ids": [f"{one.id}#0"]}, tmp_path / "sub.pt")
    dirs = [f"{n}={tmp_path / n}" for n in ("same", "dark")]
    r = _run("error-split", "--world", tmp_path / "world", "--eval", tmp_path / "sub.pt", *dirs)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.splitlines()[-1].startswith("dark - same: static +")
    r = _run("error-split", "--world", tmp_path / "world", *dirs)
    assert r.returncode != 0 and "video not found" in r.stderr
    torch.save({"ids": [f"{one.id}#1"]}, tmp_path / "later.pt")
    r = _run("error-split", "--world", tmp_path / "world", "--eval", tmp_path / "later.pt", *dirs)
    assert r.returncode != 0 and "do not start at frame 0" in r.stderr


def test_error_split_of_two_samples_separates_a_wrong_mean_from_seed_variance(tmp_path):
    from livetalk.data.dataset import TalkingHeadDataset
    from livetalk.data.media import write_video

    synth_dataset(tmp_path / "world", 2, ClipConfig(duration_s=2.5))
    ds = TalkingHeadDataset(tmp_path / "world", load_tracks=False)
    rng = np.random.default_rng(0)

    def draw(f):  # a static offset per 8×8 block (grey, so the mp4's chroma subsampling keeps it), N(0, 20²)
        h, w = f.shape[1:3]
        off = np.kron(rng.normal(0, 20, (h // 8, w // 8)), np.ones((8, 8)))[None, :, :, None]
        return np.clip(f.astype(np.float64) + off, 0, 255).round().astype(np.uint8)

    for name, make in (("same", lambda f: f), ("a", draw), ("b", draw)):
        (tmp_path / name).mkdir()
        for i in range(len(ds)):
            write_video(tmp_path / name / f"{ds[i].id}.mp4", make(ds[i].frames[:33]))
    d = {n: tmp_path / n for n in ("same", "a", "b")}
    r = _run("error-split", "--world", tmp_path / "world", f"same={d['same']}", f"twice={d['same']},{d['same']}",
             f"ab={d['a']},{d['b']}", f"a={d['a']}")
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    split = {lines[i - 1].split()[0]: [float(x) for x in (lines[i].split()[3], lines[i].split()[9])]
             for i, line in enumerate(lines) if "seed variance" in line}
    assert set(split) == {"twice", "ab"}
    assert split["twice"][1] == 0.0  # the same video twice: no variance, all bias
    same = float(next(line for line in lines if line.startswith("same ")).split()[5])
    assert split["twice"][0] == same
    bias, var = split["ab"]  # two draws around the truth: right on average, about 20² of variance
    assert 250 < var < 550 and abs(bias - same) < 0.3 * var
    a_static = float(next(line for line in lines if line.startswith("a ")).split()[5])
    assert abs(a_static - same - var) < 0.3 * var  # one sample alone carries the variance in its static error
    r = _run("error-split", "--world", tmp_path / "world", f"three={d['same']},{d['a']},{d['b']}")
    assert r.returncode != 0 and "two samples" in r.stderr


def test_departure_of_a_copy_and_of_the_truth_from_the_still(tmp_path):
    from livetalk.data.dataset import TalkingHeadDataset
    from livetalk.data.media import write_video

    synth_dataset(tmp_path / "world", 2, ClipConfig(duration_s=2.5))
    ds = TalkingHeadDataset(tmp_path / "world", load_tracks=False)
    for name, make in (("still", lambda f: np.repeat(f[:1], len(f), 0)), ("truth", lambda f: f)):
        (tmp_path / name).mkdir()
        for i in range(len(ds)):
            write_video(tmp_path / name / f"{ds[i].id}.mp4", make(ds[i].frames[:33]))
    r = _run("departure", "--world", tmp_path / "world", "--still", tmp_path / "still",
             f"copy={tmp_path / 'still'}", f"truth={tmp_path / 'truth'}")
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    dy = float(lines[0].split("|d_Y|^2")[1].split()[0])
    rows = {line.split()[0]: (float(line.split()[2]), float(line.split()[7])) for line in lines[1:]}
    assert rows["copy"][0] == 0.0 and dy > 5  # the still itself does not depart; the world moves
    assert abs(rows["truth"][0] - dy) < 0.2 * dy + 2 and rows["truth"][1] > 0.9  # the truth departs as the truth


def test_make_with_another_vae_needs_that_vae(tmp_path):
    """Eval latents made by another VAE (`prepare-latents --vae`): `make --vae` holds the still in that VAE's space;
    without it, the shipped VAE's still would not line up and `make` refuses instead of writing it."""
    vae = TINY_VAE_PATH.parent / "previous" / "tiny_vae_t49l.safetensors"  # the VAE shipped before session 38
    if not vae.exists():
        pytest.skip("the previous VAE lives in the repository checkout, not in an installed wheel")
    synth_dataset(tmp_path / "world", 2, ClipConfig(duration_s=2.0), start_seed=0)
    ev = tmp_path / "eval.pt"
    prepare_latents(tmp_path / "world", ev, latent_frames=5, windows_per_clip=1, variants=("clean",),
                    progress=False, vae_path=str(vae))
    r = _run("make", "--eval", ev, "--world", tmp_path / "world", "--out", tmp_path / "s.pt", "--variant", "clean")
    assert r.returncode != 0 and "another world, degrade fraction or VAE" in r.stderr
    r = _run("make", "--eval", ev, "--world", tmp_path / "world", "--out", tmp_path / "s.pt", "--variant", "clean",
             "--vae", vae)
    assert r.returncode == 0, r.stderr[-2000:]
    assert torch.load(tmp_path / "s.pt", weights_only=False)["latents"].shape == LatentClips.load(f"{ev}:clean").latents.shape
