"""The measured device: golden rules, device files, the fit (bad data, recovery, presets)
and its commands. The hardware rule's lockstep tests are in test_measured_gateware.py."""

import gzip
import json

import numpy as np
import pytest

from synemu.devices.measured.devicefile import load, load_params
from synemu.devices.measured.fit import fit_device, fit_file, read_pulse_csv
from synemu.devices.measured.golden import MeasuredDevice, popcount64
from synemu.devices.measured.physics import FittedModel, PulseModel, synthesize, write_csv
from synemu.devices.measured.presets import (DEFAULT_PRESET, make_preset, preset_csv,
                                             preset_files, synthetic_params)


def table_device(up=64, down=32, noise=0, **kw):
    """4-bit, 2 codes, frac 6: constant tables."""
    K, C = 16, 2
    p = dict(bits=4, pulse_bits=2, frac_bits=6, noise_bits=4, d2d_bits=0,
             delta_up=[[up, 2 * up]] * K, delta_down=[[down, 2 * down]] * K,
             noise_up=[[noise] * C] * K, noise_down=[[noise] * C] * K)
    p.update(kw)
    return MeasuredDevice(**p)


def words(n, seed=0):
    return np.random.default_rng(seed).integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2)


# -- golden -------------------------------------------------------------------------------
def test_popcount64():
    v = np.random.default_rng(1).integers(0, 2**63, 200, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    assert popcount64(v).tolist() == [bin(int(x)).count("1") for x in v]


def test_whole_steps_clamp_and_zero_pulse():
    d = table_device(up=64, down=128)          # +1 state / -2 states per code 0
    st = {"n": np.array([0, 7, 15], dtype=np.uint8)}
    up = d.update(st, np.array([1, 1, 1]), words(3))["n"].tolist()
    assert up == [1, 8, 15]                                # clamped at K-1
    down = d.update(st, np.array([-1, -1, -1]), words(3))["n"].tolist()
    assert down == [0, 5, 13]                              # clamped at 0
    code1 = d.update(st, np.array([2, -2, 2]), words(3))["n"].tolist()   # |p| = 2: code 1
    assert code1 == [2, 3, 15]
    big = d.update(st, np.array([-2, -2, -2]), words(3))["n"].tolist()   # pulse_bits 2: -2 is the max
    assert big == [0, 3, 11]
    assert d.update(st, np.zeros(3, int), words(3))["n"].tolist() == [0, 7, 15]


def test_stochastic_rounding_is_unbiased():
    d = table_device(up=16)                          # a quarter state per pulse
    n = 20000
    st = {"n": np.full(n, 4, dtype=np.uint8)}
    out = d.update(st, np.ones(n, int), words(n))["n"].astype(int) - 4
    assert set(out.tolist()) == {0, 1}
    assert abs(out.mean() - 0.25) < 0.015


@pytest.mark.parametrize("z, s", [(1, 0), (4, 0), (3, 1)])
def test_binomial_noise_std(z, s):
    """frac_bits 0 (no rounding): the step is the noise term itself, std sqrt(z/2) 2^s."""
    d = table_device(up=0, down=0, noise=z + 32 * s, frac_bits=0)
    n = 40000
    st = {"n": np.full(n, 8, dtype=np.uint8)}
    rng = np.random.default_rng(z * 8 + s)
    r = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, n, dtype=np.uint64)
    step = d.update(st, np.ones(n, int), r)["n"].astype(float) - 8
    assert set(np.unique(step).tolist()) <= {k << s for k in range(-z, z + 1)}
    assert abs(step.mean()) < 0.03 * 2 ** s
    assert step.std() == pytest.approx(np.sqrt(z / 2) * 2 ** s, rel=0.03)


def test_d2d_code_drawn_once_and_scales_the_step():
    d = table_device(up=64, d2d_bits=2, scale=[0, 64, 128, 192])
    st = d.reset_state((400,))
    r = words(400, 3) + np.uint64(1)
    s1 = d.update(st, np.ones(400, int), r)
    assert (s1["v"] == 1).all()
    code = s1["d"].astype(int)
    assert set(code.tolist()) == {0, 1, 2, 3}
    # the step of the first pulse already uses the drawn scale: 0, 1, 2, 3 states
    assert ((s1["n"].astype(int) - d.init) == code).all()
    s2 = d.update(s1, np.ones(400, int), words(400, 4))       # different words: same codes
    assert (s2["d"] == s1["d"]).all()
    assert ((s2["n"].astype(int) - s1["n"].astype(int)) == np.minimum(code, 15 - s1["n"])).all()
    s0 = d.update(st, np.zeros(400, int), r)                 # no pulse: nothing drawn
    assert (s0["v"] == 0).all()


def test_differential_pair_moves_one_device():
    d = table_device(up=64, down=500, differential=True)
    assert d.init == 0 and [f.name for f in d.fields] == ["n_p", "n_m"]
    st = d.reset_state((2,))
    st = d.update(st, np.array([1, -1]), words(2))
    assert st["n_p"].tolist() == [1, 0] and st["n_m"].tolist() == [0, 1]
    assert d.train_weight(st).tolist() == [1, -1]
    assert d.weight_width == 5                               # -15 .. 15


def test_drift_moves_towards_rest_and_composes():
    d = table_device(drift_period_log2=2, drift_rest=8)
    st = {"n": np.arange(16, dtype=np.uint8)}
    a = d.tick(d.tick(st, 5, 0), 7, 5)
    b = d.tick(st, 12, 0)
    assert a["n"].tolist() == b["n"].tolist()
    assert d.drift_events(12, 0) == 3
    assert b["n"].tolist() == [max(min(v + 3, 8), v - 3) if v < 8 else max(v - 3, 8)
                               for v in range(16)]
    assert d.tick_sweeps and not table_device().tick_sweeps


def test_nonlinear_levels_and_weight():
    lv = [0, 1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 66, 78, 91, 105, 120]
    d = table_device(levels=lv)
    assert d.level_ref == lv[d.init]
    st = {"n": np.array([0, 15], dtype=np.uint8)}
    assert d.train_weight(st).tolist() == [-lv[8], 120 - lv[8]]
    w = np.array([-30, 0, 50])
    assert d.train_weight(d.state_for_weight(w)).tolist() == [-30, 0, 55]    # nearest levels


@pytest.mark.parametrize("kw, msg", [
    (dict(delta_up=[[1, 2]] * 3), "16 x 2 table"),
    (dict(delta_up=[[1, 2**11]] * 16), r"entries must lie in \[0, 1023\]"),
    (dict(noise=5), "popcount of 2\\*5 bits but noise_bits is 4"),
    (dict(noise_bits=24, frac_bits=12, d2d_bits=4, differential=True), "exceeds the 64-bit"),
    (dict(drift_rest=3), "drift_rest needs drift_period_log2"),
    (dict(codes="volts"), "codes must be one of"),
    (dict(scale=[64, 64]), "scale must be 1 integers"),
    (dict(bits=11), "bits"),
    (dict(levels=[1] * 3), "levels must be 16"),
])
def test_bad_parameters_have_clear_errors(kw, msg):
    with pytest.raises(ValueError, match=msg):
        table_device(**kw)


def test_params_round_trip_and_default_preset():
    d = MeasuredDevice(**synthetic_params(differential=True, drift=3, levels=True))
    again = MeasuredDevice(**json.loads(json.dumps(d.params())))
    assert again == d and hash(again) == hash(d)
    assert "file" not in d.params()
    dflt = MeasuredDevice()
    assert dflt.label == DEFAULT_PRESET
    assert dflt == MeasuredDevice(file=str(preset_files()[DEFAULT_PRESET]))


def test_file_parameter_overrides(tmp_path):
    path = preset_files()["fefet-jerry2017"]
    d = MeasuredDevice(file=str(path), drift_period_log2=4)
    assert d.drift_period_log2 == 4 and d.tick_sweeps and d.bits == 6
    with pytest.raises(ValueError, match="32 x 8 table"):
        MeasuredDevice(file=str(path), bits=5)


@pytest.mark.parametrize("content, msg", [
    (None, "does not exist"), ("{", "not valid JSON"), ('{"a": 1}', "not a synemu measured"),
    ('{"format": "synemu-measured-device", "version": 9, "device": {}}', "version 9"),
])
def test_device_file_errors(tmp_path, content, msg):
    p = tmp_path / "dev.json"
    if content is not None:
        p.write_text(content)
    with pytest.raises((ValueError, FileNotFoundError), match=msg):
        load(p)


# -- fit: bad data ------------------------------------------------------------------------
def csv_text(rows, header="device,cycle,pulse,polarity,conductance_s"):
    return header + "\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n"


def good_rows(n=30):
    rows = [(0, 0, k, 1, 1e-6 * (1 + 0.1 * k)) for k in range(1, n + 1)]
    rows += [(0, 0, k, -1, 1e-6 * (1 + 0.1 * (n - k))) for k in range(1, n + 1)]
    return rows


@pytest.mark.parametrize("mutate, msg", [
    (lambda r: csv_text(r, "device,cycle,pulse,conductance_s"), "missing column.*polarity"),
    (lambda r: csv_text(r[:5] + [(0, 0, 6, 1, "nan")] + r[6:]), "line 7: conductance_s is nan"),
    (lambda r: csv_text(r[:5] + [(0, 0, 6, 1, "1.2uS")] + r[6:]), "is not a number"),
    (lambda r: csv_text([(0, 1, k, p, g) for (_, _, k, p, g) in r[:30]]
                        + [(0, 0, k, p, g) for (_, _, k, p, g) in r[30:]]), "non-decreasing"),
    (lambda r: csv_text(r[:30]), "no depression .*only potentiation"),
    (lambda r: csv_text(good_rows(8)), "only 7 potentiation"),
    (lambda r: csv_text(r[:3] + [(0, 0, 2, 1, 2e-6)] + r[4:]), "does not increase"),
    (lambda r: csv_text(r[:3] + [(0, 0, 4, 0, 2e-6)] + r[4:]), "polarity 0"),
    (lambda r: csv_text(r[:3] + [(0, 0, 4, 1, -2e-6)] + r[4:]), "must be > 0"),
    (lambda r: csv_text(r + [(0, 0, 1, 1, 1e-6), (0, 0, 2, 1, 1e-6), (0, 0, 3, 1, 1e-6)]),
     "a second \\+ train in cycle 0"),
    (lambda r: csv_text(r[:30] + r[30:32] + [(0, 1, k, 1, 1e-6) for k in range(1, 30)]),
     "a train of 2 pulse"),
    (lambda r: "", "empty file"),
    (lambda r: csv_text([]), "no data rows"),
])
def test_bad_data_gets_a_clear_error(tmp_path, mutate, msg):
    p = tmp_path / "bad.csv"
    p.write_text(mutate(good_rows()))
    with pytest.raises(ValueError, match=msg):
        read_pulse_csv(p)


def test_binary_file_and_missing_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="bad.csv|x.csv"):
        read_pulse_csv(p)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_pulse_csv(tmp_path / "none.csv")


# -- fit: recovery and presets ------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_fit_recovers_a_soft_bounds_model(tmp_path, seed):
    """Data from a soft-bounds model with c2c and d2d noise: the fit recovers the rates,
    bounds, c2c std and d2d spread of the generating devices within 10 %, and the golden
    model under the same pulse trains is within 2 % of the range."""
    m = PulseModel(kind="soft_bounds", dw_min=0.01, w_min=-1, w_max=1, dw_min_std=1.0,
                   dw_min_dtod=0.2)
    dev = m.draw_devices(8, np.random.default_rng(seed))      # the devices synthesize draws
    path = write_csv(tmp_path / "sb.csv.gz", synthesize(m, devices=8, cycles=4, pulses=300,
                                                        seed=seed))
    res = fit_file(path, tmp_path / "sb.json", realisations=8)
    sb, R = res["fit"]["soft_bounds"], m.g_max_s - m.g_min_s
    assert sb["up"]["rate_per_pulse"] == pytest.approx(m.dw_min / m.w_max, rel=0.1)
    assert sb["down"]["rate_per_pulse"] == pytest.approx(m.dw_min / -m.w_min, rel=0.1)
    assert abs(sb["up"]["g_sat_s"] - m.g_max_s) < 0.1 * R
    assert abs(sb["down"]["g_sat_s"] - m.g_min_s) < 0.1 * R
    c2c = m.dw_min * m.dw_min_std * m.g_per_w
    for k in ("up", "down"):
        assert sb[k]["c2c_std_s"] == pytest.approx(c2c, rel=0.1)
    real = dev["dw_min"] / dev["dw_min"].mean()
    assert res["fit"]["d2d_sigma"] == pytest.approx(np.std(real, ddof=1), rel=0.1)
    assert np.corrcoef(real, res["fit"]["device_scales"])[0, 1] > 0.95
    assert res["errors"]["rms_curve_pct"] < 2.0
    assert load_params(res["file"])["d2d_bits"] == 3


def test_fit_with_pulse_shapes(tmp_path):
    """amplitude_v columns: one code per shape; a bigger pulse moves further."""
    rng = np.random.default_rng(0)
    rows, g = [], 5e-6
    for c in range(6):
        for pol in (1, -1):
            for k in range(1, 61):
                amp = pol * (1.0 if k % 2 else 1.5)
                step = (0.05 if abs(amp) == 1.0 else 0.12) * 1e-6
                room = (10e-6 - g) if pol > 0 else (g - 1e-6)
                g += pol * step * room / 9e-6 * 4 + rng.normal(0, 0.01e-6)
                rows.append((0, c, k, pol, amp, f"{g:.6e}"))
    p = tmp_path / "shapes.csv"
    p.write_text(csv_text(rows, "device,cycle,pulse,polarity,amplitude_v,conductance_s"))
    data = read_pulse_csv(p)
    assert data.shapes[1] == [(1.0, 0.0), (1.5, 0.0)]
    doc = fit_device(data, pulse_bits=2)
    up = np.asarray(doc["device"]["delta_up"])
    assert doc["device"]["codes"] == "shape"
    assert (up[10:50, 1] > 2 * up[10:50, 0]).all()


@pytest.mark.parametrize("name", sorted(preset_files()))
def test_shipped_presets(name):
    doc = load(preset_files()[name])
    assert doc["errors"]["rms_curve_pct"] <= 2.0
    prov = doc["provenance"]
    assert prov["source"]["paper"] and prov["source"]["doi"] and prov["date"]
    from synemu.devices.measured.devicefile import sha256_file
    assert prov["csv"]["sha256"] == sha256_file(preset_csv(name))
    d = MeasuredDevice(file=str(preset_files()[name]))
    assert d.label == name and d.bits >= 6 and d.d2d_bits == 3


@pytest.mark.parametrize("name", sorted(preset_files()))
def test_presets_regenerate_from_their_sources(tmp_path, name):
    res = make_preset(name, tmp_path, tmp_path)
    shipped = load(preset_files()[name])
    assert res["device"] == shipped["device"]
    assert gzip.decompress((tmp_path / f"{name}.csv.gz").read_bytes()) == \
        gzip.decompress(preset_csv(name).read_bytes())


def test_golden_follows_its_float_reference():
    """The integer tables against the fitted float model (the physics reference): mean
    trajectories of a potentiation then depression train agree within a state."""
    doc = load(preset_files()["fefet-jerry2017"])
    d = MeasuredDevice(**doc["device"])
    fm = FittedModel(doc["fit"], d.n_states)
    n, rng = 4000, np.random.default_rng(0)
    st = {f.name: np.full(n, f.init, dtype=f.fmt.dtype) for f in d.fields}
    st["n"][:] = 0
    st["v"][:] = 1
    st["d"][:] = int(np.abs(np.asarray(d.scale) - 64).argmin())
    x = np.zeros(n)
    for pol in [1] * 30 + [-1] * 30:
        r = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2)
        st = d.update(st, np.full(n, pol), r)
        x = fm.pulse(x, pol, rng, scale=d.scale[st["d"][0]] / 64)
        assert abs(st["n"].mean() - x.mean()) < 1.0


# -- commands -----------------------------------------------------------------------------
def test_cli_fit_synth_and_errors(tmp_path, capsys):
    from synemu.cli.main import main
    csv_path = tmp_path / "d.csv"
    assert main(["measured", "synth", "--source", "fefet-jerry2017", "--devices", "2",
                 "--cycles", "3", "--out", str(csv_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ok"] and out["rows"] == 2 * 3 * 2 * 40
    assert main(["device", "fit", str(csv_path), "--out", str(tmp_path / "d.json"),
                 "--bits", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ok"] and out["device"]["bits"] == 5 and out["errors"]["rms_curve_pct"] < 2
    assert (tmp_path / "d.png").stat().st_size > 10000
    dev = MeasuredDevice(file=out["file"])
    assert dev.n_states == 32
    csv_path.write_text("device,cycle,pulse,polarity\n0,0,1,1\n")
    assert main(["device", "fit", str(csv_path), "--out", str(tmp_path / "e.json"), "--json"]) == 2
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert not out["ok"] and "missing column(s) conductance_s" in out["error"]
    assert not (tmp_path / "e.json").exists()
    assert main(["device", "fit", str(csv_path), "--out", str(tmp_path / "e.txt")]) == 2


def test_train_mlp_with_a_measured_preset():
    from synemu.runtime.mlp import train_mlp
    r = train_mlp("measured", "digits", preset="fefet-jerry2017", seed=0, epochs=2,
                  hidden=(32,), show_progress=False)
    assert r["test_accuracy"] > 0.6
    assert r["pulses"] > 0


def test_narrow_random_words_use_the_narrowest_lfsr():
    from synemu.spec.engine import EngineConfig, GoldenEngine
    d = table_device(up=1, down=1, frac_bits=1, noise_bits=0)
    assert d.rand_width == 3                     # 1 bit used, LFSRs are >= 3 bits wide
    GoldenEngine(EngineConfig(device=d, rows=2, cols=2))
    assert table_device(up=1, down=1, frac_bits=0, noise_bits=0).rand_width == 0
