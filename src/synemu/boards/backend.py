"""The ``board`` Tile backend: the Tile's command lists over the host link.

Transports (all byte pipes with ``write``/``read(n, timeout_s)``/``flush_input``):

* :class:`~synemu.link.protocol.SerialTransport` - a real board over pyserial;
* :class:`NativeLink` - the exact serial top-level (:class:`~synemu.gateware.link.SimHarness`
  = :class:`~synemu.gateware.link.LinkTop` + host-side UART) in Verilator, driven by the
  compiled driver :mod:`synemu.sim.native` (the byte pipe runs in C++, in-process; the
  default ``driver="native"``); timeouts are counted in simulated clocks;
* :class:`VerilatorLink` - the same top-level in Verilator, driven by cocotb
  (:mod:`synemu.sim.cocotb_uart`, a simulator process; ``driver="cocotb"``);
* :class:`AmaranthLink` - the same harness on Amaranth's Python simulator (slow; small tests);
* :class:`~synemu.link.protocol.ModelTransport` - the Python board model.

``Tile(..., backend="board")`` uses ``$SYNEMU_BOARD_PORT`` if set, else Verilator (native).
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading

import numpy as np

from ..spec.engine import Command, EngineConfig, Op
from ..sim.lockstep import Snapshot, n_responses
from ..sim.remote import CocotbSession
from ..link.protocol import (FaultInjector, LinkHost, LinkSpec, ModelTransport, BoardModel,
                   SerialTransport)

__all__ = ["BoardBackend", "NativeLink", "VerilatorLink", "AmaranthLink", "harness_build",
           "harness_native_build", "open_link", "DRIVERS"]

TOPLEVEL = "synemu_link"
WINDOW = 64     # bytes per parallel transfer in the simulation harness
DRIVERS = ("native", "cocotb")


def _linger(spec: LinkSpec) -> int:
    """Clocks a read goes on after its last byte (> one byte time: the frame goes on)."""
    return 24 * spec.divisor


def harness_build(spec: LinkSpec):
    """Verilator model of :class:`SimHarness` for cocotb (cached by Verilog hash)."""
    from ..sim import verilator
    from ..gateware.link import SimHarness
    text = verilator.verilog_of(SimHarness(spec, WINDOW), name=TOPLEVEL)
    return verilator.build(text, TOPLEVEL)


def spec_id(spec: LinkSpec) -> dict:
    """Everything of ``spec`` that shapes the harness's Verilog (its type and fields)."""
    out = {"type": type(spec).__name__}
    for f in dataclasses.fields(spec):
        v = getattr(spec, f.name)
        out[f.name] = v.to_dict() if f.name == "config" else v
    return out


def harness_native_build(spec: LinkSpec, *, waves: bool | str = False):
    """Native driver library (:mod:`synemu.sim.native`) of :class:`SimHarness`; found
    without elaborating again when this spec was built before (:func:`verilator.build_design`)."""
    from ..sim import verilator
    from ..gateware.link import SimHarness
    return verilator.build_design(
        ["SimHarness", WINDOW, spec_id(spec)],
        lambda: verilator.verilog_of(SimHarness(spec, WINDOW), name=TOPLEVEL),
        TOPLEVEL, waves=waves, target="native")


class NativeLink:
    """Byte pipe to the serial top-level in Verilator through the compiled driver.

    ``write`` queues bytes in C++; they go into the harness's host-side UART (``WINDOW``
    bytes per load, as soon as it is free) while the clock runs, which it does only inside
    ``read``: clock until ``n`` bytes arrived or ``timeout`` seconds of simulated time
    (``timeout * spec.clk_hz`` clocks) passed, then on while bytes keep coming (the rest of
    the frame). Every byte crosses the UART lines at the real divisor. ``cycle``: clocks
    simulated since reset. ``waves``: a path to dump the whole run to (``.vcd``: VCD,
    ``.fst``: FST, else FST if lz4 is available; a separate, slower build).
    """

    real_time = False
    what = "native Verilator link simulation"

    def __init__(self, spec: LinkSpec, *, waves=None, build=None, warmup: int = 0):
        from ..sim.native import NativeModel
        self.spec = spec
        fmt = False
        if waves:
            fmt = {".vcd": "vcd", ".fst": "fst"}.get(os.path.splitext(str(waves))[1], True)
        # ``build``: another native harness build with the same byte pipe (a chip netlist or
        # bitstream in SimHarness, synemu.boards.bitstream); ``warmup`` clocks run first
        self.build = build if build is not None else harness_native_build(spec, waves=fmt)
        self.model = NativeModel(self.build)
        self.model.reset()
        window = self.model.pipe_init()
        if window != WINDOW:
            self.model.close()
            raise RuntimeError(f"{self.what}: harness window {window}, expected {WINDOW}")
        self.wave_path = None
        if waves:
            self.wave_path = self.model.trace_open(waves)
            self.model.trace(True)
        if warmup:
            self.model.clock(warmup)
        self._buf = bytearray()
        self._linger = _linger(spec)
        self._cycle = self.model.cycle

    @property
    def cycle(self) -> int:
        """Clock cycles simulated so far (as counted by the cocotb driver)."""
        return self.model.cycle if self.model is not None else self._cycle

    def write(self, data: bytes):
        self.model.pipe_write(bytes(data))

    def read(self, n: int, timeout: float) -> bytes:
        if len(self._buf) < n:
            self._buf += self.model.pipe_read(n - len(self._buf),
                                              max(1, int(timeout * self.spec.clk_hz)),
                                              self._linger)
        out, self._buf = bytes(self._buf[:n]), self._buf[n:]
        return out

    def flush_input(self):
        self._buf.clear()
        self.model.pipe_flush()

    def close(self):
        if self.model is not None:
            self._cycle = self.model.cycle
            self.model.close()
            self.model = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class VerilatorLink(CocotbSession):
    """Byte pipe to the serial top-level simulated in Verilator (one process per link)."""

    real_time = False
    what = "Verilator link simulation"

    def __init__(self, spec: LinkSpec, *, connect_timeout: float = 900):
        self.spec = spec
        self.cycle = 0
        self._buf = bytearray()
        super().__init__(harness_build(spec), "synemu.sim.cocotb_uart", "serve",
                         {"SYNEMU_UART_DIVISOR": spec.divisor, "SYNEMU_UART_WINDOW": WINDOW},
                         connect_timeout=connect_timeout)

    def write(self, data: bytes):
        self.post(("write", bytes(data)))

    def read(self, n: int, timeout: float) -> bytes:
        if len(self._buf) < n:
            linger = _linger(self.spec)
            reply = self.request(("read", n - len(self._buf),
                                  max(1, int(timeout * self.spec.clk_hz)), linger))
            self.cycle = reply[2]
            self._buf += reply[1]
        out, self._buf = bytes(self._buf[:n]), self._buf[n:]
        return out

    def flush_input(self):
        self._buf.clear()
        self.post(("flush",))


class AmaranthLink:
    """Byte pipe to :class:`SimHarness` on Amaranth's simulator (a worker thread)."""

    real_time = False

    def __init__(self, spec: LinkSpec):
        from amaranth.sim import Simulator
        from ..gateware.link import SimHarness
        self.spec = spec
        self.cycle = 0
        self._req: queue.Queue = queue.Queue()
        self._rep: queue.Queue = queue.Queue()
        dut = SimHarness(spec, WINDOW)
        sim = Simulator(dut)
        sim.add_clock(1e-6)
        buf = bytearray()

        async def bench(ctx):
            async def tick():
                n = ctx.get(dut.out_count)
                if n:
                    v = ctx.get(dut.out_data)
                    buf.extend(int(v).to_bytes(WINDOW, "little")[:n])
                    ctx.set(dut.out_clear, 1)
                await ctx.tick()
                ctx.set(dut.out_clear, 0)
                self.cycle += 1

            while True:
                item = self._req.get()
                if item is None:
                    return
                out = b""
                if item[0] == "write":
                    data = item[1]
                    for i in range(0, len(data), WINDOW):
                        while ctx.get(dut.in_busy):
                            await tick()
                        chunk = data[i:i + WINDOW]
                        ctx.set(dut.in_data, int.from_bytes(chunk, "little"))
                        ctx.set(dut.in_len, len(chunk))
                        ctx.set(dut.in_load, 1)
                        await tick()
                        ctx.set(dut.in_load, 0)
                elif item[0] == "read":
                    end = self.cycle + item[2]
                    while len(buf) < item[1] and self.cycle < end:
                        await tick()
                    out = bytes(buf[:item[1]])
                    del buf[:item[1]]
                elif item[0] == "flush":
                    buf.clear()
                self._rep.put(out)

        sim.add_testbench(bench)
        self._thread = threading.Thread(target=sim.run, daemon=True)
        self._thread.start()

    def write(self, data: bytes):
        self._req.put(("write", bytes(data)))
        self._rep.get()

    def read(self, n: int, timeout: float) -> bytes:
        self._req.put(("read", n, max(1, int(timeout * self.spec.clk_hz))))
        return self._rep.get()

    def flush_input(self):
        self._req.put(("flush",))
        self._rep.get()

    def close(self):
        if self._thread.is_alive():
            self._req.put(None)
            self._thread.join(timeout=30)


def open_link(spec: LinkSpec, *, port: str | None = None, sim: str = "verilator",
              baud: int | None = None, faults: dict | None = None, driver: str = "native"):
    """A transport: serial ``port`` if given, else the simulated top-level (``sim`` =
    verilator | amaranth | model; for verilator, ``driver`` = native (the compiled driver,
    :class:`NativeLink`) | cocotb (:class:`VerilatorLink`)). ``faults``: FaultInjector
    kwargs (rate, frame_rate, seed)."""
    if driver not in DRIVERS:
        raise ValueError(f"unknown Verilator link driver {driver!r}; use native or cocotb")
    if port is not None:
        t = SerialTransport(port, baud or int(round(spec.baud)))
    elif sim == "verilator":
        t = NativeLink(spec) if driver == "native" else VerilatorLink(spec)
    elif sim == "amaranth":
        t = AmaranthLink(spec)
    elif sim == "model":
        t = ModelTransport(BoardModel(spec))
    else:
        raise ValueError(f"unknown link simulation {sim!r}; use verilator, amaranth or model")
    if faults:
        t = FaultInjector(t, **faults)
    return t


class BoardBackend:
    """Tile backend over the host link (a board, or its simulated serial top-level).

    ``port``: serial device (default ``$SYNEMU_BOARD_PORT``; None = simulate), ``spec``:
    :class:`LinkSpec` (default: the engine ``config`` with UART divisor 2 at a nominal 12 MHz);
    ``sim``/``driver``: the simulation when there is no port (see :func:`open_link`).
    ``snapshot()`` READs every synapse and queries COUNTERS (time, samples); the inputs
    ``x`` are mirrored from the LOAD_X commands sent; LFSR states are not observable.
    """

    name = "board"

    def __init__(self, config: EngineConfig, *, port: str | None = None, sim: str = "verilator",
                 spec: LinkSpec | None = None, faults: dict | None = None,
                 latency_s: float | None = None, baud: int | None = None,
                 driver: str = "native"):
        self.config = config
        self.spec = spec or LinkSpec(config)
        if self.spec.config != config:
            raise ValueError("LinkSpec.config differs from the tile's engine config")
        port = port if port is not None else os.environ.get("SYNEMU_BOARD_PORT") or None
        self.transport = open_link(self.spec, port=port, sim=sim, baud=baud, faults=faults,
                                   driver=driver)
        try:
            self.host = LinkHost(self.transport, self.spec,
                                 latency_s=(0.05 if port else 0.0) if latency_s is None else latency_s)
        except BaseException:
            self.transport.close()
            raise
        self.x = np.zeros(config.cols, dtype=np.int64)

    def run(self, cmds, n_resps=None):
        wire = [self.config.encode(c) for c in cmds]
        n = n_resps or [n_responses(self.config, c.op) for c in wire]
        out = self.host.run(wire, n)
        for c in wire:
            if c.op == Op.LOAD_X:
                self.x[c.col] = int(self.config.x_fmt.from_bits(c.arg))
        return out

    def snapshot(self) -> Snapshot:
        cfg = self.config
        reads = [Command(Op.READ, r, c) for r in range(cfg.rows) for c in range(cfg.cols)]
        words = np.array([w[0] for w in self.host.run(reads, [1] * len(reads))], dtype=np.uint64)
        cnt = self.host.counters()
        g = {"time": cnt.time, "samples": cnt.samples}
        return Snapshot(words.reshape(cfg.depth, cfg.lanes), self.x.copy(), g, cnt.cycles)

    def counters(self):
        return self.host.counters()

    def close(self):
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
