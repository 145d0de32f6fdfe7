"""On-chip training sequencer: sample records, jobs, and the golden model.

A board keeps training samples in a *sample memory* of 16-bit words (iCE40UP5K: its four
SPRAMs, 64 Ki words = 128 KB; ECP5: block RAM) and a sequencer runs whole passes over
them with no host in the loop (:class:`synemu.gateware.sequencer.Sequencer`; this module
is its executable specification, :class:`GoldenSequencer`).

Record of one sample (:class:`RecordLayout`, ``rec_words`` words): word 0 is the label;
then the engine's input vector ``x`` (``cols`` codes of ``x_width`` bits, two's complement)
packed LSB first: code ``c`` is bits ``c*x_width ..`` of the bit string whose bits
``16j .. 16j+15`` are word ``1 + j``; the last word is zero padded.

A job (:class:`SeqJob`) runs ``count`` samples; sample ``i`` (0-based) is record
``k = i`` (sequential), ``k = smem[order_base + i]`` (``ORDER``: an order the host wrote,
e.g. one permutation per epoch) or the ``i``-th element of the on-chip LFSR permutation
(``LFSR``, below), at word ``rec_base + k * rec_words``. For each sample: the engine's ``x``
becomes the record's codes (as ``LOAD_X`` of every column); ``LEARN label`` (``learn``
jobs) or ``FORWARD`` and the first index of the largest response (evaluation); ``correct +=
prediction == label``; with ``PRED`` the prediction is written to ``smem[pred_base + i]``;
with ``ticks > 0``, ``TICK ticks`` follows (the device's emulated time per sample, e.g.
FN-DAM decay). A record whose label is not a row is skipped (counted in ``errors``;
nothing of it runs). The engine commands are exactly those of the host-driven loop, so a
resident run equals a host-driven one sample for sample.

LFSR permutation: width ``w = max(3, clog2(count + 1))``, Galois mask
:func:`~synemu.spec.lfsr.galois_mask` ``(w)``, state ``s`` starting at ``lfsr_seed``
(``1 .. 2**w - 1``); each sample steps ``s`` until ``s <= count`` and takes ``k = s - 1``.
A maximal-length LFSR visits every nonzero state once per period, so ``count`` samples are
a permutation of ``0 .. count-1`` (a different seed starts the cycle elsewhere).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import numpy as np

from .engine import Command, EngineConfig, GoldenEngine, Op
from .fixed import check_int, clog2
from .lfsr import galois_mask, galois_step

__all__ = ["SMEM_WIDTH", "JobFlag", "SeqJob", "RecordLayout", "SeqStatus", "GoldenSequencer",
           "lfsr_order", "lfsr_width", "JOB_FMT", "STATUS_FMT"]

SMEM_WIDTH = 16        #: bits per sample-memory word
JOB_FMT = "<BIIIIIH"   #: flags, rec_base, count, order_base, pred_base, ticks, lfsr_seed
STATUS_FMT = "<IIIIIQQQQBB"    #: see SeqStatus


class JobFlag(enum.IntFlag):
    LEARN = 1    #: LEARN each sample (else: FORWARD + argmax, an evaluation pass)
    ORDER = 2    #: record indices from ``smem[order_base + i]``
    LFSR = 4     #: record indices from the on-chip LFSR permutation
    PRED = 8     #: write each prediction to ``smem[pred_base + i]``


@dataclass(frozen=True)
class RecordLayout:
    """Packing of one sample for an engine configuration (see the module doc)."""

    config: EngineConfig

    @property
    def x_bits(self) -> int:
        return self.config.cols * self.config.x_width

    @property
    def rec_words(self) -> int:
        return 1 + -(-self.x_bits // SMEM_WIDTH)

    def pack(self, xs, labels) -> np.ndarray:
        """Records of ``xs`` (n, cols) input codes and ``labels`` as uint16, shape
        (n, rec_words); codes or labels out of range are a ValueError."""
        cfg = self.config
        xs = cfg.x_fmt.check(np.asarray(xs), "input x")
        labels = np.asarray(labels)
        if xs.ndim != 2 or xs.shape[1] != cfg.cols or labels.shape != (len(xs),):
            raise ValueError(f"records want xs of shape (n, {cfg.cols}) and n labels, not "
                             f"{xs.shape} and {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= cfg.rows):
            raise ValueError(f"labels must be in 0..{cfg.rows - 1}")
        n, xw = len(xs), cfg.x_width
        codes = (xs.astype(np.int64) & ((1 << xw) - 1)).astype(np.uint8 if xw <= 8 else np.uint16)
        bits = ((codes[:, :, None] >> np.arange(xw)) & 1).astype(np.uint8).reshape(n, -1)
        pad = (self.rec_words - 1) * SMEM_WIDTH - bits.shape[1]
        bits = np.concatenate([bits, np.zeros((n, pad), np.uint8)], axis=1)
        words = (bits.reshape(n, -1, SMEM_WIDTH).astype(np.uint32)
                 << np.arange(SMEM_WIDTH, dtype=np.uint32)).sum(axis=2)
        return np.concatenate([labels.astype(np.uint32)[:, None], words], axis=1).astype(np.uint16)

    def unpack(self, rec) -> tuple[np.ndarray, int]:
        """(x codes, label) of one record (the inverse of :meth:`pack`)."""
        cfg = self.config
        rec = np.asarray(rec, dtype=np.uint16)
        bits = ((rec[1:, None].astype(np.uint32) >> np.arange(SMEM_WIDTH)) & 1).ravel()
        bits = bits[:self.x_bits].reshape(cfg.cols, cfg.x_width)
        u = (bits.astype(np.int64) << np.arange(cfg.x_width)).sum(axis=1)
        return cfg.x_fmt.from_bits(u.astype(np.uint64)).astype(np.int64), int(rec[0])


def lfsr_width(count: int) -> int:
    """Width of the LFSR permutation of ``count`` samples: ``max(3, clog2(count + 1))``."""
    return max(3, clog2(count + 1))


def lfsr_order(count: int, seed: int) -> np.ndarray:
    """Record indices of an ``LFSR`` job of ``count`` samples (see the module doc)."""
    w = lfsr_width(count)
    mask = galois_mask(w)
    s = seed
    out = np.empty(count, dtype=np.int64)
    for i in range(count):
        s = galois_step(s, w, mask)
        while s > count:
            s = galois_step(s, w, mask)
        out[i] = s - 1
    return out


@dataclass(frozen=True)
class SeqJob:
    """One sequencer pass (word addresses in the sample memory; see the module doc)."""

    flags: int
    rec_base: int
    count: int
    order_base: int = 0
    pred_base: int = 0
    ticks: int = 0
    lfsr_seed: int = 1

    def validate(self, config: EngineConfig, words: int, layout: RecordLayout | None = None):
        """Raise ValueError naming the field when the job does not fit ``words`` words."""
        layout = layout or RecordLayout(config)
        f = JobFlag(self.flags & 0xF)
        if self.flags & ~0xF:
            raise ValueError(f"job flags {self.flags:#x}: unknown bits")
        if JobFlag.ORDER in f and JobFlag.LFSR in f:
            raise ValueError("a job takes its order from a table or the LFSR, not both")
        check_int("count", self.count, 1, 65535, "sequencer job: ")
        check_int("ticks", self.ticks, 0, (1 << config.tick_width) - 1, "sequencer job: ")
        if JobFlag.LFSR in f:
            w = lfsr_width(self.count)
            check_int("lfsr_seed", self.lfsr_seed, 1, (1 << w) - 1, "sequencer job: ")
        for name, base, n in (("rec_base", self.rec_base, self.count * layout.rec_words),
                              ("order_base", self.order_base,
                               self.count if JobFlag.ORDER in f else 0),
                              ("pred_base", self.pred_base, self.count if JobFlag.PRED in f else 0)):
            if n and (not 0 <= base or base + n > words):
                raise ValueError(f"sequencer job: {name} {base} + {n} words exceeds the "
                                 f"{words}-word sample memory")

    def pack(self) -> bytes:
        return struct.pack(JOB_FMT, self.flags, self.rec_base, self.count, self.order_base,
                           self.pred_base, self.ticks, self.lfsr_seed)

    @classmethod
    def parse(cls, payload: bytes) -> "SeqJob":
        return cls(*struct.unpack(JOB_FMT, payload))


@dataclass(frozen=True)
class SeqStatus:
    """Sequencer counters since reset: finished ``jobs``, ``samples``, ``correct``
    predictions, ``queued`` jobs accepted, ``errors`` (records skipped because their label
    is not a row: nothing of them ran), clocks with a job running (``active_cycles``) and
    of those with the engine busy (``busy_cycles``), the same two for LEARN jobs only
    (``learn_cycles``, ``learn_busy``), ``running`` (a job in progress), ``free`` job
    slots. The board's clock counts the cycles; the golden model reports 0 for them."""

    jobs: int
    samples: int
    correct: int
    queued: int
    errors: int
    active_cycles: int
    busy_cycles: int
    learn_cycles: int
    learn_busy: int
    running: int
    free: int

    @classmethod
    def parse(cls, payload: bytes) -> "SeqStatus":
        return cls(*struct.unpack(STATUS_FMT, payload))

    def pack(self) -> bytes:
        return struct.pack(STATUS_FMT, self.jobs, self.samples, self.correct, self.queued,
                           self.errors, self.active_cycles, self.busy_cycles,
                           self.learn_cycles, self.learn_busy, self.running, self.free)


class GoldenSequencer:
    """The sequencer of :mod:`synemu.gateware.sequencer` over a :class:`GoldenEngine`
    and a ``words``-word sample memory ``smem`` (uint16)."""

    def __init__(self, engine: GoldenEngine, words: int):
        self.engine = engine
        self.config = engine.config
        self.layout = RecordLayout(self.config)
        self.smem = np.zeros(words, dtype=np.uint16)
        self.jobs = self.samples = self.correct = self.queued = self.errors = 0

    def write(self, addr: int, words) -> None:
        words = np.asarray(words, dtype=np.uint16)
        if not 0 <= addr or addr + len(words) > len(self.smem):
            raise ValueError(f"sample memory write of {len(words)} words at {addr} exceeds "
                             f"{len(self.smem)} words")
        self.smem[addr:addr + len(words)] = words

    def order(self, job: SeqJob) -> np.ndarray:
        f = JobFlag(job.flags)
        if JobFlag.ORDER in f:
            return self.smem[job.order_base:job.order_base + job.count].astype(np.int64)
        if JobFlag.LFSR in f:
            return lfsr_order(job.count, job.lfsr_seed)
        return np.arange(job.count)

    def run(self, job: SeqJob) -> np.ndarray:
        """Execute ``job`` (accepted by :meth:`accept`); returns its predictions (-1 for a
        record skipped because its label is not a row: ``errors`` counts them). Order-table
        entries beyond the records read the words the hardware reads (addresses wrap at
        the memory size)."""
        eng, cfg, rw = self.engine, self.config, self.layout.rec_words
        f = JobFlag(job.flags)
        n = len(self.smem)
        preds = np.empty(job.count, dtype=np.int64)
        tick = Command(Op.TICK, 0, 0, job.ticks)
        for i, k in enumerate(self.order(job)):
            a = job.rec_base + int(k) * rw
            rec = self.smem[np.arange(a, a + rw) % n]
            x, label = self.layout.unpack(rec)
            if label >= cfg.rows:
                self.errors += 1
                preds[i] = -1
                continue
            eng.x[:] = x
            if JobFlag.LEARN in f:
                p = eng._learn(label)
            else:
                p = int(np.argmax(eng.forward_values(train=False)))
            preds[i] = p
            self.correct += p == label
            self.samples += 1
            if JobFlag.PRED in f:
                self.smem[(job.pred_base + i) % n] = p
            if job.ticks:
                eng.execute(tick)
        self.jobs += 1
        return preds

    def accept(self, job: SeqJob) -> None:
        """Queue ``job`` (validated: ValueError names the field)."""
        job.validate(self.config, len(self.smem), self.layout)
        self.queued += 1
