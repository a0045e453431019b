"""Run i-PI's own socket driver loop with the mlh PES plugin, exiting cleanly if the server dies.

The protocol code is i-PI's (``run_driver`` from the ``i-pi-py_driver``
script shipped with the ``ipi`` package); we only load it as a module, swap
in the fail-fast socket (``failfast.py``) and hand it our driver.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import shutil
import sys
from pathlib import Path
from types import ModuleType

from mlh_ipi.ipi import failfast
from mlh_ipi.ipi.pes import MLHDriver

log = logging.getLogger(__name__)


def stock_driver_module() -> ModuleType:
    """i-PI's ``i-pi-py_driver`` script loaded as a module (its ``__main__`` block does not run)."""
    candidates = [Path(sys.prefix) / "bin" / "i-pi-py_driver"]
    found = shutil.which("i-pi-py_driver")
    if found:
        candidates.append(Path(found))
    for path in candidates:
        if path.exists():
            loader = importlib.machinery.SourceFileLoader("ipi_py_driver", str(path))
            spec = importlib.util.spec_from_loader("ipi_py_driver", loader)
            module = importlib.util.module_from_spec(spec)
            loader.exec_module(module)
            failfast.install(module)
            return module
    raise FileNotFoundError("i-PI's i-pi-py_driver script was not found (is the ipi package installed?)")


def serve(driver: MLHDriver, address: str, unix: bool = True, port: int = 12345,
          sockets_prefix: str = "/tmp/ipi_") -> None:
    """Serve ``driver`` to the i-PI server at ``address`` until i-PI sends EXIT.

    Raises ``failfast.ServerGone`` (within seconds) if the server dies or is unreachable.
    """
    module = stock_driver_module()
    where = f"{sockets_prefix}{address}" if unix else f"{address}:{port}"
    log.info("connecting to i-PI at %s (%s socket)", where, "unix" if unix else "inet")
    module.run_driver(unix=unix, address=address, port=port, driver=driver,
                      sockets_prefix=sockets_prefix)
