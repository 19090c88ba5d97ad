"""The roles file (``policies/access.yaml``, or ``access_path``): which role grants which action."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from streams import resources
from streams.errors import ConfigError, validation_message
from streams.model.access import ACTIONS, Access

__all__ = ["AccessPolicy", "load_access"]


class AccessPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    roles: dict[str, list[str]]
    hold_release_roles: list[str] = ["supervisor", "records"]

    @field_validator("roles")
    @classmethod
    def _known_actions(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for role, actions in v.items():
            bad = sorted(set(actions) - set(ACTIONS))
            if bad:
                raise ValueError(f"role {role}: unknown action(s) {bad}; known: {list(ACTIONS)}")
        return v

    def access(self) -> Access:
        return Access({role: frozenset(actions) for role, actions in self.roles.items()})


@cache
def load_access(path: Path | None = None) -> AccessPolicy:
    """The roles file, validated; the packaged default when ``path`` is None."""
    p = path if path is not None else resources.policy_file("access.yaml")
    try:
        raw = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read roles file {p}: {exc}") from None
    try:
        return AccessPolicy.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, f"invalid roles file {p}")) from None
