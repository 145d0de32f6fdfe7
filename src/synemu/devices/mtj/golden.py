"""``mtj``: STT-MTJ stochastic binary synapse (golden integer model).

State: one bit ``s`` per synapse, 1 = P (parallel, low resistance), 0 = AP (reset value).
Weight read-out (signed, 2 bits): ``G_P/G_AP`` subtraction against a mid-point reference,
``w = +1`` in P, ``-1`` in AP.

Update with a signed pulse count ``p`` (``pulse_bits`` bits): ``p > 0`` is an AP->P
(potentiation) pulse, ``p < 0`` a P->AP (depression) pulse, ``p == 0`` nothing; the
magnitude ``|p|`` (0 .. 2**(pulse_bits-1)) is the *pulse code* indexing the threshold
tables ``t_ltp`` / ``t_ltd`` (built once from the physics, :mod:`synemu.devices.mtj.physics`,
or from explicit probabilities, and shared verbatim with the hardware rule).

Random draw (fixed convention): every synapse visited by a state-changing sweep consumes
its lane's device-LFSR word (the engine steps the bank once per slot, see
:mod:`synemu.spec.engine`) -- including synapses already in the target state and zero
pulses; the word is simply ignored then. Because consecutive words of one Galois LFSR are
shifted copies of each other, the ``rand_bits``-bit word ``r`` is first passed through the
bijective mixer :func:`mix` (bit permutation, xorshift-multiply-xorshift, 0 -> 0); the top ``prob_bits`` bits
``u = mix(r) >> (rand_bits - prob_bits)`` are compared with the threshold::

    switch  iff  u < T[code],     T[code] = round(P_sw[code] * 2**prob_bits)

so ``T`` is ``prob_bits + 1`` bits wide (0 .. 2**prob_bits; ``T = 2**prob_bits`` switches
always, ``T = 0`` never). The realised probability is ``T / 2**prob_bits`` up to the
LFSR's missing all-zero word (relative error < 2**-rand_bits).
"""

from __future__ import annotations

from dataclasses import dataclass, fields as dc_fields
from functools import cached_property, lru_cache
from typing import ClassVar

import numpy as np

from ...spec.device import Device, Field
from ...spec.fixed import check_int
from .physics import PHYSICS_PRESETS, MTJPhysics

__all__ = ["MTJDevice", "mix", "mix_constants", "thresholds_from_probs"]

_PHYS_KEYS = tuple(f.name for f in dc_fields(MTJPhysics) if f.name != "provenance")


@lru_cache(maxsize=None)
def mix_constants(width: int) -> tuple[int, int, int, int]:
    """(stride k, shift a, odd multiplier M, shift b) of the ``width``-bit mixer."""
    import math
    k = next(k for k in (5, 7, 3, 11, 13) if math.gcd(k, width) == 1)
    mult = 0x7FEB352D if width == 32 else (0x9E3779B97F4A7C15 >> (64 - width)) | 1
    return k, width // 2, mult, width // 2 - 1


@lru_cache(maxsize=16)
def _perm_tables(width: int) -> np.ndarray:
    """tab[j, v] = the mixer's bit permutation applied to ``v << 8j``."""
    k = mix_constants(width)[0]
    nbytes = (width + 7) // 8
    tab = np.zeros((nbytes, 256), dtype=np.uint64)
    for j in range(nbytes):
        for v in range(256):
            acc = 0
            for i in range(8):
                if v >> i & 1 and 8 * j + i < width:
                    acc |= 1 << ((8 * j + i) * k) % width
            tab[j, v] = acc
    return tab


_BYTE_ROWS = np.arange(8)


def mix(words, width: int) -> np.ndarray:
    """Bijective ``width``-bit mixer (0 -> 0), vectorised over uint64 arrays: a bit
    permutation (bit ``i`` -> bit ``i*k mod width``), then ``x ^= x >> a``,
    ``x = x * M mod 2**width``, ``x ^= x >> b`` (constants from :func:`mix_constants`).

    The permutation matters: successive Galois LFSR words are (mostly) one-bit shifts of
    each other, and xorshift/multiply commute with shifts, so without it neighbouring
    draws stay correlated (``tests/test_mtj.py`` measures this)."""
    k, a, mult, b = mix_constants(width)
    x = np.asarray(words, dtype=np.uint64)
    tab = _perm_tables(width)
    nbytes = tab.shape[0]
    # the permutation is linear: OR of the table entries of every byte (little-endian)
    byte = np.ascontiguousarray(x, dtype="<u8").reshape(-1).view(np.uint8).reshape(-1, 8)
    if x.size <= 64:     # one gather (fewer calls); the per-byte loop is faster on big arrays
        p = np.bitwise_or.reduce(tab[_BYTE_ROWS[:nbytes], byte[:, :nbytes]], axis=1)
    else:
        p = tab[0].take(byte[:, 0])
        for j in range(1, nbytes):
            p |= tab[j].take(byte[:, j])
    p = p.reshape(x.shape)
    mask = np.uint64((1 << width) - 1) if width < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
    x = p ^ (p >> np.uint64(a))
    x = np.multiply(x, np.uint64(mult)) & mask      # ufunc: wraps mod 2**64 without warning
    return x ^ (x >> np.uint64(b))


def thresholds_from_probs(probs, prob_bits: int, what: str = "p") -> tuple[int, ...]:
    """``round(p * 2**prob_bits)`` of each probability (validated to lie in [0, 1])."""
    out = []
    for k, p in enumerate(probs):
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"mtj: {what}[{k}] = {p!r} is not a probability in [0, 1]")
        out.append(int(round(p * (1 << prob_bits))))
    return tuple(out)


def _tuple(v):
    return None if v is None else tuple(v)


@dataclass(frozen=True)
class MTJDevice(Device):
    """Binary STT-MTJ synapse (see module doc).

    pulse_bits  signed pulse width (2..8); codes 0 .. 2**(pulse_bits-1)
    rand_bits   device LFSR width (16..64)
    prob_bits   bits compared with the threshold (16..rand_bits)
    physics     name of a :data:`~synemu.devices.mtj.physics.PHYSICS_PRESETS` entry
    p_ltp/p_ltd optional explicit P_sw per code (length 2**(pulse_bits-1) + 1, in [0, 1])
    t_ltp/t_ltd optional explicit integer thresholds per code (0 .. 2**prob_bits)
    other keys  physics overrides (delta_ap_p, ic0_p_ap, v0, dv, ...; SI units)
    Precedence per direction: t_* > p_* > physics.
    """

    name: ClassVar[str] = "mtj"
    PRESETS: ClassVar[dict] = {
        "illustrative": {"physics": "illustrative"},
        "symmetric": {"physics": "symmetric"},
        "snn": {"physics": "illustrative", "pulse_bits": 4},
        # board builds: a 16-bit device LFSR, so the mixer's multiply is one 16x16 DSP
        # per lane (the 32-bit one takes three; the iCE40UP5K has 8)
        "board": {"physics": "illustrative", "rand_bits": 16},
    }
    pulse_bits: int = 4
    rand_bits: int = 32
    prob_bits: int = 16
    physics: str = "illustrative"
    p_ltp: tuple | None = None
    p_ltd: tuple | None = None
    t_ltp: tuple | None = None
    t_ltd: tuple | None = None
    delta_ap_p: float | None = None
    delta_p_ap: float | None = None
    tau0: float | None = None
    ic0_ap_p: float | None = None
    ic0_p_ap: float | None = None
    r_p: float | None = None
    r_ap: float | None = None
    t_pulse: float | None = None
    v0: float | None = None
    dv: float | None = None

    def __post_init__(self):
        def bad(msg):
            raise ValueError(f"mtj device: {msg}")
        check_int("pulse_bits", self.pulse_bits, 2, 8, "mtj device: ")
        check_int("rand_bits", self.rand_bits, 16, 64, "mtj device: ")
        if not isinstance(self.prob_bits, int) or not 16 <= self.prob_bits <= self.rand_bits:
            bad(f"prob_bits must be an integer in 16..rand_bits ({self.rand_bits}), "
                f"not {self.prob_bits!r}")
        if self.physics not in PHYSICS_PRESETS:
            bad(f"unknown physics preset {self.physics!r}; available: "
                f"{', '.join(sorted(PHYSICS_PRESETS))}")
        for k in ("p_ltp", "p_ltd", "t_ltp", "t_ltd"):
            object.__setattr__(self, k, _tuple(getattr(self, k)))
        n = self.n_codes + 1
        for k in ("p_ltp", "p_ltd", "t_ltp", "t_ltd"):
            v = getattr(self, k)
            if v is not None and len(v) != n:
                bad(f"{k} needs {n} entries (pulse codes 0..{self.n_codes}), not {len(v)}")
        phys = self.physics_model()  # validates overrides
        top = 1 << self.prob_bits
        tables = {}
        for d, pk, tk, direction in (("ltp", "p_ltp", "t_ltp", "ap_p"), ("ltd", "p_ltd", "t_ltd", "p_ap")):
            if getattr(self, tk) is not None:
                t = getattr(self, tk)
                for k, v in enumerate(t):
                    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not 0 <= v <= top:
                        bad(f"threshold {tk}[{k}] = {v!r} does not fit: thresholds of a "
                            f"{self.prob_bits}-bit compare must be integers in 0..{top}")
                t = tuple(int(v) for v in t)
            else:
                probs = getattr(self, pk) if getattr(self, pk) is not None else phys.table(direction, self.n_codes)
                t = thresholds_from_probs(probs, self.prob_bits, pk)
            if t[0] != 0:
                bad(f"pulse code 0 means 'no pulse': {tk}[0] must be 0, not {t[0]}")
            tables[d] = t
        object.__setattr__(self, "_t_ltp", tables["ltp"])
        object.__setattr__(self, "_t_ltd", tables["ltd"])

    # -- derived ------------------------------------------------------------------------
    @property
    def rand_width(self) -> int:
        return self.rand_bits

    @property
    def n_codes(self) -> int:
        """Largest pulse code (= 2**(pulse_bits-1), reached by the most negative pulse)."""
        return 1 << (self.pulse_bits - 1)

    def physics_model(self) -> MTJPhysics:
        base = PHYSICS_PRESETS[self.physics]
        over = {k: getattr(self, k) for k in _PHYS_KEYS if getattr(self, k) is not None}
        if not over:
            return base
        from dataclasses import replace
        return replace(base, **over, provenance=base.provenance + f"; overrides {over}")

    @property
    def ltp_thresholds(self) -> tuple[int, ...]:
        """AP->P thresholds per pulse code (``prob_bits + 1`` bits each)."""
        return self._t_ltp

    @property
    def ltd_thresholds(self) -> tuple[int, ...]:
        """P->AP thresholds per pulse code."""
        return self._t_ltd

    @property
    def threshold_width(self) -> int:
        return self.prob_bits + 1

    def probabilities(self, direction: str = "ltp") -> np.ndarray:
        """Realised switching probabilities per code (threshold / 2**prob_bits)."""
        t = self._t_ltp if direction == "ltp" else self._t_ltd
        return np.asarray(t, dtype=float) / (1 << self.prob_bits)

    def params(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dc_fields(self)}
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()
                if v is not None or k in ("pulse_bits", "rand_bits", "prob_bits", "physics")}

    # -- device contract ------------------------------------------------------------------
    @cached_property
    def fields(self):
        return (Field("s", 1),)

    @property
    def pulse_width(self):
        return self.pulse_bits

    @property
    def weight_width(self):
        return 2

    def draw_u(self, rand) -> np.ndarray:
        """The ``prob_bits``-bit uniform compared with thresholds, from raw LFSR words."""
        return mix(rand, self.rand_bits) >> np.uint64(self.rand_bits - self.prob_bits)

    def update(self, state, pulse, rand, *, time=0):
        s = np.asarray(state["s"]).astype(np.uint8)
        pulse = np.asarray(pulse, dtype=np.int64)
        if rand is None:
            raise ValueError("mtj update needs the device LFSR words")
        u = self.draw_u(rand).astype(np.int64)
        mag = np.abs(pulse)
        t_ltp = self._t_arrays[0][mag]
        t_ltd = self._t_arrays[1][mag]
        to_p = (pulse > 0) & (s == 0) & (u < t_ltp)
        to_ap = (pulse < 0) & (s == 1) & (u < t_ltd)
        new = np.where(to_p, 1, np.where(to_ap, 0, s)).astype(np.uint8)
        shape = np.broadcast(s, pulse, u).shape
        return {"s": new.copy() if new.shape == shape else np.broadcast_to(new, shape).copy()}

    #: length of the lowest-bit stream (:meth:`edge_streams`) as a multiple of ``n``
    LSB_STREAM = 8

    def edge_streams(self, config, n: int = 4000) -> list:
        """The edge stream (:meth:`edge_commands`) and a ``LSB_STREAM`` times longer one
        aimed at the draws where ``u``'s lowest bit decides an outcome: ``u`` in
        ``{t - 1, t}`` for every odd threshold ``t`` (where a flip of that bit crosses
        ``t``), which the general stream meets some ten times in 40,000 commands: a fault
        that moves ``u`` by its lowest bit only (``u[0] = y[16] ^ y[31]`` of the mixer's
        product) decides an outcome on a few draws in 10^6."""
        out = [("edge stream", self.edge_commands(config, 0, n))]
        if n:
            out.append(("lowest-bit edge stream",
                        self.edge_commands(config, 1, self.LSB_STREAM * n, lsb=True)))
        return [(k, v) for k, v in out if v]

    def edge_commands(self, config, seed: int = 0, n: int = 4000, *, lsb: bool = False) -> list:
        """UPDATEs whose switching draw lands on a threshold: ``u`` in ``t - 2 .. t + 1``
        for every threshold strictly inside (0, 2**prob_bits) (and every ``u`` of a rare
        outcome: below a threshold under 256, at or above one within 256 of 2**prob_bits),
        on a synapse written to the state that pulse can switch, then read back; and
        HEBB_ROWs of ``pulse_min`` (``pulse_max`` on every x = 0 column) on draws where
        ``pulse_max`` switches and ``pulse_max - 1`` does not. The device LFSR words are predicted
        from ``config``'s seeds; the draws in between are used up by zero-pulse commands
        (LEARN with x = 0: ``depth`` draws, UPD_COL: ``rows``, UPD_ROW: ``chunks``,
        UPDATE: 1), which change no state. Random streams put ``u`` within one of a
        threshold about once in 10,000 UPDATEs, so a mutant that moves ``u`` by one (its
        lowest bit) or a comparison by one is almost never seen without these.
        ``lsb``: only the draws ``u`` in ``{t - 1, t}`` of odd thresholds ``t`` (where a
        flip of ``u``'s lowest bit crosses ``t``)."""
        from ...spec.engine import Command, Op
        from ...spec.lfsr import LFSRBank
        rng = np.random.default_rng(seed)
        pf, one = self.pulse_fmt, 1 << self.prob_bits
        targets: dict = {}                   # u -> [(pulse, state it switches)]
        for sign, table, state in ((1, self._t_ltp, 0), (-1, self._t_ltd, 1)):
            for k, t in enumerate(table):
                if not (0 < t < one and k and pf.min <= sign * k <= pf.max):
                    continue
                if lsb:
                    near, rare = ((t - 1, t) if t % 2 else ()), ()
                else:
                    near = range(t - 2, t + 2)
                    # a rare outcome (switching at P < 1/256, staying at P > 255/256):
                    # every draw that gives it
                    rare = range(0, t) if t < 256 else range(t, one) if one - t <= 256 else ()
                for v in dict.fromkeys([*near, *rare]):
                    targets.setdefault(v, []).append((sign * k, state))
        # HEBB_ROW's negative pulse saturate(-arg) at its rail: arg = pulse_min gives
        # pulse_max on every x = 0 column; the draws where pulse_max switches and
        # pulse_max - 1 does not (a clamp at pulse_max - 1 then shows), if they are few
        lo, hi = (int(self._t_ltp[k]) for k in (pf.max - 1, pf.max)) \
            if len(self._t_ltp) > pf.max > 0 else (0, 0)
        if 0 < hi - lo <= 256 and not lsb:
            for v in range(lo, min(hi, one)):
                targets.setdefault(v, []).append((None, 0))
        bank = LFSRBank(self.rand_width, config.device_seeds())
        lanes, rows, cols = config.lanes, config.rows, config.cols
        burns = ((Op.LEARN, config.depth), (Op.UPD_COL, rows), (Op.UPD_ROW, config.chunks),
                 (Op.UPDATE, 1))
        out: list = []
        pos = base = 0                        # draws used so far; first draw of the block
        words_of = {st: int(self.pack({"s": np.array(st, dtype=np.uint8)})) for st in (0, 1)}
        while len(out) < n:
            u = self.draw_u(bank.draw(4096))
            for j, lane in zip(*np.nonzero(np.isin(u, list(targets)))):
                if base + j < pos or len(out) >= n:
                    continue                  # a draw already used (the other lane's hit)
                gap = base + j - pos          # draws to use up before the hit
                for op, size in burns:
                    while gap >= size:
                        out.append(Command(op, 0, 0, 0))
                        gap -= size
                options = targets[int(u[j, lane])]
                pulse, state = options[int(rng.integers(len(options)))]
                r = int(rng.integers(rows))
                if pulse is None:             # HEBB_ROW (x = 0): the hit is its first slot
                    c = int(lane)
                    out += [Command(Op.WRITE, r, c, words_of[state]),
                            Command(Op.HEBB_ROW, r, 0, int(pf.min)), Command(Op.READ, r, c, 0)]
                    pos = base + j + config.chunks
                    continue
                c = int(lane) + lanes * int(rng.integers((cols - lane + lanes - 1) // lanes))
                out += [Command(Op.WRITE, r, c, words_of[state]),
                        Command(Op.UPDATE, r, c, pulse), Command(Op.READ, r, c, 0)]
                pos = base + j + 1
            base += len(u)
        return out[:n]

    @cached_property
    def _t_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The LTP and LTD thresholds as int64 arrays indexed by pulse code."""
        return np.asarray(self._t_ltp, np.int64), np.asarray(self._t_ltd, np.int64)

    def train_weight(self, state, *, time=0):
        return (2 * state["s"].astype(np.int8) - 1).astype(np.int8)
