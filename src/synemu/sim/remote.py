"""Driving a cocotb-simulated engine (Verilator or Icarus) from the host process.

The simulator runs in its own process (cocotb + Verilator, started by
:func:`synemu.sim.verilator.run`, or cocotb + Icarus Verilog, :func:`synemu.sim.icarus.run`:
the simulator is the one the build was made for); its cocotb test
:mod:`synemu.sim.cocotb_engine` connects
back to a Unix socket that this module listens on and serves batches of commands:

host -> sim  ``("run", [(op, row, col, arg), ...], [n_resp, ...], snapshot: bool)``
sim -> host  ``("ok", [[resp, ...], ...], Snapshot | None, cycle)`` or ``("error", message)``
host -> sim  ``("quit",)``

Messages are pickles behind a 4-byte big-endian length. The same session backs the
``verilator`` Tile backend and the cocotb lockstep runs on both simulators;
:class:`CocotbSession` is the generic host side that other served designs (the SNN
controller, board top-levels) reuse.
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

from ..spec.engine import Command, EngineConfig
from . import verilator
from .lockstep import Snapshot

__all__ = ["engine_build", "CocotbSession", "VerilatorSession", "SessionDriver",
           "SIMULATORS", "simulator_of", "send_msg", "recv_msg"]

#: simulators the cocotb testbenches run on
SIMULATORS = ("verilator", "icarus")

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


def _check_simulator(simulator: str) -> None:
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r}; use one of {SIMULATORS}")


def simulator_of(build) -> str:
    """``"icarus"`` for an :class:`~synemu.sim.icarus.IcarusBuild`, else ``"verilator"``."""
    return getattr(build, "simulator", "verilator")


def engine_build(config: EngineConfig, *, waves: bool = False,
                 simulator: str = "verilator") -> verilator.Build:
    """Model of ``ArrayEngine(config, debug=True)`` for ``simulator`` (``verilator`` or
    ``icarus``; the same Verilog), cached by Verilog hash."""
    from ..gateware.engine import ArrayEngine
    _check_simulator(simulator)
    if simulator == "icarus":
        from . import icarus
        icarus.require()      # the install hint before minutes of elaboration
    text = verilator.verilog_of(ArrayEngine(config, debug=True), name=TOPLEVEL)
    if simulator == "icarus":
        return icarus.build(text, TOPLEVEL, waves=waves)
    return verilator.build(text, TOPLEVEL, waves=waves)


class CocotbSession:
    """A running simulation of a prebuilt model whose cocotb test ``testcase`` in
    ``test_module`` serves requests over a Unix socket (see :func:`synemu.sim.cocotb_stream.serve`).
    The simulator is the build's: Verilator (:func:`synemu.sim.verilator.build`) or Icarus
    (:func:`synemu.sim.icarus.build`).

    ``request(msg)`` sends one request and returns the reply (a tuple starting with "ok");
    use as a context manager. ``env`` passes the design's configuration to the test.
    """

    what = "Verilator simulation"

    def __init__(self, build: verilator.Build, test_module: str, testcase: str, env: dict, *,
                 waves: bool = False, connect_timeout: float = 600):
        self.build = build
        self._tmp = tempfile.TemporaryDirectory(prefix="synemu-sock-")
        path = str(Path(self._tmp.name) / "dut.sock")
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(path)
        self._server.listen(1)
        self._server.settimeout(1.0)
        self._error: BaseException | None = None
        self._sock = None
        self.result = None
        env = {**env, "SYNEMU_REMOTE": path}
        self.simulator = simulator_of(build)
        if self.simulator == "icarus":
            from .icarus import run as run_sim
            self.what = self.what.replace("Verilator", "Icarus")
        else:
            run_sim = verilator.run

        def target():
            try:
                self.result = run_sim(build, test_module, testcase=testcase, env=env,
                                      waves=waves, keep=waves)
            except BaseException as e:  # reported to the host thread
                self._error = e

        self._thread = threading.Thread(target=target, name=f"{self.simulator}-session",
                                        daemon=True)
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
                    raise RuntimeError(f"{self.what} did not connect: {self._error}")
        self._sock.settimeout(None)

    def post(self, msg: tuple) -> None:
        """Send a one-way message (no reply; a failure is reported by the next request)."""
        send_msg(self._sock, msg)

    def request(self, msg: tuple) -> tuple:
        send_msg(self._sock, msg)
        try:
            reply = recv_msg(self._sock)
        except ConnectionError:
            self._thread.join(timeout=30)
            raise RuntimeError(f"{self.what} died: {self._error}") from None
        if reply[0] != "ok":
            raise RuntimeError(f"{self.what} error: {reply[1]}")
        return reply

    def close(self):
        if self._sock is not None:
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
            raise RuntimeError(f"{self.what} failed: {err}") from err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class VerilatorSession(CocotbSession):
    """A cocotb simulation of ``ArrayEngine(config, debug=True)``, driven command batch by
    batch: ``run(cmds, n_resps, snapshot)`` returns the responses and, if asked, a
    :class:`~synemu.sim.lockstep.Snapshot` taken after the batch; ``cycle`` counts clocks.
    ``simulator``: ``"verilator"`` (default) or ``"icarus"`` (the same testbench; see
    :class:`synemu.sim.icarus.IcarusSession`)."""

    what = "Verilator engine simulation"

    def __init__(self, config: EngineConfig, *, waves: bool = False, connect_timeout: float = 600,
                 simulator: str = "verilator"):
        self.config = config
        self.cycle = 0
        super().__init__(engine_build(config, waves=waves, simulator=simulator),
                         "synemu.sim.cocotb_engine",
                         "serve_engine", {"SYNEMU_ENGINE": json.dumps(config.to_dict())},
                         waves=waves, connect_timeout=connect_timeout)

    def run(self, cmds: list[Command], n_resps: list[int], snapshot: bool = False):
        reply = self.request(("run", [tuple(int(v) for v in c) for c in cmds],
                              list(n_resps), bool(snapshot)))
        self.cycle = reply[3]          # clock cycles simulated so far
        return reply[1], reply[2]


class SessionDriver:
    """Lockstep driver (``send``/``snapshot`` coroutines) over a :class:`VerilatorSession`
    (on either simulator)."""

    def __init__(self, session: VerilatorSession):
        self.session = session
        self._snap = None

    async def send(self, cmd: Command, n_resp: int) -> list[int]:
        resps, self._snap = self.session.run([cmd], [n_resp], snapshot=True)
        return resps[0]

    async def snapshot(self) -> Snapshot:
        return self._snap
