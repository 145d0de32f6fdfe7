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
    with pytest.raises(SystemExit):
        main(["train", "--param", "noequals"])
