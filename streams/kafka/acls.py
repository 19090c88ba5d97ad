"""What each kind of Kafka client of a deployment may do on the broker, as ACLs: one definition, applied with the
admin API (``grant``) and written out in docs/kafka-security.md.

- ``worker``: reads the input and control topics and the hits (its alert window), writes hits and dead letters,
  describes every topic's configs (its start-up check), joins the deployment's consumer groups.
- ``api``: writes the control topics (hot-list events, holds, verifications).
- ``producer``: a camera gateway or load generator; writes reads only.

Every consumer group of a deployment is named under its topic prefix, so one prefixed group ACL covers them.
Creating topics and ACLs is an administrator's (a super user's) job; no role here may.
"""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from streams.config.settings import Settings
from streams.errors import KafkaSetupError
from streams.kafka.client import client_config
from streams.kafka.topics import declared, topic_name

__all__ = ["ROLES", "grant", "role_acls", "set_scram_user"]

CONTROL_TOPICS = ("hotlist.events", "holds", "verifications")
READ_TOPICS = ("reads.batch", "reads.json")
# role -> (topics it reads, topics it writes, whether it describes every topic's configs, whether it joins groups)
ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool, bool]] = {
    "worker": ((*READ_TOPICS, *CONTROL_TOPICS, "hits"), ("hits", "deadletter", "audit"), True, True),
    "api": ((), (*CONTROL_TOPICS, "audit"), False, False),
    # the audit sequencer (`platestream audit sequence`): reads the log in order, nothing else
    "audit_sequencer": (("audit",), (), False, True),
    "producer": ((), READ_TOPICS, False, False),
}


def role_acls(settings: Settings, role: str, principal: str, host: str = "*") -> list[AclBinding]:
    """The ACLs that let ``principal`` (``User:<name>``) act as ``role`` on this deployment's topics."""
    if role not in ROLES:
        raise KafkaSetupError(f"unknown Kafka client role {role!r}: one of {', '.join(ROLES)}")
    reads, writes, describe_configs, groups = ROLES[role]

    def allow(kind: ResourceType, name: str, op: AclOperation, pattern=ResourcePatternType.LITERAL) -> AclBinding:
        return AclBinding(kind, name, pattern, principal, host, op, AclPermissionType.ALLOW)

    topic = ResourceType.TOPIC
    out = [allow(topic, topic_name(settings, t), AclOperation.READ) for t in reads]
    out += [allow(topic, topic_name(settings, t), AclOperation.WRITE) for t in writes]
    if describe_configs:
        out += [allow(topic, topic_name(settings, t.name), AclOperation.DESCRIBE_CONFIGS) for t in declared(settings)]
    if groups:
        out.append(allow(ResourceType.GROUP, settings.topic_prefix, AclOperation.READ, ResourcePatternType.PREFIXED))
    return out


def grant(settings: Settings, bindings: list[AclBinding]) -> None:
    """Create ``bindings`` on the broker, as the (administrator) identity ``settings`` connects with."""
    admin = AdminClient(client_config(settings, {"socket.timeout.ms": 10000}))
    for binding, future in admin.create_acls(bindings, request_timeout=30).items():
        try:
            future.result()
        except KafkaException as exc:
            raise KafkaSetupError(f"cannot create ACL {binding}: {exc}") from None


def set_scram_user(settings: Settings, user: str, password: str, mechanism: str = "SCRAM-SHA-512") -> None:
    """Create or change a SCRAM user's password on the broker (stored salted and hashed; 8192 iterations)."""
    admin = AdminClient(client_config(settings, {"socket.timeout.ms": 10000}))
    info = ScramCredentialInfo(ScramMechanism[mechanism.replace("-", "_")], 8192)
    for name, future in admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, info, password.encode())], request_timeout=30
    ).items():
        try:
            future.result()
        except KafkaException as exc:
            raise KafkaSetupError(f"cannot set the SCRAM credential of Kafka user {name}: {exc}") from None
