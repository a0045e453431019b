"""Make i-PI's stock Python driver loop exit when the server goes away, instead of spinning.

i-PI's ``run_driver`` reads headers with ``sock.recv(12)``; after the server
dies that returns ``b''`` forever and the loop busy-waits at 100 % CPU. We keep
i-PI's own protocol code and only swap the socket class it uses for one that

* raises ``ServerGone`` when a read returns nothing (orderly close or kill of
  the server process: the kernel closes its sockets), and
* on inet sockets enables TCP keep-alive with short timers, so that a server
  host that vanishes without closing the connection is detected in seconds.
"""
from __future__ import annotations

import socket as _socket
import types


class ServerGone(ConnectionError):
    """The i-PI server closed the connection or stopped answering."""


KEEPALIVE_IDLE_S = 5
KEEPALIVE_INTERVAL_S = 2
KEEPALIVE_PROBES = 3


class FailFastSocket(_socket.socket):
    """``socket.socket`` whose reads raise ``ServerGone`` on end-of-stream."""

    def connect(self, address):
        if self.family in (_socket.AF_INET, _socket.AF_INET6):
            self.setsockopt(_socket.SOL_SOCKET, _socket.SO_KEEPALIVE, 1)
            for opt, val in (("TCP_KEEPIDLE", KEEPALIVE_IDLE_S), ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
                             ("TCP_KEEPCNT", KEEPALIVE_PROBES)):
                if hasattr(_socket, opt):
                    self.setsockopt(_socket.IPPROTO_TCP, getattr(_socket, opt), val)
        try:
            return super().connect(address)
        except (FileNotFoundError, ConnectionRefusedError) as err:
            raise ServerGone(f"cannot connect to the i-PI server at {address!r}: {err}") from None

    def recv(self, bufsize, *args):
        try:
            data = super().recv(bufsize, *args)
        except (ConnectionResetError, TimeoutError) as err:
            raise ServerGone(f"i-PI server connection lost: {err}") from None
        if bufsize and not data:
            raise ServerGone("i-PI server closed the connection (server exited or was killed)")
        return data

    def recv_into(self, buffer, nbytes=0, *args):
        try:
            n = super().recv_into(buffer, nbytes, *args)
        except (ConnectionResetError, TimeoutError) as err:
            raise ServerGone(f"i-PI server connection lost: {err}") from None
        if n == 0 and (nbytes or len(buffer)):
            raise ServerGone("i-PI server closed the connection (server exited or was killed)")
        return n

    def sendall(self, data, *args):
        try:
            return super().sendall(data, *args)
        except (BrokenPipeError, ConnectionResetError) as err:
            raise ServerGone(f"i-PI server connection lost: {err}") from None

    send = sendall


def socket_module() -> types.ModuleType:
    """A stand-in for the ``socket`` module whose ``socket`` class is ``FailFastSocket``."""
    shim = types.ModuleType("socket")
    shim.__dict__.update({k: v for k, v in vars(_socket).items() if not k.startswith("__")})
    shim.socket = FailFastSocket
    return shim


def install(module: types.ModuleType) -> None:
    """Replace ``module.socket`` (the driver script's ``import socket``) by the fail-fast shim."""
    if getattr(module, "socket", None) is not None and not getattr(module.socket, "_mlh_failfast", False):
        shim = socket_module()
        shim._mlh_failfast = True
        module.socket = shim
