"""The Performer: a streaming talking avatar driven by the causal DiT (spec §5.3), block by block.

Per block b (latent frames 3b..3b+2; pixel frames [0, 9) for b = 0, then 12 more per block):
  1. audio for exactly those pixel frames is taken from the pushed speech (silence when none is left: the
     avatar listens / idles with its mouth closed), encoded by the streaming audio front end (bounded
     look-ahead) and packed into per-latent-frame windows `[1, 3, 4, D]`;
  2. 4 denoising steps with the KV cache (reference latent substituted into frame 0 of block 0);
  3. the clean pass at t = 0 refreshes the cache (sinks + rolling window: unbounded duration);
  4. the latents are decoded by a streaming decoder (VAE or the fast TAEHV-style decoder) into frames.
The audio of a chunk is the audio its frames were conditioned on, so video and sound leave in sync.

`AvatarSession.next_chunk()` runs the steps in the calling thread; `PipelinedSession` runs denoising and
decoding in two threads with bounded queues so decoding block b overlaps denoising block b+1.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..diffusion.block_sampler import BlockConditions, denoise_block, refresh_cache
from ..diffusion.schedule import FlowMatchSchedule
from ..distill.batch import make_cond
from ..models.dit import WanDiT, pack_audio_frames
from ..models.vae import frames_to_video, video_to_frames
from ..models.vae_reprime import FIRST_SPAN, RePrimedDecoder
from .performer import AVChunk

SAMPLE_RATE = 16000
FPS = 16
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS

IDLE_PROMPT = "A person listening quietly, keeping the head still, facing the camera."


@dataclass
class RuntimeConfig:
    size: int = 64  # output pixels (square)
    block: int = 3  # latent frames per block
    steps: int = 4
    shift: float = 5.0
    sink_size: int = 9
    local_attn_size: int = 15
    # None: one continuous stream decoder (published). W >= 0: from latent frame `decoder_first_span` on, every block
    # is decoded by fresh decoders primed with the reference latent and the W latent frames before it, crossfaded
    # (`models/vae_reprime.py`): no decoder drift on long streams
    decoder_warmup: int | None = None
    decoder_first_span: int = FIRST_SPAN
    lookahead_ms: float = 62.5  # audio look-ahead of the streaming features (one video frame)
    context_ms: float = 1000.0  # past audio the streaming audio encoder sees
    idle_prompt: str = IDLE_PROMPT
    seed: int = 0


# Latent frames of the still-reference video a still-cond student sees (33 pixel frames: its training windows')
STILL_LATENT_FRAMES = 9


def center_square(image: np.ndarray, size: int) -> np.ndarray:
    """RGB uint8 `[H, W, 3]` → centre-cropped square resized to `size`² (the published resize_pad = crop)."""
    from PIL import Image

    from ..system.image_io import center_crop_square

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"reference image must be RGB uint8 [H, W, 3], got {image.dtype} {image.shape}")
    crop = center_crop_square(image)
    s = crop.shape[0]
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.BICUBIC if s > size else Image.LANCZOS))


def block_pixel_frames(block_index: int, block: int = 3) -> tuple[int, int]:
    """Pixel frames [start, end) produced by a block: 1 + 4(n − 1) for the first, 4n for later ones."""
    first = 1 + 4 * (block - 1)
    if block_index == 0:
        return 0, first
    start = first + 4 * block * (block_index - 1)
    return start, start + 4 * block


class AvatarModels:
    """The models a session needs, shared by all sessions of a Performer.

    dit: the causal student; vae: encodes the reference (`encode([B, T, 3, H, W]) -> [B, F, 16, h, w]`);
    decoder_factory: `() -> stream decoder` with `decode_block(latents) -> [B, T, 3, H, W]` in [-1, 1];
    text_encoder: `.encode(prompt) -> [1, L, D]`; audio_encoder: an `AudioEncoder` (features per frame).
    still_cond: the student was trained with the still-reference cond (`TrainConfig.ref_video`, checkpoint metadata
    `livetalk_cond: still-video`): each session then encodes its reference image as a still video too.
    """

    def __init__(self, dit: WanDiT, vae, decoder_factory, text_encoder, audio_encoder, device="cpu",
                 still_cond: bool = False):
        self.dit = dit.eval()
        self.still_cond = still_cond
        self.vae = vae
        self.decoder_factory = decoder_factory
        self.text_encoder = text_encoder
        self.audio_encoder = audio_encoder
        self.device = torch.device(device)
        self.lock = threading.Lock()  # sessions share the models; one block at a time per model set

    def encode_prompt(self, prompt: str) -> torch.Tensor:
        return self.text_encoder.encode(prompt).to(self.device, self.dit.dtype)


class AvatarSession:
    """One avatar stream (implements `PerformerSession`). Drive it from one thread."""

    fps = FPS
    sample_rate = SAMPLE_RATE

    def __init__(self, models: AvatarModels, reference_image: np.ndarray, prompt: str, cfg: RuntimeConfig | None = None):
        from ..models.audio_streaming import StreamingAudioFeatures

        self.models = models
        self.cfg = cfg = cfg or RuntimeConfig()
        dit = models.dit
        self.schedule = FlowMatchSchedule(cfg.steps, cfg.shift)
        self.generator = torch.Generator(device=models.device).manual_seed(cfg.seed)
        self.reference = center_square(reference_image, cfg.size)
        self.still = None  # [1, ≤ STILL_LATENT_FRAMES, 16, h, w]: the reference as a still video (still_cond models)
        if models.still_cond:
            # the first block's frames only (9 pixel frames); the encoder is causal, so latent frame 0 is the
            # reference's one-frame encode and the later blocks' frames extend this one unchanged
            self._encode_still(cfg.block)
            self.ref_latent = self.still[:, 0]  # [1, 16, h, w]
        else:
            ref = frames_to_video(self.reference[None])  # [1, 1, 3, H, W]
            with torch.no_grad():
                self.ref_latent = models.vae.encode(ref.to(models.device))[:, 0].to(dit.dtype)  # [1, 16, h, w]
        lat = self.ref_latent.shape[-2:]
        self.cond_first = make_cond(self.ref_latent, cfg.block)  # mask [0, 1, 1]
        self.cond_later = self.cond_first.clone()
        self.cond_later[:, 0, -1] = 1  # mask [1, 1, 1]
        self.cache = dit.new_cache(1, tuple(lat), sink_size=cfg.sink_size, local_attn_size=cfg.local_attn_size)
        self.decoder = RePrimedDecoder(models.decoder_factory, cfg.decoder_warmup, first_span=cfg.decoder_first_span)
        self.audio_features = StreamingAudioFeatures(models.audio_encoder, cfg.lookahead_ms, cfg.context_ms)
        self._feat = torch.zeros(0)  # features of pixel frames [_feat_offset, …)
        self._feat_offset = 0
        self.speech = np.zeros(0, np.float32)  # pushed, not yet rendered
        self._fed_samples = 0  # samples given to the feature stream
        self._timeline = np.zeros(0, np.float32)  # fed audio not yet emitted with frames
        self._timeline_start = 0  # absolute sample index of _timeline[0]
        self.prompt = prompt
        self._pending_prompt: str | None = None
        self.context = models.encode_prompt(prompt)
        self.block_index = 0
        self.closed = False

    # ------------------------------------------------------------------------------------ control
    def push_audio(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not np.isfinite(samples).all():
            raise ValueError("audio contains NaN or infinite samples")
        self.speech = np.concatenate([self.speech, samples])

    def set_prompt(self, prompt: str) -> None:
        self._pending_prompt = prompt

    def end_of_speech(self) -> None:
        """Nothing to do: once the pushed speech is consumed, blocks are conditioned on silence (idle)."""

    def interrupt(self) -> None:
        self.speech = np.zeros(0, np.float32)

    def close(self) -> None:
        self.closed = True
        self.cache = None
        self._feat = torch.zeros(0)

    # ------------------------------------------------------------------------------------- blocks
    def _take_audio(self, n: int) -> np.ndarray:
        """The next n samples of the timeline: pushed speech, then silence."""
        take = self.speech[:n]
        self.speech = self.speech[n:]
        if len(take) < n:
            take = np.concatenate([take, np.zeros(n - len(take), np.float32)])
        return take

    def _features(self, p0: int, p1: int) -> torch.Tensor:
        """Per-pixel-frame features of frames [p0, p1) `[p1 − p0, D]`, feeding timeline audio as needed.

        Rows before p0 are dropped afterwards (memory stays bounded on unbounded streams).
        """
        need_samples = p1 * SAMPLES_PER_FRAME + self.audio_features.lookahead_samples
        while self._feat_offset + self._feat.shape[0] < p1:
            n = max(need_samples - self._fed_samples, SAMPLES_PER_FRAME)
            chunk = self._take_audio(n)
            self._timeline = np.concatenate([self._timeline, chunk])
            self._fed_samples += n
            rows = self.audio_features.push(torch.from_numpy(chunk))
            self._feat = torch.cat([self._feat, rows.to(self._feat.dtype)]) if self._feat.numel() else rows
        out = self._feat[p0 - self._feat_offset : p1 - self._feat_offset]
        self._feat = self._feat[p1 - self._feat_offset :]
        self._feat_offset = p1
        return out

    def _block_audio(self, p0: int, p1: int) -> np.ndarray:
        """Timeline samples of pixel frames [p0, p1): the audio that plays with them."""
        a, b = p0 * SAMPLES_PER_FRAME - self._timeline_start, p1 * SAMPLES_PER_FRAME - self._timeline_start
        out = self._timeline[a:b]
        self._timeline = self._timeline[b:]
        self._timeline_start = p1 * SAMPLES_PER_FRAME
        return out

    def denoise_next(self) -> tuple[torch.Tensor, np.ndarray, int, dict]:
        """Generate the next block's latents; returns (latents [1, 3, 16, h, w], audio, start pixel frame, stats)."""
        if self.closed:
            raise RuntimeError("session is closed")
        cfg, models = self.cfg, self.models
        t0 = time.perf_counter()
        if self._pending_prompt is not None:
            self.prompt, self._pending_prompt = self._pending_prompt, None
            self.context = models.encode_prompt(self.prompt)
            self.cache.reset_cross()
        b = self.block_index
        p0, p1 = block_pixel_frames(b, cfg.block)
        feats = self._features(p0, p1)
        if b == 0:
            windows = pack_audio_frames(feats[None])  # 3 copies of frame 0 prepended → [1, 3, 4, D]
        else:
            windows = feats[None].reshape(1, cfg.block, 4, -1)
        audio = self._block_audio(p0, p1)
        dit = models.dit
        conds = BlockConditions(self.context if self.cache.cross[0] is None else None, self.block_cond(b),
                                windows.to(models.device, dit.dtype))
        start = b * cfg.block
        noise = torch.randn(1, cfg.block, dit.cfg.latent_channels, *self.ref_latent.shape[-2:],
                            generator=self.generator, device=models.device).to(dit.dtype)
        with models.lock, torch.inference_mode():
            x0 = denoise_block(dit, self.cache, noise, start, conds, self.schedule,
                               ref_latent=self.ref_latent, generator=self.generator)
            refresh_cache(dit, self.cache, x0, start, conds)
        self.block_index += 1
        return x0, audio, p0, {"denoise_s": time.perf_counter() - t0, "speaking": bool(np.abs(audio).max() > 0)}

    def _encode_still(self, latent_frames: int) -> None:
        """`self.still`: the reference image held for `4·(latent_frames − 1) + 1` pixel frames, VAE-encoded."""
        video = frames_to_video(np.repeat(self.reference[None], 4 * (latent_frames - 1) + 1, 0))
        with torch.no_grad():
            self.still = self.models.vae.encode(video.to(self.models.device)).to(self.models.dit.dtype)

    def block_cond(self, b: int) -> torch.Tensor:
        """cond `[1, block, 17, h, w]` of block `b`: the reference latent on every frame (published), or, for a
        still-cond student, the still video's latent of each frame (frame 0 is the reference latent, mask 0; frames
        past the still's last one take its last: a still video's latents stop changing after ~13 frames)."""
        cond = self.cond_first if b == 0 else self.cond_later
        if self.still is None:
            return cond
        frames = [min(f, STILL_LATENT_FRAMES - 1) for f in range(b * self.cfg.block, (b + 1) * self.cfg.block)]
        if frames[-1] >= self.still.shape[1]:  # once, at the second block (33 pixel frames, ~0.25 s on a CPU)
            self._encode_still(STILL_LATENT_FRAMES)
        return torch.cat([self.still[:, frames], cond[:, :, -1:]], dim=2)

    def decode(self, latents: torch.Tensor) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        with torch.inference_mode():
            video = self.decoder.decode_block(latents)  # [1, T, 3, H, W] in [-1, 1]
        return video_to_frames(video[0]), time.perf_counter() - t0

    def next_chunk(self) -> AVChunk:
        latents, audio, p0, stats = self.denoise_next()
        frames, stats["decode_s"] = self.decode(latents)
        return AVChunk(frames=frames, audio=audio, start_frame=p0, stats=stats)


class PipelinedSession:
    """Runs an `AvatarSession` in two threads (denoise → queue → decode → queue); same chunks, overlapped.

    Queues are bounded (`depth` blocks), so generation runs at most `depth` blocks ahead of the consumer.
    Control calls (push_audio, set_prompt, interrupt, …) are forwarded under a lock.
    """

    fps = FPS
    sample_rate = SAMPLE_RATE

    def __init__(self, session: AvatarSession, depth: int = 2):
        self.session = session
        self._ctl = threading.Lock()
        self._latents: queue.Queue = queue.Queue(maxsize=depth)
        self._chunks: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._threads = [threading.Thread(target=self._denoise_loop, daemon=True),
                         threading.Thread(target=self._decode_loop, daemon=True)]
        self._started = False  # threads start on the first next_chunk(), after the caller's first inputs
        # OpenMP's thread count is per thread: a new thread starts at the default, not at the caller's
        # torch.set_num_threads, and a different count changes float reduction order (pipelined != sequential)
        self._num_threads = torch.get_num_threads()

    def _put(self, q: queue.Queue, item) -> bool:
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _denoise_loop(self) -> None:
        torch.set_num_threads(self._num_threads)
        try:
            while not self._stop.is_set():
                with self._ctl:
                    item = self.session.denoise_next()
                if not self._put(self._latents, item):
                    return
        except BaseException as err:  # surfaced to the consumer in next_chunk
            self._error = err
            self._stop.set()

    def _decode_loop(self) -> None:
        torch.set_num_threads(self._num_threads)
        try:
            while not self._stop.is_set():
                try:
                    latents, audio, p0, stats = self._latents.get(timeout=0.05)
                except queue.Empty:
                    continue
                frames, stats["decode_s"] = self.session.decode(latents)
                if not self._put(self._chunks, AVChunk(frames, audio, p0, stats)):
                    return
        except BaseException as err:
            self._error = err
            self._stop.set()

    def next_chunk(self, timeout: float = 60.0) -> AVChunk:
        if not self._started:
            self._started = True
            for t in self._threads:
                t.start()
        deadline = time.monotonic() + timeout
        while True:
            if self._error is not None:
                raise RuntimeError(f"streaming pipeline failed: {self._error!r}") from self._error
            try:
                return self._chunks.get(timeout=0.05)
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise TimeoutError("no chunk within the timeout")

    def push_audio(self, samples) -> None:
        with self._ctl:
            self.session.push_audio(samples)

    def set_prompt(self, prompt: str) -> None:
        with self._ctl:
            self.session.set_prompt(prompt)

    def end_of_speech(self) -> None:
        with self._ctl:
            self.session.end_of_speech()

    def interrupt(self) -> None:
        with self._ctl:
            self.session.interrupt()

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            if t.is_alive():
                t.join(timeout=5)
        self.session.close()
