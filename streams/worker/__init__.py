"""The Faust stream worker: the app and its agents, the Worker's logic, delivery, the sink stage, exactly-once JSON
pieces, the alert window across restarts, the Kafka feeds it follows, the web views, start-up and shutdown
(lifecycle) and a faust-streaming fix."""

__all__ = [
    "alert_window",
    "app",
    "decisions",
    "delivery",
    "faust_patch",
    "feeds",
    "http",
    "lifecycle",
    "pieces",
    "sink_stage",
    "worker",
]
