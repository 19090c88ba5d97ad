"""The one place a Kafka client's connection settings are made: every producer, consumer and admin client
(confluent-kafka, ``client_config``) and the Faust worker (aiokafka, ``faust_broker_options``) get the bootstrap
servers, SASL (SCRAM) credentials and TLS files from here, checked the same way.

A combination that would connect with less protection than the settings suggest is refused at start-up with a
``ConfigError`` naming the settings: SASL without a username and password, credentials or TLS files given to a
protocol that would not use them, PLAIN without TLS. The password goes only into the client's configuration;
no message here names it.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Mapping
from typing import Any

from streams.config.secret_files import read_private_file
from streams.config.settings import Settings
from streams.errors import ConfigError

__all__ = [
    "GROUP_ROLES",
    "SASL_PROTOCOLS",
    "TLS_PROTOCOLS",
    "check_security",
    "client_config",
    "faust_broker_options",
    "group_id",
]

SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
# Keys only this module sets: a caller's extra settings may tune a client, never weaken how it connects.
_SECURITY_KEY_PREFIXES = ("security.", "sasl.", "ssl.", "bootstrap.servers")
_TLS_FILES = ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")
# Every consumer group a deployment uses, by role: ``{topic_prefix}{role}``, with ``-<random>`` for a reader that
# assigns partitions itself and never commits (docs/operations.md lists them; one prefix ACL covers them all).
GROUP_ROLES = {
    "worker": "the stream workers' read inputs (committed: the one group to scale and watch for lag)",
    "worker-control": "the stream workers' Faust app, on `verifications` (committed)",
    "audit-sequencer": "`platestream audit sequence` (committed)",
    "hotlist": "each worker's hot-list follower (never committed)",
    "holds": "each worker's holds follower (never committed)",
    "alerts": "a starting worker's read of recent alerts (never committed)",
    "dlq": "`platestream dlq` (never committed)",
    "retention-verify": "`platestream retention verify` (never committed)",
    "console": "the API's console feed of hits and decisions (never committed)",
}


def check_security(settings: Settings) -> None:
    """Raise ``ConfigError`` for a security setting that is missing, contradictory or would go unused."""
    protocol = settings.kafka_security_protocol
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    if protocol in SASL_PROTOCOLS:
        if not settings.kafka_sasl_username or not password:
            raise ConfigError(
                f"kafka_security_protocol {protocol} needs kafka_sasl_username and kafka_sasl_password "
                "(PLATESTREAM_KAFKA_SASL_USERNAME, PLATESTREAM_KAFKA_SASL_PASSWORD)"
            )
        if settings.kafka_sasl_mechanism == "PLAIN" and protocol != "SASL_SSL":
            raise ConfigError(
                "kafka_sasl_mechanism PLAIN sends the password in clear text: use it only with "
                "kafka_security_protocol SASL_SSL, or use SCRAM-SHA-512"
            )
    elif settings.kafka_sasl_username or settings.kafka_sasl_password is not None:
        raise ConfigError(
            f"kafka_sasl_username or kafka_sasl_password is set but kafka_security_protocol {protocol} would not "
            "send them: set kafka_security_protocol to SASL_PLAINTEXT or SASL_SSL"
        )
    given = [name for name in _TLS_FILES if getattr(settings, name) is not None]
    if given and protocol not in TLS_PROTOCOLS:
        raise ConfigError(
            f"{' and '.join(given)} set but kafka_security_protocol {protocol} does not use TLS: "
            "set kafka_security_protocol to SSL or SASL_SSL"
        )
    if (settings.kafka_ssl_certfile is None) != (settings.kafka_ssl_keyfile is None):
        raise ConfigError("kafka_ssl_certfile and kafka_ssl_keyfile go together: a client certificate needs its key")
    for name in ("kafka_ssl_cafile", "kafka_ssl_certfile"):
        path = getattr(settings, name)
        if path is not None and not path.is_file():
            raise ConfigError(f"{name} {path}: no such file")
    if settings.kafka_ssl_keyfile is not None:
        read_private_file(settings.kafka_ssl_keyfile, "kafka_ssl_keyfile")  # missing or readable by others: refused


def client_config(settings: Settings, extra: Mapping[str, Any] | None = None, /, **more: Any) -> dict[str, Any]:
    """A confluent-kafka (librdkafka) configuration: the connection and security settings, then ``extra`` and
    ``more`` (client tuning such as ``group.id`` or ``on_delivery``; they may not set security keys)."""
    check_security(settings)
    tuning = {**(extra or {}), **more}
    overriding = sorted(k for k in tuning if k.startswith(_SECURITY_KEY_PREFIXES))
    if overriding:
        raise ValueError(f"connection settings come from streams.kafka.client, not from callers: {overriding}")
    protocol = settings.kafka_security_protocol
    conf: dict[str, Any] = {"bootstrap.servers": settings.kafka_bootstrap, "security.protocol": protocol}
    if protocol in SASL_PROTOCOLS:
        assert settings.kafka_sasl_password is not None  # check_security made sure
        conf["sasl.mechanism"] = settings.kafka_sasl_mechanism
        conf["sasl.username"] = settings.kafka_sasl_username
        conf["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    if protocol in TLS_PROTOCOLS:
        for name, key in zip(
            _TLS_FILES, ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location"), strict=True
        ):
            path = getattr(settings, name)
            if path is not None:
                conf[key] = str(path)
    conf.update(tuning)
    return conf


def group_id(settings: Settings, role: str, *, private: bool = False) -> str:
    """The consumer group of ``role`` (one of ``GROUP_ROLES``): ``{topic_prefix}{role}``; ``private``: a group of
    its own per client (``-<random>``), for a reader that never commits."""
    if role not in GROUP_ROLES:
        raise ValueError(f"unknown consumer-group role {role!r}; known: {sorted(GROUP_ROLES)}")
    name = f"{settings.topic_prefix}{role}"
    return f"{name}-{uuid.uuid4().hex[:8]}" if private else name


def faust_broker_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``faust.App``: ``broker`` and, unless PLAINTEXT, ``broker_credentials`` (aiokafka
    takes SCRAM-SHA-256/512 and PLAIN through ``faust.SASLCredentials``, TLS through an ``ssl.SSLContext``)."""
    # Here, not at the top: only the worker needs Faust, and importing it costs every other command 0.17 s.
    import faust

    check_security(settings)
    options: dict[str, Any] = {
        "broker": ";".join(f"kafka://{host.strip()}" for host in settings.kafka_bootstrap.split(","))
    }
    protocol = settings.kafka_security_protocol
    context = _ssl_context(settings) if protocol in TLS_PROTOCOLS else None
    if protocol in SASL_PROTOCOLS:
        assert settings.kafka_sasl_password is not None  # check_security made sure
        options["broker_credentials"] = faust.SASLCredentials(
            mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password.get_secret_value(),
            ssl_context=context,  # None: SASL_PLAINTEXT; a context: SASL_SSL
        )
    elif context is not None:
        options["broker_credentials"] = faust.SSLCredentials(context)
    return options


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    """Verifies the broker's certificate and host name (against ``kafka_ssl_cafile`` or the system's CAs), as
    librdkafka does by default; presents a client certificate when one is configured."""
    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    if settings.kafka_ssl_certfile is not None and settings.kafka_ssl_keyfile is not None:
        context.load_cert_chain(str(settings.kafka_ssl_certfile), str(settings.kafka_ssl_keyfile))
    return context
