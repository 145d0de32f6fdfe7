"""Sample records and jobs of the STDP network's on-chip sequencer, and its golden model
(the executable specification of :class:`synemu.devices.mtj.seq_gateware.SNNSequencer`).

The sequencer turns records in a sample memory of 16-bit words into the controller
commands a host would send (:func:`~synemu.devices.mtj.network_sim.snn_commands`): per
sample ``PIX`` of every input, ``steps`` STEPs, END. Inputs travel as 8-bit *codes*,
looked up in a rate table, so a record holds no 17-bit rate thresholds and zero inputs
(most of an MNIST image) cost almost nothing:

* **rate table** (at ``table_base``, 512 words): ``R`` of code ``e`` = word ``2e`` +
  65536 * word ``2e + 1`` (``0 .. 2**rate_bits``); code 0 is always ``R = 0`` (entry 0 is
  not read). :func:`rate_table` builds it from a dataset's distinct rates.
* **record**: word 0 = ``n``, the number of payload words; then ``2n`` bytes, byte ``2j`` in
  the low and ``2j + 1`` in the high half of payload word ``j``: a run-length code over the
  ``n_inputs`` columns in order. A byte ``b != 0`` is the code of the next column; a byte 0
  is followed by a byte ``r`` (1..255): the next ``r`` columns have code 0. Bytes after the
  last column are padding. A record whose codes end before the last column, or whose run
  passes it, or whose run length is 0, is *invalid*: the columns decoded up to the error are
  loaded (their PIX ran), its STEPs and END are skipped and ``errors`` counts it. A record
  that does not end by ``rec_end`` (or starts at or after it) is skipped whole (no PIX) and
  counted; the next record starts after it.
* **job** (:class:`SNNJob`, the SEQ_RUN payload, as long as the engine's): ``count``
  records from word ``rec_base`` one after the other, within ``rec_base .. rec_end - 1``;
  flags ``LEARN`` (STEP argument ``code``, END 1; else inference: STEP 0, END 0) and
  ``PRED`` (write the STEP responses, ``winner + 1``, one word each, ``steps`` words per
  sample, to ``smem[pred_base ..]``). The table is read at the start of every job.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ...spec.fixed import check_int
from ...spec.sequencer import JOB_FMT
from .network import GoldenSNN, SNNConfig, SOp

__all__ = ["SNN_JOB_FMT", "SNNJob", "TABLE_WORDS", "rate_table", "encode_record",
           "decode_record", "GoldenSNNSequencer"]

SNN_JOB_FMT = "<BIIIIIH"    #: flags, rec_base, count, rec_end, pred_base, table_base, code
assert struct.calcsize(SNN_JOB_FMT) == struct.calcsize(JOB_FMT)
TABLE_WORDS = 512
LEARN, PRED = 1, 8          #: job flags (the engine sequencer's bits)


@dataclass(frozen=True)
class SNNJob:
    flags: int
    rec_base: int
    count: int
    rec_end: int
    pred_base: int = 0
    table_base: int = 0
    code: int = 0

    def pack(self) -> bytes:
        return struct.pack(SNN_JOB_FMT, self.flags, self.rec_base, self.count, self.rec_end,
                           self.pred_base, self.table_base, self.code)

    @classmethod
    def parse(cls, payload: bytes) -> "SNNJob":
        return cls(*struct.unpack(SNN_JOB_FMT, payload))

    def validate(self, config: SNNConfig, words: int):
        """ValueError naming the field the board would reject (Reject.JOB)."""
        pre = "snn job: "
        check_int("flags", self.flags, 0, LEARN | PRED, pre)
        if self.flags & ~(LEARN | PRED):
            raise ValueError(f"{pre}flags {self.flags:#x}: only LEARN (1) and PRED (8)")
        check_int("count", self.count, 1, (1 << 16) - 1, pre)
        check_int("rec_base", self.rec_base, 0, words - 1, pre)
        check_int("rec_end", self.rec_end, self.rec_base + 1, words, pre)
        check_int("table_base", self.table_base, 0, words - TABLE_WORDS, pre)
        if self.flags & PRED:
            check_int("pred_base", self.pred_base, 0, words - self.count * config.steps, pre)
        n_codes = config.device.n_codes
        if self.flags & LEARN:
            check_int("code", self.code, 1, n_codes - 1, pre)
        else:
            check_int("code", self.code, 0, n_codes - 1, pre)


def rate_table(R_values, config: SNNConfig) -> tuple[np.ndarray, dict]:
    """(512 table words, {R: code}) for the rates ``R_values`` (any shape); ValueError when
    they take more than 255 distinct nonzero values (use host mode)."""
    vals = np.unique(np.asarray(R_values, dtype=np.int64))
    top = 1 << config.rate_bits
    if vals.size and (vals.min() < 0 or vals.max() > top):
        raise ValueError(f"snn records: rates must lie in 0..{top}")
    nz = vals[vals != 0]
    if nz.size > 255:
        raise ValueError(f"snn records: the inputs take {nz.size} distinct nonzero rates, a "
                         "rate table holds 255: use --mode host")
    words = np.zeros(TABLE_WORDS, dtype=np.uint16)
    codes = {0: 0}
    for e, r in enumerate(nz, start=1):
        words[2 * e], words[2 * e + 1] = int(r) & 0xFFFF, int(r) >> 16
        codes[int(r)] = e
    return words, codes


def encode_record(R, codes: dict) -> np.ndarray:
    """The record words of one sample's rates ``R`` (n_inputs), ``codes`` from
    :func:`rate_table`."""
    out = bytearray()
    c, R = 0, [int(r) for r in R]
    while c < len(R):
        if R[c] == 0:
            run = 1
            while c + run < len(R) and R[c + run] == 0 and run < 255:
                run += 1
            out += bytes((0, run))
            c += run
        else:
            out.append(codes[R[c]])
            c += 1
    if len(out) % 2:
        out.append(0)
    payload = np.frombuffer(bytes(out), dtype="<u2")
    return np.concatenate([[len(payload)], payload]).astype(np.uint16)


def decode_record(mem, addr: int, n_inputs: int) -> tuple[list, bool, int]:
    """(codes decoded, valid, words used) of the record at ``mem[addr]``."""
    n = int(mem[addr])
    data = np.asarray(mem[addr + 1:addr + 1 + n], dtype="<u2").tobytes()
    codes, j = [], 0
    while len(codes) < n_inputs:
        if j >= len(data):
            return codes, False, n + 1
        b = data[j]
        if b:
            codes.append(b)
            j += 1
            continue
        if j + 1 >= len(data) or data[j + 1] == 0 or len(codes) + data[j + 1] > n_inputs:
            return codes, False, n + 1
        codes += [0] * data[j + 1]
        j += 2
    return codes, True, n + 1


class GoldenSNNSequencer:
    """:class:`GoldenSNN` plus a sample memory of ``words`` 16-bit words; ``run(job)``
    executes a job as the board does. Counters ``jobs``, ``samples``, ``errors``, ``queued``
    (jobs accepted by :meth:`accept`); ``correct`` is always 0 (no labels on the board)."""

    correct = 0

    def __init__(self, golden: GoldenSNN, words: int):
        self.g, self.words = golden, words
        self.mem = np.zeros(words, dtype=np.uint16)
        self.jobs = self.samples = self.errors = self.queued = 0

    @property
    def smem(self) -> np.ndarray:
        return self.mem

    def accept(self, job: SNNJob) -> None:
        """Queue ``job`` (validated: ValueError names the field)."""
        job.validate(self.g.config, self.words)
        self.queued += 1

    def write(self, addr: int, data):
        data = np.asarray(data, dtype=np.uint16)
        if addr < 0 or addr + len(data) > self.words:
            raise ValueError(f"write of {len(data)} words at {addr} exceeds {self.words} words")
        self.mem[addr:addr + len(data)] = data

    def run(self, job: SNNJob) -> np.ndarray:
        """Run ``job``; returns the STEP responses (count, steps) (0 rows: invalid)."""
        cfg, g = self.g.config, self.g
        job.validate(cfg, self.words)
        t = self.mem[job.table_base:job.table_base + TABLE_WORDS].astype(np.int64)
        table = t[0::2] | t[1::2] << 16
        table[0] = 0
        learn = bool(job.flags & LEARN)
        out = np.zeros((job.count, cfg.steps), dtype=np.int64)
        ptr = job.rec_base
        for i in range(job.count):
            if ptr >= job.rec_end or ptr + 1 + int(self.mem[ptr]) > job.rec_end:
                ptr += 1 + int(self.mem[ptr]) if ptr < job.rec_end else 0
                self.errors += 1         # outside the job's records: nothing of it runs
                continue
            codes, ok, used = decode_record(self.mem, ptr, cfg.n_inputs)
            ptr += used
            R = table[np.asarray(codes, dtype=np.int64)]
            if not ok:
                for c, r in enumerate(R):
                    g.execute(SOp.PIX, c, int(r))
                self.errors += 1
                continue
            g.present(R, learn, job.code if learn else None)
            out[i] = g.last_winners
            if job.flags & PRED:
                a = job.pred_base + i * cfg.steps
                self.mem[a:a + cfg.steps] = out[i]
            self.samples += 1
        self.jobs += 1
        return out
