"""Developer tools, not the product: synthetic cameras, the load generator, the plain-Faust baseline, the bench."""

__all__ = ["baseline", "bench", "generator", "synth"]
