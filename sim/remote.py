"""Driving a Verilator-simulated engine from the host process.

The simulator runs in its own process (cocotb + Verilator, started by
:func:`synemu.sim.verilator.run`); its cocotb test :mod:`synemu.sim.cocotb_engine` connects
back to a Unix socket that this module listens on and serves batches of commands:

host -> sim  ``("run", [(op, row, col, arg), ...], [n_resp, ...], snapshot: bool)``
sim -> host  ``("ok", [[resp, ...], ...], Snapshot | None, cycle)`` or ``("error", message)``
host -> sim  ``("quit",)``

Messages are pickles behind a 4-byte big-endian length. The same session backs the
``verilator`` Tile backend and Verilator lockstep runs.
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import struct
import tempfile
import threading
from pathlib import Path

from ..golden.engine import Command, EngineConfig
from . import verilator
from .lockstep import Snapshot

__all__ = ["engine_build", "VerilatorSession", "send_msg", "recv_msg"]

TOPLEVEL = "synemu_engine"


def send_msg(sock: socket.socket, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(struct.pack(">I", len(data)) + data)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("simulator closed the connection")
        buf += chunk
    return bytes(buf)


def recv_msg(sock: socket.socket):
    (n,) = struct.unpack(">I", _recv_exact(sock, 4))
    return pickle.loads(_recv_exact(sock, n))


def engine_build(config: EngineConfig, *, waves: bool = False) -> verilator.Build:
    """Verilator model of ``ArrayEngine(config, debug=True)`` (cached by Verilog hash)."""
    from ..hdl.engine import ArrayEngine
    text = verilator.verilog_of(ArrayEngine(config, debug=True), name=TOPLEVEL)
    return verilator.build(text, TOPLEVEL, waves=waves)


class VerilatorSession:
    """A running Verilator simulation of one engine, driven command batch by batch.

    Use as a context manager. ``run(cmds, n_resps, snapshot)`` returns the responses and,
    if asked, a :class:`~synemu.sim.lockstep.Snapshot` taken after the batch.
    """

    def __init__(self, config: EngineConfig, *, waves: bool = False, connect_timeout: float = 600):
        self.config = config
        self.build = engine_build(config, waves=waves)
        self._tmp = tempfile.TemporaryDirectory(prefix="synemu-sock-")
        path = str(Path(self._tmp.name) / "engine.sock")
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(path)
        self._server.listen(1)
        self._server.settimeout(1.0)
        self._error: BaseException | None = None
        self.result = None
        env = {"SYNEMU_REMOTE": path, "SYNEMU_ENGINE": json.dumps(config.to_dict())}

        def target():
            try:
                self.result = verilator.run(self.build, "synemu.sim.cocotb_engine",
                                            testcase="serve", env=env, waves=waves,
                                            keep=waves)
            except BaseException as e:  # reported to the host thread
                self._error = e

        self._thread = threading.Thread(target=target, name="verilator-session", daemon=True)
        self._thread.start()
        waited = 0.0
        while True:
            try:
                self._sock, _ = self._server.accept()
                break
            except socket.timeout:
                waited += 1.0
                if not self._thread.is_alive() or waited > connect_timeout:
                    self.close()
                    raise RuntimeError(f"Verilator simulation did not connect: {self._error}")
        self._sock.settimeout(None)

    def run(self, cmds: list[Command], n_resps: list[int], snapshot: bool = False):
        send_msg(self._sock, ("run", [tuple(int(v) for v in c) for c in cmds],
                              list(n_resps), bool(snapshot)))
        try:
            reply = recv_msg(self._sock)
        except ConnectionError:
            self._thread.join(timeout=30)
            raise RuntimeError(f"Verilator simulation died: {self._error}") from None
        if reply[0] != "ok":
            raise RuntimeError(f"Verilator simulation error: {reply[1]}")
        self.cycle = reply[3]          # clock cycles simulated so far
        return reply[1], reply[2]

    def close(self):
        if getattr(self, "_sock", None) is not None:
            try:
                send_msg(self._sock, ("quit",))
            except OSError:
                pass
            self._sock.close()
            self._sock = None
            self._thread.join(timeout=60)
        self._server.close()
        self._tmp.cleanup()
        if self._error is not None:
            err, self._error = self._error, None
            raise RuntimeError(f"Verilator simulation failed: {err}") from err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SessionDriver:
    """Lockstep driver (``send``/``snapshot`` coroutines) over a :class:`VerilatorSession`."""

    def __init__(self, session: VerilatorSession):
        self.session = session
        self._snap = None

    async def send(self, cmd: Command, n_resp: int) -> list[int]:
        resps, self._snap = self.session.run([cmd], [n_resp], snapshot=True)
        return resps[0]

    async def snapshot(self) -> Snapshot:
        return self._snap
