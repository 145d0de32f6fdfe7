"""cocotb-side helpers shared by every served design (engine, SNN controller, board top).

:class:`StreamDriver` drives a component with a ``cmd`` stream (``cmd__valid/payload``), a
``resp`` stream (``resp__valid/payload``, ``resp.ready`` held high) and a ``busy`` output.
:func:`serve` answers the host's requests over the Unix socket named by ``SYNEMU_REMOTE``
(protocol: :mod:`synemu.sim.remote`).

**The clock-edge rule.** The drivers wait only on edges of ``clk``, never on an edge of a
design output (no ``RisingEdge(resp__valid)``, ``FallingEdge(busy)``): they drive inputs and
sample outputs at the falling clock edge, half a period after the rising edge that updated
the registers, when every output has settled (the values registered at that rising edge).
A combinational output may change several times within the timestep of a rising edge
(a zero-delay gate-level netlist glitches there; simulators also order their events
differently), so a trigger on its edge can fire on a glitch and sample a value that is not
the cycle's. Sampling at the falling edge sees the same values on every simulator
(Verilator, Icarus) and on RTL or a netlist, and gives the cycle counts of the edge-waiting
driver it replaces (and of the native driver, :mod:`synemu.sim.native`). The cost is one
Python wake-up per clock while a command runs (triggers and handles are made once).
"""

import os
import socket

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, Timer
from cocotb.utils import get_sim_time

from .remote import recv_msg, send_msg

__all__ = ["PERIOD_NS", "uint", "split", "StreamDriver", "serve"]

PERIOD_NS = 10


def uint(sig) -> int:
    """Unsigned value of a signal (1-bit signals read as ``Logic``, wider as ``LogicArray``)."""
    v = sig.value
    return v.to_unsigned() if hasattr(v, "to_unsigned") else int(v)


def split(v: int, width: int, n: int, signed: bool = False) -> list[int]:
    """Split a packed ``n x width``-bit array value into its elements (element 0 = LSBs)."""
    out = []
    for i in range(n):
        w = (v >> (i * width)) & ((1 << width) - 1)
        if signed and w >> (width - 1):
            w -= 1 << width
        out.append(w)
    return out


class StreamDriver:
    def __init__(self, dut):
        self.dut = dut
        # handles and the one trigger the wait loops use, made once (a wake-up per clock)
        self._fall = FallingEdge(dut.clk)
        self._valid, self._payload = dut.resp__valid, dut.resp__payload
        self._busy = dut.busy
        self._step = Timer(1, "step")

    @property
    def cycle(self) -> int:
        """Clock cycles since the start of the simulation."""
        return int(get_sim_time("ns")) // PERIOD_NS

    async def start(self, *zero_inputs: str):
        """Start the clock, reset, zero ``zero_inputs`` (port names); end at a falling edge."""
        dut = self.dut
        # the clock toggles in C (cocotb's GPI clock) on every simulator: Verilator picks it
        # anyway; on Icarus cocotb's default is a Python coroutine (two more wake-ups a cycle)
        self.clock = Clock(dut.clk, PERIOD_NS, unit="ns", impl="gpi")
        self.clock.start()
        dut.rst.value = 1
        dut.cmd__valid.value = 0
        dut.resp__ready.value = 1
        for name in zero_inputs:
            getattr(dut, name).value = 0
        await ClockCycles(dut.clk, 2)
        dut.rst.value = 0
        await self._fall

    async def send(self, payload: int, n_resp: int) -> list[int]:
        """Issue one command (the design must be idle) and collect ``n_resp`` responses.

        Starts and ends at a falling clock edge; waits on falling clock edges only and
        samples ``resp__valid``/``resp__payload``/``busy`` there (the clock-edge rule)."""
        dut, fall, valid, busy = self.dut, self._fall, self._valid, self._busy
        dut.cmd__payload.value = payload
        dut.cmd__valid.value = 1
        await fall                          # accepted at the rising edge (design was idle)
        dut.cmd__valid.value = 0
        out = []
        while len(out) < n_resp:
            while not int(valid.value):     # the response registered at this cycle's edge?
                await fall
            out.append(uint(self._payload))
            await fall                      # consumed at the rising edge (ready held high)
        while int(busy.value):
            await fall
        return out

    async def peek(self, addr_sig, data_sig, addr: int) -> int:
        """Read a combinational debug port: set ``addr``, let the model settle (one time
        step after the falling edge, clear of any clock edge), read."""
        addr_sig.value = addr
        await self._step
        return uint(data_sig)

    async def settle(self):
        """Return to the falling-edge phase after peeks."""
        await self._fall


async def serve(handler, oneway: tuple[str, ...] = ()):
    """Answer host requests until ``("quit",)``: ``reply = await handler(msg)``.

    A failing request is answered ``("error", message)`` and serving goes on. Messages whose
    kind is in ``oneway`` get no reply; their failure is reported in place of the next reply.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ["SYNEMU_REMOTE"])
    pending = None
    try:
        while True:
            msg = recv_msg(sock)
            if msg[0] == "quit":
                break
            try:
                reply = await handler(msg)
            except Exception as e:
                if msg[0] in oneway:
                    pending = pending or f"{type(e).__name__}: {e}"
                else:
                    send_msg(sock, ("error", f"{type(e).__name__}: {e}"))
                continue
            if msg[0] in oneway:
                continue
            if pending:
                reply, pending = ("error", pending), None
            send_msg(sock, reply)
    finally:
        sock.close()
