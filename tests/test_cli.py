"""The synemu command line: summaries, the --json convention and clear errors."""

import json

import pytest

from synemu.cli.main import main


def _last_json(capsys):
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1]), "\n".join(out[:-1])


def test_verify_amaranth_json(capsys, tmp_path):
    rc = main(["verify", "--device", "ideal", "--backend", "amaranth", "--seeds", "2",
               "--ops", "40", "--json", "--out", str(tmp_path)])
    res, summary = _last_json(capsys)
    assert rc == 0 and res["mismatches"] == 0 and res["commands"] == 80
    assert "bit-exact" in summary


def test_train_json_writes_plot(capsys, tmp_path):
    rc = main(["train", "--device", "ideal", "--dataset", "digits", "--backend", "golden",
               "--epochs", "2", "--json", "--out", str(tmp_path)])
    res, summary = _last_json(capsys)
    assert rc == 0 and 0.5 < res["test_accuracy"] <= 1.0
    assert (tmp_path / "train-ideal-digits-golden.png").stat().st_size > 1000
    assert "epoch  2" in summary


def test_cli_errors(capsys, tmp_path):
    assert main(["train", "--device", "nosuch", "--out", str(tmp_path)]) == 2
    assert "unknown device 'nosuch'" in capsys.readouterr().err
    assert main(["verify", "--device", "ideal", "--backend", "amaranth", "--lanes", "3",
                 "--out", str(tmp_path)]) == 2
    assert "lanes must be a power of two" in capsys.readouterr().err
    assert main(["train", "--param", "noequals"]) == 2
    assert "--param: wants KEY=VALUE" in capsys.readouterr().err


def test_failure_with_json_prints_one_object_last(capsys, tmp_path):
    rc = main(["train", "--device", "nosuch", "--json", "--out", str(tmp_path)])
    cap = capsys.readouterr()
    res = json.loads(cap.out.strip().splitlines()[-1])
    assert rc == 2 and res == {"command": "train", "ok": False,
                               "error": res["error"]} and "nosuch" in res["error"]
    assert cap.err.startswith("synemu train: error: unknown device 'nosuch'")
    assert "Traceback" not in cap.err


def test_devices_lists_every_builtin_device(capsys):
    assert main(["devices", "--json"]) == 0
    res, summary = _last_json(capsys)
    devs = {d["name"]: d for d in res["devices"]}
    assert set(devs) >= {"ideal", "probe", "fn", "femfet", "mtj"}
    assert devs["ideal"]["presets"] == ["6bit", "8bit"]
    assert devs["fn"]["rule"] == "synemu.devices.fn.gateware:FNRule"
    assert devs["mtj"]["trainer"] == "synemu.devices.mtj.cli:cmd_train_mtj"
    assert "digits" in devs["femfet"]["datasets"]
    assert "5 devices installed" in summary or "devices installed" in summary


def test_device_experiments_and_legacy_names(capsys, tmp_path):
    """``synemu <device> <experiment>``; the old flat name runs the same, with a note."""
    argv = ["--points", "8", "--json", "--out", str(tmp_path)]
    assert main(["fn", "trajectory", *argv]) == 0
    new = _last_json(capsys)[0]
    assert main(["fn-trajectory", *argv]) == 0
    cap = capsys.readouterr()
    old = json.loads(cap.out.strip().splitlines()[-1])
    assert "`fn-trajectory` is now `fn trajectory`" in cap.err
    assert {k: v for k, v in old.items() if "second" not in k} == \
        {k: v for k, v in new.items() if "second" not in k}
    assert main(["fn", "nosuch"]) == 2


def test_verify_ctrl_c_reports_finished_seeds(capsys, tmp_path, monkeypatch):
    import synemu.sim.lockstep as L
    real = L.random_commands

    def commands(config, seed, n):
        if seed == 2:
            raise KeyboardInterrupt
        return real(config, seed, n)

    monkeypatch.setattr(L, "random_commands", commands)
    rc = main(["verify", "--backend", "amaranth", "--seeds", "5", "--ops", "30", "--json",
               "--out", str(tmp_path)])
    res, summary = _last_json(capsys)
    assert rc == 130 and res["interrupted"] and res["commands"] == 60 and res["ok"]
    assert "interrupted (Ctrl-C)" in summary


def test_run_json_returns_the_last_json_object(capsys):
    """``run_json``: a command in process, its exit code and the JSON object it printed last
    (``--json`` added), including the error object of a refused command."""
    from synemu.cli.common import run_json
    rc, res = run_json(["devices"])
    assert rc == 0 and res["command"] == "devices" and res["ok"]
    assert {"ideal", "femfet", "fn", "mtj"} <= {d["name"] for d in res["devices"]}
    rc, res = run_json(["verify", "--seeds", "0"])
    assert rc == 2 and res == {"command": "verify", "ok": False,
                               "error": "argument --seeds: must be at least 1, not 0"}
    assert capsys.readouterr().out == ""          # nothing leaked to stdout
