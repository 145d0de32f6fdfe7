"""Host link: frame format, CRC, protocol under faults, and the serial top-level in simulation."""

import struct
import zlib

import numpy as np
import pytest

from synemu.boards.link import (BAD, CMDS, HELLO, BoardModel, FaultInjector, LinkError,
                                LinkHost, LinkSpec, ModelTransport, crc32, pack_command,
                                reply_frame, request_frame, unpack_command)
from synemu.golden.devices import make_device
from synemu.golden.engine import Command, EngineConfig, GoldenEngine, Op
from synemu.sim.lockstep import n_responses, random_commands


def probe_cfg():
    return EngineConfig(device=make_device("probe"), rows=4, cols=8, lanes=2,
                        rounding="stochastic", eta=3)


def digits_cfg():
    """The configuration of on-chip digits training (10 classes, 64 pixels + bias, 4 lanes)."""
    from synemu.emu.train import recipe_for
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
    """The exact serial top-level in Verilator behind a fault injector: >= 1e4 frames with
    corrupted, dropped and duplicated bytes and frames; zero silent errors; final weights and
    counters identical to the golden model."""
    from synemu.boards.backend import VerilatorLink
    cfg = digits_cfg()
    spec = LinkSpec(cfg)
    t = VerilatorLink(spec)
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
    finally:
        t.close()


@pytest.mark.verilator
def test_board_backend_training_identical_to_golden():
    """Tile API over the simulated UART: on-chip digits training gives the golden model's
    predictions and final weights, bit for bit."""
    from synemu.boards.backend import BoardBackend
    from synemu.emu.datasets import load_dataset
    from synemu.emu.tile import Tile
    from synemu.emu.train import prepare_inputs, recipe_for
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
