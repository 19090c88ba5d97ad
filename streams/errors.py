"""The project's exceptions.

    PlatestreamError
     ├── ConfigError          a bad setting or policy file; one message per bad value
     ├── SchemaError          a DDL or wire schema that cannot be applied or derived
     ├── HotlistError         a hot-list file that cannot be read at all (single bad rows are refused, not raised)
     ├── StoreError           ClickHouse (embedded or server) failed
     └── KafkaSetupError      Kafka unreachable, topics missing or configured unlike their declaration

Bad *input* (a malformed message, a read without a plate) never raises: it becomes a dead letter with a reason
code, see ``streams.model.deadletter``.
"""


class PlatestreamError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(PlatestreamError):
    """A setting, environment variable or policy file failed validation."""


class SchemaError(PlatestreamError):
    """A schema file could not be derived or applied."""


class HotlistError(PlatestreamError):
    """A hot-list source could not be read at all."""


class StoreError(PlatestreamError):
    """The ClickHouse store (embedded or server) failed."""


class KafkaSetupError(PlatestreamError):
    """Kafka is unreachable, or topics are missing or configured unlike their declaration."""


def kafka_unreachable(bootstrap: str, exc: object | None = None, waited_s: float | None = None) -> KafkaSetupError:
    """One sentence for a broker that did not answer: where, why in a few words, and the setting to fix."""
    why = ""
    if exc is not None:  # a KafkaException carries a KafkaError whose str() is the short reason
        err = exc.args[0] if getattr(exc, "args", None) else exc
        why = str(getattr(err, "str", lambda: err)()).removeprefix("Failed to get metadata: ")
    elif waited_s is not None:
        why = f"no answer in {waited_s:g} s"
    reason = f" ({why})" if why else ""
    return KafkaSetupError(
        f"cannot reach Kafka at {bootstrap}{reason}: check PLATESTREAM_KAFKA_BOOTSTRAP and that the broker is up"
    )


def validation_message(exc: object, title: str) -> str:
    """One line per bad value of a pydantic ``ValidationError``, under ``title``."""
    lines = [f"{title}:"]
    for e in exc.errors():  # type: ignore[attr-defined]
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        lines.append(f"  {loc}: {e['msg']}")
    return "\n".join(lines)
