"""Training on the board's own sequencer: data resident in the sample memory, or streamed.

:func:`train_sequenced` runs on-chip delta-rule training through a
:class:`~synemu.boards.backend.BoardBackend` whose design has a sample memory
(``LinkSpec.smem_words``; see :mod:`synemu.spec.sequencer`):

* ``mode="resident"``: the train and test records are written once; every epoch is one
  LEARN job (order: the on-chip LFSR permutation with a per-epoch seed, or ``order="host"``:
  a NumPy permutation written before the epoch, the order of the host-driven loop) and one
  evaluation job over the test records. Jobs are queued while the previous one runs
  (predictions go to alternating regions), so the engine does not wait for the host;
* ``mode="stream"``: samples that do not fit travel as compact records through three
  ring buffers, in windowed SMEM_WRITE frames followed by a job per buffer; the board
  answers BUSY for a buffer still in use, which is the flow control.

Board figures (from the board's own cycle counters, in simulation and on hardware alike):
``board_samples_per_s`` = samples / (board cycles / f_clk) -- resident: the training
samples over the cycles the LEARN jobs ran; stream: every sample over the board cycles of
the whole run --, ``engine_bound_samples_per_s`` (the same samples over the cycles the
engine itself was busy in those jobs), ``wire_bound_samples_per_s`` (what the UART could
carry as streamed records) and ``link_utilisation`` (host-to-board bytes over the UART
capacity of the run). With ``check``, a :class:`~synemu.spec.sequencer.GoldenSequencer`
runs the same jobs: every prediction, the counters and the final state words must match.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict

import numpy as np

from ..spec.engine import GoldenEngine
from ..spec.sequencer import (GoldenSequencer, JobFlag, RecordLayout, SeqJob, lfsr_order,
                              lfsr_width)
from ..link.protocol import MAX_PAYLOAD
from .datasets import Dataset
from .report import progress
from .train import prepare_inputs

__all__ = ["train_sequenced", "resident_plan", "MODES", "STREAM_BUFFERS"]

MODES = ("resident", "stream", "host")
STREAM_BUFFERS = 3


def resident_plan(layout: RecordLayout, n_train: int, n_test: int, words: int,
                  host_order: bool = False) -> dict:
    """Word addresses of a resident run; ValueError naming the sizes if it does not fit."""
    rw = layout.rec_words
    plan, a = {}, 0
    for name, n in (("train", n_train * rw), ("test", n_test * rw),
                    ("train_pred", 2 * n_train), ("test_pred", 2 * n_test),
                    ("order", 2 * n_train if host_order else 0)):
        plan[name] = a
        a += n
    plan["words"] = a
    if a > words:
        raise ValueError(
            f"the dataset does not fit the board's sample memory in resident mode: "
            f"{n_train} train + {n_test} test samples of {rw} words ({layout.config.cols} "
            f"inputs x {layout.config.x_width} bits + label) and their predictions need {a} "
            f"words, the board has {words} (16-bit words); use --mode stream (or --limit)")
    return plan


def _lfsr_seeds(n: int, epochs: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    top = (1 << lfsr_width(n)) - 1
    return [int(rng.integers(1, top + 1)) for _ in range(epochs)]


class _Golden:
    """The golden sequencer fed the same memory writes and jobs (for ``check``)."""

    def __init__(self, config, words):
        self.seq = GoldenSequencer(GoldenEngine(config), words)

    def write(self, addr, words):
        self.seq.write(addr, words)

    def run(self, job):
        self.seq.accept(job)
        return self.seq.run(job)


def train_sequenced(backend, dataset: Dataset, recipe, *, mode: str = "resident",
                    seed: int = 0, limit: int | None = None, check: bool = False,
                    ticks: int = 0, order: str = "lfsr", window: int = 8,
                    stream_block: int | None = None, show_progress: bool = True,
                    device: str | None = None) -> dict:
    """Train ``recipe.epochs`` epochs on the board's sequencer (see the module doc);
    returns a JSON-ready dict (accuracies per epoch, final test predictions, weights hash,
    board figures, ``identical_to_golden`` when ``check``)."""
    if mode not in ("resident", "stream"):
        raise ValueError(f"train_sequenced runs resident or stream mode, not {mode!r}")
    if order not in ("lfsr", "host"):
        raise ValueError(f"order must be lfsr or host, not {order!r}")
    host, spec, cfg = backend.host, backend.spec, backend.config
    words = spec.smem_words
    if not words:
        raise ValueError("this board design has no sample memory: build it with one, or "
                         "use --mode host")
    lay = RecordLayout(cfg)
    rw = lay.rec_words
    xtr, xte = prepare_inputs(dataset.x_train, recipe), prepare_inputs(dataset.x_test, recipe)
    ytr, yte = np.asarray(dataset.y_train), np.asarray(dataset.y_test)
    if limit is not None:
        xtr, ytr, xte, yte = xtr[:limit], ytr[:limit], xte[:limit], yte[:limit]
    ntr, nte = len(xtr), len(xte)
    if ntr > 65535 or nte > 65535:
        raise ValueError("a sequencer job holds at most 65535 samples")
    E = recipe.epochs
    rec_tr, rec_te = lay.pack(xtr, ytr), lay.pack(xte, yte)
    gold = _Golden(cfg, words) if check else None
    learn = JobFlag.LEARN | JobFlag.PRED
    f = spec.clk_hz
    s0, c0, b0 = host.seq_status(), host.counters(), host.stats.bytes_out
    t0 = time.perf_counter()
    bar = progress(total=E * (ntr + nte), desc=f"{mode} training on the board",
                   disable=not show_progress)
    tr_acc, te_acc, identical = [], [], True
    test_pred = np.zeros(nte, np.int64)
    order_rng = np.random.default_rng(seed)

    def put(addr, data):
        host.smem_write(addr, data, window)
        if gold:
            gold.write(addr, data)

    if mode == "resident":
        plan = resident_plan(lay, ntr, nte, words, host_order=order == "host")
        put(plan["train"], rec_tr.ravel())
        put(plan["test"], rec_te.ravel())
        seeds = _lfsr_seeds(ntr, E, seed)

        def train_job(e):
            pb = plan["train_pred"] + (e % 2) * ntr
            if order == "host":
                ob = plan["order"] + (e % 2) * ntr
                perm = order_rng.permutation(ntr)
                put(ob, perm.astype(np.uint16))
                return SeqJob(learn | JobFlag.ORDER, plan["train"], ntr, ob, pb, ticks), perm
            job = SeqJob(learn | JobFlag.LFSR, plan["train"], ntr, 0, pb, ticks, seeds[e])
            return job, lfsr_order(ntr, seeds[e])

        def eval_job(e):
            return SeqJob(JobFlag.PRED, plan["test"], nte, 0, plan["test_pred"] + (e % 2) * nte)

        def queue(job):
            host.send_window([host.seq_frame(job)], 1)

        j0 = s0.jobs
        pending = [train_job(0)]
        queue(pending[0][0])
        queue(eval_job(0))
        for e in range(E):
            job, perm = pending.pop(0)
            st = host.seq_wait(j0 + 2 * e + 1)
            if e + 1 < E:
                pending.append(train_job(e + 1))
                queue(pending[-1][0])
            bar.update(ntr)
            st = host.seq_wait(j0 + 2 * e + 2)
            if e + 1 < E:
                queue(eval_job(e + 1))
            p_tr = host.smem_read(job.pred_base, ntr).astype(np.int64)
            ej = eval_job(e)
            p_te = host.smem_read(ej.pred_base, nte).astype(np.int64)
            bar.update(nte)
            tr_acc.append(float(np.mean(p_tr == ytr[perm])))
            te_acc.append(float(np.mean(p_te == yte)))
            bar.set_postfix(epoch=e + 1, test=f"{te_acc[-1]:.3f}")
            if gold:
                identical &= bool(np.array_equal(p_tr, gold.run(job)))
                identical &= bool(np.array_equal(p_te, gold.run(ej)))
            test_pred = p_te
        st = host.seq_wait(j0 + 2 * E)
    else:
        block = stream_block or max(1, min(256, (words - nte) // (STREAM_BUFFERS * rw)))
        if STREAM_BUFFERS * block * rw + nte > words:
            raise ValueError(f"stream mode needs {STREAM_BUFFERS} buffers of {block} records "
                             f"({rw} words each) and {nte} prediction words; the board has "
                             f"{words} words")
        pred_base = STREAM_BUFFERS * block * rw
        jobs, st_prev = s0.jobs, s0
        for e in range(E):
            perm = order_rng.permutation(ntr)
            frames, jl = [], []
            chunks = [(rec_tr[perm[i:i + block]], JobFlag.LEARN, None)
                      for i in range(0, ntr, block)]
            chunks += [(rec_te[i:i + block], JobFlag.PRED, pred_base + i)
                       for i in range(0, nte, block)]
            for c, (recs, flags, pb) in enumerate(chunks):
                buf = (c % STREAM_BUFFERS) * block * rw
                frames += host.smem_frames(buf, recs.ravel())
                job = SeqJob(int(flags), buf, len(recs), 0, pb or 0,
                             ticks if flags & JobFlag.LEARN else 0)
                frames.append(host.seq_frame(job))
                jl.append((buf, recs, job))
            host.send_window(frames, window)
            jobs += len(chunks)
            st = host.seq_wait(jobs)
            bar.update(ntr + nte)
            p_te = host.smem_read(pred_base, nte).astype(np.int64)
            test_correct = int(np.sum(p_te == yte))
            tr_correct = st.correct - st_prev.correct - test_correct
            tr_acc.append(tr_correct / ntr)
            te_acc.append(test_correct / nte)
            st_prev = st
            if gold:
                for buf, recs, job in jl:
                    gold.write(buf, recs.ravel())
                    gold.run(job)
                identical &= bool(np.array_equal(p_te, gold.seq.smem[pred_base:pred_base + nte]))
            test_pred = p_te
    bar.close()
    c1, s1 = host.counters(), st
    b1 = host.stats.bytes_out
    words_final = backend.snapshot().words.reshape(cfg.rows, cfg.cols)
    if gold:
        g = gold.seq
        identical &= bool(np.array_equal(words_final, g.engine.read_words()))
        identical &= (s1.samples - s0.samples, s1.correct - s0.correct, s1.errors - s0.errors) \
            == (g.samples, g.correct, g.errors)
        if s0.samples == 0 and c0.samples == 0:     # a fresh board: its counters too
            identical &= bool(c1.time == g.engine.time and c1.samples == g.engine.samples)
    seconds = time.perf_counter() - t0
    board_cycles = c1.cycles - c0.cycles
    n_train, n_all = E * ntr, E * (ntr + nte)
    if mode == "resident":
        learn_s = (s1.learn_cycles - s0.learn_cycles) / f
        busy_s = (s1.learn_busy - s0.learn_busy) / f
        board_rate = n_train / learn_s if learn_s else None
        engine_rate = n_train / busy_s if busy_s else None
    else:
        busy_s = (s1.busy_cycles - s0.busy_cycles) / f
        board_rate = n_all / (board_cycles / f)
        engine_rate = n_all / busy_s if busy_s else None
    per_frame = (MAX_PAYLOAD - 3) // 2
    frame_bytes = 1 + 3 + 3 + 2 * per_frame + 4
    wire_bytes = 2 * rw * frame_bytes / (2 * per_frame)    # per record, frame overhead shared
    wire_rate = spec.baud / 10 / wire_bytes
    util = (b1 - b0) / (spec.baud / 10 * board_cycles / f) if board_cycles else None
    return {
        "mode": mode, "order": order if mode == "resident" else "host",
        "device": device or cfg.device.name, "dataset": dataset.name, "seed": seed,
        "epochs": E, "recipe": asdict(recipe), "engine": cfg.to_dict(), "ticks_per_sample": ticks,
        "train_accuracy_per_epoch": tr_acc, "test_accuracy_per_epoch": te_acc,
        "test_accuracy": te_acc[-1], "predictions": test_pred.tolist(),
        "weights_sha": hashlib.sha256(np.ascontiguousarray(words_final, np.uint64).tobytes()
                                      ).hexdigest()[:16],
        "identical_to_golden": identical if check else None,
        "samples": n_train, "eval_samples": E * nte, "seconds": seconds,
        "samples_per_s": n_train / seconds, "record_words": rw,
        "board_clk_hz": f, "board_cycles": board_cycles,
        "board_samples_per_s": board_rate, "engine_bound_samples_per_s": engine_rate,
        "wire_bound_samples_per_s": wire_rate,
        "board_efficiency": board_rate / engine_rate if board_rate and engine_rate else None,
        "link_utilisation": util,
        "sequencer": {k: getattr(s1, k) - getattr(s0, k) for k in
                      ("jobs", "samples", "correct", "errors", "active_cycles", "busy_cycles",
                       "learn_cycles", "learn_busy")},
    }

