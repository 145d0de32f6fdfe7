"""The STDP network's protected link: host, byte-exact board model, and the board top
(``LinkTop`` + ``SNNCore``) in Verilator against both."""

import struct

import numpy as np
import pytest

from synemu.link.protocol import (CMDS, REJECT, SEQ_RUN, FaultInjector, LinkError,
                                  ModelTransport, Reject, request_frame)

from .link import SNNBoardModel, SNNLinkHost, SNNLinkSpec, snn_reject_reason
from .network import GoldenSNN, SNNConfig, SOp
from .records import LEARN, PRED, TABLE_WORDS, SNNJob


def small(**kw):
    base = dict(n_inputs=32, n_neurons=6, lanes=4, steps=4, theta0=8)
    base.update(kw)
    return SNNConfig(**base)


def spec_of(cfg, words=4096):
    return SNNLinkSpec(cfg, divisor=4, clk_hz=1_000_000, smem_words=words)


def samples(cfg, n, seed):
    rng = np.random.default_rng(seed)
    R = rng.integers(0, 5, (n, cfg.n_inputs)) * (1 << cfg.rate_bits) // 4
    R[rng.random(R.shape) < 0.5] = 0           # zero runs, as in images
    return R


def golden_run(cfg, Rs, code):
    g = GoldenSNN(cfg)
    g.init()
    out = []
    for r in Rs:
        g.present(r, True, code)
        out.append(g.last_winners.copy())
    return g, np.array(out)


def run_both_modes(host, cfg, Rs, code):
    host.init()
    a = host.stream(Rs[:24], True, code, job_samples=5)
    b = host.host_run(Rs[24:], True, code)
    return np.concatenate([a, b])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stream_and_host_modes_equal_golden_through_faults(seed):
    cfg = small(seed=seed)
    m = SNNBoardModel(spec_of(cfg))
    host = SNNLinkHost(FaultInjector(ModelTransport(m), rate=0.002, frame_rate=0.02,
                                     seed=seed), spec_of(cfg))
    Rs = samples(cfg, 32, seed)
    got = run_both_modes(host, cfg, Rs, 3)
    g, exp = golden_run(cfg, Rs, 3)
    assert (got == exp).all()
    assert (m.golden.states() == g.states()).all()
    for k, v in g.registers().items():
        assert np.array_equal(m.golden.registers()[k], v), k
    assert host.stats.retries > 0                     # the faults did hit
    c = host.counters()
    assert (c.time, c.samples) == (32 * cfg.steps, 32)


def test_hello_refuses_another_network():
    cfg = small()
    m = SNNBoardModel(spec_of(cfg))
    with pytest.raises(LinkError, match=r"different design \(rows: board 6, host 7.*config_crc"):
        SNNLinkHost(ModelTransport(m), spec_of(small(n_neurons=7)))
    with pytest.raises(TypeError, match="SNNConfig"):
        SNNLinkSpec(None)


def test_reject_rules_at_their_boundaries():
    cfg = small()
    top, n_codes = 1 << cfg.rate_bits, cfg.device.n_codes
    cases = [((SOp.PIX, 31, top), 0), ((SOp.PIX, 31, top + 1), Reject.ARG),
             ((SOp.STEP, 0, n_codes - 1), 0), ((SOp.STEP, 0, n_codes), Reject.ARG),
             ((SOp.END, 0, 1), 0), ((SOp.END, 0, 2), Reject.ARG),
             ((SOp.INIT, 31, top + 1), 0), ((0, 0, 0), Reject.OP), ((5, 0, 0), Reject.OP),
             ((7, 0, 0), Reject.OP)]
    s = spec_of(cfg)
    for cmd, why in cases:
        assert snn_reject_reason(cfg, *cmd) == why, cmd
        if why:
            with pytest.raises(ValueError, match=Reject(why).name):
                s.pack(cmd)
        else:
            assert s.unpack(s.pack(cmd)) == tuple(int(v) for v in cmd)
    with pytest.raises(ValueError, match="col 32 does not fit its 5-bit field"):
        s.pack((SOp.PIX, 32, 0))
    # the model: a frame with one bad command runs none of it
    m = SNNBoardModel(s)
    bad = b"".join(s.pack(c) for c in [(SOp.PIX, 0, 5)]) + (
        SOp.STEP | (n_codes << (3 + 5))).to_bytes(s.cmd_bytes, "little")
    r = m.feed(request_frame(0, CMDS, bad))
    assert r[2] == REJECT and r[5:7] == bytes([1, Reject.ARG]) and m.golden.R[0] == 0


def _job_cases(cfg, W):
    n_codes, T = cfg.device.n_codes, cfg.steps
    ok = dict(flags=LEARN | PRED, rec_base=TABLE_WORDS, count=2, rec_end=W,
              pred_base=W - 2 * T, table_base=0, code=n_codes - 1)
    edits = [({}, True), (dict(pred_base=W - 2 * T + 1), False), (dict(rec_end=W + 1), False),
             (dict(rec_base=W - 1), True), (dict(rec_base=W), False),
             (dict(rec_end=TABLE_WORDS), False), (dict(table_base=W - TABLE_WORDS), True),
             (dict(table_base=W - TABLE_WORDS + 1), False), (dict(code=n_codes), False),
             (dict(code=0), False), (dict(flags=PRED, code=0), True), (dict(flags=2), False),
             (dict(flags=LEARN | 4), False), (dict(count=0), False), (dict(count=65535), False),
             (dict(flags=LEARN, count=65535), True), (dict(rec_base=1 << 24), False),
             (dict(table_base=1 << 31), False)]
    return [(SNNJob(**{**ok, **e}), v) for e, v in edits]


def test_job_rules_in_the_model():
    cfg = small()
    W = 4096
    for job, valid in _job_cases(cfg, W):
        m = SNNBoardModel(spec_of(cfg, W))
        m.feed(request_frame(0, 1))                 # HELLO
        r = m.feed(request_frame(1, SEQ_RUN, job.pack()))
        assert (r[2] == SEQ_RUN | 0x80) == valid, job
        if not valid:
            assert r[5:7] == bytes([0, Reject.JOB])
    r = SNNBoardModel(spec_of(cfg)).feed(request_frame(0, SEQ_RUN, b"\0" * 22))
    assert r[2] == REJECT and r[5:7] == bytes([0, Reject.LENGTH])


def test_stream_bad_input():
    cfg = small()
    host = SNNLinkHost(ModelTransport(SNNBoardModel(spec_of(cfg))), spec_of(cfg))
    with pytest.raises(ValueError, match=r"samples must be \(n, 32\)"):
        host.stream(np.zeros((3, 31), np.int64), True)
    with pytest.raises(ValueError, match="do not fit the board's 1024-word sample memory"):
        SNNLinkHost(ModelTransport(SNNBoardModel(spec_of(cfg, 1024))),
                    spec_of(cfg, 1024)).stream(samples(cfg, 4, 0), True, job_samples=64)
    Rs = np.arange(32 * 9).reshape(9, 32) % 300 + 1              # 299 distinct rates
    with pytest.raises(ValueError, match="255: use --mode host"):
        host.stream(Rs, True)


@pytest.mark.verilator
@pytest.mark.parametrize("seed", [0, 1])
def test_board_top_equals_golden_verilator(seed):
    """LinkTop + SNNCore in Verilator (UART at divisor 4), through the fault injector: stream
    and host modes give golden's winners; the counters count STEPs and ENDs; every job rule
    at its boundary decides as the board model does."""
    from synemu.boards.backend import NativeLink

    from .board import snn_harness_native_build
    cfg = small(seed=seed)
    spec = spec_of(cfg)
    build = snn_harness_native_build(spec, banks=2, draws=2)
    with NativeLink(spec, build=build) as link:
        host = SNNLinkHost(FaultInjector(link, rate=0.001, frame_rate=0.01, seed=seed), spec)
        Rs = samples(cfg, 32, seed)
        got = run_both_modes(host, cfg, Rs, 3)
        _, exp = golden_run(cfg, Rs, 3)
        assert (got == exp).all()
        c = host.counters()
        assert (c.time, c.samples) == (32 * cfg.steps, 32) and c.busy_cycles > 0
    with NativeLink(spec, build=build) as link:
        seq = 0
        for job, valid in _job_cases(cfg, spec.smem_words):
            link.write(request_frame(seq, SEQ_RUN, job.pack()))
            seq += 1
            hdr = link.read(5, 0.05)
            body = link.read(struct.unpack("<H", hdr[3:5])[0] + 4, 0.05)
            assert (hdr[2] == SEQ_RUN | 0x80) == valid, job
            if not valid:
                assert hdr[2] == REJECT and body[:2] == bytes([0, Reject.JOB]), job
            link.model.clock(200_000)          # let an accepted job finish


@pytest.mark.parametrize("mode", ["stream", "resident", "host"])
def test_run_snn_board_modes_on_the_model(mode):
    from .board import run_snn_board
    r = run_snn_board("icebreaker", "digits", mode=mode, sim="model", limit=24, epochs=1,
                      check=True)
    assert r["mode"] == mode and r["samples"] == 24 and r["identical_to_golden"] is True
    assert r["board_steps"] == 24 * 16 and r["board_samples"] == 24     # the training pass
    assert (r["wire_bytes_per_sample"] > 200) == (mode == "host")


def test_run_snn_board_resident_too_big_names_sizes():
    from .board import run_snn_board
    with pytest.raises(ValueError, match=r"need \d+ words, the ulx3s-85f's sample memory holds "
                                         r"32768: use --mode stream"):
        run_snn_board("ulx3s-85f", "mnist5k", mode="resident", sim="model", epochs=1,
                      evaluate=False)
    with pytest.raises(ValueError, match=r"mnist5k has 784 inputs: 784 x 100 neurons = 78400 "
                                         r"synapses, the icebreaker's network holds 19600 "
                                         r"\(196 x 100\): use a dataset with at most 196 "
                                         r"inputs \(e.g. mnist5k-14\)"):
        run_snn_board("icebreaker", "mnist5k", sim="model", epochs=1)
    with pytest.raises(ValueError, match="no STDP network configuration for board 'orangecrab'"):
        run_snn_board("orangecrab", "digits", sim="model")


def test_cli_run_mtj_refuses_engine_options():
    from synemu.cli.common import run_json
    rc, res = run_json(["run", "--device", "mtj", "--sim", "model", "--ticks", "3", "--json"])
    assert rc == 2 and "does not take --ticks" in res["error"]
    rc, res = run_json(["run", "--device", "mtj", "--board", "icebreaker", "--sim", "model",
                        "--dataset", "digits", "--limit", "10", "--epochs", "1", "--check",
                        "--json", "--out", "/tmp/synemu-test-run-mtj"])
    assert rc == 0 and res["identical_to_golden"] is True and res["mode"] == "resident"


@pytest.mark.verilator
def test_run_snn_board_modes_verilator():
    """The iCEBreaker's network (100 neurons, 4 lanes, 5 banks) on digits in its exact
    top-level (24 MHz, 3 Mbaud): every mode equals golden; board rates are measured."""
    from .board import run_snn_board
    for mode in ("stream", "resident", "host"):
        r = run_snn_board("icebreaker", "digits", mode=mode, limit=12, epochs=1, check=True)
        assert r["identical_to_golden"] is True, mode
        assert r["board_samples_per_s"] and r["engine_bound_samples_per_s"] > \
            r["board_samples_per_s"] * 0.99, r


@pytest.mark.verilator
def test_stream_never_overruns_the_receive_queue_verilator():
    """The iCEBreaker's network streamed at 3 Mbaud, prediction reads in the window with the
    next records: the host keeps at most RX_QUEUE request bytes unanswered, so the board
    (busy sending read replies or running jobs) drops no byte: no CRC error on the board,
    no host timeout, every frame sent once but the BUSY probes, identical to golden."""
    from .board import run_snn_board
    r = run_snn_board("icebreaker", "mnist5k-14", mode="stream", limit=150, epochs=1,
                      evaluate=False, check=True)
    assert r["identical_to_golden"] is True
    assert r["board_crc_errors"] == 0 and r["link"]["timeouts"] == 0, r["link"]
    assert r["link"]["crc_errors"] == 0
