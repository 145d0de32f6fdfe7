"""``synemu mutate``: mutation testing of the lockstep verification (:mod:`synemu.sim.mutate`).

Every mutant of the engine + device rule Verilog runs in one Verilator build (a mutant
schema); the summary gives the mutation score ``killed / (total - equivalent)``, the
equivalent mutants with their reasons and every survivor with its Python location.
"""

from __future__ import annotations

import sys
import time

from ..runtime.report import emit
from .common import add_common, add_device_args, device_from_args, positive_int

__all__ = ["register", "cmd_mutate"]


def register(sub):
    """Add the ``mutate`` subcommand to ``build_parser``'s subparsers."""
    p = sub.add_parser("mutate", help="mutation testing: mutate the generated Verilog and "
                                      "check the lockstep kills every mutant")
    add_device_args(p)
    p.add_argument("--rows", type=positive_int, default=3)
    p.add_argument("--cols", type=positive_int, default=6)
    p.add_argument("--lanes", type=positive_int, default=2)
    p.add_argument("--rounding", default="stochastic")
    p.add_argument("--eta", type=int, default=3)
    p.add_argument("--seeds", type=positive_int, default=4,
                   help="random command streams per mutant (default %(default)s)")
    p.add_argument("--ops", type=positive_int, default=3000,
                   help="commands per random stream (default %(default)s)")
    p.add_argument("--directed", type=int, default=3,
                   help="directed edge-value streams per mutant (default %(default)s)")
    p.add_argument("--edge", type=int, default=40000,
                   help="commands of the device's edge stream (its decision boundaries, "
                        "e.g. MTJ draws on their thresholds; 0: none; default %(default)s)")
    p.add_argument("--prove", action="store_true",
                   help="try to prove each unexplained survivor equivalent with Yosys: "
                        "those in the device rule on the rule module alone (SAT), then "
                        "the rest on the whole engine (equiv_make/equiv_simple/"
                        "equiv_induct); tens of seconds each")
    p.add_argument("--prove-timeout", type=float, default=120.0,
                   help="seconds per whole-engine proof before it counts as not proven "
                        "(default %(default)s)")
    p.add_argument("--rule-prove-timeout", type=float, default=600.0,
                   help="seconds per rule-module proof (default %(default)s)")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="run at most this many mutants, evenly spread over the sites")
    p.add_argument("--all", action="store_true",
                   help="list every mutant in the summary (killed ones too)")
    add_common(p, None)
    p.set_defaults(func=cmd_mutate)


def cmd_mutate(args):
    from ..sim import mutate
    from ..spec.engine import EngineConfig
    if args.directed < 0:
        raise ValueError(f"--directed must be at least 0, not {args.directed}")
    if not args.prove_timeout > 0:
        raise ValueError(f"--prove-timeout must be positive, not {args.prove_timeout}")
    if not args.rule_prove_timeout > 0:
        raise ValueError(f"--rule-prove-timeout must be positive, not {args.rule_prove_timeout}")
    if args.edge < 0:
        raise ValueError(f"--edge must be at least 0, not {args.edge}")
    device = device_from_args(args)
    config = EngineConfig(device=device, rows=args.rows, cols=args.cols, lanes=args.lanes,
                          rounding=args.rounding, eta=args.eta)
    from ..sim.verilator import _build_root
    _build_root(None)                      # a bad SYNEMU_BUILD_DIR: usage error, up front
    t0 = time.perf_counter()
    last = [0.0]

    def progress(k, n, mu):
        now = time.perf_counter()
        if now - last[0] > 2 or k == n:
            last[0] = now
            print(f"  mutant {k}/{n}", file=sys.stderr, flush=True)

    run = mutate.campaign(config, seeds=args.seeds, ops=args.ops, directed=args.directed,
                          edge=args.edge, limit=args.limit, prove=args.prove,
                          prove_timeout=args.prove_timeout,
                          rule_timeout=args.rule_prove_timeout, progress=progress,
                          log=lambda m: print(f"mutate {args.device}: {m}", file=sys.stderr,
                                              flush=True))
    res = run.to_dict()
    if not args.all:
        res.pop("mutants")
    c = run.counts()
    res.update(command="mutate", ok=c["survived"] == 0, device=args.device, preset=args.preset,
               rows=args.rows, cols=args.cols, lanes=args.lanes, seconds=time.perf_counter() - t0)
    lines = [f"mutate {args.device}: {args.rows}x{args.cols} array, {args.lanes} lanes; "
             f"{c['total']} mutants in one Verilator build ({run.build_seconds:.1f} s), "
             f"{run.commands} commands each at most ({run.run_seconds:.1f} s)",
             f"  killed {c['killed']} ({c['killed_by_timing']} by the cycle count alone), "
             f"equivalent {c['equivalent']}, survived {c['survived']}: "
             f"mutation score {100 * c['score']:.1f} % of non-equivalent mutants"]
    for kind, d in run.by("kind").items():
        lines.append(f"    {kind:11s} {d['killed']:4d} killed / {d['total']:4d}"
                     f"  ({d['equivalent']} equivalent, {d['survived']} survived)")
    eq = [m for m in run.mutants if m.status == "equivalent"]
    if eq:
        lines.append("  equivalent (reasons):")
        reasons: dict = {}
        for m in eq:
            reasons.setdefault(m.how.split(":")[0], []).append(m)
        for r, ms in reasons.items():
            lines.append(f"    {r}: {len(ms)} mutants, e.g. #{ms[0].id} {ms[0].where} "
                         f"{ms[0].change}")
    surv = [m for m in run.mutants if m.status == "survived"]
    if surv:
        lines.append("  SURVIVORS (the stimulus does not notice these):")
        for m in surv:
            lines.append(f"    #{m.id} {m.kind} at {m.where} ({m.owner}): {m.change} in "
                         f"`{m.lhs} = {m.original}`")
    if args.all:
        for m in run.mutants:
            lines.append(f"  #{m.id} {m.status} {m.kind} {m.where}: {m.change} :: {m.how}")
    emit(res, "\n".join(lines), args.json)
    return 0 if c["survived"] == 0 else 1
