"""Fuzzing the link: adversarial frames into the Python board model and adversarial reply
streams into the host parser (the Verilator top-level's fuzz is in test_link_hw_fuzz).

Board model, 1e5 frames: random bytes, damaged frames, replays, and CRC-valid CMDS frames
with random (often out-of-range) commands. A reference golden engine applies exactly the
frames that must execute (all or nothing); after every frame the model's state equals it,
every reply is the one the protocol prescribes, and a rejected frame names its first bad
command and reason.

Host, 1e5 reply streams: noise, truncated, wrong sequence number, wrong type, wrong length,
bad CRC and valid replies in random order: ``transact`` returns only the valid reply to its
own request, never anything else, and otherwise ends in LinkError after bounded reads."""

from __future__ import annotations

import numpy as np

from synemu.link.protocol import (BAD, CMDS, NAK, REJECT, BoardModel, LinkError, LinkHost,
                                  LinkSpec, ModelTransport, _signed_args, random_wire_command,
                                  reject_reason, reply_frame, request_frame, unpack_command)
from synemu.spec.engine import EngineConfig, GoldenEngine
from synemu.spec.registry import make_device

CFG = EngineConfig(device=make_device("ideal", weight_bits=6), rows=3, cols=6, lanes=1)


def test_board_model_fuzz_1e5_frames():
    spec = LinkSpec(CFG)
    model = BoardModel(spec)
    ref = GoldenEngine(CFG)
    rng = np.random.default_rng(11)
    seq = 0
    last_exec = None            # seq of the last frame the board executed
    counts = dict(executed=0, rejected=0, replayed=0, nak=0, noise=0, bad=0)
    for i in range(100_000):
        kind = rng.random()
        if kind < 0.15:                                        # line noise
            model.feed(bytes(rng.integers(0, 256, int(rng.integers(1, 12)), dtype=np.uint8)))
            model.idle()
            counts["noise"] += 1
            continue
        n = int(rng.integers(1, 5))
        payload = b"".join(random_wire_command(spec, rng) for _ in range(n))
        typ = CMDS
        if kind < 0.20:
            payload = payload[:-1]                             # not a whole number of commands
        if 0.20 <= kind < 0.22:
            typ = int(rng.choice([0x00, 0x04, 0x7F, 0xFF]))   # unknown type
        if kind > 0.97:                                        # replay the previous sequence
            s = (seq - 1) & 0xFF
        else:
            s = seq
        frame = bytearray(request_frame(s, typ, payload))
        damaged = 0.22 <= kind < 0.30
        if damaged:
            frame[int(rng.integers(1, len(frame)))] ^= 1 << int(rng.integers(0, 8))
        reply = model.feed(bytes(frame))
        model.idle()
        if damaged:
            # a damaged frame executes nothing: NAK, a stale replay, or (length byte hit)
            # no reply yet; the state is unchanged either way
            assert reply in (b"", reply_frame(frame[1], NAK)) or reply[2] in (NAK, REJECT, BAD,
                                                                              CMDS | 0x80)
            counts["nak"] += 1
        elif s != seq:                                         # replay: the stored reply again
            assert s == last_exec and reply[2] in (CMDS | 0x80, REJECT, BAD)
            counts["replayed"] += 1
        elif typ != CMDS or len(payload) % spec.cmd_bytes:
            assert reply == reply_frame(s, BAD)
            counts["bad"] += 1
            seq, last_exec = (seq + 1) & 0xFF, s
        else:
            wire = [unpack_command(spec, payload[k:k + spec.cmd_bytes])
                    for k in range(0, len(payload), spec.cmd_bytes)]
            reasons = [reject_reason(CFG, c) for c in wire]
            first = next((k for k, r in enumerate(reasons) if r), None)
            if first is not None:
                assert reply == reply_frame(s, REJECT, bytes([first, reasons[first]]))
                counts["rejected"] += 1
            else:
                words = []
                for c in wire:
                    words += ref.execute(_signed_args(CFG, c))
                want = b"".join(w.to_bytes(spec.resp_bytes, "little") for w in words)
                assert reply == reply_frame(s, CMDS | 0x80, want[:spec.tx_max])
                counts["executed"] += 1
            seq, last_exec = (seq + 1) & 0xFF, s
        if not damaged:
            # no synapse, input or register differs from the reference
            assert np.array_equal(model.engine.state["w"], ref.state["w"]), i
            assert np.array_equal(model.engine.x, ref.x) and model.engine.time == ref.time
            assert model.engine.samples == ref.samples
    assert min(counts.values()) > 500, counts
    assert counts["rejected"] > 10_000 and counts["executed"] > 10_000, counts


class Replies:
    """A port whose replies come from a script: ``next_reply(request)`` -> bytes."""

    real_time = False

    def __init__(self, script):
        self.script, self.rx, self.reads = script, bytearray(), 0

    def write(self, data):
        self.rx += self.script(data)

    def read(self, n, timeout):
        self.reads += 1
        out, self.rx = bytes(self.rx[:n]), self.rx[n:]
        return out

    def flush_input(self):
        self.rx.clear()


def test_host_parser_fuzz_1e5_reply_streams():
    spec = LinkSpec(CFG)
    rng = np.random.default_rng(5)
    host = LinkHost(ModelTransport(BoardModel(spec)), spec, retries=3)
    accepted = failed = 0
    for i in range(100_000):
        want_payload = bytes(rng.integers(0, 256, spec.resp_bytes * int(rng.integers(0, 4)),
                                          dtype=np.uint8))
        seq = host.seq

        def junk():
            k = rng.random()
            if k < 0.2:
                return bytes(rng.integers(0, 256, int(rng.integers(0, 40)), dtype=np.uint8))
            f = bytearray(reply_frame(int(rng.integers(0, 256)) if k < 0.4 else seq,
                                      CMDS | 0x80 if k < 0.6 else int(rng.integers(0, 256)),
                                      want_payload if k < 0.7 else want_payload + b"\0"))
            if k >= 0.85:
                f[int(rng.integers(1, len(f)))] ^= 1 << int(rng.integers(0, 8))
            return bytes(f[:int(rng.integers(1, len(f) + 1))] if rng.random() < 0.2 else f)

        good = reply_frame(seq, CMDS | 0x80, want_payload)
        n_junk = int(rng.integers(0, 3))
        plan = b"".join(junk() for _ in range(n_junk))
        give_good = rng.random() < 0.6
        port = Replies(lambda req: plan + (good if give_good else b"") if req[2] == CMDS
                       else b"")
        host.t = port
        try:
            data = host.transact(CMDS, b"\x01" * spec.cmd_bytes, expect_len=len(want_payload))
        except LinkError:
            failed += 1
            assert port.reads < 2_000
            host.seq = (seq + 1) & 0xFF      # (next stream: a fresh sequence number)
            continue
        # accepted: it must be exactly the valid reply (a junk frame that happens to be the
        # valid reply is the valid reply)
        assert data == want_payload, i
        accepted += 1
    assert accepted > 30_000 and failed > 10_000, (accepted, failed)
