"""Loading a platform's mapping file (connectors/<platform>.yaml) with a source's overrides.

Mappings are data only; a bad one fails like a bad model file, with file, line and field.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from leadscore.errors import ConfigError
from leadscore.packaged import packaged_file

M = TypeVar("M", bound=BaseModel)


def mapping_path(platform: str) -> Path:
    return packaged_file("connectors", f"{platform}.yaml")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@lru_cache(maxsize=16)
def _parsed(path: Path, modified_ns: int) -> dict[str, Any]:
    """A mapping file's document, parsed once per version of the file: every cycle builds a connector, and parsing
    YAML cost more than the rest of a small cycle's set-up."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


def load_mapping(platform: str, model: type[M], overrides: dict[str, Any] | None = None) -> M:
    path = mapping_path(platform)
    try:
        data = copy.deepcopy(_parsed(path, path.stat().st_mtime_ns))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the {platform} mapping: {exc}") from None
    data = deep_merge(data, overrides or {})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path} (with the source's mapping overrides): {lines}") from None
