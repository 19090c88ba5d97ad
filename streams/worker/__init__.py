"""The Faust stream worker: the app and its agents, the sink stage, exactly-once JSON pieces, the retention clock."""

__all__ = ["app", "pieces", "sink_stage"]
