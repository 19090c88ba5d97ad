"""Policy files in YAML, read and validated the same way: one message naming the file and each bad value."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from streams import resources
from streams.errors import ConfigError, validation_message

__all__ = ["load_yaml_model"]

M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: Path | None, packaged: str, model: type[M], what: str) -> M:
    """``path`` (else the packaged ``policies/<packaged>``) as ``model``; ConfigError naming ``what`` and the file."""
    p = path if path is not None else resources.policy_file(packaged)
    try:
        raw = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {what} {p}: {exc}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, f"invalid {what} {p}")) from None
