"""The synapse-array engine: configuration, command set and the bit-exact golden model.

An engine holds ``rows x cols`` synapses of one :class:`~synemu.spec.device.Device`. The
hardware (:class:`synemu.gateware.engine.ArrayEngine`) stores them in ``lanes`` memories: column
``c`` lives in lane ``c % lanes`` at address ``row * (cols // lanes) + c // lanes``, so one
clock processes ``lanes`` synapses of a row (a *slot*).

Commands (:class:`Op`; ``arg`` is an unsigned ``arg_width``-bit field):

======== ========================= ===================================================
op       operands                  effect (responses)
======== ========================= ===================================================
WRITE    row, col, arg=state word  store a packed state word
READ     row, col                  -> the packed state word
UPDATE   row, col, arg=pulse       ``device.update`` of one synapse (1 slot)
UPD_ROW  row, arg=pulse            same pulse to every synapse of a row (cols/lanes slots)
UPD_COL  col, arg=pulse            same pulse to every synapse of a column (rows slots)
TICK     arg=n (tick_width bits)   time += n; if ``device.tick_sweeps``: ``device.tick``
                                   over the whole array (rows*cols/lanes slots)
LOAD_X   col, arg=x                input register ``x[col]`` (signed ``x_width`` bits)
FORWARD                            -> ``y[r] = sum_c infer_weight[r, c] * x[c]`` for each
                                   row r (two's complement, sign-extended to resp_width)
LEARN    arg=label                 one on-chip delta-rule step (below) -> argmax of y
SAMPLE                             end of a host-driven training sample: the tail of
                                   LEARN (``samples += 1``, sample sweep when due)
HEBB_ROW row, arg=pulse            Hebbian row update: synapse c gets ``pulse`` if
                                   ``x[c] != 0`` else ``saturate(-pulse)`` (cols/lanes slots)
======== ========================= ===================================================

LEARN, in order: ``y = train_weight @ x``; ``t[r] = t_pos if r == label else t_neg``;
``e = saturate(t - y, err_width)``; ``p = saturate(round_shift(e[r] * x[c], eta, rounding),
pulse_width)``; ``device.update`` with ``p`` over the whole array (row by row);
``samples += 1``; every ``device.sample_period`` samples (counted by ``since``, which
restarts at 0) ``device.on_sample`` over the array. The prediction is the first index of the maximum of y (computed before the update).

Random draws (see :mod:`synemu.spec.lfsr`): two banks of ``lanes`` Galois LFSRs. The
*rounding* bank (``rng_width`` bits, seeds ``lane_seeds(seed, lanes, rng_width)``) steps
once per slot of a LEARN update when ``rounding`` is stochastic. The *device* bank
(``device.rand_width`` bits, seeds ``lane_seeds(seed + DEVICE_SEED_OFFSET, ...)``) steps once
per slot of every state-changing sweep (UPDATE, UPD_ROW, UPD_COL, HEBB_ROW, TICK sweep,
LEARN update, sample sweep) if ``rand_width > 0``. A synapse in lane ``l`` uses lane ``l``'s word (the
state after the step). Slots run in address order: row-major, ``lanes`` columns at a time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import numpy as np

from .device import Device
from .fixed import IntFormat, Rounding, check_int as _check_int, clog2, round_shift
from .lfsr import LFSRBank, lane_seeds

__all__ = ["Op", "Command", "EngineConfig", "GoldenEngine", "DEVICE_SEED_OFFSET"]

DEVICE_SEED_OFFSET = 0x5EED


class Op(enum.IntEnum):
    WRITE = 1
    READ = 2
    UPDATE = 3
    UPD_ROW = 4
    UPD_COL = 5
    TICK = 6
    LOAD_X = 7
    FORWARD = 8
    LEARN = 9
    SAMPLE = 10
    HEBB_ROW = 11


OP_WIDTH = 4

_OP_BY_VALUE = {int(op): op for op in Op}       # Op(v) without the enum call overhead
#: ops addressing a row, ops addressing a column, ops whose ``arg`` is a signed pulse count
ROW_OPS = frozenset((Op.WRITE, Op.READ, Op.UPDATE, Op.UPD_ROW, Op.HEBB_ROW))
COL_OPS = frozenset((Op.WRITE, Op.READ, Op.UPDATE, Op.UPD_COL, Op.LOAD_X))
PULSE_OPS = frozenset((Op.UPDATE, Op.UPD_ROW, Op.UPD_COL, Op.HEBB_ROW))
_SMALL_MATMUL = 4096    # forward_values: weight matrices up to this size multiply in int64


class Command(NamedTuple):
    op: Op
    row: int = 0
    col: int = 0
    arg: int = 0


@dataclass(frozen=True)
class EngineConfig:
    """Parameters of an array engine; validated on construction.

    rows, cols   array shape (1..65536 each; ``cols`` a multiple of ``lanes``)
    lanes        parallel lanes P (power of two, 1..256)
    x_width      signed input width (bits, 2..16)
    err_width    signed saturated error width in LEARN (bits, 2..32)
    eta          learning-rate shift: pulses are ``(e*x) >> eta`` (0..48)
    rounding     rounding of that shift: floor | nearest_even | stochastic
    t_pos, t_neg LEARN targets for the labelled row and the others (y units)
    rng_width    rounding LFSR width (bits, 3..64; >= eta when stochastic)
    seed         seeds every LFSR of the engine
    time_width   emulated-time counter width (bits); tick_width: max ticks per TICK

    Derived widths and formats are cached on the (immutable) instance; equality, hashing
    and :meth:`to_dict` only see the dataclass fields.
    """

    device: Device
    rows: int
    cols: int
    lanes: int = 1
    x_width: int = 5
    err_width: int = 16
    eta: int = 6
    rounding: str = "nearest_even"
    t_pos: int = 256
    t_neg: int = -256
    rng_width: int = 16
    seed: int = 1
    time_width: int = 48
    tick_width: int = 32
    sample_width: int = 32

    def __post_init__(self):
        if not isinstance(self.device, Device):
            raise ValueError(f"device must be a synemu Device model, not {self.device!r}")
        _check_int("rows", self.rows, 1, 65536)
        _check_int("cols", self.cols, 1, 65536)
        _check_int("lanes", self.lanes, 1, 256)
        if self.lanes & (self.lanes - 1):
            raise ValueError(f"lanes must be a power of two, not {self.lanes}")
        if self.cols % self.lanes:
            raise ValueError(f"cols ({self.cols}) must be a multiple of lanes ({self.lanes})")
        _check_int("x_width", self.x_width, 2, 16)
        _check_int("err_width", self.err_width, 2, 32)
        _check_int("eta", self.eta, 0, 48)
        object.__setattr__(self, "rounding", Rounding.parse(self.rounding).value)
        _check_int("rng_width", self.rng_width, 3, 64)
        if self.rounding == Rounding.STOCHASTIC.value and self.eta > self.rng_width:
            raise ValueError(f"stochastic rounding of a {self.eta}-bit shift needs "
                             f"rng_width >= eta, not {self.rng_width}")
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_int("time_width", self.time_width, 8, 64)
        _check_int("tick_width", self.tick_width, 1, min(32, self.time_width))
        _check_int("sample_width", self.sample_width, 8, 64)
        if self.device.state_width > 64:
            raise ValueError(f"device state of {self.device.state_width} bits exceeds 64 bits")
        acc = IntFormat(self.acc_width)
        for name in ("t_pos", "t_neg"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or not acc.min <= v <= acc.max:
                raise ValueError(f"{name} ({v!r}) must fit the {self.acc_width}-bit accumulator")

    # -- derived widths ---------------------------------------------------------------
    @cached_property
    def chunks(self) -> int:
        """Slots per row (cols / lanes)."""
        return self.cols // self.lanes

    @cached_property
    def depth(self) -> int:
        """Words per lane memory."""
        return self.rows * self.chunks

    @cached_property
    def acc_width(self) -> int:
        """Signed accumulator width of y (bits)."""
        return self.device.weight_width + self.x_width + clog2(self.cols)

    @cached_property
    def arg_width(self) -> int:
        return max(self.device.state_width, self.tick_width, self.x_width,
                   self.device.pulse_width, clog2(self.rows))

    @cached_property
    def resp_width(self) -> int:
        return max(self.device.state_width, self.acc_width, clog2(self.rows))

    @cached_property
    def row_width(self) -> int:
        return clog2(self.rows)

    @cached_property
    def col_width(self) -> int:
        return clog2(self.cols)

    @cached_property
    def x_fmt(self) -> IntFormat:
        return IntFormat(self.x_width, True)

    @cached_property
    def acc_fmt(self) -> IntFormat:
        return IntFormat(self.acc_width, True)

    @cached_property
    def _resp_fmt(self) -> IntFormat:
        return IntFormat(self.resp_width)

    @cached_property
    def _err_fmt(self) -> IntFormat:
        return IntFormat(self.err_width)

    @cached_property
    def _tick_fmt(self) -> IntFormat:
        return IntFormat(self.tick_width, False)

    @cached_property
    def _rounding(self) -> Rounding:
        return Rounding(self.rounding)

    def rng_seeds(self) -> list[int]:
        return lane_seeds(self.seed, self.lanes, self.rng_width)

    def device_seeds(self) -> list[int]:
        return lane_seeds(self.seed + DEVICE_SEED_OFFSET, self.lanes, self.device.rand_width)

    def to_dict(self) -> dict:
        """JSON-serialisable form (inverse: :meth:`from_dict`)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "device"}
        d["device"] = {"name": self.device.name, **self.device.params()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "EngineConfig":
        from .registry import make_device
        d = dict(d)
        dev = dict(d.pop("device"))
        return cls(device=make_device(dev.pop("name"), **dev), **d)

    # -- command encoding --------------------------------------------------------------
    def encode(self, cmd: Command) -> Command:
        """Validate a command and return it with ``arg`` as the unsigned field value."""
        try:
            op = _OP_BY_VALUE.get(cmd.op)
        except TypeError:           # unhashable: let Op() produce its error
            op = None
        if op is None:
            op = Op(cmd.op)
        row, col, arg = int(cmd.row), int(cmd.col), int(cmd.arg)
        if op in ROW_OPS and not 0 <= row < self.rows:
            raise ValueError(f"row {row} out of range 0..{self.rows - 1}")
        if op in COL_OPS and not 0 <= col < self.cols:
            raise ValueError(f"col {col} out of range 0..{self.cols - 1}")
        if op is Op.WRITE:
            arg = self.device.check_word(arg)
        elif op in PULSE_OPS:
            arg = self._encode_signed(self.device.pulse_fmt, arg, "pulse")
        elif op is Op.TICK:
            fmt = self._tick_fmt
            if not 0 <= arg <= fmt.max:     # in range: nothing to check
                fmt.check(np.int64(arg), "tick count")
        elif op is Op.LOAD_X:
            arg = self._encode_signed(self.x_fmt, arg, "input x")
        elif op is Op.LEARN and not 0 <= arg < self.rows:
            raise ValueError(f"label {arg} out of range 0..{self.rows - 1}")
        return Command(op, row, col, arg)

    @staticmethod
    def _encode_signed(fmt: IntFormat, v: int, what: str) -> int:
        """``int(fmt.to_bits(fmt.check(np.int64(v), what)))``; in range without NumPy."""
        if fmt.min <= v <= fmt.max:
            return fmt.int_to_bits(v)
        return int(fmt.to_bits(fmt.check(np.int64(v), what)))   # raises


@dataclass
class GoldenEngine:
    """Executable specification of :class:`synemu.gateware.engine.ArrayEngine` (see module doc)."""

    config: EngineConfig
    state: dict = field(init=False)
    x: np.ndarray = field(init=False)
    time: int = field(init=False, default=0)
    samples: int = field(init=False, default=0)
    since: int = field(init=False, default=0)  # learned samples since the last sample sweep

    def __post_init__(self):
        cfg = self.config
        self.device = cfg.device
        self.state = self.device.reset_state((cfg.rows, cfg.cols))
        self.x = np.zeros(cfg.cols, dtype=np.int64)
        self.rng = LFSRBank(cfg.rng_width, cfg.rng_seeds())
        self.dev_rng = (LFSRBank(self.device.rand_width, cfg.device_seeds())
                        if self.device.rand_width else None)

    # -- random draws ------------------------------------------------------------------
    def _dev_draw_array(self):
        """Device words for a whole-array sweep, shaped (rows, cols)."""
        if self.dev_rng is None:
            return None
        cfg = self.config
        return self.dev_rng.draw(cfg.depth).reshape(cfg.rows, cfg.cols)

    # -- commands ----------------------------------------------------------------------
    def execute(self, cmd: Command) -> list[int]:
        """Run one command; returns its responses as unsigned ``resp_width``-bit ints."""
        cfg = self.config
        op, row, col, arg = cfg.encode(cmd)
        dev = self.device
        if op is Op.WRITE:
            self._set(row, col, dev._unpack_int(arg))
        elif op is Op.READ:
            return [int(self.read_words()[row, col])]
        elif op is Op.UPDATE:
            pulse = dev.pulse_fmt.int_from_bits(arg)
            rand = None if self.dev_rng is None else self.dev_rng._step_ints()[col % cfg.lanes]
            cur = {k: v[row, col] for k, v in self.state.items()}
            self._set(row, col, dev._update_one(cur, pulse, rand, self.time))
        elif op is Op.UPD_ROW or op is Op.HEBB_ROW:
            pulse = self._pulse(arg)
            if op is Op.HEBB_ROW:
                fmt = dev.pulse_fmt      # saturate(-pulse), in Python ints
                neg = np.int64(min(max(-int(pulse), fmt.min), fmt.max))
                pulse = np.where(self.x != 0, pulse, neg)
            rand = None if self.dev_rng is None else self.dev_rng.draw(cfg.chunks).reshape(cfg.cols)
            new = dev.update({k: v[row] for k, v in self.state.items()}, pulse, rand, time=self.time)
            for k in self.state:
                self.state[k][row] = new[k]
        elif op is Op.UPD_COL:
            pulse = self._pulse(arg)
            rand = None if self.dev_rng is None else self.dev_rng.draw(cfg.rows)[:, col % cfg.lanes]
            new = dev.update({k: v[:, col] for k, v in self.state.items()}, pulse, rand, time=self.time)
            for k in self.state:
                self.state[k][:, col] = new[k]
        elif op is Op.TICK:
            if dev.tick_sweeps:
                self.state = dev.tick(self.state, arg, self.time, self._dev_draw_array())
            self.time = (self.time + arg) % (1 << cfg.time_width)
        elif op is Op.LOAD_X:
            self.x[col] = cfg.x_fmt.int_from_bits(arg)
        elif op is Op.FORWARD:
            y = self.forward_values(train=False)
            return cfg._resp_fmt.to_bits(y).tolist()
        elif op is Op.LEARN:
            return [self._learn(arg)]
        elif op is Op.SAMPLE:
            self._end_sample()
        return []

    def _pulse(self, arg: int) -> np.ndarray:
        """The signed pulse of an encoded ``arg`` (0-d int64, as ``pulse_fmt.from_bits``)."""
        return np.array(self.device.pulse_fmt.int_from_bits(arg), dtype=np.int64)

    def _set(self, row, col, values: dict):
        for k in self.state:
            self.state[k][row, col] = values[k]

    def forward_values(self, train: bool = False) -> np.ndarray:
        dev = self.device
        w = (dev.train_weight(self.state, time=self.time) if train
             else dev.infer_weight(self.state, time=self.time))
        x = self.x
        # float64 (BLAS) is exact when |y| < 2**53 and faster on big arrays; small ones
        # are faster in int64 (the same values)
        if self.config.acc_width <= 52 and (w.size > _SMALL_MATMUL or x.dtype != np.int64):
            return (w.astype(np.float64) @ x.astype(np.float64)).astype(np.int64)
        return w.astype(np.int64) @ x

    def _learn(self, label: int) -> int:
        cfg, dev = self.config, self.device
        y = self.forward_values(train=True)
        t = np.full(cfg.rows, cfg.t_neg, dtype=np.int64)
        t[label] = cfg.t_pos
        e = cfg._err_fmt.saturate(t - y)
        # e*x fits err_width + x_width bits: compute in int32 when that suffices (speed only)
        wide = np.int32 if cfg.err_width + cfg.x_width <= 31 else np.int64
        prod = np.multiply(e.astype(wide)[:, None], self.x.astype(wide)[None, :])
        rand = None
        if cfg._rounding is Rounding.STOCHASTIC:
            rand = self.rng.draw(cfg.depth).reshape(cfg.rows, cfg.cols)
        pulses = dev.pulse_fmt.saturate(round_shift(prod, cfg.eta, cfg._rounding, rand))
        self.state = dev.update(self.state, pulses, self._dev_draw_array(), time=self.time)
        self._end_sample()
        return int(y.argmax())

    def _end_sample(self):
        dev = self.device
        self.samples = (self.samples + 1) % (1 << self.config.sample_width)
        if dev.sample_period:
            self.since += 1
            if self.since == dev.sample_period:
                self.since = 0
                self.state = dev.on_sample(self.state, self.samples, self._dev_draw_array())

    # -- bulk helpers (same semantics as sequences of commands) -------------------------
    def update_matrix(self, pulses: np.ndarray):
        """UPDATE every synapse with a nonzero pulse, in row-major order."""
        cfg, dev = self.config, self.device
        pulses = dev.pulse_fmt.check(np.asarray(pulses), "pulse")
        if pulses.shape != (cfg.rows, cfg.cols):
            raise ValueError(f"pulse matrix has shape {pulses.shape}, expected {(cfg.rows, cfg.cols)}")
        if np.all(pulses != 0):        # dense fast path: every synapse, row-major order
            rand = None
            if self.dev_rng is not None:
                rand = self.dev_rng.draw(cfg.rows * cfg.cols)[
                    np.arange(cfg.rows * cfg.cols), np.tile(np.arange(cfg.cols) % cfg.lanes, cfg.rows)
                ].reshape(cfg.rows, cfg.cols)
            self.state = dev.update(self.state, pulses, rand, time=self.time)
            return
        rows, cols = np.nonzero(pulses)
        if rows.size == 0:
            return
        rand = None
        if self.dev_rng is not None:
            rand = self.dev_rng.draw(rows.size)[np.arange(rows.size), cols % cfg.lanes]
        cur = {k: v[rows, cols] for k, v in self.state.items()}
        new = dev.update(cur, pulses[rows, cols], rand, time=self.time)
        for k in self.state:
            self.state[k][rows, cols] = new[k]

    def learn_samples(self, xs, labels) -> np.ndarray:
        """LOAD_X of every column then LEARN, for each (x, label); returns predictions."""
        cfg = self.config
        xs = cfg.x_fmt.check(np.asarray(xs), "input x")
        labels = np.asarray(labels)
        if xs.ndim != 2 or xs.shape[1] != cfg.cols or len(labels) != len(xs):
            raise ValueError(f"learn_samples wants xs of shape (n, {cfg.cols}) and n labels")
        if labels.size and (labels.min() < 0 or labels.max() >= cfg.rows):
            raise ValueError(f"labels must be in 0..{cfg.rows - 1}")
        preds = np.empty(len(xs), dtype=np.int64)
        for i, (x, label) in enumerate(zip(xs, labels)):
            self.x[:] = x
            preds[i] = self._learn(int(label))
        return preds

    # -- observation ----------------------------------------------------------------------
    def read_words(self) -> np.ndarray:
        """Packed state words, shape (rows, cols), uint64."""
        return self.device.pack(self.state)

    def lane_words(self) -> np.ndarray:
        """Packed words in hardware order: shape (depth, lanes)."""
        cfg = self.config
        return self.read_words().reshape(cfg.depth, cfg.lanes)

    def globals(self) -> dict:
        """Every non-array register: time, samples, x codes and LFSR states."""
        x = self.x.tolist() if self.x.dtype.kind in "iu" else [int(v) for v in self.x]
        g = {"time": self.time, "samples": self.samples, "since": self.since, "x": x,
             "rng": self.rng.state.tolist()}    # uint64 -> Python ints
        if self.dev_rng is not None:
            g["dev_rng"] = self.dev_rng.state.tolist()
        return g
