"""livetalk: real-time multimodal interactive video diffusion (LiveTalk, arXiv 2512.23576)."""

__version__ = "0.1.0"
