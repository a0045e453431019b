"""Claim files: several processes share one folder of jobs without doing any job twice.

A job is claimed by creating its claim file exclusively (``O_CREAT | O_EXCL``)
with the claiming process's pid and host name in it. Other processes skip a
job whose claim is held by a live process and take over the claim of a process
that died. The holder removes the file when the job is done or failed
(:func:`release`). A claim from another host cannot be checked and counts as
alive: delete the file by hand if that job is gone.

Used by batch labelling (one claim per structure) and by the formation case
study's DFT stage (one claim per relaxation).
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

__all__ = ["try_claim", "holder_alive", "release"]

FRESH_S = 60.0  # an unreadable claim file younger than this is being written by its holder


def try_claim(path: str | Path) -> bool:
    """Claim ``path`` for this process; False while another live process holds it.

    A claim left by a process that died, or by this very process, is taken over."""
    path = Path(path)
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if holder_alive(path):
                return False
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        return True
    return False


def holder_alive(path: str | Path) -> bool:
    """Whether the process named in claim file ``path`` may still be working on its job
    (False for this process's own leftover claim)."""
    path = Path(path)
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):  # being written by a process starting now, or just removed
        try:
            return time.time() - path.stat().st_mtime < FRESH_S
        except OSError:
            return False
    if holder.get("host") != socket.gethostname():
        return True
    pid = int(holder.get("pid", -1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def release(path: str | Path) -> None:
    """Remove a claim (done or failed); missing is fine."""
    Path(path).unlink(missing_ok=True)
