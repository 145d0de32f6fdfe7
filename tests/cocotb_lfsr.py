"""cocotb test: every state of a bank of hardware LFSRs vs :mod:`synemu.spec.lfsr`.

DUT (built by ``tests/test_lfsr.py``): ports ``clk``, ``rst``, ``en`` and ``out``, where
lane ``i`` of the config occupies ``out[64*i +: 64]`` (zero-extended). Configuration:
JSON file named by env var ``SYNEMU_LFSR_CONFIG``::

    {"lanes": [{"kind": "galois"|"fibonacci", "width": w, "seed": s}, ...],
     "steps": N,            # cycles with en=1 after the random-en phase
     "random_en": K,        # leading cycles with pseudo-random en
     "en_seed": 1,
     "period_check_max_width": 8,
     "corrupt_lane": null}  # int: flip bit 0 of that lane's expectation (self-test)

The test samples ``out`` on every falling edge (registers are stable there) and
compares the packed word of all lanes against the golden expectation.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, Timer

from synemu.spec.lfsr import FibonacciLFSR, LFSRBank


def _load_config() -> dict:
    path = os.environ.get("SYNEMU_LFSR_CONFIG")
    if not path:
        raise RuntimeError("SYNEMU_LFSR_CONFIG (path to a JSON config) is not set")
    with open(path) as f:
        return json.load(f)


def _golden_states(lanes: list[dict], n_steps: int) -> np.ndarray:
    """(n_steps + 1, L) uint64: row k = state of every lane after k steps (row 0 = seed)."""
    out = np.empty((n_steps + 1, len(lanes)), dtype=np.uint64)
    for i, lane in enumerate(lanes):
        out[0, i] = lane["seed"]
        if lane["kind"] == "galois":
            out[1:, i] = LFSRBank(lane["width"], [lane["seed"]]).draw(n_steps)[:, 0]
        elif lane["kind"] == "fibonacci":
            out[1:, i] = FibonacciLFSR(lane["width"], lane["seed"]).draw(n_steps)
        else:
            raise ValueError(f"unknown lane kind {lane['kind']!r}")
    return out


def _describe_mismatch(got: int, want_row: np.ndarray, lanes: list[dict]) -> str:
    bad = []
    for i, lane in enumerate(lanes):
        g = (got >> (64 * i)) & ((1 << 64) - 1)
        w = int(want_row[i])
        if g != w:
            bad.append(f"lane {i} ({lane['kind']} w={lane['width']} seed={lane['seed']:#x}): "
                       f"hw={g:#x} golden={w:#x}")
    return "; ".join(bad) or "packing mismatch"


@cocotb.test()
async def lfsr_bank_matches_golden(dut):
    cfg = _load_config()
    lanes = cfg["lanes"]
    steps = int(cfg["steps"])
    k_rand = int(cfg.get("random_en", 0))
    rng = random.Random(cfg.get("en_seed", 1))
    en = [rng.getrandbits(1) for _ in range(k_rand)] + [1] * steps
    cum = np.cumsum(en)                     # steps taken after cycle c
    states = _golden_states(lanes, int(cum[-1]) if en else 0)
    if cfg.get("corrupt_lane") is not None:
        states[:, int(cfg["corrupt_lane"])] ^= np.uint64(1)
    raw = np.ascontiguousarray(states.astype("<u8")).tobytes()
    rowb = 8 * len(lanes)
    packed = [int.from_bytes(raw[r * rowb:(r + 1) * rowb], "little")
              for r in range(states.shape[0])]

    dut.rst.value = 0
    dut.en.value = 0
    Clock(dut.clk, 10, unit="ns").start(start_high=False)
    await Timer(2, unit="ns")               # before the first rising edge
    got = dut.out.value.to_unsigned()
    assert got == packed[0], "reset state: " + _describe_mismatch(got, states[0], lanes)

    pmax = int(cfg.get("period_check_max_width", 8))
    small = [i for i, l in enumerate(lanes) if l["width"] <= pmax]
    record_to = k_rand + (1 << pmax) + 1 if small else 0
    recorded = []
    fe = FallingEdge(dut.clk)
    for c, e in enumerate(en):
        if c < k_rand or c == k_rand:
            dut.en.value = e
        await fe
        got = dut.out.value.to_unsigned()
        want = packed[cum[c]]
        if got != want:
            raise AssertionError(f"cycle {c} (after {cum[c]} steps): "
                                 + _describe_mismatch(got, states[cum[c]], lanes))
        if k_rand <= c < record_to:
            recorded.append(got)

    # Period of the short lanes, measured on the hardware values alone.
    for i in small:
        w = lanes[i]["width"]
        seq = [(g >> (64 * i)) & ((1 << w) - 1) for g in recorded]
        period = next((p for p in range(1, len(seq)) if seq[p] == seq[0]), None)
        assert period == (1 << w) - 1, f"lane {i} (w={w}) hardware period {period}"
        assert len(set(seq[:period])) == period and 0 not in seq
    dut._log.info("compared %d lanes x %d cycles (%d steps)", len(lanes), len(en), cum[-1])
