"""cocotb test module: serve the serial top-level (:class:`synemu.gateware.link.SimHarness`)
to a host process as a byte pipe.

Started by :class:`synemu.boards.backend.VerilatorLink` (env ``SYNEMU_REMOTE`` = Unix socket
path; Verilator, or Icarus with a :func:`synemu.sim.icarus.build` of the harness). The clock
runs in the simulator; Python wakes once per byte or when waiting ends. Like every driver
here it only waits on the clock (a :class:`Timer` that ends between two clock edges, then
the falling edge) and samples the harness at falling edges (the clock-edge rule of
:mod:`synemu.sim.cocotb_stream`).
Messages (pickles, see :mod:`synemu.sim.remote`):

host -> sim  ``("write", bytes)``          bytes into the host-side UART (FIFO); no reply
host -> sim  ``("read", n, max_cycles, linger)``  run until ``n`` bytes arrived (or the
                                           clock budget is spent), then on while bytes keep
                                           coming within ``linger`` clocks (the rest of the
                                           frame) -> ``("ok", bytes, cycle)``
host -> sim  ``("flush",)``                drop received bytes; no reply
host -> sim  ``("quit",)``

One round trip per frame: a failed write is reported by the next read.
"""

import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, Timer
from cocotb.utils import get_sim_time

from synemu.sim.cocotb_stream import PERIOD_NS
from synemu.sim.cocotb_stream import serve as serve_requests


class BytePipe:
    """Moves up to ``window`` bytes per wake-up through the harness's parallel buffers."""

    def __init__(self, dut, divisor: int, window: int):
        self.dut, self.divisor, self.window = dut, divisor, window
        self.buf = bytearray()
        self.byte_cycles = 10 * divisor
        self._fall = FallingEdge(dut.clk)

    @property
    def cycle(self) -> int:
        return int(get_sim_time("ns")) // PERIOD_NS

    async def start(self):
        dut = self.dut
        Clock(dut.clk, PERIOD_NS, unit="ns", impl="gpi").start()   # in C on every simulator
        dut.rst.value = 1
        dut.in_load.value = 0
        dut.in_len.value = 0
        dut.in_data.value = 0
        dut.out_clear.value = 0
        await ClockCycles(dut.clk, 2)
        dut.rst.value = 0
        await self._fall

    async def _wait(self, cycles: int):
        """Let ``cycles`` clocks pass (called at a falling edge); resume at a falling edge.

        The timer ends a quarter period after the last falling edge but one, between two
        clock edges: a timer that ended *on* a falling edge would race the clock's own
        event in that time step (whether the following ``FallingEdge`` is this one or the
        next is up to the simulator's callback order)."""
        if cycles > 1:
            await Timer((cycles - 1) * PERIOD_NS + PERIOD_NS // 4, "ns")
        await self._fall

    async def _grab(self):
        dut = self.dut
        if int(dut.out_overflow.value):
            raise RuntimeError("harness receive buffer overflowed")
        n = int(dut.out_count.value)
        if n:
            v = dut.out_data.value.to_unsigned()
            self.buf += v.to_bytes(self.window, "little")[:n]
            dut.out_clear.value = 1
            await self._fall
            dut.out_clear.value = 0
        return n

    async def write(self, data: bytes):
        dut = self.dut
        for i in range(0, len(data), self.window):
            chunk = data[i:i + self.window]
            while int(dut.in_busy.value):
                await self._grab()
                await self._wait(max(1, int(dut.in_busy.value) and self.byte_cycles))
            dut.in_data.value = int.from_bytes(chunk, "little")
            dut.in_len.value = len(chunk)
            dut.in_load.value = 1
            await self._fall
            dut.in_load.value = 0
            if i + self.window < len(data):
                # sleep while most of this chunk goes out (the receive buffer is drained
                # often enough: it holds ``window`` byte times)
                await self._wait(min(len(chunk), self.window // 2) * self.byte_cycles)

    async def read(self, n: int, max_cycles: int, linger: int) -> bytes:
        end = self.cycle + max_cycles
        step_max = (self.window // 2) * self.byte_cycles
        while True:
            await self._grab()
            if len(self.buf) >= n:
                break
            if self.cycle >= end:
                break
            need = (n - len(self.buf)) * self.byte_cycles + 2
            await self._wait(max(1, min(need, step_max, end - self.cycle)))
        # the rest of the frame: keep collecting while bytes keep coming
        while True:
            await self._wait(linger)
            if not await self._grab():
                break
        out, self.buf = bytes(self.buf), bytearray()
        return out


@cocotb.test()
async def serve(dut):
    pipe = BytePipe(dut, int(os.environ["SYNEMU_UART_DIVISOR"]),
                    int(os.environ["SYNEMU_UART_WINDOW"]))
    await pipe.start()

    async def handle(msg):
        if msg[0] == "write":
            await pipe.write(msg[1])
        elif msg[0] == "flush":
            pipe.buf.clear()
        elif msg[0] == "read":
            data = await pipe.read(int(msg[1]), int(msg[2]), int(msg[3]))
            return ("ok", data, pipe.cycle)
        else:
            raise ValueError(f"unknown request {msg[0]!r}")

    await serve_requests(handle, oneway=("write", "flush"))
