"""Reading workflow config files (TOML) with clear errors."""
from __future__ import annotations

import tomllib
from pathlib import Path


def read_toml(path: str | Path) -> dict:
    """The parsed TOML file; ``FileNotFoundError`` if missing, ``ValueError`` naming the file if malformed."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such config file: {path}")
    with open(path, "rb") as fh:
        try:
            return tomllib.load(fh)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: {err}") from None
