"""Build frozen dataclasses from dicts (config files, checkpoints), rejecting unknown keys."""
from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping, TypeVar

T = TypeVar("T")


def from_mapping(cls: type[T], d: Mapping[str, Any], what: str) -> T:
    """``cls(**d)``; ``ValueError`` naming any key ``cls`` does not have (``what``: e.g. "DFT setting")."""
    unknown = set(d) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {what}(s): {sorted(unknown)}")
    return cls(**dict(d))
