"""Bad input, table-driven: every case exits non-zero with a message naming the problem (the
option, the key, the path), prints exactly one JSON object last with ``--json``
(``"ok": false``), and never a traceback; nothing runs first and fails late."""

from __future__ import annotations

import json

import pytest

from synemu.cli.main import main

CASES = [
    (["verify", "--seeds", "0"], "--seeds"),
    (["verify", "--seeds", "-1"], "--seeds"),
    (["verify", "--ops", "0"], "--ops"),
    (["verify", "--ops", "-5"], "--ops"),
    (["verify", "--rows", "0"], "--rows"),
    (["verify", "--waves", "--wave-window", "5:3"], "--wave-window"),
    (["verify", "--backend", "amaranth", "--rows", "65536", "--cols", "65536"], "synapses"),
    (["verify", "--device", "nosuch"], "unknown device 'nosuch'"),
    (["verify", "--device", "ideal", "--param", "bogus=1"], "bogus"),
    (["verify", "--device", "ideal", "--preset", "9bit"], "no preset '9bit'"),
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--param", "noequals"], "--param"),
    (["train", "--dataset", "no/such/file.npz"], "no/such/file.npz"),
    (["train", "--device", "mtj", "--param", "neurons=0"], "neurons"),
    (["train", "--device", "mtj", "--param", "bogus=1"], "bogus"),
    (["train", "--device", "mtj", "--backend", "amaranth"], "backend 'amaranth'"),
    (["demo", "--epochs", "0"], "--epochs"),
    (["demo", "--neurons", "0"], "--neurons"),
    (["run", "--epochs", "0"], "--epochs"),
    (["run", "--limit", "0"], "--limit"),
    (["run", "--chunk", "0"], "--chunk"),
    (["capacity", "--board", "icebreaker", "--sizes", "0"], "--sizes"),
    (["mtj", "snn", "--epochs", "0"], "--epochs"),
    (["mtj", "snn", "--n-train", "0"], "--n-train"),
    (["mtj", "snn", "--neurons", "5,0"], "--neurons"),
    (["mtj", "snn", "--set", "bogus=1"], "bogus"),
    (["mtj", "snn-verify", "--seeds", "0"], "--seeds"),
    (["snn", "--epochs", "0"], "--epochs"),                # legacy name, same checks
    (["femfet", "compare", "--seeds", "0"], "--seeds"),
    (["femfet", "sweep", "--splits", "0+4"], "bit split"),
    (["fn", "compare", "--seeds", "0"], "--seeds"),
    (["nosuch-command"], "invalid choice"),
]


@pytest.mark.parametrize("argv,needle", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input(argv, needle, capsys, tmp_path):
    try:
        rc = main([*argv, "--json", "--out", str(tmp_path / "out")])
    except SystemExit as e:          # argparse errors exit through SynemuParser.error
        rc = e.code
    cap = capsys.readouterr()
    assert rc not in (0, None)
    lines = cap.out.strip().splitlines()
    res = json.loads(lines[-1])
    assert res["ok"] is False and needle in res["error"], res
    assert "error: " in cap.err and needle in cap.err
    assert "Traceback" not in cap.err + cap.out
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_out_that_is_a_file_fails_before_training(capsys, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    rc = main(["train", "--epochs", "50", "--out", str(f), "--json"])
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 2 and "--out" in res["error"] and "is a file" in res["error"]


def test_unusable_build_dir_is_named(capsys, tmp_path, monkeypatch):
    f = tmp_path / "file"
    f.write_text("x")
    monkeypatch.setenv("SYNEMU_BUILD_DIR", str(f))
    rc = main(["verify", "--seeds", "1", "--ops", "5", "--json", "--out", str(tmp_path / "o")])
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 2 and "SYNEMU_BUILD_DIR" in res["error"]


def test_dataset_path_gives_file_names_from_its_name(capsys, tmp_path):
    import numpy as np
    rng = np.random.default_rng(0)
    d = tmp_path / "data dir"
    d.mkdir()
    np.savez(d / "my set.npz", x_train=rng.random((40, 16)), y_train=rng.integers(0, 3, 40),
             x_test=rng.random((12, 16)), y_test=rng.integers(0, 3, 12))
    out = tmp_path / "out"
    rc = main(["train", "--dataset", str(d / "my set.npz"), "--epochs", "1", "--out", str(out),
               "--json"])
    assert rc == 0, capsys.readouterr().err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["train-ideal-my_set.npz-golden.json", "train-ideal-my_set.npz-golden.png"]
