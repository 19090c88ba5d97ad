"""Developer tools, not the product: synthetic cameras, the load generator, the plain-Faust baseline, the bench.

Synthetic cameras: ``synth`` (the network of cameras and the reads it sends) on ``road_network`` (map, routes,
trips), ``daily_curve`` (traffic by time of day), ``ocr_noise`` (misreads, candidates) and ``arrow_strings``.
The load generator: ``generator`` (reads at a rate, per worker), ``token_bucket``, ``sinks`` (Kafka, Parquet),
``replay`` (recorded reads, paced). ``bench`` runs the local stack under load; ``baseline`` is its plain-Faust
comparison. ``abuse_scenario`` is a month of audit records with planted abuse, for the audit review's test.
"""

__all__ = [
    "abuse_scenario",
    "arrow_strings",
    "baseline",
    "bench",
    "daily_curve",
    "generator",
    "ocr_noise",
    "replay",
    "road_network",
    "sinks",
    "synth",
    "token_bucket",
]
