"""``synemu formal``: run the project's formal checks (:func:`synemu.sim.formal.checks`) with
SymbiYosys from the venv and print one line per check (``--json``: one object last); exit
1 if any check does not PASS."""

from __future__ import annotations

from ..runtime.report import emit


def cmd_formal(args) -> int:
    from ..sim.formal import checks
    todo = checks(deep=args.deep)
    if args.only:
        names = {c.name for c in todo}
        bad = sorted(set(args.only) - names)
        if bad:
            raise ValueError(f"--only: no check named {', '.join(bad)} (checks: "
                             f"{', '.join(sorted(names))})")
        todo = [c for c in todo if c.name in args.only]
    rows, lines = [], []
    width = max(len(c.name) for c in todo)
    for c in todo:
        r = c.run()
        rows.append({**r.to_dict(), "complete": c.complete, "what": c.what})
        kind = "proof" if c.complete else "bounded"
        line = (f"  {c.name:{width}s}  {r.status:7s}  {r.mode:5s} depth {r.depth:<3d} "
                f"({kind})  {r.seconds:6.1f} s")
        if r.status == "FAIL":
            line += f"\n  {'':{width}s}  failed at {r.where}, step {r.step}; trace {r.trace}"
        elif not r.ok:
            line += f"\n  {'':{width}s}  work dir {r.workdir}"
        lines.append(line)
        if not args.json:
            print(line, flush=True)
    ok = all(r["status"] == "PASS" for r in rows)
    total = sum(r["seconds"] for r in rows)
    summary = f"{sum(r['status'] == 'PASS' for r in rows)}/{len(rows)} checks passed in {total:.1f} s"
    emit({"command": "formal", "ok": ok, "checks": rows, "seconds": total},
         "\n".join(lines + [summary]) if args.json else summary, args.json)
    return 0 if ok else 1


def register(sub):
    from .common import add_common
    p = sub.add_parser("formal", help="formal checks (sby): LFSRs never 0, state ranges, "
                       "the link executes no frame twice")
    p.add_argument("--deep", action="store_true",
                   help="the benchmark's set (every LFSR width, FN presets, deeper BMCs)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these checks")
    add_common(p, None)
    p.set_defaults(func=cmd_formal)
