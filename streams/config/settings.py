"""Settings from environment variables (``PLATESTREAM_*``, plus ``CLICKHOUSE_URL``) and an optional YAML file.

Validated at start-up: every bad value is reported at once, each with its name and what is wrong.
Precedence: environment over the YAML file (``PLATESTREAM_CONFIG``) over defaults.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams import resources
from streams.config.retention import RetentionPolicy, load_retention, processor_state_ms
from streams.config.secret_files import load_audit_signer, load_public_keys, read_private_file
from streams.core.audit_log import AuditSigner
from streams.core.confusables import canonical_lut
from streams.core.pipeline import ProcessorConfig
from streams.core.policy import BASIS_KINDS, AdmissionPolicy, ReasonRule
from streams.core.pseudonym import PlateKeys
from streams.core.validate import Limits
from streams.errors import ConfigError, validation_message
from streams.ingest.camera_sites import AreaInfo, CameraSite, load_areas, load_camera_sites
from streams.ingest.limits import InputLimits, load_camera_registry
from streams.model.match_kinds import KINDS

MATCH_KINDS = frozenset(KINDS)
# A ClickHouse cluster's name (``clickhouse_cluster``), as it goes into ``ON CLUSTER `name```.
CLUSTER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


class Settings(BaseSettings):
    """Every knob of a worker or run. Durations are in seconds."""

    model_config = SettingsConfigDict(env_prefix="PLATESTREAM_", extra="forbid", frozen=True)

    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "platestream."
    partitions: int = Field(6, ge=1, le=1024)
    clickhouse_url: str | None = Field(None, validation_alias=AliasChoices("CLICKHOUSE_URL", "clickhouse_url"))
    # A ClickHouse cluster (a name of the server's remote_servers): migrations run ON CLUSTER with Replicated engines,
    # one shard, writes and reads on any replica (docs/operations.md, "ClickHouse cluster mode"). None: one node.
    clickhouse_cluster: str | None = None
    # Whether this process migrates and purges the store. Off for workers next to a server, where one Job migrates
    # and one CronJob purges: they apply nothing and refuse a schema behind theirs. Not `purge` (a drill setting).
    store_maintenance: bool = True
    chdb_path: Path = Path(".local/chdb")
    policy_path: Path | None = None  # None: the packaged default (resources/policies/default.yaml)
    hotlist_path: Path | None = None
    dedup_window_s: float = Field(60, gt=0, le=86_400)
    alert_window_s: float = Field(600, ge=0, le=86_400)
    retention: str = "default"  # retention policy: a preset (see streams/config/retention.py) or a YAML path
    nonhit_state_s: float = Field(300, ge=0, le=30 * 86_400)  # can only shorten the policy's non_hit_reads
    reads_retention_s: float | None = None  # replaced by `retention`: refused when set
    bucket_s: int = Field(3600, ge=60, le=86_400)
    aggregate_ttl_days: int = Field(400, ge=1, le=3650)
    max_future_skew_s: float = Field(300, ge=0)
    max_age_s: float = Field(7 * 86_400, gt=0)
    max_message_bytes: int = Field(8 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_message_rows: int = Field(500_000, ge=1, le=10_000_000)  # reads per Arrow message: `too_many_rows` beyond
    max_plate_chars: int = Field(32, ge=12, le=1024)  # plate text as received: `plate_too_long` beyond
    camera_registry_path: Path | None = None  # CSV with a camera_id column: reads from other cameras are refused
    web_host: str = "127.0.0.1"  # 0.0.0.0 in a container, so Prometheus can scrape /metrics
    web_port: int = Field(6066, ge=0, le=65535)
    worker_batch: int = Field(50_000, ge=1, le=100_000)  # JSON events a take (streams.worker.batch_input)
    worker_batch_messages: int = Field(8, ge=1, le=1000)  # Arrow messages a take
    # How long the group waits for a silent worker before handing its partitions to others: after a crash its
    # partitions stand still this long (Faust's default is 60 s). The broker allows 6 s at the least.
    session_timeout_s: float = Field(10, ge=6, le=300)
    # SIGTERM: the worker stops taking input, finishes and commits what it holds, closes its store and exits 0
    # within this many seconds, else exits 1 (Kubernetes' terminationGracePeriodSeconds must be longer).
    shutdown_grace_s: float = Field(25, gt=0, le=3600)
    # Replicas of each topic `topics create` makes; None: the broker's default.replication.factor.
    topic_replication: int | None = Field(None, ge=1, le=32)
    # The read store (ClickHouse ``reads``): keeps what the retention policy allows (hit reads, and non-hit reads
    # when their limit is above 0), plates as keyed hashes. Off: no read is stored, whatever the policy allows.
    read_store: bool = True
    # Plate pseudonym keys, ``id:32-hex[,id:32-hex...]``, the first one current (from a secret store in
    # deployments). Unset: read from ``plate_keys_file``, which is created with a fresh key if missing.
    plate_keys: SecretStr | None = None
    plate_keys_file: Path = Path(".local/plate_keys")
    # The purge job: deletes what is past its limit from every ClickHouse table, on this interval (capped at a
    # tenth of the shortest stored limit). Off only to show that the verifier catches what it leaves.
    purge: bool = True  # off: no deletion in the store at all, TTL merges included (drills and tests only)
    purge_interval_s: float = Field(60, gt=0, le=86_400)
    # The core: "kernel" (compiled, the default) or "reference" (the numpy path it is tested against).
    engine: Literal["kernel", "reference"] = "kernel"
    # The worker's clock: processor-state expiry, hold events, and the purge job when it is due.
    tick_s: float = Field(5, ge=0.2, le=5)
    # Batches matched and published whose aggregates are not yet written; beyond it the agents wait.
    sink_queue_batches: int = Field(16, ge=1, le=1024)
    sink_retry_max_s: float = Field(5, gt=0, le=300)  # longest pause between retries of a failed store write
    stream_buffer_messages: int = Field(1024, ge=16, le=100_000)  # fetched messages waiting per partition
    store_fault_file: Path | None = None  # test hook: while this file exists every store call fails

    # Kafka client security, passed by streams.kafka.client to every producer, consumer, admin client and Faust.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None

    # Control events (hot list, holds, verifications) are signed by the API (docs/security.md). The API holds
    # the private key; workers trust the public keys in `control_keys_file` and dead-letter anything else.
    control_signing_key_file: Path | None = None
    control_keys_file: Path | None = None

    # The audit log (docs/search-and-audit.md): records signed with this key (made, with its .pub, on first use
    # for an embedded store; with a server it must be given), other writers' public keys, and the folder that
    # receives the signed checkpoints (outside the database).
    audit_signing_key_file: Path = Path(".local/audit.key")
    audit_keys_file: Path | None = None
    audit_checkpoint_dir: Path = Path(".local/audit-checkpoints")
    # With a ClickHouse server several processes write audit records: they send them to the `audit` topic and
    # one `platestream audit sequence` writes them in the broker's order. Off: each process writes its own store.
    audit_via_kafka: bool = False
    audit_checkpoint_interval_s: float = Field(300, gt=0, le=86_400)  # how often the sequencer checkpoints

    # The API service (`platestream api`): search and administration, authenticated by bearer tokens.
    api_host: str = "127.0.0.1"  # off loopback only with authentication configured
    api_port: int = Field(8080, ge=0, le=65535)
    api_rate_per_minute: int = Field(120, ge=1, le=1_000_000)  # requests per principal; beyond it 429
    api_max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1024 * 1024)  # larger bodies get 413
    auth_jwks: str | None = None  # the identity provider's keys: a JWKS file path or an https:// URL
    auth_issuer: str | None = None  # the `iss` every token must carry
    auth_audience: str | None = None  # the `aud` every token must carry
    auth_algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
    auth_leeway_s: float = Field(30, ge=0, le=300)  # clock skew allowed on exp and nbf
    auth_agency_claim: str = "agency"
    auth_roles_claim: str = "roles"
    access_path: Path | None = None  # the roles file; None: the packaged policies/access.yaml

    # The CLI as an API client: where the API is, and the token it sends (`platestream login`). A service
    # gets its tokens itself with client credentials from `auth_token_url`.
    api_url: str = "http://127.0.0.1:8080"
    token_file: Path = Path("~/.config/platestream/token")
    auth_token_url: str | None = None
    auth_client_id: str | None = None
    auth_client_secret: SecretStr | None = None

    # Searches under legal process (docs/search-and-audit.md): the search policy file; None: the packaged
    # policies/search.yaml. Camera positions for near-scene searches: optional lat, lon columns of the registry.
    search_policy_path: Path | None = None
    # Deadlines of hit review (policies/hit_review.yaml when None): overdue verifications, missing outcomes.
    hit_review_path: Path | None = None
    # How hot-list extracts are read (policies/extracts.yaml when None): layouts, list codes, refresh and grace.
    extract_policy_path: Path | None = None
    # Transparency reports (docs/transparency.md): residents per area the camera registry names (CSV area, kind,
    # population), and the disclosure control: counts 1..threshold hidden, rates with a smaller numerator hidden.
    areas_path: Path | None = None
    report_suppress_threshold: int = Field(10, ge=0, le=1000)
    report_min_rate_numerator: int = Field(16, ge=0, le=10_000)

    # The ingest gateway (`platestream gateway serve`, docs/cameras.md): cameras' HTTP posts to reads.json. Cameras
    # authenticate with a per-camera token (hashes in `gateway_tokens_file`) and/or a client certificate (mTLS:
    # `gateway_ssl_client_ca_file`); it refuses to start with neither, unless on loopback with `gateway_insecure`.
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(8090, ge=0, le=65535)
    gateway_tokens_file: Path | None = None
    gateway_ssl_certfile: Path | None = None  # the gateway's own certificate (HTTPS)
    gateway_ssl_keyfile: Path | None = None
    gateway_ssl_client_ca_file: Path | None = None  # set: every client must present a certificate signed by it
    gateway_insecure: bool = False  # no authentication at all: loopback tests only
    gateway_max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)  # larger bodies get 413
    gateway_delivery_timeout_s: float = Field(10, ge=1, le=300)  # broker not confirming within it: 503

    # The operator's hit console (`/console`, docs/console.md): sign-in by OIDC authorization code with PKCE at
    # the identity provider's endpoints, as a public client; the access token it gets is checked like any bearer
    # token. Off (no queue, no consumer) until the authorize and token endpoints and the client id are set.
    console_authorize_url: str | None = None
    console_token_url: str | None = None
    console_client_id: str | None = None
    console_redirect_uri: str | None = None  # None: this API's own /console/callback, as the request names it
    console_scope: str = "openid"
    # The live queue: hits and verifications read from this far back at start-up, and at most this many hits
    # (verified or not) held in memory; older ones are dropped first.
    console_window_s: float = Field(86_400, gt=0, le=30 * 86_400)
    console_max_hits: int = Field(5_000, ge=10, le=1_000_000)

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap(cls, v: str) -> str:
        for hp in v.split(","):
            host, _, port = hp.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{hp!r} is not host:port")
        return v

    @field_validator("clickhouse_url")
    @classmethod
    def _ch_url(cls, v: str | None) -> str | None:
        if v and not v.startswith(("http://", "https://", "clickhouse://")):
            raise ValueError("must start with http://, https:// or clickhouse://")
        return v or None

    @field_validator("clickhouse_cluster")
    @classmethod
    def _ch_cluster(cls, v: str | None) -> str | None:
        if v and not CLUSTER_NAME.fullmatch(v):
            raise ValueError("letters, digits, '_', '.' and '-' only (a cluster of the server's remote_servers)")
        return v or None

    @model_validator(mode="after")
    def _server_only(self) -> Settings:
        # An embedded store belongs to one process: no Job can migrate or purge it, and chDB has no Keeper.
        if not self.clickhouse_url and (self.clickhouse_cluster or not self.store_maintenance):
            raise ValueError("clickhouse_cluster and store_maintenance=false need a ClickHouse server (clickhouse_url)")
        return self

    @field_validator("retention")
    @classmethod
    def _retention(cls, v: str) -> str:
        try:
            load_retention(v)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("camera_registry_path")
    @classmethod
    def _camera_registry(cls, v: Path | None) -> Path | None:
        if v is not None:
            try:
                load_camera_registry(v)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator("areas_path")
    @classmethod
    def _areas(cls, v: Path | None) -> Path | None:
        if v is not None:
            try:
                load_areas(v)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return v

    def camera_sites(self) -> dict[str, CameraSite]:
        """The registry's description of each camera ({} without a registry)."""
        return load_camera_sites(self.camera_registry_path) if self.camera_registry_path else {}

    def areas(self) -> dict[str, AreaInfo]:
        """The areas file's areas ({} without one); ConfigError when the registry names an area it lacks."""
        if self.areas_path is None:
            return {}
        areas = load_areas(self.areas_path)
        unknown = sorted({s.area for s in self.camera_sites().values() if s.area} - set(areas))
        if unknown:
            raise ConfigError(f"areas file {self.areas_path}: no row for area(s) {', '.join(unknown)} of the registry")
        return areas

    def input_limits(self) -> InputLimits:
        cameras = load_camera_registry(self.camera_registry_path) if self.camera_registry_path else None
        return InputLimits(self.max_plate_chars, cameras)

    @field_validator("reads_retention_s")
    @classmethod
    def _reads_retention(cls, v: float | None) -> None:
        if v is not None:
            raise ValueError("replaced by `retention` (a preset name or a policy YAML), see docs/retention.md")
        return None

    @field_validator("plate_keys")
    @classmethod
    def _plate_keys(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            PlateKeys.parse(v.get_secret_value())  # raises ValueError without echoing key material
        return v

    def retention_policy(self) -> RetentionPolicy:
        return load_retention(self.retention)  # cached

    def keep_reads(self) -> str:
        """What the read store keeps under the policy: "all", "hits" or "none"."""
        policy = self.retention_policy()
        if not self.read_store or policy.hit_reads == 0:
            return "none"
        return "all" if policy.non_hit_reads > 0 else "hits"

    def purge_every_s(self) -> float:
        """The purge interval: the setting, but at most a tenth of the shortest limit of a stored class."""
        policy = self.retention_policy()
        limits = [s for s in (policy.non_hit_reads, policy.hit_reads, policy.verifications, policy.audit) if s > 0]
        return min([self.purge_interval_s] + [max(0.5, s / 10) for s in limits])

    def store_check_grace_ms(self) -> int:
        """How far past its limit the store's retention check lets a row be: one purge interval and two ticks."""
        return int((self.purge_every_s() + 2 * self.tick_s) * 1000)

    def load_plate_keys(self) -> PlateKeys:
        """The configured keys, else those in ``plate_keys_file`` (created with one fresh key, mode 0600, for an
        embedded store only: processes sharing a server store must share one key, so there it must be given)."""
        if self.plate_keys is not None:
            return PlateKeys.parse(self.plate_keys.get_secret_value())
        path = self.plate_keys_file
        try:
            if not path.exists():
                if self.clickhouse_url:
                    raise ConfigError(
                        f"no plate pseudonym key: with a ClickHouse server set PLATESTREAM_PLATE_KEYS or "
                        f"PLATESTREAM_PLATE_KEYS_FILE (missing: {path}); a fresh key per process would hide plates"
                    )
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(PlateKeys.new_spec("k1") + "\n")
            return PlateKeys.parse(read_private_file(path, "plate keys file").decode())
        except FileExistsError:  # another process created it first
            return PlateKeys.parse(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read or create plate keys file {path}: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"plate keys file {path}: {exc}") from None

    def audit_signer(self) -> AuditSigner:
        """This process's audit signing key (see ``audit_signing_key_file``)."""
        path = self.audit_signing_key_file
        if self.clickhouse_url and not path.exists():
            raise ConfigError(
                f"no audit signing key at {path}: with a ClickHouse server set PLATESTREAM_AUDIT_SIGNING_KEY_FILE "
                "(make one with `platestream keys control-new PATH`)"
            )
        return load_audit_signer(path, create=not self.clickhouse_url)

    def audit_trusted_keys(self) -> list:  # noqa: ANN401 - Ed25519 public keys
        """Other writers' public audit keys (``audit_keys_file``), besides this process's own."""
        return load_public_keys(self.audit_keys_file, "audit keys file") if self.audit_keys_file else []

    def processor_config(self, policy: AdmissionPolicy) -> ProcessorConfig:
        return ProcessorConfig(
            dedup_window_ms=int(self.dedup_window_s * 1000),
            alert_window_ms=int(self.alert_window_s * 1000),
            nonhit_state_ms=min(int(self.nonhit_state_s * 1000), processor_state_ms(self.retention_policy())),
            bucket_ms=self.bucket_s * 1000,
            limits=Limits(int(self.max_future_skew_s * 1000), int(self.max_age_s * 1000)),
            alert_kinds=policy.alert_kinds,
            low_confidence=policy.low_confidence,
            keep_reads=self.keep_reads(),
            engine=self.engine,
        )


def _errors(exc: ValidationError, where: str) -> str:
    return validation_message(exc, f"invalid configuration ({where})")


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from YAML (``config_file`` or ``$PLATESTREAM_CONFIG``), then environment, then ``overrides``."""
    path = config_file or os.environ.get("PLATESTREAM_CONFIG")
    file_values: dict[str, Any] = {}
    if path:
        try:
            file_values = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from None
        if not isinstance(file_values, dict):
            raise ConfigError(f"config file {path} must hold a mapping of setting: value")
    try:
        # environment wins over the file: pass file values only where no variable is set
        env_set = {k for k in Settings.model_fields if f"PLATESTREAM_{k.upper()}" in os.environ}
        if "CLICKHOUSE_URL" in os.environ:
            env_set.add("clickhouse_url")
        init = {k: v for k, v in file_values.items() if k not in env_set}
        init.update({k: v for k, v in overrides.items() if v is not None})
        return Settings(**init)
    except ValidationError as exc:
        raise ConfigError(_errors(exc, str(path or "environment"))) from None


class _ReasonModel(BaseModel):
    model_config = {"extra": "forbid"}
    alert: bool = True
    requires: str | None = None
    max_days: int | None = Field(None, ge=1, le=3650)

    @field_validator("requires")
    @classmethod
    def _requires(cls, v: str | None) -> str | None:
        if v is not None and v not in BASIS_KINDS:
            raise ValueError(f"must be one of {', '.join(BASIS_KINDS)}")
        return v


class _PolicyModel(BaseModel):
    model_config = {"extra": "forbid"}
    reasons: dict[str, _ReasonModel]
    alert_kinds: list[str] = ["exact", "candidate", "confusable"]
    source_max_age_hours: float = Field(24, gt=0)
    low_confidence: float = Field(80, ge=0, le=100)
    confusable_groups: list[str] = []

    @field_validator("alert_kinds")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        bad = sorted(set(v) - MATCH_KINDS)
        if bad:
            raise ValueError(f"unknown match kind(s) {bad}; known: {sorted(MATCH_KINDS)}")
        return v


def load_policy(path: str | Path | None = None) -> AdmissionPolicy:
    """The admission policy from YAML, validated; the packaged default when ``path`` is None."""
    p = Path(path) if path else resources.policy_file("default.yaml")
    try:
        raw = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read policy file {p}: {exc}") from None
    try:
        m = _PolicyModel.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_errors(exc, str(p))) from None
    return AdmissionPolicy(
        reasons={k: ReasonRule(v.alert, v.requires, v.max_days) for k, v in m.reasons.items()},
        alert_kinds=frozenset(m.alert_kinds),
        source_max_age_hours=m.source_max_age_hours,
        low_confidence=m.low_confidence,
        confusable_groups=tuple(m.confusable_groups),
    )


def policy_lut(policy: AdmissionPolicy):  # noqa: ANN201 - numpy array
    return canonical_lut(policy.confusable_groups) if policy.confusable_groups else canonical_lut()
