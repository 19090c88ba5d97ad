"""The roles file (``policies/access.yaml``, or ``access_path``): which role grants which action."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from streams.config.yaml_files import load_yaml_model
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
    return load_yaml_model(path, "access.yaml", AccessPolicy, "roles file")
