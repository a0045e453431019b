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


def check_resume_config(path: str | Path, config: dict, resumable: tuple[str, ...]) -> None:
    """Refuse to resume a run folder started with another configuration; record ``config`` (JSON).

    Only the keys in ``resumable`` may differ from the recorded configuration.
    """
    import json

    from mlh_ipi.atomic_io import write_json

    path = Path(path)
    if path.exists():
        old = json.loads(path.read_text())
        diff = sorted(k for k in old.keys() | config.keys()
                      if k not in resumable and old.get(k) != config.get(k))
        if diff:
            raise ValueError(f"{path.parent} was started with another configuration (differs in {diff}); "
                             f"only {list(resumable)} may change on resume")
    write_json(path, config)
