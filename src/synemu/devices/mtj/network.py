"""Golden integer model of the on-chip STDP network on binary STT-MTJ synapses.

The network is an :class:`~synemu.spec.engine.GoldenEngine` (rows = ``n_neurons``,
cols = ``n_inputs``, device :class:`~synemu.devices.mtj.golden.MTJDevice`) plus the controller
registers of :class:`synemu.devices.mtj.network_gateware.SNNController`, driven by the same command sequence the
hardware controller issues. Controller commands (:class:`SOp`):

``PIX col, arg=R``  store the rate threshold ``R`` (``rate_bits + 1`` bits, 0..2**rate_bits)
                    of input ``col``;
``INIT``            ``UPD_ROW(r, +init_code)`` for r = 0..N-1 (random initial P/AP states);
``STEP arg=code``   one time step (below) -> response ``winner + 1`` (0: no spike); ``code``
                    is the HEBB pulse code of a learning spike (1..n_codes-1), 0 = inference
                    (the host sends ``config.code``, or per epoch ``config.schedule[e]``:
                    lower codes are lower switching probabilities, i.e. an annealed rate);
``END arg=learn``   end of a sample: ``v[:] = 0``; if learning, ``theta -= theta >> decay``.

One STEP, in order:

1. for c = 0..C-1: step the input LFSR (``in_rand_bits`` wide, seed
   ``lane_seeds(seed + INPUT_SEED_OFFSET, 1, in_rand_bits)[0]``, draw = state after the step),
   ``u = mix(word) >> (in_rand_bits - rate_bits)``, spike ``x_c = u < R_c``, ``LOAD_X(c, x_c)``;
2. ``FORWARD`` -> ``y[r] = sum_c w[r,c] x_c`` with ``w = +1`` (P) / ``-1`` (AP) (signed
   G_P/G_AP read-out);
3. leaky integrate: ``v[r] = sat(v[r] - (v[r] >> leak_shift) + y[r], v_width)`` (arithmetic
   shift, i.e. floor);
4. winner-take-all: among neurons with ``m[r] = v[r] - theta0 - (theta[r] >> theta_frac) >= 0``
   (theta has ``theta_frac`` fractional bits) the one with the
   largest ``m`` wins, ties to the lowest index;
5. if there is a winner: if learning (``code != 0``), ``theta[w] = min(theta[w] + theta_plus,
   2**theta_width-1)`` and ``HEBB_ROW(w, +code)`` (inputs that spiked this step: AP->P with p_LTP(code); the
   others: P->AP with p_LTD(code)); then ``v[:] = 0`` (lateral inhibition resets every neuron).

Random streams: the input LFSR above (C words per STEP, every column draws, also when
``R_c`` is 0 or 2**rate_bits) and the engine's device LFSR bank (one word per synapse of the
updated row per HEBB_ROW / UPD_ROW, see :mod:`synemu.devices.mtj.golden`). Nothing else is random;
the host's sample order is a NumPy permutation seeded by the run seed.

Speed: FORWARD is computed for all T steps of a sample at once as a float32 matmul of
``{0,1}`` spikes and ``+-1`` weights; integer results are exact while ``C < 2**24``. After a
learning spike only the winner's row is recomputed for the remaining steps. ``strict=True``
instead executes every engine command through :meth:`GoldenEngine.execute` (slow; used by
the tests to prove the fast path equal to the command sequence).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field

import numpy as np

from ...spec.engine import Command, EngineConfig, GoldenEngine, Op
from ...spec.fixed import IntFormat, check_int, clog2
from ...spec.lfsr import fast_draw, lane_seeds
from .golden import MTJDevice, mix

__all__ = ["SOp", "SNNConfig", "GoldenSNN", "INPUT_SEED_OFFSET", "rate_codes",
           "assign_labels", "classify", "classify_proportion"]

INPUT_SEED_OFFSET = 0x1A9E7


class SOp(enum.IntEnum):
    PIX = 1
    INIT = 2
    STEP = 3
    END = 4


SOP_WIDTH = 3


def _chk(name, v, lo, hi):
    return check_int(name, v, lo, hi, "snn: ")


@dataclass(frozen=True)
class SNNConfig:
    """Network parameters (integers are register values; widths in bits).

    n_inputs C, n_neurons N    array shape (cols, rows); C a multiple of ``lanes``
    lanes                       engine lanes
    device                      :class:`MTJDevice` (default: preset ``snn``)
    code, init_code             HEBB_ROW pulse code (1..n_codes-1); INIT pulse code (0: none)
    schedule                    host-side: learning code per training epoch (empty: ``code``
                                every epoch); its length is the number of epochs
    steps                       STEP commands per sample (host-side loop count)
    rate_bits                   input spike compare width (8..24); in_rand_bits: input LFSR
    max_rate                    host-side: R = round(pixel * max_rate * 2**rate_bits)
    binarize                    host-side: R = 2**rate_bits if pixel >= 0.5 else 0
    v_width, leak_shift         membrane register (signed) and leak shift (1..16)
    theta0                      base firing threshold (v units, >= 0)
    theta_width, theta_plus     adaptive threshold register (unsigned) and its increment
    theta_frac                  fractional bits of theta (the margin uses theta >> theta_frac)
    theta_decay                 END-of-sample decay shift (0: no decay)
    seed                        seeds the engine's LFSRs and the input LFSR
    """

    n_inputs: int
    n_neurons: int
    lanes: int = 1
    device: MTJDevice = field(default_factory=lambda: MTJDevice(physics="illustrative"))
    code: int = 4
    init_code: int = 5
    schedule: tuple = ()
    steps: int = 16
    rate_bits: int = 16
    in_rand_bits: int = 32
    max_rate: float = 0.5
    binarize: bool = False
    v_width: int = 16
    leak_shift: int = 2
    theta0: int = 64
    theta_width: int = 16
    theta_frac: int = 6
    theta_plus: int = 32
    theta_decay: int = 8
    seed: int = 1

    def __post_init__(self):
        if not isinstance(self.device, MTJDevice):
            raise ValueError(f"snn: device must be an MTJDevice, not {self.device!r}")
        _chk("n_inputs", self.n_inputs, 1, 65536)
        _chk("n_neurons", self.n_neurons, 1, 65536)
        _chk("lanes", self.lanes, 1, 256)
        if self.n_inputs % self.lanes:
            raise ValueError(f"snn: n_inputs ({self.n_inputs}) must be a multiple of lanes ({self.lanes})")
        # +code must fit the signed pulse register: codes 1 .. 2**(pulse_bits-1) - 1
        _chk("code", self.code, 1, self.device.n_codes - 1)
        _chk("init_code", self.init_code, 0, self.device.n_codes - 1)
        if not isinstance(self.schedule, (tuple, list)):
            raise ValueError(f"snn: schedule must be a sequence of pulse codes, not {self.schedule!r}")
        object.__setattr__(self, "schedule", tuple(self.schedule))
        for c in self.schedule:
            _chk("schedule code", c, 1, self.device.n_codes - 1)
        _chk("steps", self.steps, 1, 4096)
        _chk("in_rand_bits", self.in_rand_bits, 16, 64)
        _chk("rate_bits", self.rate_bits, 4, min(24, self.in_rand_bits))
        if not isinstance(self.max_rate, (int, float)) or not 0.0 <= float(self.max_rate) <= 1.0:
            raise ValueError(f"snn: max_rate {self.max_rate!r} is not a probability in [0, 1]")
        _chk("v_width", self.v_width, 4, 32)
        _chk("leak_shift", self.leak_shift, 1, 16)
        _chk("theta_width", self.theta_width, 1, 31)
        _chk("theta0", self.theta0, 0, (1 << (self.v_width - 1)) - 1)
        _chk("theta_frac", self.theta_frac, 0, self.theta_width - 1)
        _chk("theta_plus", self.theta_plus, 0, (1 << self.theta_width) - 1)
        _chk("theta_decay", self.theta_decay, 0, self.theta_width)
        _chk("seed", self.seed, 0, 2**62)
        if self.n_inputs >= 1 << 24:
            raise ValueError("snn: n_inputs must stay below 2**24 (exact float32 currents)")
        self.engine_config  # validates the engine parameters

    @property
    def engine_config(self) -> EngineConfig:
        return EngineConfig(device=self.device, rows=self.n_neurons, cols=self.n_inputs,
                            lanes=self.lanes, x_width=2, t_pos=0, t_neg=0, seed=self.seed)

    @property
    def input_seed(self) -> int:
        return lane_seeds(self.seed + INPUT_SEED_OFFSET, 1, self.in_rand_bits)[0]

    @property
    def margin_width(self) -> int:
        """Signed width holding ``v - theta0 - theta`` exactly."""
        return max(self.v_width, self.theta_width - self.theta_frac + 1) + 2

    @property
    def resp_width(self) -> int:
        return clog2(self.n_neurons + 1)

    @property
    def arg_width(self) -> int:
        return self.rate_bits + 1

    def epoch_codes(self, epochs: int = 1) -> tuple:
        """Learning code of each training epoch: ``schedule``, else ``code`` x ``epochs``."""
        return self.schedule or (self.code,) * epochs

    def to_dict(self) -> dict:
        d = {k.name: getattr(self, k.name) for k in dataclasses.fields(self) if k.name != "device"}
        d["schedule"] = list(self.schedule)
        d["device"] = self.device.params()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SNNConfig":
        d = dict(d)
        return cls(device=MTJDevice(**d.pop("device")), **d)


def rate_codes(pixels, cfg: SNNConfig) -> np.ndarray:
    """Host-side rate thresholds R (int64, 0..2**rate_bits) of [0, 1] pixels."""
    p = np.asarray(pixels, dtype=float)
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError("snn: pixels must lie in [0, 1]")
    top = 1 << cfg.rate_bits
    if cfg.binarize:
        return np.where(p >= 0.5, top, 0).astype(np.int64)
    return np.rint(p * float(cfg.max_rate) * top).astype(np.int64)


class GoldenSNN:
    """Executable specification of :class:`synemu.devices.mtj.network_gateware.SNNController` (see module doc)."""

    def __init__(self, config: SNNConfig, *, strict: bool = False):
        self.config = cfg = config
        self.strict = strict
        self.engine = GoldenEngine(cfg.engine_config)
        self.dev = cfg.device
        self.v = np.zeros(cfg.n_neurons, dtype=np.int64)
        self.theta = np.zeros(cfg.n_neurons, dtype=np.int64)
        self.R = np.zeros(cfg.n_inputs, dtype=np.int64)
        self.in_state = np.array([cfg.input_seed], dtype=np.uint64)
        self.v_fmt = IntFormat(cfg.v_width, True)
        self.theta_max = (1 << cfg.theta_width) - 1
        self._wf = None   # float32 cache of the +-1 weights

    # -- observation ------------------------------------------------------------------
    def weights(self) -> np.ndarray:
        """+-1 weights, shape (N, C), int8."""
        return self.dev.train_weight(self.engine.state)

    def states(self) -> np.ndarray:
        """P (1) / AP (0) bits, shape (N, C)."""
        return self.engine.state["s"].copy()

    def registers(self) -> dict:
        return {"v": self.v.copy(), "theta": self.theta.copy(), "R": self.R.copy(),
                "in_rng": int(self.in_state[0])}

    def _w(self):
        if self._wf is None:
            self._wf = self.weights().astype(np.float32)
        return self._wf

    # -- commands ---------------------------------------------------------------------
    def execute(self, op: SOp, col: int = 0, arg: int = 0) -> list[int]:
        cfg = self.config
        op = SOp(op)
        if op is SOp.PIX:
            _chk("PIX col", col, 0, cfg.n_inputs - 1)
            _chk("rate threshold R", arg, 0, 1 << cfg.rate_bits)
            self.R[col] = arg
        elif op is SOp.INIT:
            self.init()
        elif op is SOp.STEP:
            _chk("STEP code", arg, 0, self.dev.n_codes - 1)
            return [self.step(arg)]
        elif op is SOp.END:
            self.end(bool(arg))
        return []

    def init(self):
        cfg = self.config
        if cfg.init_code:
            for r in range(cfg.n_neurons):
                self.engine.execute(Command(Op.UPD_ROW, row=r, arg=cfg.init_code))
        self._wf = None

    def load(self, R):
        """PIX for every column (R from :func:`rate_codes`)."""
        R = np.asarray(R, dtype=np.int64)
        if R.shape != (self.config.n_inputs,) or R.min() < 0 or R.max() > 1 << self.config.rate_bits:
            raise ValueError(f"snn: R must have shape ({self.config.n_inputs},) and values in "
                             f"0..2**rate_bits")
        self.R[:] = R

    def _spikes(self, n_steps: int) -> np.ndarray:
        """Input spikes of the next ``n_steps`` STEPs, shape (n_steps, C) bool."""
        cfg = self.config
        words = fast_draw(cfg.in_rand_bits, self.in_state, n_steps * cfg.n_inputs)[:, 0]
        self.in_state = np.array([words[-1]], dtype=np.uint64)
        u = mix(words, cfg.in_rand_bits) >> np.uint64(cfg.in_rand_bits - cfg.rate_bits)
        return (u.astype(np.int64).reshape(n_steps, cfg.n_inputs) < self.R[None, :])

    def _integrate(self, y):
        cfg = self.config
        self.v = self.v_fmt.saturate(self.v - (self.v >> cfg.leak_shift) + y)
        m = self.v - cfg.theta0 - (self.theta >> cfg.theta_frac)
        if m.max() < 0:
            return -1
        return int(np.argmax(m))  # first index of the maximum

    def _spike(self, w: int, code: int):
        cfg = self.config
        if code:
            self.theta[w] = min(self.theta[w] + cfg.theta_plus, self.theta_max)
            self._hebb(w, code)
        self.v[:] = 0

    def _hebb(self, w: int, code: int):
        """HEBB_ROW(w, +code) with the engine's current x (the spikes of this step)."""
        cfg, eng = self.config, self.engine
        if self.strict:
            eng.execute(Command(Op.HEBB_ROW, row=w, arg=code))
        else:
            words = fast_draw(self.dev.rand_width, eng.dev_rng.state, cfg.n_inputs // cfg.lanes)
            eng.dev_rng.state = words[-1].copy()
            pulse = np.where(eng.x != 0, code, -code)
            new = self.dev.update({"s": eng.state["s"][w]}, pulse, words.reshape(-1))
            eng.state["s"][w] = new["s"]
        if self._wf is not None:
            self._wf[w] = 2.0 * eng.state["s"][w] - 1.0

    def step(self, code: int) -> int:
        """One STEP with learning code ``code`` (0: inference); returns ``winner + 1``
        (0: no spike)."""
        cfg, eng = self.config, self.engine
        x = self._spikes(1)[0]
        if self.strict:
            for c in range(cfg.n_inputs):
                eng.execute(Command(Op.LOAD_X, col=c, arg=int(x[c])))
            resp = eng.execute(Command(Op.FORWARD))
            y = IntFormat(cfg.engine_config.resp_width).from_bits(np.array(resp, np.uint64)).astype(np.int64)
        else:
            eng.x[:] = x
            y = (self._w() @ x.astype(np.float32)).astype(np.int64)
        w = self._integrate(y)
        if w >= 0:
            self._spike(w, int(code))
        return w + 1

    def end(self, learn: bool):
        self.v[:] = 0
        if learn and self.config.theta_decay:
            self.theta -= self.theta >> self.config.theta_decay

    # -- whole samples --------------------------------------------------------------------
    def present(self, R, learn: bool, code: int | None = None) -> np.ndarray:
        """PIX all columns, ``steps`` STEPs (learning code ``code``, default ``config.code``;
        0 when not learning), END; returns the spike counts per neuron. ``last_winners``
        then holds the STEP responses (``winner + 1``, 0: no spike), one per step."""
        cfg = self.config
        code = (cfg.code if code is None else code) if learn else 0
        _chk("learning code", code, 1 if learn else 0, self.dev.n_codes - 1)
        self.load(R)
        counts = np.zeros(cfg.n_neurons, dtype=np.int64)
        self.last_winners = resp = np.zeros(cfg.steps, dtype=np.int64)
        if self.strict:
            for t in range(cfg.steps):
                r = resp[t] = self.step(code)
                if r:
                    counts[r - 1] += 1
            self.end(learn)
            return counts
        X = self._spikes(cfg.steps)
        Xf = X.astype(np.float32)
        Y = (Xf @ self._w().T).astype(np.int64)          # (T, N), exact
        for t in range(cfg.steps):
            w = self._integrate(Y[t])
            if w >= 0:
                counts[w] += 1
                resp[t] = w + 1
                if learn:
                    self.engine.x[:] = X[t]
                    self._spike(w, code)
                    if t + 1 < cfg.steps:
                        Y[t + 1:, w] = (Xf[t + 1:] @ self._wf[w]).astype(np.int64)
                else:
                    self.v[:] = 0
        self.engine.x[:] = X[-1]
        self.end(learn)
        return counts

    def evaluate(self, Rs, batch: int = 64) -> np.ndarray:
        """Spike counts (n, N) of samples presented without learning (same streams and
        results as ``present(R, learn=False)`` one by one, vectorised over samples)."""
        cfg = self.config
        Rs = np.asarray(Rs, dtype=np.int64)
        out = np.zeros((len(Rs), cfg.n_neurons), dtype=np.int64)
        W = self._w()
        T, C = cfg.steps, cfg.n_inputs
        for i in range(0, len(Rs), batch):
            Rb = Rs[i:i + batch]
            B = len(Rb)
            words = fast_draw(cfg.in_rand_bits, self.in_state, B * T * C)[:, 0]
            self.in_state = np.array([words[-1]], dtype=np.uint64)
            u = (mix(words, cfg.in_rand_bits) >> np.uint64(cfg.in_rand_bits - cfg.rate_bits)).astype(np.int64)
            X = u.reshape(B, T, C) < Rb[:, None, :]
            Y = (X.reshape(B * T, C).astype(np.float32) @ W.T).astype(np.int64).reshape(B, T, cfg.n_neurons)
            v = np.zeros((B, cfg.n_neurons), dtype=np.int64)
            counts = np.zeros((B, cfg.n_neurons), dtype=np.int64)
            for t in range(T):
                v = self.v_fmt.saturate(v - (v >> cfg.leak_shift) + Y[:, t])
                m = v - cfg.theta0 - (self.theta >> cfg.theta_frac)[None, :]
                win = np.argmax(m, axis=1)
                fired = m[np.arange(B), win] >= 0
                counts[np.arange(B)[fired], win[fired]] += 1
                v[fired] = 0
            out[i:i + B] = counts
            self.R[:] = Rb[-1]
            self.engine.x[:] = X[-1, -1]
        self.v[:] = 0
        return out


# -- Diehl & Cook labelling ---------------------------------------------------------------
def class_rates(counts: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Mean spike count of every neuron per class, shape (n_classes, neurons)."""
    counts = np.asarray(counts, dtype=float)
    rates = np.zeros((n_classes, counts.shape[1]))
    for c in range(n_classes):
        sel = labels == c
        if sel.any():
            rates[c] = counts[sel].mean(axis=0)
    return rates


def assign_labels(counts: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Class of each neuron: the one with the highest mean spike count (Diehl & Cook);
    neurons that never fired get -1."""
    rates = class_rates(counts, labels, n_classes)
    assigned = np.argmax(rates, axis=0)
    assigned[rates.max(axis=0) <= 0] = -1
    return assigned


def classify(counts: np.ndarray, assigned: np.ndarray, n_classes: int) -> np.ndarray:
    """Predicted class per sample: highest mean count over the neurons assigned to it."""
    counts = np.asarray(counts, dtype=float)
    scores = np.full((counts.shape[0], n_classes), -1.0)
    for c in range(n_classes):
        sel = assigned == c
        if sel.any():
            scores[:, c] = counts[:, sel].mean(axis=1)
    return np.argmax(scores, axis=1)


def classify_proportion(counts: np.ndarray, train_counts: np.ndarray, train_labels: np.ndarray,
                        n_classes: int) -> np.ndarray:
    """Proportion-weighted variant of the Diehl & Cook read-out (BindsNET's
    ``proportion_weighting``, Hazan et al. 2018): every neuron votes for every class with
    its share of that class in its mean training response; reported next to
    :func:`classify`, never instead of it."""
    rates = class_rates(train_counts, train_labels, n_classes)
    prop = rates / np.maximum(rates.sum(axis=0, keepdims=True), 1e-12)
    return np.argmax(np.asarray(counts, dtype=float) @ prop.T, axis=1)
