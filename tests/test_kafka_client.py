"""The one Kafka client-configuration factory: what it passes to confluent-kafka and Faust, and the combinations it
refuses (no broker needed; the SCRAM broker test is tests/integration/test_kafka_scram.py)."""

from __future__ import annotations

import datetime
import os
import ssl
from pathlib import Path

import faust
import pytest
from confluent_kafka import Producer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from streams.config.settings import Settings
from streams.errors import ConfigError
from streams.kafka.client import check_security, client_config, faust_broker_options

PASSWORD = "s3cret-pw-never-shown"


def settings(**kw) -> Settings:
    return Settings(kafka_bootstrap="127.0.0.1:9092", **kw)


def sasl(**kw) -> Settings:
    return settings(
        kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="worker", kafka_sasl_password=PASSWORD, **kw
    )


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    """A real self-signed CA certificate and a client certificate with its key (0600), as PEM files."""
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    ca_key, ca_cert = _certificate("test-ca", ca=True)
    client_key, client_cert = _certificate("worker", ca=False)
    files["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(client_cert.public_bytes(serialization.Encoding.PEM))
    files["key"].touch(mode=0o600)
    files["key"].write_bytes(
        client_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


def _certificate(common_name: str, ca: bool) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def test_plaintext_is_bootstrap_and_protocol_only():
    assert client_config(settings()) == {"bootstrap.servers": "127.0.0.1:9092", "security.protocol": "PLAINTEXT"}
    assert faust_broker_options(settings()) == {"broker": "kafka://127.0.0.1:9092"}


def test_several_bootstrap_servers_become_one_faust_url_each():
    s = Settings(kafka_bootstrap="a:1, b:2")
    assert faust_broker_options(s)["broker"] == "kafka://a:1;kafka://b:2"
    assert client_config(s)["bootstrap.servers"] == "a:1, b:2"


def test_sasl_scram_passes_mechanism_user_and_password():
    conf = client_config(sasl(), {"group.id": "g"}, **{"linger.ms": 5})
    assert conf == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "worker",
        "sasl.password": PASSWORD,
        "group.id": "g",
        "linger.ms": 5,
    }
    Producer(conf)  # librdkafka accepts every key and value


def test_faust_gets_scram_credentials_without_tls():
    creds = faust_broker_options(sasl(kafka_sasl_mechanism="SCRAM-SHA-256"))["broker_credentials"]
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.protocol.value, creds.mechanism.value) == ("SASL_PLAINTEXT", "SCRAM-SHA-256")
    assert (creds.username, creds.password, creds.ssl_context) == ("worker", PASSWORD, None)
    assert PASSWORD not in repr(creds)


def test_sasl_ssl_passes_tls_files_to_both_clients(tls_files, monkeypatch):
    s = settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="worker",
        kafka_sasl_password=PASSWORD,
        kafka_ssl_cafile=tls_files["ca"],
        kafka_ssl_certfile=tls_files["cert"],
        kafka_ssl_keyfile=tls_files["key"],
    )
    conf = client_config(s)
    assert conf["security.protocol"] == "SASL_SSL"
    assert (conf["ssl.ca.location"], conf["ssl.certificate.location"], conf["ssl.key.location"]) == tuple(
        str(tls_files[k]) for k in ("ca", "cert", "key")
    )
    Producer(conf)  # librdkafka loads the CA, certificate and key at creation, and checks they match
    chains: list[tuple] = []
    load_cert_chain = ssl.SSLContext.load_cert_chain
    monkeypatch.setattr(
        ssl.SSLContext, "load_cert_chain", lambda self, *a: (chains.append(a), load_cert_chain(self, *a))[1]
    )
    creds = faust_broker_options(s)["broker_credentials"]
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.protocol.value == "SASL_SSL"
    context = creds.ssl_context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "test-ca"),),)]
    assert chains == [(str(tls_files["cert"]), str(tls_files["key"]))]


def test_ssl_without_sasl_gives_faust_ssl_credentials(tls_files):
    ca = tls_files["ca"]
    s = settings(kafka_security_protocol="SSL", kafka_ssl_cafile=ca)
    assert client_config(s)["ssl.ca.location"] == str(ca)
    assert "sasl.username" not in client_config(s)
    creds = faust_broker_options(s)["broker_credentials"]
    assert isinstance(creds, faust.SSLCredentials)
    assert creds.context.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    ("kw", "names"),
    [
        ({"kafka_security_protocol": "SASL_PLAINTEXT"}, ["kafka_sasl_username", "kafka_sasl_password"]),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "worker"},
            ["kafka_sasl_username", "kafka_sasl_password"],
        ),
        (
            {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": "w", "kafka_sasl_password": ""},
            ["kafka_sasl_password"],
        ),
        ({"kafka_sasl_username": "worker", "kafka_sasl_password": PASSWORD}, ["kafka_security_protocol"]),
        (
            {
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_sasl_mechanism": "PLAIN",
                "kafka_sasl_username": "w",
                "kafka_sasl_password": PASSWORD,
            },
            ["kafka_sasl_mechanism", "SASL_SSL"],
        ),
    ],
)
def test_incomplete_or_unused_credentials_are_refused_naming_the_settings(kw, names):
    with pytest.raises(ConfigError) as err:
        client_config(settings(**kw))
    message = str(err.value)
    assert all(n in message for n in names), message
    assert PASSWORD not in message and "\n" not in message
    with pytest.raises(ConfigError):
        faust_broker_options(settings(**kw))


def test_tls_files_need_a_tls_protocol_and_a_private_key(tls_files):
    with pytest.raises(ConfigError, match="kafka_ssl_cafile set but kafka_security_protocol PLAINTEXT"):
        check_security(settings(kafka_ssl_cafile=tls_files["ca"]))
    with pytest.raises(ConfigError, match="kafka_ssl_certfile and kafka_ssl_keyfile go together"):
        check_security(settings(kafka_security_protocol="SSL", kafka_ssl_certfile=tls_files["cert"]))
    with pytest.raises(ConfigError, match="no such file"):
        check_security(settings(kafka_security_protocol="SSL", kafka_ssl_cafile=tls_files["ca"].with_name("nope")))
    os.chmod(tls_files["key"], 0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        check_security(
            settings(
                kafka_security_protocol="SSL", kafka_ssl_certfile=tls_files["cert"], kafka_ssl_keyfile=tls_files["key"]
            )
        )


@pytest.mark.parametrize("key", ["bootstrap.servers", "security.protocol", "sasl.password", "ssl.ca.location"])
def test_callers_cannot_override_the_connection_settings(key):
    with pytest.raises(ValueError, match=key):
        client_config(sasl(), {key: "x"})
