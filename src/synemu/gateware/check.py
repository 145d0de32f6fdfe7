"""Command validation in hardware: the reason (0 = executable) the board's link top-level
refuses a wire command, the rule of :func:`synemu.link.protocol.reject_reason`, bit for bit.

The link validates a whole ``CMDS`` frame with this before executing any of it (all or
nothing), so the engine never sees a command it cannot execute correctly (an out-of-range
row or column would otherwise alias another synapse's address).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..link.protocol import Reject, arg_limits
from ..spec.engine import COL_OPS, ROW_OPS, EngineConfig, Op
from .engine import command_layout

__all__ = ["CommandCheck"]


class CommandCheck(wiring.Component):
    """Combinational: ``cmd`` (the engine's command layout) -> ``reason`` (a
    :class:`~synemu.link.protocol.Reject` code, 0 if the command is executable)."""

    def __init__(self, config: EngineConfig):
        if not isinstance(config, EngineConfig):
            raise TypeError(f"CommandCheck needs an EngineConfig, not {config!r}")
        self.config = config
        super().__init__({"cmd": In(command_layout(config)), "reason": Out(unsigned(3))})

    def elaborate(self, platform):
        m = Module()
        cfg, c = self.config, self.cmd
        limits = arg_limits(cfg)

        def any_of(ops):
            v = 0
            for op in ops:
                v = v | (c.op == op)
            return v

        defined = any_of(list(Op))
        arg_bad = 0
        for op, lim in limits.items():
            if lim < 1 << cfg.arg_width:          # a limit at the field width is always met
                arg_bad = arg_bad | ((c.op == op) & (c.arg >= lim))
        learn = c.op == Op.LEARN
        write = c.op == Op.WRITE
        m.d.comb += self.reason.eq(
            Mux(~defined, Reject.OP,
                Mux(any_of(sorted(ROW_OPS)) & (c.row >= cfg.rows), Reject.ROW,
                    Mux(any_of(sorted(COL_OPS)) & (c.col >= cfg.cols), Reject.COL,
                        Mux(arg_bad, Mux(learn, Reject.LABEL, Mux(write, Reject.WORD,
                                                                  Reject.ARG)), 0)))))
        return m
