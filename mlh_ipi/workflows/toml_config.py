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

    Only the keys in ``resumable`` may differ from the recorded configuration; a
    ``"section.key"`` entry names one key of a ``[section]`` table.
    """
    import json

    from mlh_ipi.atomic_io import write_json

    def without_resumable(d: dict) -> dict:
        d = {k: (dict(v) if isinstance(v, dict) else v) for k, v in d.items() if k not in resumable}
        for name in resumable:
            section, _, key = name.partition(".")
            if key and isinstance(d.get(section), dict):
                d[section].pop(key, None)
        return d

    path = Path(path)
    if path.exists():
        old, new = without_resumable(json.loads(path.read_text())), without_resumable(config)
        diff = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        if diff:
            raise ValueError(f"{path.parent} was started with another configuration (differs in {diff}); "
                             f"only {list(resumable)} may change on resume")
    write_json(path, config)
