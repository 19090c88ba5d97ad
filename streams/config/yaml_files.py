"""Policy files in YAML, read and validated the same way: one message naming the file and each bad value."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from streams import resources
from streams.errors import ConfigError, validation_message

__all__ = ["load_yaml_model", "read_yaml"]

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path | None, packaged: str, what: str) -> tuple[Any, str]:
    """(parsed YAML, where it came from) of ``path``, else the packaged ``policies/<packaged>``."""
    p = path if path is not None else resources.policy_file(packaged)
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8")), str(p)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {what} {p}: {exc}") from None


def load_yaml_model(path: Path | None, packaged: str, model: type[M], what: str) -> M:
    """``path`` (else the packaged ``policies/<packaged>``) as ``model``; ConfigError naming ``what`` and the file."""
    raw, source = read_yaml(path, packaged, what)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, f"invalid {what} {source}")) from None
