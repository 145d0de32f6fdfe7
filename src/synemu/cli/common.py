"""What every ``synemu`` command shares: device arguments, ``--json``/``--out``, parameter
parsing and the one error path (a message on stderr; with ``--json`` also one
``{"ok": false, "error": ...}`` object last on stdout; a non-zero exit)."""

from __future__ import annotations

import argparse

__all__ = ["run_json", "CommandError", "SynemuParser", "positive_int", "parse_param", "add_device_args",
           "add_common", "device_from_args", "json_requested"]


class CommandError(Exception):
    """A failure to report as ``synemu <command>: error: <message>`` (exit code ``code``)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def positive_int(text: str) -> int:
    """argparse type of counts (seeds, ops, epochs, sizes, limits): an integer >= 1, so a
    zero or negative value is an error naming the option, never a silent default."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants an integer, not {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {v}")
    return v


def json_requested(argv) -> bool:
    return "--json" in (argv or [])


class SynemuParser(argparse.ArgumentParser):
    """argparse with synemu's error convention: ``synemu <command>: error: <message>`` on
    stderr (the usage line first) and, when ``--json`` is on the command line, one
    ``{"ok": false, "error": ...}`` object on stdout; exit code 2."""

    argv: list | None = None     # set by cli.main before parsing

    def error(self, message):
        import sys

        from ..runtime.report import dumps
        self.print_usage(sys.stderr)
        name = self.prog.replace("synemu", "", 1).strip() or "synemu"
        print(f"synemu {name}: error: {message}".replace("synemu synemu", "synemu"),
              file=sys.stderr)
        if json_requested(SynemuParser.argv):
            print(dumps({"command": name, "ok": False, "error": message}), flush=True)
        raise SystemExit(2)


def parse_param(text: str):
    """``KEY=VALUE`` -> (key, int | float | bool | str)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"wants KEY=VALUE, not {text!r}")
    k, v = text.split("=", 1)
    for conv in (int, float):
        try:
            return k, conv(v)
        except ValueError:
            pass
    return k, {"true": True, "false": False}.get(v.lower(), v)


def add_device_args(p: argparse.ArgumentParser, default: str = "ideal"):
    p.add_argument("--device", default=default,
                   help="device model (installed devices: `synemu devices`; default %(default)s)")
    p.add_argument("--preset", default=None, help="named device preset, e.g. 6bit")
    p.add_argument("--param", type=parse_param, action="append", default=[], metavar="KEY=VALUE",
                   help="device parameter override (repeatable)")


def device_from_args(args):
    from ..spec.registry import make_device
    return make_device(args.device, preset=args.preset, **dict(args.param))


def add_common(p: argparse.ArgumentParser, out: str | None = "runs"):
    p.add_argument("--json", action="store_true", help="print one JSON object last")
    if out is not None:
        p.add_argument("--out", default=out,
                       help="directory for plots and JSON (default %(default)s)")


def add_campaign_args(p: argparse.ArgumentParser):
    """``--workers``, ``--scheduler`` and ``--no-resume`` of commands that run campaigns
    (:mod:`synemu.campaign`; records under ``--out``/campaign)."""
    p.add_argument("--workers", type=positive_int, default=None,
                   help="local worker processes (a dask LocalCluster); 1: in this process "
                        "(default: $SYNEMU_WORKERS or the number of cores)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run the tasks on an existing dask cluster instead")
    p.add_argument("--no-resume", action="store_true",
                   help="rerun tasks that already have a record under --out/campaign")


def run_tasks(args, tasks, desc: str, *, out=None):
    """Run ``tasks`` as the campaign of a command parsed with :func:`add_campaign_args`
    (records under ``out`` or ``--out``/campaign); returns the CampaignResult, raising
    CommandError (exit 1) naming the first failed task after the others finished."""
    from pathlib import Path

    from ..campaign import run_campaign
    root = Path(out) if out is not None else Path(getattr(args, "out", None) or "runs") / "campaign"
    from ..campaign import default_workers
    res = run_campaign(tasks, root, workers=getattr(args, "workers", None) or default_workers(),
                       scheduler=getattr(args, "scheduler", None),
                       resume=not getattr(args, "no_resume", False), desc=desc)
    if res.failed:
        f = res.failed[0]
        raise CommandError(f"{len(res.failed)} of {len(tasks)} task(s) failed (records of the "
                           f"others kept under {res.root}); first: "
                           f"{f['task']['label'] or f['task']['fn']}: {f['error']}", code=1)
    return res


def run_json(argv) -> tuple[int, dict]:
    """Run ``synemu ARGV --json`` in this process (its human-readable output suppressed);
    returns (exit code, the JSON object it printed last). For scripts and benchmarks."""
    import contextlib
    import io
    import json

    from .main import main
    argv = list(argv)
    if "--json" not in argv:
        argv.append("--json")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(argv)
    lines = buf.getvalue().strip().splitlines()
    if not lines:
        raise RuntimeError(f"synemu {' '.join(argv)} printed nothing (exit {rc})")
    return rc, json.loads(lines[-1])

