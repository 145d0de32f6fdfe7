"""Fuzzing the serial top-level in Verilator (the compiled driver): >= 2,000 damaged,
malformed and out-of-range frames, byte for byte against the Python board model. After
every frame the hardware's reply equals the model's, and a read-back of every synapse and a
FORWARD (which sees every input) through both agree, so no synapse outside the addressed
ones changed and a rejected frame changed nothing."""

from __future__ import annotations

import numpy as np
import pytest

from synemu.link.protocol import (BUSY, CMDS, NAK, OLD, REJECT, BoardModel, LinkSpec, Reject,
                                  pack_command, random_wire_command, request_frame)
from synemu.spec.engine import Command, EngineConfig, Op
from synemu.spec.registry import make_device

pytestmark = pytest.mark.verilator

CFG = EngineConfig(device=make_device("ideal", weight_bits=6), rows=3, cols=6, lanes=1)


def test_verilator_top_level_fuzz_2000_frames():
    from synemu.boards.backend import NativeLink
    spec = LinkSpec(CFG)
    model = BoardModel(spec)
    rng = np.random.default_rng(3)
    wait = 4 * spec.idle_clks / spec.clk_hz          # > the receiver's idle timeout
    readback = [Command(Op.READ, r, c, 0) for r in range(CFG.rows) for c in range(CFG.cols)]
    readback.append(Command(Op.FORWARD))
    stats = dict(rejected=0, executed=0, damaged=0, other=0)
    seq = 0

    def exchange(link, frame: bytes) -> tuple[bytes, bytes]:
        want = model.feed(frame)
        link.write(frame)
        # the bytes cross the UART at 10 bits x divisor clocks each, plus the engine's work
        t = (len(frame) + len(want) + 64) * 20 * spec.divisor / spec.clk_hz + wait
        got = link.read(len(want), t) if want else b""
        got += link.read(1, t)                        # nothing more may follow
        model.idle()
        return got, want

    with NativeLink(spec) as link:
        for i in range(2_000):
            n = int(rng.integers(1, 5))
            payload = b"".join(random_wire_command(spec, rng) for _ in range(n))
            frame = bytearray(request_frame(seq, CMDS, payload))
            k = rng.random()
            if k < 0.15:                              # damaged: flip, drop or repeat a byte
                j = int(rng.integers(1, len(frame)))
                if k < 0.05:
                    frame[j] ^= 1 << int(rng.integers(0, 8))
                elif k < 0.10:
                    del frame[j]
                else:
                    frame.insert(j, frame[j])
                stats["damaged"] += 1
            elif k < 0.20:
                frame = bytearray(request_frame(seq, CMDS, payload[:-1]))   # partial command
                stats["other"] += 1
            got, want = exchange(link, bytes(frame))
            assert got == want, (i, bytes(frame).hex(), got.hex(), want.hex())
            if want and want[2] == REJECT:
                stats["rejected"] += 1
                assert want[5] < n and want[6] in Reject._value2member_map_
            elif want and want[2] == CMDS | 0x80:
                stats["executed"] += 1
            if want and want[2] not in (NAK, OLD, BUSY):   # executed: the number is used
                seq = (seq + 1) & 0xFF
            # read back every synapse and a FORWARD through both
            rb = request_frame(seq, CMDS, b"".join(pack_command(spec, c) for c in readback))
            got, want = exchange(link, rb)
            assert got == want and want[2] == CMDS | 0x80, (i, got.hex(), want.hex())
            seq = (seq + 1) & 0xFF
    assert stats["rejected"] > 500 and stats["executed"] > 300 and stats["damaged"] > 200, stats
