"""``synemu mtj snn`` as a campaign: one task per (size, seed), the same results serially and
on 2 workers, resumable, failures named, Ctrl-C keeps what finished."""

from __future__ import annotations

import json

import numpy as np

#: a tiny run: 6 neurons, 30 train / 15 test digits, 8 steps per sample
TINY = ["mtj", "snn", "--neurons", "6", "--seeds", "2", "--n-train", "30", "--n-test", "15",
        "--set", "steps=8", "--json"]
#: wall-clock fields, campaign bookkeeping and paths (they name --out)
OTHER = {"seconds", "train_seconds", "train_samples_per_s", "synapse_updates_per_s",
         "campaign", "receptive_fields", "states_file", "accuracy_vs_n_plot"}


def science(d):
    if isinstance(d, dict):
        return {k: science(v) for k, v in d.items() if k not in OTHER}
    if isinstance(d, list):
        return [science(v) for v in d]
    return d


def run(argv, capsys):
    from synemu.cli.main import main
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, json.loads(cap.out.strip().splitlines()[-1]), cap.err


def test_snn_same_on_1_and_2_workers_and_resumes(tmp_path, capsys):
    from synemu.devices.mtj.experiments import pack_states, train_snn, unpack_states
    a, b = tmp_path / "a", tmp_path / "b"
    rc1, one, _ = run(TINY + ["--out", str(a)], capsys)
    rc2, two, _ = run(TINY + ["--out", str(b), "--workers", "2"], capsys)
    assert rc1 == rc2 == 0
    assert science(one) == science(two)
    assert [r["seed"] for r in one["runs"]] == [0, 1]
    assert one["accuracy"]["6"]["accuracies"] == [r["test_accuracy"] for r in one["runs"]]
    assert one["campaign"]["tasks"] == 2 and two["campaign"]["workers"] == 2
    for s in (0, 1):
        fa, fb = (np.load(d / f"snn-digits-N6-s{s}-golden.npz") for d in (a, b))
        assert all(np.array_equal(fa[k], fb[k]) for k in fa.files)
    # the task is train_snn itself; its states survive the JSON record
    ref = train_snn("digits", 6, seed=1, n_train=30, n_test=15, show_progress=False, steps=8)
    assert one["runs"][1]["counts_sha"] == ref["counts_sha"]
    assert np.array_equal(np.load(a / "snn-digits-N6-s1-golden.npz")["states"], ref["states"])
    assert np.array_equal(unpack_states(pack_states(ref["states"])), ref["states"])
    # rerun: both tasks come from their records
    rc, again, _ = run(TINY + ["--out", str(a)], capsys)
    assert rc == 0 and (again["campaign"]["skipped"], again["campaign"]["ran"]) == (2, 0)
    assert again == {**one, "campaign": again["campaign"]}


def test_snn_failed_task_named_and_interrupt_keeps_finished(tmp_path, capsys, monkeypatch):
    from synemu.devices.mtj import experiments
    real = experiments.train_snn

    def failing(exc):
        def train(*a, seed=0, **kw):
            if seed == 1:
                raise exc
            return real(*a, seed=seed, **kw)
        return train

    monkeypatch.setattr(experiments, "train_snn", failing(ArithmeticError("boom")))
    rc, res, err = run(TINY + ["--out", str(tmp_path)], capsys)
    assert rc == 1 and res["ok"] is False
    assert "N=6 seed 1" in res["error"] and "boom" in res["error"] and "N=6 seed 1" in err
    assert len(list((tmp_path / "campaign" / "records").glob("*.json"))) == 1
    # Ctrl-C in the second task: the first (from its record) is reported, exit 130
    monkeypatch.setattr(experiments, "train_snn", failing(KeyboardInterrupt()))
    rc, res, _ = run(TINY + ["--out", str(tmp_path)], capsys)
    assert rc == 130 and res["interrupted"] is True and [r["seed"] for r in res["runs"]] == [0]
    # fixed: the rerun runs only the missing task
    monkeypatch.setattr(experiments, "train_snn", real)
    rc, res, _ = run(TINY + ["--out", str(tmp_path)], capsys)
    assert rc == 0 and (res["campaign"]["skipped"], res["campaign"]["ran"]) == (1, 1)
    # an unknown --set key is an error before any task runs
    rc, res, _ = run(TINY + ["--out", str(tmp_path), "--set", "bogus=1"], capsys)
    assert rc == 2 and "bogus" in res["error"]
