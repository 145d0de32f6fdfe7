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
* ``<device>_commands_per_mutant``: the stimulus (every stream), at most, per mutant.

``quick``: 1 random stream of 1,000 commands, 2 directed streams and a 4,000-command edge
stream instead of 4 x 3,000, 3 and 40,000, and no proofs. Proofs: survivors in the rule
module on it alone (600 s each at most), the rest on the whole engine (60 s each at most).

``python benchmarks/bench_mutate.py DEVICE ...`` (``fn_ice40``, ``mtj``, ...) runs only
those devices and merges their rows into ``results.json`` (two at a time on two cores).
"""

from __future__ import annotations

import sys

DEVICES = (("ideal", None), ("femfet", None), ("fn", "ice40"), ("mtj", None),
           ("measured", None), ("probe", None))
SHAPE = dict(rows=3, cols=6, lanes=2, rounding="stochastic", eta=3)


def _key(name, preset):
    return name if preset is None else f"{name}_{preset}"


def run(quick: bool = False, only=None) -> dict:
    from synemu.sim import mutate
    from synemu.spec.engine import EngineConfig
    from synemu.spec.registry import make_device
    seeds, ops, directed = (1, 1000, 2) if quick else (4, 3000, 3)
    rows: dict = {}
    for name, preset in DEVICES:
        key = _key(name, preset)
        if only is not None and key not in only:
            continue
        cfg = EngineConfig(device=make_device(name, preset=preset), **SHAPE)
        r = mutate.campaign(cfg, seeds=seeds, ops=ops, directed=directed,
                            edge=4000 if quick else mutate.EDGE_COMMANDS, prove=not quick,
                            prove_timeout=60.0, rule_timeout=600.0,
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
        rows[f"{key}_commands_per_mutant"] = r.commands
    return rows


if __name__ == "__main__":
    import json
    from pathlib import Path
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    known = {_key(n, p) for n, p in DEVICES}
    if set(only) - known:
        sys.exit(f"unknown device(s) {sorted(set(only) - known)}; known: {sorted(known)}")
    rows = run("--quick" in sys.argv, only or None)
    if only and "--quick" not in sys.argv:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from run import record_rows
        record_rows("mutate", rows)
    print(json.dumps(rows, indent=1))
