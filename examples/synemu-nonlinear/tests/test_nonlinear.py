"""The example device's own tests: its golden rule, and golden vs hardware in lockstep."""

import numpy as np
import pytest

from synemu.plugin import make_device
from synemu_nonlinear import NonlinearDevice


def test_golden_rule_matches_the_formula():
    d = NonlinearDevice(bits=6, pulse_bits=6, shift=3)
    g = np.arange(64, dtype=np.int64)
    for p in range(-32, 32):
        new = d.update({"g": g}, np.full_like(g, p))["g"]
        want = [min(x + (p * (63 - x) >> 3), 63) if p >= 0 else max(x - ((-p * x) >> 3), 0)
                for x in g]
        assert new.tolist() == want


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="shift"):
        NonlinearDevice(shift=-1)


def test_registered_with_synemu():
    assert isinstance(make_device("nonlinear", preset="6bit"), NonlinearDevice)


def test_lockstep_amaranth():
    from synemu.sim.amaranth_sim import amaranth_lockstep
    from synemu.sim.lockstep import random_commands
    from synemu.spec.engine import EngineConfig
    cfg = EngineConfig(device=NonlinearDevice(bits=6, pulse_bits=6, shift=3), rows=3, cols=4,
                       lanes=2, rounding="stochastic", eta=2)
    rep = amaranth_lockstep(cfg, random_commands(cfg, 0, 300))
    assert rep.ok, str(rep.mismatches[:1])
    assert rep.commands == 300 and rep.compared_words > 0
