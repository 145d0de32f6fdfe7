"""The STDP network's on-chip sequencer (records, rate table, jobs) against its golden model:
the controller's whole state, every STEP response written back, and the counters, after
learning and inference jobs over valid and malformed records (Amaranth simulator)."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module, unsigned
from amaranth.lib import stream
from amaranth.lib.memory import Memory

from .network import GoldenSNN, SNNConfig, SOp, rate_codes
from .network_gateware import snn_command_layout
from .records import (LEARN, PRED, TABLE_WORDS, GoldenSNNSequencer, SNNJob, decode_record,
                      encode_record, rate_table)

WORDS = 2048


def small(**kw):
    base = dict(n_inputs=16, n_neurons=4, lanes=2, steps=4, theta0=2, max_rate=1.0,
                leak_shift=2, theta_plus=40, theta_frac=2, theta_width=8, v_width=8)
    base.update(kw)
    return SNNConfig(**base)


def _memory(cfg, rng, n_good=6):
    """(smem words, records' (addr, valid), rec_end): a rate table at 0, then records."""
    px = rng.integers(0, 4, (n_good, cfg.n_inputs)) / 3
    px[:, rng.random(cfg.n_inputs) < 0.4] = 0          # zero runs
    R = rate_codes(px, cfg)
    table, codes = rate_table(R, cfg)
    recs = [encode_record(r, codes) for r in R]
    bad = [np.array([1, 0x0301], np.uint16),             # codes end after 1 column
           np.array([2, 0x1100, 0x0000], np.uint16),     # a zero run past the last column
           np.array([1, 0x0000], np.uint16)]             # a zero run of length 0
    order = recs[:2] + [bad[0]] + recs[2:4] + [bad[1], bad[2]] + recs[4:]
    valid = [True] * 2 + [False] + [True] * 2 + [False, False] + [True] * (n_good - 4)
    mem = np.zeros(WORDS, np.uint16)
    mem[:TABLE_WORDS] = table
    addr, where = TABLE_WORDS, []
    for r in order:
        mem[addr:addr + len(r)] = r
        where.append(addr)
        addr += len(r)
    # a last record whose words run past rec_end (skipped whole), then one at rec_end
    mem[addr:addr + 3] = [5, 0x0101, 0x0101]
    where.append(addr)
    return mem, where, valid + [False], addr + 2, R


def test_records_roundtrip_and_table_errors():
    cfg = small()
    rng = np.random.default_rng(1)
    R = rate_codes(rng.random((3, 16)) * (rng.random((3, 16)) < 0.5), cfg)
    table, codes = rate_table(R, cfg)
    for r in R:
        rec = encode_record(r, codes)
        got, ok, used = decode_record(rec, 0, 16)
        t = table.astype(np.int64)
        assert ok and used == len(rec) and list((t[0::2] | t[1::2] << 16)[got]) == list(r)
    long_zero = encode_record(np.zeros(600, np.int64), codes)
    assert list(long_zero[1:]) == [0xFF00, 0xFF00, 0x5A00]       # runs of 255, 255, 90
    with pytest.raises(ValueError, match="256 distinct nonzero rates, a rate table holds 255"):
        rate_table(np.arange(257), cfg)
    with pytest.raises(ValueError, match="count"):
        SNNJob(LEARN, 0, 0, 10, code=1).validate(cfg, WORDS)
    with pytest.raises(ValueError, match="code"):
        SNNJob(LEARN, 0, 1, 10, code=0).validate(cfg, WORDS)
    with pytest.raises(ValueError, match="flags"):
        SNNJob(2, 0, 1, 10).validate(cfg, WORDS)


class _Harness(Elaboratable):
    def __init__(self, cfg, mem):
        from .network_gateware import SNNController
        from .seq_gateware import SNNSequencer
        self.ctrl = SNNController(cfg, debug=True)
        self.seq = SNNSequencer(cfg, WORDS)
        self.smem = Memory(shape=16, depth=WORDS, init=[int(v) for v in mem])
        # the host's command path while no job runs (INIT), as on the board
        self.cmd = stream.Signature(snn_command_layout(cfg)).create()
        self.resp = stream.Signature(unsigned(cfg.resp_width)).create()
        self.busy = self.ctrl.busy

    def elaborate(self, platform):
        m = Module()
        m.submodules.ctrl, m.submodules.seq, m.submodules.smem = self.ctrl, self.seq, self.smem
        c, s = self.ctrl, self.seq
        w, r = self.smem.write_port(), self.smem.read_port(transparent_for=())
        with m.If(s.running):
            m.d.comb += [c.cmd.valid.eq(s.cmd.valid), c.cmd.payload.eq(s.cmd.payload),
                         s.cmd.ready.eq(c.cmd.ready), s.resp.valid.eq(c.resp.valid),
                         s.resp.payload.eq(c.resp.payload), c.resp.ready.eq(s.resp.ready)]
        with m.Else():
            m.d.comb += [c.cmd.valid.eq(self.cmd.valid), c.cmd.payload.eq(self.cmd.payload),
                         self.cmd.ready.eq(c.cmd.ready), self.resp.valid.eq(c.resp.valid),
                         self.resp.payload.eq(c.resp.payload), c.resp.ready.eq(self.resp.ready)]
        m.d.comb += [w.addr.eq(s.mem_addr), w.data.eq(s.mem_wdata), w.en.eq(s.mem_we),
                     r.addr.eq(s.mem_addr), r.en.eq(s.mem_re & ~s.mem_we),
                     s.mem_rdata.eq(r.data)]
        return m


@pytest.mark.parametrize("seed", [0, 1])
def test_snn_sequencer_equals_golden(seed):
    from amaranth.sim import Simulator

    from .network_sim import AmaranthSNNDriver, compare_snn
    cfg = small(seed=seed + 3)
    rng = np.random.default_rng(seed)
    mem, where, valid, rec_end, R = _memory(cfg, rng)
    g = GoldenSNN(cfg)
    g.execute(SOp.INIT)
    gs = GoldenSNNSequencer(g, WORDS)
    gs.write(0, mem)
    n = len(where)
    pred = 1500
    jobs = [SNNJob(LEARN | PRED, TABLE_WORDS, n + 1, rec_end, pred, 0, cfg.code),
            SNNJob(LEARN, TABLE_WORDS, 4, rec_end, 0, 0, 1),
            SNNJob(PRED, TABLE_WORDS, n, rec_end, pred + 200, 0, 0)]
    dut = _Harness(cfg, mem)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    out = {"msgs": []}

    async def tb(ctx):
        host = AmaranthSNNDriver(ctx, dut)
        await host.send((SOp.INIT, 0, 0), 0)
        drv = AmaranthSNNDriver(ctx, dut.ctrl)
        for k, job in enumerate(jobs):
            exp = gs.run(job)
            for f in ("flags", "rec_base", "count", "rec_end", "pred_base", "table_base",
                      "code"):
                ctx.set(getattr(dut.seq.job.payload, f), getattr(job, f))
            ctx.set(dut.seq.job.valid, 1)
            await drv._tick()
            ctx.set(dut.seq.job.valid, 0)
            while ctx.get(dut.seq.jobs) != k + 1:
                await drv._tick()
            snap = await drv.snapshot()
            out["msgs"].append(compare_snn(g, snap))
            counters = [ctx.get(getattr(dut.seq, c)) for c in ("jobs", "samples", "errors")]
            out.setdefault("counters", []).append((counters, [gs.jobs, gs.samples, gs.errors]))
            smem = [ctx.get(dut.smem.data[a]) for a in range(pred, pred + 200 + n * cfg.steps)]
            out.setdefault("pred", []).append((smem, gs.mem[pred:pred + 200 + n * cfg.steps].copy()))
            out.setdefault("exp", []).append(exp)

    sim.add_testbench(tb)
    sim.run()
    assert out["msgs"] == [None] * len(jobs), out["msgs"]
    for got, want in out["counters"]:
        assert got == want
    for got, want in out["pred"]:
        np.testing.assert_array_equal(got, want)
    # 10 records (6 valid) + one past rec_end; 4 records (1 bad); 10 records again
    assert (gs.jobs, gs.samples, gs.errors) == (3, 6 + 3 + 6, 5 + 1 + 4)
    first = out["exp"][0]
    assert first[[i for i, v in enumerate(valid) if v]].any()      # the network spiked
    assert not first[[i for i, v in enumerate(valid) if not v] + [n]].any()
