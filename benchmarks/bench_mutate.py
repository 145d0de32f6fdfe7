"""Mutation testing of the verification (issue #16, part 3): the mutation-score matrix.

For every device (``DEVICES``: name, preset) on a 3 x 6 array with 2 lanes (stochastic
rounding, eta 3, as ``synemu mutate`` by default), every mutant of the engine + rule
Verilog is run through the lockstep (one Verilator build of the mutant schema per
device). Rows (counts are mutants; seconds are wall time on the shared 2-core machine):

* ``<device>_total`` / ``_killed`` / ``_equivalent`` / ``_survived`` and ``_score``
  (killed / (total - equivalent));
* ``<device>_build_seconds`` (schema generation + Verilator build, 0-ish when cached),
  ``<device>_run_seconds`` (every mutant over the whole stimulus) and
  ``<device>_prove_seconds`` (Yosys equivalence proofs of the survivors no rule explains);
* ``<device>_survivors``: ``[id, kind, where, change]`` of each survivor;
  ``<device>_equivalent_reasons``: rule -> count;
* ``commands_per_mutant``: the stimulus (directed + random streams), at most, per mutant.

``quick``: 1 random stream of 1,000 commands, 2 directed streams and a 4,000-command edge
stream instead of 4 x 3,000, 3 and 40,000, and no proofs.
"""

from __future__ import annotations

import sys

DEVICES = (("ideal", None), ("femfet", None), ("fn", "ice40"), ("mtj", None),
           ("measured", None), ("probe", None))
SHAPE = dict(rows=3, cols=6, lanes=2, rounding="stochastic", eta=3)


def run(quick: bool = False) -> dict:
    from synemu.sim import mutate
    from synemu.spec.engine import EngineConfig
    from synemu.spec.registry import make_device
    seeds, ops, directed = (1, 1000, 2) if quick else (4, 3000, 3)
    rows: dict = {}
    for name, preset in DEVICES:
        key = name if preset is None else f"{name}_{preset}"
        cfg = EngineConfig(device=make_device(name, preset=preset), **SHAPE)
        r = mutate.campaign(cfg, seeds=seeds, ops=ops, directed=directed,
                            edge=4000 if quick else mutate.EDGE_COMMANDS, prove=not quick,
                            log=lambda m, k=key: print(f"bench_mutate {k}: {m}",
                                                       file=sys.stderr, flush=True))
        c = r.counts()
        for f in ("total", "killed", "equivalent", "survived"):
            rows[f"{key}_{f}"] = c[f]
        rows[f"{key}_score"] = round(c["score"], 4)
        rows[f"{key}_build_seconds"] = r.build_seconds
        rows[f"{key}_run_seconds"] = r.run_seconds
        rows[f"{key}_prove_seconds"] = r.prove_seconds
        rows[f"{key}_survivors"] = [[m.id, m.kind, m.where, m.change] for m in r.mutants
                                    if m.status == "survived"]
        reasons: dict = {}
        for m in r.mutants:
            if m.status == "equivalent":
                k = m.how.split(":")[0]
                reasons[k] = reasons.get(k, 0) + 1
        rows[f"{key}_equivalent_reasons"] = reasons
        rows["commands_per_mutant"] = r.commands
    return rows


if __name__ == "__main__":
    import json
    print(json.dumps(run("--quick" in sys.argv), indent=1))
