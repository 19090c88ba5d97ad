"""The project's exceptions.

    PlatestreamError
     ├── ConfigError          a bad setting or policy file; one message per bad value
     ├── SchemaError          a DDL or wire schema that cannot be applied or derived
     ├── HotlistError         a hot-list file that cannot be read at all (single bad rows are refused, not raised)
     ├── StoreError           ClickHouse (embedded or server) failed
     └── KafkaSetupError      topics missing or configured unlike their declaration

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
    """Kafka topics are missing or configured unlike their declaration."""


def validation_message(exc: object, title: str) -> str:
    """One line per bad value of a pydantic ``ValidationError``, under ``title``."""
    lines = [f"{title}:"]
    for e in exc.errors():  # type: ignore[attr-defined]
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        lines.append(f"  {loc}: {e['msg']}")
    return "\n".join(lines)
