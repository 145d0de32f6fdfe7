"""The campaign runner: serial vs a dask LocalCluster, records and resume, failures, and a
campaign killed halfway and resumed."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from synemu.campaign import RecordStore, Task, run_campaign, task_key


def mlp_tasks(n, epochs=1):
    return [Task("synemu.runtime.mlp:train_mlp",
                 dict(device="ideal", dataset="digits", seed=s, epochs=epochs, hidden=[16],
                      show_progress=False, device_params={"weight_bits": 6}), label=f"seed{s}")
            for s in range(n)]


def science(rec):
    """A record's result without its wall-clock fields."""
    return {k: v for k, v in rec["result"].items() if "second" not in k}


def test_serial_and_local_cluster_agree_and_resume(tmp_path):
    tasks = mlp_tasks(4)
    a = run_campaign(tasks, tmp_path / "a", workers=1, show_progress=False)
    b = run_campaign(tasks, tmp_path / "b", workers=2, show_progress=False)
    assert a.ok and b.ok and a.ran == b.ran == 4
    assert [science(r) for r in a.records] == [science(r) for r in b.records]
    assert len({r["pid"] for r in b.records}) == 2 and b.dashboard.startswith("http")
    assert len({r["result"]["test_accuracy"] for r in a.records}) > 1     # seeds differ
    again = run_campaign(tasks, tmp_path / "b", workers=2, show_progress=False)
    assert (again.skipped, again.ran, again.dashboard) == (4, 0, None)
    assert [r["result"] for r in again.records] == [r["result"] for r in b.records]
    fresh = run_campaign(tasks[:1], tmp_path / "b", resume=False, show_progress=False)
    assert fresh.ran == 1 and fresh.records[0]["result"]["test_accuracy"] == \
        b.records[0]["result"]["test_accuracy"]


def test_a_failing_task_is_reported_and_the_others_go_on(tmp_path):
    bad = Task("synemu.runtime.mlp:train_mlp", dict(device="ideal", dataset="no-such-set",
                                                    show_progress=False), label="bad")
    tasks = [mlp_tasks(2)[0], bad, mlp_tasks(2)[1]]
    for workers in (1, 2):
        res = run_campaign(tasks, tmp_path / f"w{workers}", workers=workers, show_progress=False)
        assert [r is not None for r in res.records] == [True, False, True]
        (f,) = res.failed
        assert f["task"]["label"] == "bad" and "no-such-set" in f["error"]
        assert "Traceback" in f["traceback"]
        assert (tmp_path / f"w{workers}" / "failed" / f"{bad.key}.json").exists()
        assert res.summary()["failures"][0]["task"]["kwargs"]["dataset"] == "no-such-set"
        with pytest.raises(RuntimeError, match="1 campaign task"):
            res.raise_on_failure()
        rerun = run_campaign(tasks, tmp_path / f"w{workers}", show_progress=False)
        assert (rerun.skipped, rerun.ran, len(rerun.failed)) == (2, 1, 1)   # failures retried


def test_bad_campaigns_are_refused(tmp_path):
    t = mlp_tasks(1)[0]
    with pytest.raises(ValueError, match="two identical tasks"):
        run_campaign([t, t], tmp_path)
    with pytest.raises(ValueError, match="tcp://HOST"):
        run_campaign([t], tmp_path, scheduler="localhost:8786")
    with pytest.raises(ValueError, match="workers must be"):
        run_campaign([t], tmp_path, workers=0)
    with pytest.raises(ValueError, match="JSON-serialisable"):
        Task("a:b", {"x": object()})
    with pytest.raises(ValueError, match="module:function"):
        Task("train_mlp")
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        run_campaign([t], tmp_path / "file")


def test_keys_depend_on_function_arguments_and_code(monkeypatch):
    k = task_key("m:f", {"a": 1, "b": [1, 2]})
    assert k == task_key("m:f", {"b": [1, 2], "a": 1})           # argument order is irrelevant
    assert k != task_key("m:f", {"a": 2, "b": [1, 2]}) != task_key("m:g", {"a": 1, "b": [1, 2]})
    from synemu import campaign
    monkeypatch.setattr(campaign, "code_fingerprint", lambda: "other-code")
    assert campaign.task_key("m:f", {"a": 1, "b": [1, 2]}) != k   # a code change redoes it


KILL_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_campaign import mlp_tasks
    from synemu.campaign import run_campaign
    if __name__ == "__main__":
        run_campaign(mlp_tasks(10, epochs=4), {out!r}, workers=2, show_progress=False)
""")


def test_killed_halfway_then_resumed_equals_serial(tmp_path):
    """A 2-process LocalCluster campaign killed once some records exist loses only the
    tasks in flight; resuming runs the rest; every record equals a serial run's."""
    out = tmp_path / "killed"
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.format(tests=str(Path(__file__).parent), out=str(out)))
    proc = subprocess.Popen([sys.executable, str(script)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "records").is_dir() and len(list((out / "records").glob("*.json"))) >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the campaign finished before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)          # the client, its cluster and workers
        proc.wait()
    done_before = RecordStore(out).keys()
    assert 3 <= len(done_before) < 10
    tasks = mlp_tasks(10, epochs=4)
    resumed = run_campaign(tasks, out, workers=2, show_progress=False)
    assert resumed.skipped == len(done_before) and resumed.ran == 10 - len(done_before)
    serial = run_campaign(tasks, tmp_path / "serial", workers=1, show_progress=False)
    assert [science(r) for r in resumed.records] == [science(r) for r in serial.records]
    for rec in resumed.records:                       # every stored record is whole JSON
        assert json.loads((out / "records" / f"{rec['key']}.json").read_text())["ok"]


def test_an_existing_cluster_by_address(tmp_path):
    """``--scheduler tcp://...``: a cluster started elsewhere (here a LocalCluster of 2
    processes) runs the tasks; records and results as in process."""
    from dask.distributed import LocalCluster
    tasks = mlp_tasks(3)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:
        res = run_campaign(tasks, tmp_path / "remote", scheduler=cluster.scheduler_address,
                           show_progress=False)
    local = run_campaign(tasks, tmp_path / "local", show_progress=False)
    assert res.ok and res.workers == 2 and res.scheduler.startswith("tcp://")
    assert [science(r) for r in res.records] == [science(r) for r in local.records]
    assert RecordStore(tmp_path / "remote").keys() == {t.key for t in tasks}


def test_default_workers(monkeypatch):
    from synemu.campaign import default_workers
    monkeypatch.delenv("SYNEMU_WORKERS", raising=False)
    assert default_workers() == (os.cpu_count() or 1)
    monkeypatch.setenv("SYNEMU_WORKERS", "3")
    assert default_workers() == 3
    for bad in ("0", "two"):
        monkeypatch.setenv("SYNEMU_WORKERS", bad)
        with pytest.raises(ValueError, match="SYNEMU_WORKERS must be a positive integer"):
            default_workers()
