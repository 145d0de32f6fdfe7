"""Host link: frame format, CRC, protocol under faults, and the serial top-level in simulation."""

import struct
import zlib

import numpy as np
import pytest

from synemu.link.protocol import (BAD, CMDS, HELLO, BoardModel, FaultInjector, LinkError,
                                LinkHost, LinkSpec, ModelTransport, crc32, pack_command,
                                reply_frame, request_frame, unpack_command)
from synemu.spec.registry import make_device
from synemu.spec.engine import Command, EngineConfig, GoldenEngine, Op
from synemu.sim.lockstep import n_responses, random_commands


def probe_cfg():
    return EngineConfig(device=make_device("probe"), rows=4, cols=8, lanes=2,
                        rounding="stochastic", eta=3)


def digits_cfg():
    """The configuration of on-chip digits training (10 classes, 64 pixels + bias, 4 lanes)."""
    from synemu.runtime.train import recipe_for
    r = recipe_for("ideal", "digits")
    return EngineConfig(device=make_device("ideal"), rows=10, cols=68, lanes=4, seed=1,
                        **r.engine_kwargs())


def check_stream(host, cfg, raw, per_frame, golden=None):
    """Send ``raw`` commands through ``host`` ``per_frame`` at a time; every response must
    equal the golden model's. Returns the golden engine."""
    g = golden or GoldenEngine(cfg)
    for k in range(0, len(raw), per_frame):
        batch = raw[k:k + per_frame]
        exp = [g.execute(c) for c in batch]
        wire = [cfg.encode(c) for c in batch]
        got = host.run(wire, [n_responses(cfg, c.op) for c in wire])
        assert got == exp, f"command #{k}: got {got}, expected {exp}"
    return g


# -- frame format ---------------------------------------------------------------------------
def test_crc_is_zlib_crc32():
    assert crc32(b"123456789") == 0xCBF43926
    f = request_frame(7, CMDS, b"\x01\x02")
    assert f[0] == 0xA5 and f[1:4] == bytes([7, CMDS, 2])
    assert struct.unpack("<I", f[-4:])[0] == zlib.crc32(f[1:-4])
    r = reply_frame(9, CMDS | 0x80, b"abc")
    assert r[0] == 0x5A and r[3:5] == b"\x03\x00"
    with pytest.raises(ValueError, match="exceeds 255"):
        request_frame(0, CMDS, bytes(256))


def test_board_crc_is_zlib_crc32():
    """The gateware's amaranth.lib.crc entry is the host's CRC (the serial top-level tests
    below check it in hardware, frame by frame)."""
    from synemu.gateware.link import LINK_CRC
    assert LINK_CRC.data_width == 8 and LINK_CRC.compute(b"123456789") == 0xCBF43926
    rng = np.random.default_rng(2)
    for n in (0, 1, 3, 4, 5, 255, 1000):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert LINK_CRC.compute(data) == crc32(data) == zlib.crc32(data)


def test_command_packing_roundtrip():
    cfg = probe_cfg()
    spec = LinkSpec(cfg)
    for c in random_commands(cfg, 3, 300):
        w = cfg.encode(c)
        b = pack_command(spec, w)
        assert len(b) == spec.cmd_bytes
        assert unpack_command(spec, b) == w


def test_spec_validation():
    with pytest.raises(ValueError, match="divisor"):
        LinkSpec(probe_cfg(), divisor=1)
    with pytest.raises(ValueError, match="clk_hz"):
        LinkSpec(probe_cfg(), clk_hz=10)


# -- protocol against the Python board model -----------------------------------------------
def test_protocol_clean_is_exact():
    cfg = probe_cfg()
    model = BoardModel(LinkSpec(cfg))
    host = LinkHost(ModelTransport(model), LinkSpec(cfg))
    assert host.caps.device == "probe" and host.caps.rows == 4 and host.caps.lanes == 2
    g = check_stream(host, cfg, random_commands(cfg, 1, 2000), 7)
    assert host.stats.retries == 0
    assert (model.engine.read_words() == g.read_words()).all()
    cnt = host.counters()
    assert (cnt.time, cnt.samples, cnt.commands) == (g.time, g.samples, 2000)


def test_protocol_faults_model_10k_frames():
    """Byte flips, drops, duplicated bytes and duplicated frames in both directions:
    every damaged frame is detected and retried; results equal the golden model's."""
    cfg = probe_cfg()
    spec = LinkSpec(cfg)
    model = BoardModel(spec)
    fi = FaultInjector(ModelTransport(model), rate=0.004, frame_rate=0.02, seed=5)
    host = LinkHost(fi, spec)
    g = check_stream(host, cfg, random_commands(cfg, 2, 10000), 1)
    assert host.stats.frames >= 10000
    assert sum(fi.counts[k] for k in ("flip", "drop", "dup", "frame_dup")) > 1000
    assert host.stats.retries > 250
    assert (model.engine.read_words() == g.read_words()).all()
    assert model.engine.globals() == g.globals()
    # no command ran twice: the board counted exactly the commands sent
    assert model.cnt["commands"] == 10000 and model.cnt["replays"] > 0


def test_wrong_design_and_no_board():
    cfg = probe_cfg()
    other = EngineConfig(device=make_device("probe"), rows=4, cols=8, lanes=4)
    with pytest.raises(LinkError, match="different design.*lanes: board 4, host 2"):
        LinkHost(ModelTransport(BoardModel(LinkSpec(other))), LinkSpec(cfg))

    class Dead:
        real_time = False
        def write(self, d): pass
        def read(self, n, t): return b""
        def flush_input(self): pass

    with pytest.raises(LinkError, match="no valid reply after 3 attempts.*connected"):
        LinkHost(Dead(), LinkSpec(cfg), retries=2)


def test_bad_frame_rejected():
    cfg = probe_cfg()
    spec = LinkSpec(cfg)
    host = LinkHost(ModelTransport(BoardModel(spec)), spec)
    with pytest.raises(LinkError, match="rejected frame type 0x02"):
        host.transact(CMDS, b"\x01" * (spec.cmd_bytes + 1))
    with pytest.raises(LinkError, match="rejected frame type 0x33"):
        host.transact(0x33, b"")
    assert host.counters().commands == 0      # the link goes on after a rejected frame


# -- the HDL link ------------------------------------------------------------------------------
def test_amaranth_serial_top_level_odd_divisor():
    """The serial top-level on Amaranth's simulator (UART divisor 3): handshake, a command
    stream with every op, counters."""
    from synemu.boards.backend import AmaranthLink
    cfg = probe_cfg()
    spec = LinkSpec(cfg, divisor=3)
    t = AmaranthLink(spec)
    try:
        host = LinkHost(t, spec)
        g = check_stream(host, cfg, random_commands(cfg, 4, 40), 5)
        cnt = host.counters()
        assert (cnt.time, cnt.samples, cnt.commands, cnt.crc_errors) == (g.time, g.samples, 40, 0)
        assert cnt.cycles > cnt.busy_cycles > 0
        with pytest.raises(LinkError, match="rejected frame type 0x02"):
            host.transact(CMDS, bytes(spec.cmd_bytes + 1))     # not whole commands
        assert host.counters().commands == 40
    finally:
        t.close()


@pytest.mark.verilator
def test_verilator_link_faults_10k_frames():
    """The exact serial top-level in Verilator (native driver, the default) behind a fault
    injector: >= 1e4 frames with corrupted, dropped and duplicated bytes and frames; zero
    silent errors; final weights and counters identical to the golden model."""
    from synemu.boards.backend import NativeLink, open_link
    cfg = digits_cfg()
    spec = LinkSpec(cfg)
    t = open_link(spec)
    assert isinstance(t, NativeLink)
    try:
        fi = FaultInjector(t, rate=0.002, frame_rate=0.01, seed=11)
        host = LinkHost(fi, spec)
        raw = random_commands(cfg, 7, 10000, weights={
            Op.WRITE: 2, Op.READ: 2, Op.UPDATE: 3, Op.UPD_ROW: 1, Op.UPD_COL: 1, Op.TICK: 1,
            Op.LOAD_X: 4, Op.FORWARD: 0.3, Op.LEARN: 0.5, Op.SAMPLE: 1, Op.HEBB_ROW: 1})
        g = check_stream(host, cfg, raw, 1)
        assert host.stats.frames >= 10000
        assert host.stats.retries > 100 and host.stats.crc_errors + host.stats.timeouts > 50
        # read every synapse back through the (still faulty) link
        reads = [Command(Op.READ, r, c) for r in range(cfg.rows) for c in range(cfg.cols)]
        words = [w[0] for w in host.run([cfg.encode(c) for c in reads], [1] * len(reads))]
        assert (np.array(words, dtype=np.uint64).reshape(cfg.rows, cfg.cols)
                == g.read_words()).all()
        cnt = host.counters()
        assert (cnt.time, cnt.samples) == (g.time, g.samples)
        assert cnt.commands == 10000 + len(reads)
        assert cnt.crc_errors > 0 and cnt.replays > 0
        assert 0 < cnt.cycles < t.cycle     # the board's clock counter runs in the simulation
    finally:
        t.close()

@pytest.mark.verilator
def test_board_backend_training_identical_to_golden():
    """Tile API over the simulated UART: on-chip digits training gives the golden model's
    predictions and final weights, bit for bit."""
    from synemu.boards.backend import BoardBackend
    from synemu.runtime.datasets import load_dataset
    from synemu.runtime.tile import Tile
    from synemu.runtime.train import prepare_inputs, recipe_for
    cfg = digits_cfg()
    ds = load_dataset("digits", seed=0)
    x = prepare_inputs(ds.x_train[:60], recipe_for("ideal", "digits"))
    y = ds.y_train[:60]
    with Tile(config=cfg, backend=BoardBackend(cfg)) as b, Tile(config=cfg) as g:
        assert np.array_equal(b.learn_batch(x, y), g.learn_batch(x, y))
        assert np.array_equal(b.predict(x[:20]), g.predict(x[:20]))
        b.tick(5)
        g.tick(5)
        assert np.array_equal(b.state_words(), g.state_words())
        assert np.array_equal(b.weights(), g.weights())
        gb, gg = b.globals(), g.globals()
        assert (gb["time"], gb["samples"]) == (gg["time"], gg["samples"]) == (5, 60)


# -- native vs cocotb driver -----------------------------------------------------------------
def _drive_link(driver):
    """One command stream over the Verilator top-level through ``driver``: a clean part
    (every op, a rejected frame, snapshots, counters), then a faulty part. Returns what the
    host sees."""
    from synemu.boards.backend import BoardBackend
    cfg = digits_cfg()
    raw = random_commands(cfg, 3, 240)
    out = {}
    b = BoardBackend(cfg, driver=driver)
    try:
        host = b.host
        out["caps"] = host.caps
        out["resp"] = b.run(raw[:160])
        out["snap"] = b.snapshot()
        with pytest.raises(LinkError, match="rejected frame type 0x02"):
            host.transact(CMDS, bytes(b.spec.cmd_bytes + 1))
        out["counters"] = b.counters()
        # faults from here on (one seed: the same damage to the same bytes)
        fi = FaultInjector(b.transport, rate=0.01, frame_rate=0.05, seed=4)
        host.t = fi
        out["faulty_resp"] = [host.run([cfg.encode(c)], [n_responses(cfg, c.op)])
                              for c in raw[160:]]
        host.t = b.transport
        out["faulty_counts"] = dict(fi.counts)
        out["snap2"] = b.snapshot()
        out["stats"] = host.stats
        out["counters2"] = b.counters()
    finally:
        b.close()
    return out


@pytest.mark.verilator
def test_native_and_cocotb_links_identical():
    """The native and the cocotb driver of the Verilator top-level give the host identical
    results on one command stream, with and without faults: responses, snapshots, counters
    and link statistics. Only the board's clock counter (``Counters.cycles``, hence
    ``Snapshot.cycle``) may differ by a few clocks per frame: the cocotb driver polls the
    harness in steps of up to a byte time, the native one every clock, so a read stops
    lingering (and the next request starts) at a slightly different clock; the engine time
    ``busy_cycles`` is identical."""
    import dataclasses
    nat, coc = _drive_link("native"), _drive_link("cocotb")
    assert nat["faulty_counts"] == coc["faulty_counts"]
    assert sum(nat["faulty_counts"][k] for k in ("flip", "drop", "dup", "frame_dup")) > 5
    assert nat["caps"] == coc["caps"]
    assert nat["resp"] == coc["resp"] and nat["faulty_resp"] == coc["faulty_resp"]
    assert nat["stats"] == coc["stats"] and nat["stats"].retries > 0
    for k in ("snap", "snap2"):
        a, b = nat[k], coc[k]
        assert np.array_equal(a.words, b.words) and np.array_equal(a.x, b.x)
        assert a.globals == b.globals
    for k in ("counters", "counters2"):
        assert dataclasses.replace(nat[k], cycles=0) == dataclasses.replace(coc[k], cycles=0)
        assert nat[k].busy_cycles > 0
    # and both are right
    cfg = digits_cfg()
    g = GoldenEngine(cfg)
    assert nat["resp"] == [g.execute(c) for c in random_commands(cfg, 3, 240)[:160]]


@pytest.mark.verilator
def test_native_link_read_liveness():
    """A ``read`` that gets no reply returns after its simulated-clock budget (not before,
    hardly after, fast in wall time); a reply that does come ends the read as soon as its
    frame is complete, long before the budget."""
    import time

    from synemu.boards.backend import NativeLink
    from synemu.link.protocol import COUNTERS, RSP_SYNC
    cfg = digits_cfg()
    spec = LinkSpec(cfg)
    linger = 24 * spec.divisor
    byte = 10 * spec.divisor
    with NativeLink(spec) as t:
        assert t.real_time is False
        for timeout in (1e-4, 0.02):
            budget = int(timeout * spec.clk_hz)
            c0, w0 = t.cycle, time.perf_counter()
            assert t.read(1, timeout) == b""
            assert budget <= t.cycle - c0 <= budget + linger
            assert time.perf_counter() - w0 < 5
        # a truncated request: no reply within the budget (the board drops it when idle)
        t.write(request_frame(0, COUNTERS)[:3])
        c0 = t.cycle
        assert t.read(1, 1e-3) == b""
        assert 12_000 <= t.cycle - c0 <= 12_000 + linger
        # a whole request: the first read returns with the frame's first byte, the frame
        # (collected meanwhile) comes without further clocks, far before a 10 s budget
        frame = request_frame(1, HELLO)
        t.write(frame)
        c0 = t.cycle
        assert t.read(1, 10.0) == bytes([RSP_SYNC])
        c1 = t.cycle
        hdr = t.read(4, 10.0)
        n = struct.unpack("<H", hdr[2:4])[0]
        rest = t.read(n + 4, 10.0)
        assert hdr[:2] == bytes([1, HELLO | 0x80]) and len(rest) == n + 4
        assert t.cycle == c1
        # (frame bytes at the line rate, a few clocks per byte of framing, the HELLO copy)
        assert t.cycle - c0 < (len(frame) + n + 9) * (byte + 4) + linger + 200
        assert t.read(1, 1e-4) == b""          # nothing else arrives
        # the link goes on: a LinkHost on the same transport
        host = LinkHost(t, spec)
        assert host.caps.rows == cfg.rows and host.counters().frames == 3
    assert t.cycle > c1                        # still readable after close


def test_open_link_rejects_unknown_driver():
    from synemu.boards.backend import open_link
    with pytest.raises(ValueError, match="unknown Verilator link driver 'x'"):
        open_link(LinkSpec(probe_cfg()), driver="x")
