"""``synemu fn compare`` as a campaign: the same dict serially and on 2 workers, resumable."""

from __future__ import annotations

import json

import numpy as np
import pytest

TIMING = {"seconds", "campaign", "plot"}


def science(d):
    """``d`` without wall-clock times, campaign bookkeeping and file paths."""
    if isinstance(d, dict):
        return {k: science(v) for k, v in d.items() if k not in TIMING}
    if isinstance(d, list):
        return [science(v) for v in d]
    return d


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The first 120 train / 40 test samples of digits as a .npz dataset."""
    from synemu.runtime.datasets import load_dataset
    ds = load_dataset("digits")
    p = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(p, x_train=ds.x_train[:120], y_train=ds.y_train[:120], x_test=ds.x_test[:40],
             y_test=ds.y_test[:40])
    return str(p)


def test_compare_same_on_1_and_2_workers_and_resumes(tiny, tmp_path):
    from synemu.devices.fn.learning import (MODELS, compare, compare_results, compare_tasks,
                                            train_fn)
    from synemu.devices.fn.presets import PAPER_DIGITS
    from synemu.campaign import run_campaign
    kw = dict(seeds=(0, 1), epochs=1, show_progress=False)
    one = compare("paper", tiny, workers=1, out=tmp_path / "rec", **kw)
    two = compare("paper", tiny, workers=2, **kw)
    assert science(one) == science(two)
    assert one["seeds"] == [0, 1] and set(MODELS) <= set(one)
    assert [r["seed"] for r in one["runs"]["fn"]] == [0, 1]
    # the fn run is train_fn itself
    ref = train_fn("paper", tiny, seed=1, recipe=PAPER_DIGITS, epochs=1, show_progress=False)
    assert one["runs"]["fn"][1]["test_accuracy_per_epoch"] == ref["test_accuracy_per_epoch"]
    assert one["runs"]["fn"][1]["energy_fj"] == ref["energy_fj"]
    # rerun: every task comes from its record (and the dict is unchanged, times included)
    tasks = compare_tasks("paper", tiny, seeds=(0, 1), epochs=1)
    assert len(tasks) == 2 * len(MODELS)
    res = run_campaign(tasks, tmp_path / "rec", show_progress=False)
    assert (res.skipped, res.ran) == (len(tasks), 0)
    assert compare_results(tasks, res.results(), (0, 1), 10.0) == one


def test_compare_failed_task_is_named(tiny, monkeypatch):
    from synemu.devices.fn import learning
    real = learning.train_float

    def flaky(*a, seed=0, schedule="matched", **kw):
        if seed == 1 and schedule == "constant":
            raise ArithmeticError("boom")
        return real(*a, seed=seed, schedule=schedule, **kw)

    monkeypatch.setattr(learning, "train_float", flaky)
    with pytest.raises(RuntimeError, match=r"1 campaign task\(s\) failed; first: "
                                           r"float-constant seed 1.*boom"):
        learning.compare("paper", tiny, seeds=(0, 1), epochs=1, show_progress=False)
    with pytest.raises(ValueError, match="deterministic"):
        from dataclasses import replace
        from synemu.devices.fn.presets import PAPER_DIGITS
        learning.compare_tasks("paper", tiny, recipe=replace(PAPER_DIGITS, rounding="stochastic"))


def test_cli_fn_compare_campaign(tiny, tmp_path, capsys):
    from synemu.cli.main import main
    argv = ["fn", "compare", "--dataset", tiny, "--seeds", "2", "--epochs", "1", "--out",
            str(tmp_path), "--json"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    c = first["campaign"]
    assert (c["tasks"], c["ran"], c["skipped"], c["failed"]) == (8, 8, 0, 0)
    assert c["records"] == str(tmp_path / "campaign")
    assert len(list((tmp_path / "campaign" / "records").glob("*.json"))) == 8
    # rerun on 2 workers: nothing left to run (no cluster is started), same science
    assert main(argv + ["--workers", "2"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (again["campaign"]["skipped"], again["campaign"]["ran"]) == (8, 0)
    assert again == {**first, "campaign": again["campaign"]}
