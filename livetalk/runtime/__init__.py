"""Streaming runtime: the Performer (causal DiT block loop, pipelined decoding), offline generation, benchmarks."""


def build_tiny_performer(**kwargs):
    """The tiny Performer, `livetalk serve`'s default. Options: random_weights, decoder, pipelined, device, and
    RuntimeConfig fields such as size; other keys are ignored."""
    import dataclasses

    from .avatar import RuntimeConfig
    from .tiny import tiny_performer

    fields = {f.name for f in dataclasses.fields(RuntimeConfig)} | {"random_weights", "decoder", "pipelined", "device"}
    return tiny_performer(**{k: v for k, v in kwargs.items() if k in fields})
