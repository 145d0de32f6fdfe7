"""The STDP network's host link: the engine's protected protocol (:mod:`synemu.link.protocol`:
CRC-32 frames, sequence numbers, exactly-once execution, windowed SMEM_WRITE / SEQ_RUN) with
the network's commands and jobs; board side :class:`synemu.devices.mtj.board.SNNCore`.

* **CMDS**: commands ``(op, col, arg)`` (:class:`~synemu.devices.mtj.network.SOp`), each
  ``cmd_bytes`` little-endian: op in bits 0..2, then ``clog2(n_inputs)`` bits of col, then
  ``rate_bits + 1`` of arg (:func:`~synemu.devices.mtj.network_gateware.snn_command_layout`).
  A STEP answers ``winner + 1`` (``resp_bytes``); the others nothing. A frame is checked
  whole first (:func:`snn_reject_reason`): REJECT ``[index, reason]`` runs none of it.
* **COUNTERS**: ``time`` = STEPs, ``samples`` = ENDs executed (by the link or the sequencer).
* **SEQ_RUN**: an :class:`~synemu.devices.mtj.records.SNNJob` (checked as
  ``SNNJob.validate``), run by the on-chip sequencer from the sample memory; SEQ_STATUS as
  the engine's (``correct`` is 0). The board answers BUSY to an SMEM frame touching a
  queued or running job's records, rate table or prediction words, to CMDS while a job is
  queued or running, and to SEQ_RUN while one is queued.
* HELLO names the design ``stdp`` (rows = neurons, cols = inputs, x_width = rate_bits).

:class:`SNNLinkHost` streams a dataset (:meth:`SNNLinkHost.stream`). Sample-memory layout
(``W`` words): the rate table at 0 (512 words); ``buffers`` prediction regions of
``job_samples * steps`` words from 512; then ``buffers`` equal record buffers. Job ``k``
writes its records (``encode_record``, ~100 words per mnist5k image) into buffer
``k % buffers`` (jobs of ``job_samples``, tapering to a buffers-th of what is left at the
end, so little is left to run and read once the last record is sent) and runs with PRED
into region ``k % buffers``; before a buffer is reused
the host waits for the job that used it and reads its predictions. SMEM_WRITE and SEQ_RUN
frames go in one window, so the board trains on one buffer while the next arrives.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

from ...link.protocol import (COUNTERS_FMT, HELLO_FMT, MAGIC, MAX_PAYLOAD, SMEM_READ, VERSION,
                              BoardModel, LinkHost, LinkSpec, Reject, crc32)
from ...spec.fixed import clog2
from ...spec.sequencer import SeqStatus
from .network import SOP_WIDTH, GoldenSNN, SNNConfig, SOp
from .records import LEARN, PRED, TABLE_WORDS, GoldenSNNSequencer, SNNJob, encode_record, rate_table

__all__ = ["SNNLinkSpec", "snn_reject_reason", "SNNBoardModel", "SNNLinkHost"]

NAME = b"stdp"


def snn_reject_reason(config: SNNConfig, op: int, col: int, arg: int) -> int:
    """0 if the board executes ``(op, col, arg)``, else its :class:`Reject` code: an
    undefined op (OP); PIX of a column >= n_inputs (COL); PIX above ``2**rate_bits``, STEP
    code >= n_codes, END argument > 1 (ARG). Fields an op ignores are never checked."""
    if op not in SOp._value2member_map_:
        return Reject.OP
    if op == SOp.PIX:
        if col >= config.n_inputs:
            return Reject.COL
        if arg > 1 << config.rate_bits:
            return Reject.ARG
    elif op == SOp.STEP and arg >= config.device.n_codes:
        return Reject.ARG
    elif op == SOp.END and arg > 1:
        return Reject.ARG
    return 0


@dataclass(frozen=True)
class SNNLinkSpec(LinkSpec):
    """The link of an STDP network board: ``config`` an :class:`SNNConfig`, the rest as
    :class:`LinkSpec` (divisor, clk_hz, idle_clks, smem_words)."""

    config: SNNConfig = None

    def __post_init__(self):
        if not isinstance(self.config, SNNConfig):
            raise TypeError(f"SNNLinkSpec needs an SNNConfig, not {self.config!r}")
        super().__post_init__()

    @property
    def col_width(self) -> int:
        return clog2(self.config.n_inputs)

    @property
    def cmd_bits(self) -> int:
        return SOP_WIDTH + self.col_width + self.config.arg_width

    @property
    def resp_bytes(self) -> int:
        return (self.config.resp_width + 7) // 8

    @property
    def tx_max(self) -> int:
        need = max(struct.calcsize(HELLO_FMT), struct.calcsize(COUNTERS_FMT),
                   self.cmds_per_frame * self.resp_bytes, 256 if self.smem_words else 0)
        return 1 << (need - 1).bit_length()

    def pack(self, cmd) -> bytes:
        op, col, arg = (int(v) for v in cmd)
        for name, v, w in (("op", op, SOP_WIDTH), ("col", col, self.col_width),
                           ("arg", arg, self.config.arg_width)):
            if not 0 <= v < 1 << w:
                raise ValueError(f"snn command {cmd}: {name} {v} does not fit its {w}-bit field")
        why = snn_reject_reason(self.config, op, col, arg)
        if why:
            raise ValueError(f"snn command {cmd} would be rejected by the board: "
                             f"{Reject(why).name} out of range ({self.config.n_neurons} x "
                             f"{self.config.n_inputs} network)")
        v = op | col << SOP_WIDTH | arg << (SOP_WIDTH + self.col_width)
        return v.to_bytes(self.cmd_bytes, "little")

    def unpack(self, data: bytes) -> tuple[int, int, int]:
        v = int.from_bytes(data, "little")
        cw = self.col_width
        return (v & 7, v >> SOP_WIDTH & ((1 << cw) - 1),
                v >> (SOP_WIDTH + cw) & ((1 << self.config.arg_width) - 1))

    def command_cycles(self, cmd) -> int:
        c = self.config
        sweep = c.n_neurons * (c.n_inputs // c.lanes + 4) + c.n_inputs
        return {SOp.PIX: 4, SOp.INIT: sweep, SOp.STEP: 2 * sweep,
                SOp.END: 4 * c.n_neurons}.get(int(cmd[0]), 4) + 64

    def rebuild_hint(self) -> str:
        c = self.config
        return (f"build the STDP network for these settings (python -m "
                f"synemu.devices.mtj.board BOARD OUT n_neurons={c.n_neurons} ...)")

    def hello_payload(self) -> bytes:
        c = self.config
        crc = crc32(json.dumps(c.to_dict(), sort_keys=True).encode())
        return struct.pack(HELLO_FMT, MAGIC, VERSION, self.cmd_bytes, self.resp_bytes, 1,
                           c.n_neurons, c.n_inputs, c.lanes, c.resp_width, c.arg_width,
                           c.rate_bits, 32, 32,
                           self.smem_words.bit_length() - 1 if self.smem_words else 0,
                           MAX_PAYLOAD, self.tx_max, self.clk_hz, self.divisor,
                           self.idle_clks, crc, NAME.ljust(8, b"\0"))


class SNNBoardModel(BoardModel):
    """Byte-exact model of ``LinkTop(spec, SNNCore(spec))`` (jobs finish at once, as in the
    engine's :class:`BoardModel`); ``golden``: its :class:`GoldenSNN`."""

    job_type = SNNJob

    def _make_core(self):
        self.golden = GoldenSNN(self.spec.config)
        self.steps = self.ends = 0
        self.sequencer = (_CountingSequencer(self, self.spec.smem_words)
                          if self.spec.smem_words else None)

    def _time_samples(self):
        return self.steps, self.ends

    def _unpack(self, data):
        return self.spec.unpack(data)

    def _reject(self, wire):
        return snn_reject_reason(self.spec.config, *wire)

    def _execute(self, wire):
        op, col, arg = wire
        self.steps += op == SOp.STEP
        self.ends += op == SOp.END
        return self.golden.execute(SOp(op), col, arg)


class _CountingSequencer(GoldenSNNSequencer):
    """GoldenSNNSequencer that counts the STEPs and ENDs it issues into its board model."""

    def __init__(self, model: SNNBoardModel, words: int):
        super().__init__(model.golden, words)
        self.model = model

    def run(self, job: SNNJob) -> np.ndarray:
        s0 = self.samples
        out = super().run(job)
        n = self.samples - s0           # samples whose STEPs and END ran
        self.model.steps += n * self.g.config.steps
        self.model.ends += n
        return out


class SNNLinkHost(LinkHost):
    """:class:`LinkHost` of an STDP network board (``spec``: :class:`SNNLinkSpec`)."""

    def __init__(self, transport, spec: SNNLinkSpec, **kw):
        if not isinstance(spec, SNNLinkSpec):
            raise TypeError(f"SNNLinkHost needs an SNNLinkSpec, not {spec!r}")
        super().__init__(transport, spec, **kw)

    def execute(self, cmds) -> list[int]:
        """Run ``(op, col, arg)`` commands through CMDS frames; the STEP responses."""
        cmds = list(cmds)
        out = self.run(cmds, [1 if int(c[0]) == SOp.STEP else 0 for c in cmds])
        return [w for r in out for w in r]

    def init(self):
        self.execute([(SOp.INIT, 0, 0)])

    def host_run(self, Rs, learn: bool, code: int | None = None) -> np.ndarray:
        """Present samples ``Rs`` (n, n_inputs rate thresholds) by CMDS (PIX per input,
        ``steps`` STEPs, END): the STEP responses, (n, steps)."""
        from .network_sim import snn_commands
        cfg = self.spec.config
        Rs = np.asarray(Rs, dtype=np.int64)
        r = self.execute(snn_commands(cfg, Rs, learn, init=False, code=code))
        return np.asarray(r, dtype=np.int64).reshape(len(Rs), cfg.steps)

    def layout(self, buffers: int, job_samples: int) -> dict:
        """The sample-memory regions of :meth:`stream` (see the module doc), in words."""
        W, T = self._need_smem(), self.spec.config.steps
        if buffers < 2 or job_samples < 1:
            raise ValueError(f"snn stream: buffers must be >= 2 and job_samples >= 1, not "
                             f"{buffers}, {job_samples}")
        slot = job_samples * T
        rec = TABLE_WORDS + 2 * buffers * slot
        size = (W - rec) // buffers
        if size < 64:
            raise ValueError(f"snn stream: {buffers} buffers of {job_samples} samples do not "
                             f"fit the board's {W}-word sample memory; use fewer")
        return {"table": 0, "pred": [TABLE_WORDS + k * slot for k in range(2 * buffers)],
                "records": [rec + b * size for b in range(buffers)], "buffer_words": size}

    def stream(self, Rs, learn: bool, code: int | None = None, *, buffers: int = 3,
               job_samples: int = 64, window: int = 16, table=None, progress=None) -> np.ndarray:
        """Present ``Rs`` (n, n_inputs) through the on-chip sequencer, streaming records
        into ``buffers`` ring buffers (module doc): the STEP responses, (n, steps).
        ``table``: (words, codes) of :func:`rate_table` (default: from ``Rs``; a dataset
        with more than 255 distinct rates needs host mode). ``progress(done)``: samples
        whose responses have been read back so far."""
        cfg = self.spec.config
        Rs = np.asarray(Rs, dtype=np.int64)
        if Rs.ndim != 2 or Rs.shape[1] != cfg.n_inputs:
            raise ValueError(f"snn stream: samples must be (n, {cfg.n_inputs}), not {Rs.shape}")
        code = (cfg.code if code is None else int(code)) if learn else 0
        lay = self.layout(buffers, job_samples)
        words, codes = table if table is not None else rate_table(Rs, cfg)
        self.smem_write(lay["table"], words, window)
        T, n = cfg.steps, len(Rs)
        out = np.zeros((n, T), dtype=np.int64)
        jobs = []                        # (first sample, count, prediction slot)
        i = real = 0
        while i < n or len(jobs) - buffers < real:     # then drain: read the last jobs
            k = len(jobs)
            # the reads of job k - buffers (finished before its buffer is reused: else BUSY
            # and the window goes back) travel in the window with job k's records
            old = jobs[k - buffers] if k >= buffers else None
            frames = self.smem_read_frames(lay["pred"][old[2]], old[1] * T) if old else []
            n_reads = len(frames)
            cnt, size, recs = 0, 0, []
            # the first jobs ramp up (4, 8, 16, ... samples), so the engine starts after a
            # few records, not a whole buffer; the tail tapers (jobs of about a buffers-th
            # of what is left, at least 4), so the last jobs' run and read-back, with
            # nothing left to send, are short
            cap = min(job_samples, 4 << min(k, 16), max(4, -(-(n - i) // buffers)))
            while i + cnt < n and cnt < cap:
                r = encode_record(Rs[i + cnt], codes)
                if size + len(r) > lay["buffer_words"]:
                    if not cnt:
                        raise ValueError(f"snn stream: a record of {len(r)} words exceeds "
                                         f"the {lay['buffer_words']}-word buffer")
                    break
                recs.append(r)
                size += len(r)
                cnt += 1
            if cnt:
                base, slot = lay["records"][k % buffers], k % (2 * buffers)
                job = SNNJob(PRED | (LEARN if learn else 0), base, cnt, base + size,
                             lay["pred"][slot], lay["table"], code)
                frames += self.smem_frames(base, np.concatenate(recs)) + [self.seq_frame(job)]
            replies: list = []
            if frames:
                self.send_window(frames, window, replies)
            if old:
                self._store(old, lay, out, replies[:n_reads], progress)
            jobs.append((i, cnt, k % (2 * buffers)) if cnt else None)
            i += cnt
            real += cnt > 0
        return out

    def _store(self, job, lay, out, replies, progress):
        """Job ``job``'s responses into ``out``: from the window's read replies, re-reading
        any lost one (its slot is not reused before the next window)."""
        first, cnt, slot = job
        T = self.spec.config.steps
        frames = self.smem_read_frames(lay["pred"][slot], cnt * T)
        data = [np.frombuffer(r if r is not None else
                              self.transact(SMEM_READ, p, expect_len=2 * p[3]), dtype="<u2")
                for r, (_, p) in zip(replies, frames)]
        out[first:first + cnt] = np.concatenate(data).reshape(cnt, T)
        if progress is not None:
            progress(first + cnt)

    def load_resident(self, Rs, *, table=None, window: int = 16) -> SNNJob:
        """Write the rate table (at 0) and the records of ``Rs`` once, for
        :meth:`run_resident`: the job (LEARN off, code 0) over all of them, its predictions
        after the records. ValueError naming the sizes when they do not fit."""
        cfg, W = self.spec.config, self._need_smem()
        Rs = np.asarray(Rs, dtype=np.int64)
        words, codes = table if table is not None else rate_table(Rs, cfg)
        recs = np.concatenate([encode_record(r, codes) for r in Rs])
        base = TABLE_WORDS
        pred = base + len(recs)
        need = pred + len(Rs) * cfg.steps
        if need > W or len(Rs) >= 1 << 16:
            raise ValueError(f"snn resident: {len(Rs)} records ({len(recs)} words) with the rate "
                             f"table ({TABLE_WORDS}) and their predictions "
                             f"({len(Rs) * cfg.steps}) need {need} words, the board's sample "
                             f"memory holds {W}: use --mode stream")
        self.send_window(self.smem_frames(0, words) + self.smem_frames(base, recs), window)
        return SNNJob(PRED, base, len(Rs), pred, pred, 0, 0)

    def run_resident(self, job: SNNJob, learn: bool, code: int | None = None) -> np.ndarray:
        """Run the records of :meth:`load_resident` once (an epoch, in record order): the
        STEP responses (count, steps)."""
        cfg = self.spec.config
        code = (cfg.code if code is None else int(code)) if learn else 0
        job = SNNJob(PRED | (LEARN if learn else 0), job.rec_base, job.count, job.rec_end,
                     job.pred_base, job.table_base, code)
        done = self.seq_status().jobs
        self.send_window([self.seq_frame(job)], 1)
        self.seq_wait(done + 1)
        return self.smem_read(job.pred_base, job.count * cfg.steps).reshape(job.count, cfg.steps)

    def status(self) -> SeqStatus:
        return self.seq_status()

