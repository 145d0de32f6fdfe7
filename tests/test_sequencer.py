"""On-chip training sequencer: records, jobs, the windowed link, and the three run modes
(resident, stream, host) on the exact serial top-level in Verilator, bit-identical to the
golden sequencer for every device with an on-chip learning rule."""

from __future__ import annotations

import struct
from dataclasses import replace

import numpy as np
import pytest

from synemu.link.protocol import (BUSY, NAK, OLD, REJECT, SEQ_RUN, SMEM_READ, SMEM_WRITE,
                                  BoardModel, FaultInjector, LinkError, LinkHost, LinkSpec,
                                  ModelTransport, Reject, request_frame)
from synemu.runtime.datasets import Dataset
from synemu.runtime.resident import resident_plan, train_sequenced
from synemu.spec.engine import EngineConfig, GoldenEngine
from synemu.spec.recipe import Recipe
from synemu.spec.registry import make_device
from synemu.spec.sequencer import (GoldenSequencer, JobFlag, RecordLayout, SeqJob, lfsr_order)

WORDS = 2048


def _cfg(device="ideal", **kw):
    params = dict(kw.pop("params", {}))
    return EngineConfig(device=make_device(device, **params), rows=3, cols=8, lanes=2,
                        x_width=4, eta=kw.pop("eta", 3), t_pos=kw.pop("t_pos", 40),
                        t_neg=kw.pop("t_neg", -40), seed=5, **kw)


def _dataset(n_train=40, n_test=12, seed=0):
    rng = np.random.default_rng(seed)
    # 7 pixels + the bias column = 8 engine columns with x_bits 4 and 2 lanes
    x = rng.random((n_train + n_test, 7))
    y = rng.integers(0, 3, n_train + n_test)
    x[np.arange(len(x)), y] += 1.0      # learnable: the label's pixel is bright
    x = np.clip(x / 1.5, 0, 1)
    return Dataset("tiny", x[:n_train], y[:n_train], x[n_train:], y[n_train:], (7,), 3)


RECIPE = Recipe(x_bits=4, bias=True, t_pos=40, t_neg=-40, eta=3, lanes=2, epochs=2)


# -- specification ------------------------------------------------------------------------
def test_record_pack_roundtrip_and_errors():
    for xw, cols, lanes in ((4, 8, 2), (5, 68, 4), (3, 10, 2), (16, 4, 4), (7, 33, 1)):
        cfg = EngineConfig(device=make_device("ideal"), rows=5, cols=cols, lanes=lanes,
                           x_width=xw)
        lay = RecordLayout(cfg)
        assert lay.rec_words == 1 + -(-cols * xw // 16)
        rng = np.random.default_rng(xw)
        fmt = cfg.x_fmt
        xs = rng.integers(fmt.min, fmt.max + 1, (9, cols))
        xs[0] = fmt.min
        xs[1] = fmt.max
        ys = rng.integers(0, 5, 9)
        recs = lay.pack(xs, ys)
        assert recs.shape == (9, lay.rec_words) and recs.dtype == np.uint16
        for i in range(9):
            x, l = lay.unpack(recs[i])
            assert (x == xs[i]).all() and l == ys[i]
    lay = RecordLayout(_cfg())
    with pytest.raises(ValueError, match="input x"):
        lay.pack(np.full((1, 8), 99), [0])
    with pytest.raises(ValueError, match="labels must be in 0..2"):
        lay.pack(np.zeros((1, 8), int), [3])
    with pytest.raises(ValueError, match=r"shape \(n, 8\)"):
        lay.pack(np.zeros((1, 7), int), [0])


@pytest.mark.parametrize("count", [1, 2, 3, 7, 8, 100, 1437, 4096, 65535])
def test_lfsr_order_is_a_permutation(count):
    for seed in (1, 3):
        if count == 65535 and seed == 3:
            continue
        o = lfsr_order(count, seed)
        assert sorted(o.tolist()) == list(range(count))
    if count > 7:
        assert not np.array_equal(lfsr_order(count, 1), lfsr_order(count, 2))


def test_job_validation_names_the_field():
    cfg = _cfg()
    lay = RecordLayout(cfg)
    ok = SeqJob(JobFlag.LEARN, 0, 10)
    ok.validate(cfg, WORDS)
    for job, what in ((replace(ok, count=0), "count"),
                      (replace(ok, rec_base=WORDS - 5), "rec_base"),
                      (replace(ok, flags=JobFlag.ORDER | JobFlag.LFSR), "not both"),
                      (replace(ok, flags=JobFlag.ORDER, order_base=WORDS - 3), "order_base"),
                      (replace(ok, flags=JobFlag.PRED, pred_base=WORDS), "pred_base"),
                      (replace(ok, flags=JobFlag.LFSR, lfsr_seed=0), "lfsr_seed"),
                      (replace(ok, flags=JobFlag.LFSR, lfsr_seed=16), "lfsr_seed"),
                      (replace(ok, ticks=1 << 32), "ticks"),
                      (replace(ok, flags=0x10), "unknown bits")):
        with pytest.raises(ValueError, match=what):
            job.validate(cfg, WORDS, lay)


def test_golden_sequencer_equals_the_host_loop():
    """A sequencer job is the host-driven loop (LOAD_X of every column, LEARN, TICK), sample
    for sample; a bad label is skipped and counted."""
    cfg = _cfg("femfet", params={"preset": "6bit"})
    lay = RecordLayout(cfg)
    ds = _dataset()
    from synemu.runtime.train import prepare_inputs
    x = prepare_inputs(ds.x_train, RECIPE)
    recs = lay.pack(x, ds.y_train)
    g = GoldenSequencer(GoldenEngine(cfg), WORDS)
    g.write(0, recs.ravel())
    order = np.random.default_rng(1).permutation(len(x))
    g.write(1500, order)
    job = SeqJob(JobFlag.LEARN | JobFlag.ORDER | JobFlag.PRED, 0, len(x), 1500, 1800, ticks=2)
    g.accept(job)
    p = g.run(job)
    ref = GoldenEngine(cfg)
    from synemu.spec.engine import Command, Op
    for i, k in enumerate(order):
        for c in range(cfg.cols):
            ref.execute(Command(Op.LOAD_X, 0, c, int(x[k, c])))
        assert ref.execute(Command(Op.LEARN, 0, 0, int(ds.y_train[k])))[0] == p[i]
        ref.execute(Command(Op.TICK, 0, 0, 2))
    assert (ref.read_words() == g.engine.read_words()).all() and ref.time == g.engine.time
    assert (g.smem[1800:1800 + len(x)] == p).all()
    assert g.correct == int(np.sum(p == ds.y_train[order])) and g.samples == len(x)
    # a record whose label is not a row is skipped, nothing of it runs
    bad = recs[0].copy()
    bad[0] = 3
    g.write(0, bad)
    before = g.engine.read_words().copy()
    j1 = SeqJob(JobFlag.LEARN, 0, 1)
    g.accept(j1)
    assert g.run(j1).tolist() == [-1] and g.errors == 1
    assert (g.engine.read_words() == before).all()


# -- host protocol on the board model ----------------------------------------------------------
def test_model_protocol_rejects_and_windows():
    cfg = _cfg()
    spec = LinkSpec(cfg, smem_words=WORDS)
    model = BoardModel(spec)
    host = LinkHost(ModelTransport(model), spec)
    assert host.caps.smem_words == WORDS
    data = np.arange(600, dtype=np.uint16)
    host.smem_write(100, data, window=4)
    assert (host.smem_read(100, 600) == data).all()
    with pytest.raises(ValueError, match="exceeds the board's 2048 words"):
        host.smem_frames(2000, data)
    for typ, payload, why in ((SMEM_WRITE, (2047).to_bytes(3, "little") + b"\0\0\0\0",
                               Reject.SMEM),
                              (SMEM_WRITE, b"\0\0\0\0", Reject.LENGTH),
                              (SMEM_READ, b"\0\0\0\0", Reject.SMEM),
                              (SEQ_RUN, SeqJob(JobFlag.LEARN, 0, 0).pack(), Reject.JOB),
                              (SEQ_RUN, b"\0" * 5, Reject.LENGTH)):
        reply = model.feed(request_frame(host.seq, typ, payload))
        assert reply[2] == REJECT and reply[6] == why, (typ, reply.hex())
        host.seq = (host.seq + 1) & 0xFF
    # in-order acceptance: ahead of the expected number -> NAK; an old one -> OLD
    assert model.feed(request_frame((host.seq + 1) & 0xFF, SMEM_WRITE, b"\0\0\0\0\0"))[2] == NAK
    assert model.feed(request_frame((host.seq - 3) & 0xFF, SMEM_WRITE, b"\0\0\0\0\0"))[2] == OLD
    with pytest.raises(LinkError, match="no sample memory"):
        LinkHost(ModelTransport(BoardModel(LinkSpec(cfg))), LinkSpec(cfg)).seq_status()
    # a host expecting a sample memory meets a host-only bitstream: named at HELLO
    with pytest.raises(LinkError, match=r"no sample-memory words.*built without the sequencer "
                                        r"\(--host-only\); use --mode host"):
        LinkHost(ModelTransport(BoardModel(LinkSpec(cfg))), spec)


def test_windowed_link_under_faults_model():
    cfg = _cfg()
    spec = LinkSpec(cfg, smem_words=WORDS)
    fi = FaultInjector(ModelTransport(BoardModel(spec)), rate=0.003, frame_rate=0.02, seed=4)
    host = LinkHost(fi, spec)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 1 << 16, WORDS, dtype=np.uint16)
    for _ in range(3):
        host.smem_write(0, data, window=8)
    assert host.stats.go_backs > 0 and fi.counts["damaged_writes"] > 0
    assert (host.smem_read(0, WORDS) == data).all()


def test_resident_plan_error_names_sizes_and_stream():
    lay = RecordLayout(EngineConfig(device=make_device("ideal"), rows=10, cols=788, lanes=4,
                                    x_width=4))
    with pytest.raises(ValueError, match=r"4000 train \+ 1000 test samples of 198 words.*"
                                         r"65536.*--mode stream"):
        resident_plan(lay, 4000, 1000, 65536)


def test_cli_resident_mode_that_does_not_fit(capsys):
    from synemu.cli.main import main
    rc = main(["run", "--sim", "model", "--mode", "resident", "--dataset", "mnist5k",
               "--epochs", "1", "--json"])
    out = capsys.readouterr().out
    assert rc != 0 and "--mode stream" in out and "does not fit" in out


# -- the serial top-level in Verilator: every mode, every on-chip device ------------------------
DEVICES = [("ideal", {}), ("femfet", {"preset": "6bit"}), ("fn", {"preset": "small"}),
           ("measured", {"preset": "fefet-jerry2017"}), ("probe", {})]


def _board(cfg, words=WORDS, guard="ranges"):
    from synemu.boards.backend import BoardBackend
    return BoardBackend(cfg, spec=LinkSpec(cfg, smem_words=words, smem_guard=guard))


@pytest.mark.verilator
@pytest.mark.parametrize("device,params", DEVICES, ids=[d for d, _ in DEVICES])
def test_modes_identical_to_golden_verilator(device, params):
    """Resident (LFSR and host order, TICKs per sample), stream and host mode on one
    Verilator build per device: every prediction, the counters and the final state words
    equal the golden sequencer's; resident with host order equals host mode exactly."""
    from synemu.runtime.tile import Tile
    from synemu.runtime.train import train_onchip
    dev = make_device(device, **params)
    ds = _dataset()
    rec = replace(RECIPE, eta=max(RECIPE.eta, 0))
    cfg = EngineConfig(device=dev, rows=3, cols=8, lanes=2, seed=1, **rec.engine_kwargs())
    results = {}
    for mode, order, ticks in (("resident", "lfsr", 3), ("resident", "host", 0),
                               ("stream", "host", 0)):
        with _board(cfg) as b:
            r = train_sequenced(b, ds, rec, mode=mode, order=order, ticks=ticks, check=True,
                                stream_block=7, show_progress=False)
        assert r["identical_to_golden"] is True, (mode, order)
        assert r["sequencer"]["samples"] == 2 * (40 + 12)
        assert r["board_samples_per_s"] and r["engine_bound_samples_per_s"]
        results[(mode, order)] = r
    with Tile(config=cfg, backend=_board(cfg)) as tile:
        h = train_onchip(device, ds, recipe=rec, tile=tile, check=True, show_progress=False)
    assert h["identical_to_golden"] is True
    # the same engine commands in the same order: the same training
    for key in (("resident", "host"), ("stream", "host")):
        r = results[key]
        assert r["weights_sha"] == h["weights_sha"], key
        assert r["test_accuracy_per_epoch"] == h["test_accuracy_per_epoch"], key
        assert r["predictions"] == h["predictions"], key


@pytest.mark.verilator
def test_board_protocol_errors_and_busy_verilator():
    """Bad frames are refused like the model refuses them; a write into a running job's
    records is answered BUSY (not executed) until the job is done; bad labels are skipped."""
    cfg = _cfg()
    lay = RecordLayout(cfg)
    with _board(cfg) as b:
        host = b.host
        model = BoardModel(b.spec)
        model.feed(request_frame(0, 1))     # the model's HELLO
        model.last_seq = (host.seq - 1) & 0xFF
        for typ, payload in ((SMEM_WRITE, (2047).to_bytes(3, "little") + b"\0\0\0\0"),
                             (SMEM_READ, (2040).to_bytes(3, "little") + bytes([9])),
                             (SMEM_READ, b"\0\0\0" + bytes([200])),
                             (SEQ_RUN, SeqJob(JobFlag.LEARN, 2046, 1).pack()),
                             (SEQ_RUN, SeqJob(JobFlag.LFSR, 0, 5, lfsr_seed=9).pack()),
                             (SEQ_RUN, SeqJob(JobFlag.ORDER | JobFlag.LFSR, 0, 5).pack()),
                             (SEQ_RUN, b"\1\2\3")):
            frame = request_frame(host.seq, typ, payload)
            want = model.feed(frame)
            b.transport.write(frame)
            got = b.transport.read(len(want), 0.05)
            assert got == want and want[2] == REJECT, (typ, payload.hex(), got.hex())
            host.seq = (host.seq + 1) & 0xFF
        # a long job, then a write into its records: BUSY until it is done
        xs = np.random.default_rng(0).integers(0, 8, (300, 8))
        ys = np.random.default_rng(1).integers(0, 3, 300)
        recs = lay.pack(xs, ys)
        recs[7, 0] = 3                                   # a label that is not a row
        host.smem_write(0, recs.ravel())
        job = SeqJob(JobFlag.LEARN, 0, 300, ticks=1)
        host.seq_run(job)
        frame = request_frame(host.seq, SMEM_WRITE, b"\0\0\0\0\0")
        b.transport.write(frame)
        reply = b.transport.read(9, 0.01)
        assert reply[2] == BUSY and reply[1] == host.seq
        st = host.seq_wait(1)
        assert (st.samples, st.errors, st.jobs) == (299, 1, 1)
        g = GoldenSequencer(GoldenEngine(cfg), WORDS)
        g.write(0, recs.ravel())
        g.accept(job)
        g.run(job)
        assert (b.snapshot().words.reshape(3, 8) == g.engine.read_words()).all()
        assert st.correct == g.correct and st.learn_busy <= st.learn_cycles
        cnt = host.counters()
        assert (cnt.samples, cnt.time) == (299, 299)


@pytest.mark.verilator
def test_stream_mode_under_faults_verilator():
    """The windowed link behind the fault injector (corruption, drops, duplicates, both
    directions): no silent error, the final state equals the golden model's."""
    from synemu.boards.backend import BoardBackend
    cfg = _cfg()
    spec = LinkSpec(cfg, smem_words=WORDS)
    with BoardBackend(cfg, spec=spec, faults=dict(rate=1e-3, frame_rate=0.01, seed=3)) as b:
        r = train_sequenced(b, _dataset(200, 30), replace(RECIPE, epochs=3), mode="stream",
                            check=True, stream_block=5, show_progress=False)
        stats = b.host.stats
        counts = b.transport.counts
    assert r["identical_to_golden"] is True
    assert counts["damaged_writes"] > 0 and counts["damaged_reads"] > 0
    assert stats.go_backs > 0 and stats.frames > 200


def test_status_block_size():
    from synemu.spec.sequencer import STATUS_FMT, SeqStatus
    s = SeqStatus(*range(11))
    assert SeqStatus.parse(s.pack()) == s and struct.calcsize(STATUS_FMT) <= 64


def _job(flags, rec_base, count, order_base=0, pred_base=0, ticks=0, seed=0):
    """A SEQ_RUN payload with any field values (SeqJob.pack refuses out-of-range ones)."""
    return struct.pack("<BIIIIIH", flags, rec_base, count, order_base, pred_base, ticks, seed)


@pytest.mark.verilator
def test_acceptance_rules_at_their_boundaries_verilator():
    """Every SMEM_WRITE / SMEM_READ / SEQ_RUN check at its boundary (exactly fitting, one
    past; fields beyond the address width, 32-bit extremes; LFSR seeds at the width limit):
    the board replies like the model (same verdict; REJECT byte for byte)."""
    cfg = _cfg(tick_width=12, time_width=40)
    rw = RecordLayout(cfg).rec_words
    W, top = WORDS, 1 << 32
    L = 1 << (cfg.tick_width)
    smw = lambda addr, n=1: (SMEM_WRITE, addr.to_bytes(3, "little") + b"\0\0" * n)
    smr = lambda addr, n: (SMEM_READ, addr.to_bytes(3, "little") + bytes([n]))
    n_fit = W // rw
    frames = [smw(W - 2, 2), smw(W - 1, 2), smw(W), smw(4 * W), smw((1 << 24) - 1),
              smr(W - 9, 9), smr(W - 8, 9), smr(4 * W, 1), smr(0, 128), smr(0, 129),
              (SEQ_RUN, _job(1, W - n_fit * rw, n_fit)), (SEQ_RUN, _job(1, W - n_fit * rw + 1, n_fit)),
              (SEQ_RUN, _job(1, 2 * W, 1)), (SEQ_RUN, _job(1, top - 1, 1)),
              (SEQ_RUN, _job(1, 0, 1 << 16)), (SEQ_RUN, _job(1, 0, top - 1)),
              (SEQ_RUN, _job(1, 0, 0)), (SEQ_RUN, _job(0x10, 0, 1)),
              (SEQ_RUN, _job(3, 0, 2, order_base=W - 2)), (SEQ_RUN, _job(3, 0, 2, order_base=W - 1)),
              (SEQ_RUN, _job(3, 0, 2, order_base=2 * W)),
              (SEQ_RUN, _job(9, 0, 3, pred_base=W - 3)), (SEQ_RUN, _job(9, 0, 3, pred_base=W - 2)),
              (SEQ_RUN, _job(9, 0, 3, pred_base=top - 2)),
              (SEQ_RUN, _job(1, 0, 1, ticks=L - 1)), (SEQ_RUN, _job(1, 0, 1, ticks=L)),
              (SEQ_RUN, _job(5, 0, 4, seed=7)), (SEQ_RUN, _job(5, 0, 4, seed=8)),
              (SEQ_RUN, _job(5, 0, 8, seed=15)), (SEQ_RUN, _job(5, 0, 8, seed=16)),
              (SEQ_RUN, _job(5, 0, 8, seed=0)), (SEQ_RUN, _job(7, 0, 8, seed=3))]
    with _board(cfg) as b:
        host = b.host
        model = BoardModel(b.spec)
        model.feed(request_frame(0, 1))
        verdicts = []
        for typ, payload in frames:
            jobs = host.seq_status().jobs
            model.last_seq = (host.seq - 1) & 0xFF
            frame = request_frame(host.seq, typ, payload)
            want = model.feed(frame)
            b.transport.write(frame)
            got = b.transport.read(len(want), 0.05)
            assert got[2] == want[2], (typ, payload.hex(), got.hex(), want.hex())
            if want[2] == REJECT:
                assert got == want, (typ, payload.hex())
            verdicts.append(want[2])
            host.seq = (host.seq + 1) & 0xFF
            if typ == SEQ_RUN and want[2] != REJECT:
                host.seq_wait(jobs + 1)
        # the fitting cases run, the others are refused (0-based frame indices)
        assert [i for i, v in enumerate(verdicts) if v != REJECT] == [0, 5, 8, 10, 18, 21, 24,
                                                                     26, 28]


@pytest.mark.verilator
@pytest.mark.parametrize("guard", ["ranges", "jobs"])
def test_smem_guard_at_range_edges_verilator(guard):
    """The SMEM guard while a job runs: ``ranges``, a write or read that touches the job's
    record, order or prediction range by one word is BUSY, one that ends or starts just
    outside runs; ``jobs``, every write is BUSY and a read only where it touches the
    prediction range. After the job the refused frame runs; stream mode is identical to
    golden under either guard."""
    cfg = _cfg(tick_width=12, time_width=40)
    rw = RecordLayout(cfg).rec_words
    smw = lambda addr, n: (SMEM_WRITE, addr.to_bytes(3, "little") + b"\0\0" * n)
    smr = lambda addr, n: (SMEM_READ, addr.to_bytes(3, "little") + bytes([n]))
    with _board(cfg, guard=guard) as b:
        host = b.host
        # a long job over records [R0, R1), order [O0, O0 + n), preds [P0, P0 + n)
        n, R0, O0, P0 = 120, 64, 1500, 1800
        R1 = R0 + n * rw
        xs = np.random.default_rng(0).integers(0, 8, (n, 8))
        recs = RecordLayout(cfg).pack(xs, np.zeros(n, np.int64))
        host.smem_write(R0, recs.ravel())
        host.smem_write(O0, np.arange(n))
        # (frame kind, address, words, touches a used range, touches the prediction range)
        cases = [(smw, R0 - 2, 2, False, False), (smw, R0 - 2, 3, True, False),
                 (smw, R1 - 1, 1, True, False), (smw, R1, 4, False, False),
                 (smw, O0 + n - 1, 1, True, False), (smw, O0 + n, 2, False, False),
                 (smw, P0 - 1, 1, False, False), (smw, P0 - 1, 2, True, True),
                 (smw, P0 + n, 1, False, False),
                 (smr, R0 - 2, 3, True, False), (smr, O0 + n - 1, 1, True, False),
                 (smr, P0 - 1, 1, False, False), (smr, P0 - 1, 2, True, True),
                 (smr, P0 + n - 1, 1, True, True), (smr, P0 + n, 1, False, False)]
        for kind, a, k, used, pred in cases:
            jobs = host.seq_status().jobs
            host.seq_run(SeqJob(JobFlag.LEARN | JobFlag.ORDER | JobFlag.PRED, R0, n,
                                order_base=O0, pred_base=P0, ticks=1))
            frame = request_frame(host.seq, *kind(a, k))
            b.transport.write(frame)
            reply = b.transport.read(9, 0.01)
            if guard == "ranges":
                busy = used
            else:
                busy = kind is smw or pred
            assert reply[1] == host.seq, reply.hex()
            assert (reply[2] == BUSY) == busy, (kind(a, k), reply.hex())
            if reply[2] != BUSY:
                b.transport.read(reply[3] + 256 * reply[4], 0.01)   # the rest of the reply
                host.seq = (host.seq + 1) & 0xFF
            assert host.seq_wait(jobs + 1).running == 0
            if reply[2] == BUSY:                    # idle now: the same frame runs
                if kind is smw:
                    host.smem_write(a, np.zeros(k, np.int64))
                else:
                    assert len(host.smem_read(a, k)) == k
    with _board(cfg, guard=guard) as b:
        r = train_sequenced(b, _dataset(60, 12), RECIPE, mode="stream", check=True,
                            stream_block=5, show_progress=False)
    assert r["identical_to_golden"] is True
