"""Child processes that do not outlive the Python process that started them.

``subprocess.Popen(..., preexec_fn=die_with_parent)`` asks the Linux kernel
(``prctl(PR_SET_PDEATHSIG, SIGTERM)``) to send the child SIGTERM when its parent
dies for any reason, SIGKILL and an uncaught SIGTERM included, where Python's
``finally`` blocks never run. Without it a killed ``mlh-ipi formation`` left its
i-PI server and its DFT client computing for nobody. Elsewhere it is a no-op.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for ``subprocess.Popen``: SIGTERM this child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:  # the parent already died between fork and prctl
        os._exit(1)
