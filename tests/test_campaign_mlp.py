"""The MLP comparisons and the FeMFET sweep as campaigns (runtime/campaign.py): the same
tables in this process and on a dask LocalCluster, reruns reuse the records, a failed run
is named after the others finished."""

from __future__ import annotations

import json

import pytest

from synemu.cli.main import main
from synemu.runtime.mlp import compare_devices, compare_plan

TINY = dict(hidden=(16,), epochs=1, batch=64)
SETS = {"ideal-6bit": ("ideal", "6bit", {}), "femfet-6bit": ("femfet", "6bit", {})}


def _science(res: dict) -> dict:
    """A result without its timings and its campaign report."""
    if isinstance(res, dict):
        return {k: _science(v) for k, v in res.items()
                if k not in ("seconds", "seconds_mean", "campaign", "plot")}
    if isinstance(res, list):
        return [_science(v) for v in res]
    return res


def _last_json(capsys) -> tuple[dict, str]:
    lines = capsys.readouterr().out.strip().splitlines()
    return json.loads(lines[-1]), "\n".join(lines[:-1])


def test_compare_devices_same_serially_and_on_a_local_cluster(tmp_path):
    kw = dict(seeds=(0, 1), sets=SETS, show_progress=False, **TINY)
    serial = compare_devices("digits", **kw)
    parallel = compare_devices("digits", workers=2, out=tmp_path / "c", **kw)
    assert _science(serial) == _science(parallel)
    assert serial["table"] == {k: {**v, "seconds_mean": serial["table"][k]["seconds_mean"]}
                               for k, v in parallel["table"].items()}
    assert len(serial["runs"]["femfet-6bit"]) == 2 and "6bit" in serial["gaps"]
    assert len(list((tmp_path / "c" / "records").glob("*.json"))) == 4
    # resumed from the records: the very same dict, timings included
    assert compare_devices("digits", out=tmp_path / "c", **kw) == parallel


def test_compare_plan_runs_a_repeated_set_once_and_names_instances():
    from synemu.spec.registry import make_device
    dev = make_device("ideal", weight_bits=6)
    tasks, collect = compare_plan("digits", seeds=(0,), sets={
        "a": ("ideal", None, {"weight_bits": 6}), "b": ("ideal", None, {"weight_bits": 6}),
        "c": (dev, None, {})}, **TINY)
    assert len(tasks) == 2 and tasks[0].fn == "synemu.runtime.mlp:compare_run"
    assert tasks[1].kwargs["device"] == "ideal" and tasks[1].kwargs["device_params"] == dev.params()
    with pytest.raises(ValueError, match="bad parameters"):   # before any run
        compare_plan("digits", seeds=(0,), sets={"x": ("ideal", None, {"nope": 1})})


def test_failed_run_is_named_after_the_others(tmp_path, monkeypatch):
    import synemu.runtime.mlp as mlp
    real = mlp.train_mlp

    def flaky(device, *a, seed=0, **k):
        if device == "femfet" and seed == 1:
            raise RuntimeError("boom")
        return real(device, *a, seed=seed, **k)

    monkeypatch.setattr(mlp, "train_mlp", flaky)
    with pytest.raises(RuntimeError, match=r"1 campaign task\(s\) failed; first: "
                                           r"femfet-6bit/seed1.*boom"):
        compare_devices("digits", seeds=(0, 1), sets=SETS, show_progress=False,
                        out=tmp_path, **TINY)
    assert len(list((tmp_path / "records").glob("*.json"))) == 3
    assert len(list((tmp_path / "failed").glob("*.json"))) == 1


def test_failed_run_fails_the_command_naming_it(capsys, tmp_path, monkeypatch):
    import synemu.runtime.mlp as mlp
    real = mlp.train_mlp

    def flaky(device, *a, seed=0, **k):
        if device == "femfet" and seed == 0:
            raise RuntimeError("boom")
        return real(device, *a, seed=seed, **k)

    monkeypatch.setattr(mlp, "train_mlp", flaky)
    assert main(SWEEP + ["--out", str(tmp_path)]) == 1
    cap = capsys.readouterr()
    err = json.loads(cap.out.strip().splitlines()[-1])["error"]
    assert err.startswith("1 of 4 task(s) failed") and "femfet-2+4/carry/leak-None/seed0" in err
    assert "RuntimeError: boom" in err and "Traceback" not in cap.err
    assert len(list((tmp_path / "campaign" / "records").glob("*.json"))) == 3
    monkeypatch.setattr(mlp, "train_mlp", real)
    assert main(SWEEP + ["--out", str(tmp_path)]) == 0           # only the failed run again
    assert _last_json(capsys)[0]["campaign"]["ran"] == 1


SWEEP = ["femfet", "sweep", "--splits", "2+4", "--transfers", "carry", "--leaks", "none",
         "--epochs", "1", "--hidden", "16", "--seeds", "2", "--dataset", "digits", "--json"]


def test_sweep_cli_rerun_skips_every_task(capsys, tmp_path):
    argv = SWEEP + ["--out", str(tmp_path)]
    assert main(argv) == 0
    first, text = _last_json(capsys)
    assert first["campaign"]["tasks"] == 4 and first["campaign"]["ran"] == 4
    assert "campaign: 4 runs (4 ran on this process, 0 reused)" in text
    assert len(list((tmp_path / "campaign" / "records").glob("*.json"))) == 4
    assert main(argv) == 0
    again, text = _last_json(capsys)
    c = again["campaign"]
    assert (c["tasks"], c["skipped"], c["ran"], c["failed"]) == (4, 4, 0, 0)
    assert again["rows"] == first["rows"] and again["ideal"] == first["ideal"]
    assert _science(again) == _science(first)
    assert main(argv + ["--no-resume"]) == 0
    assert _last_json(capsys)[0]["campaign"]["ran"] == 4


def test_measured_compare_cli_two_workers_equals_one(capsys, tmp_path):
    argv = ["measured", "compare", "--preset", "fefet-jerry2017", "--dataset", "digits",
            "--seeds", "2", "--epochs", "1", "--hidden", "16", "--batch", "64", "--json"]
    assert main(argv + ["--out", str(tmp_path / "w1")]) == 0
    one, _ = _last_json(capsys)
    assert main(argv + ["--out", str(tmp_path / "w2"), "--workers", "2"]) == 0
    two, text = _last_json(capsys)
    assert one["campaign"]["workers"] == 1 and two["campaign"]["workers"] == 2
    assert two["campaign"]["ran"] == 6 and two["campaign"]["dashboard"]
    assert "2 local workers" in text
    assert _science(one) == _science(two)
    assert list(one["table"])[0] == "float32" and one["device"] in one["table"]
    assert len(one["table"]) == 3 and one["table"][one["device"]]["mean"] > 10
