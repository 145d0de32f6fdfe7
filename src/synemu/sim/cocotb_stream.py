"""cocotb-side helpers shared by every served design (engine, SNN controller, board top).

:class:`StreamDriver` drives a component with a ``cmd`` stream (``cmd__valid/payload``), a
``resp`` stream (``resp__valid/payload``, ``resp.ready`` held high) and a ``busy`` output,
waking Python only on transaction boundaries (falling clock edges, ``busy``/``resp.valid``
edges). :func:`serve` answers the host's requests over the Unix socket named by
``SYNEMU_REMOTE`` (protocol: :mod:`synemu.sim.remote`).
"""

import os
import socket

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, Timer
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

    @property
    def cycle(self) -> int:
        """Clock cycles since the start of the simulation."""
        return int(get_sim_time("ns")) // PERIOD_NS

    async def start(self, *zero_inputs: str):
        """Start the clock, reset, zero ``zero_inputs`` (port names); end at a falling edge."""
        dut = self.dut
        cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
        dut.rst.value = 1
        dut.cmd__valid.value = 0
        dut.resp__ready.value = 1
        for name in zero_inputs:
            getattr(dut, name).value = 0
        await ClockCycles(dut.clk, 2)
        dut.rst.value = 0
        await FallingEdge(dut.clk)

    async def send(self, payload: int, n_resp: int) -> list[int]:
        """Issue one command (the design must be idle) and collect ``n_resp`` responses."""
        dut = self.dut
        dut.cmd__payload.value = payload
        dut.cmd__valid.value = 1
        await FallingEdge(dut.clk)          # accepted at the rising edge (design was idle)
        dut.cmd__valid.value = 0
        out = []
        while len(out) < n_resp:
            if not int(dut.resp__valid.value):
                await RisingEdge(dut.resp__valid)
                await FallingEdge(dut.clk)
            out.append(uint(dut.resp__payload))
            await FallingEdge(dut.clk)      # consumed at the rising edge (ready held high)
        while int(dut.busy.value):
            await FallingEdge(dut.busy)
            await FallingEdge(dut.clk)
        return out

    async def peek(self, addr_sig, data_sig, addr: int) -> int:
        """Read a combinational debug port: set ``addr``, let the model settle, read."""
        addr_sig.value = addr
        await Timer(1, "step")
        return uint(data_sig)

    async def settle(self):
        """Return to the falling-edge phase after peeks."""
        await FallingEdge(self.dut.clk)


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
