"""Block-by-block decoding shared by the VAE and fast-decoder streaming tests."""

import torch


def decode_in_blocks(decoder, z: torch.Tensor, blocks: tuple[int, ...]) -> torch.Tensor:
    """Feed latents `[B, F, C, h, w]` to a stream decoder in blocks of the given latent-frame counts; checks each
    block's pixel-frame count (1 + 4(n − 1) for the first, 4n after) and returns the concatenated frames."""
    outs, s = [], 0
    for i, n in enumerate(blocks):
        out = decoder.decode_block(z[:, s : s + n])
        assert out.shape[1] == (1 + 4 * (n - 1) if i == 0 else 4 * n)
        outs.append(out)
        s += n
    return torch.cat(outs, 1)
