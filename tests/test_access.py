"""Roles and actions (policies/access.yaml): each role grants its own actions, an unknown role grants nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.config.access import load_access
from streams.errors import ConfigError
from streams.model.access import ACTIONS, Principal

# What the issue names for each role: the packaged file must grant these, and nothing from another role's list.
EXPECTED = {
    "operator": {"verify", "hits.read", "outcomes.record"},
    "investigator": {"search", "hits.read", "process.read"},
    "supervisor": {
        "outcomes.record",
        "holds.place",
        "holds.release",
        "holds.read",
        "hits.read",
        "process.register",
        "process.review",
        "process.read",
    },  # fmt: skip
    "auditor": {"audit.read", "holds.read", "process.read", "sharing.read"},
    "admin": {"hotlist.add", "hotlist.clear", "hotlist.sync", "policy.manage", "sharing.manage", "sharing.read"},
    "records": {"holds.place", "holds.release", "holds.read", "records.discover", "process.register", "process.read"},
}


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_grants_exactly_its_actions(role: str) -> None:
    access = load_access().access()
    who = Principal("u", "metro-pd", (role,))
    assert {a for a in ACTIONS if access.allows(who, a)} == EXPECTED[role]


def test_an_unknown_role_or_no_role_grants_nothing() -> None:
    access = load_access().access()
    for roles in ((), ("superuser",), ("Admin",), ("admin ",)):
        assert not any(access.allows(Principal("u", "a", roles), a) for a in ACTIONS)


def test_the_granting_role_is_the_one_recorded() -> None:
    access = load_access().access()
    assert access.granting_role(Principal("u", "a", ("auditor", "investigator")), "search") == "investigator"


def test_a_roles_file_naming_an_unknown_action_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "access.yaml"
    bad.write_text("roles:\n  investigator: [search, search_everything]\n")
    with pytest.raises(ConfigError, match="search_everything"):
        load_access(bad)
