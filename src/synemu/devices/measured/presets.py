"""Shipped measured devices (device files under ``presets/``) and training recipes."""

from __future__ import annotations

from pathlib import Path

from ...spec.recipe import Recipe

__all__ = ["PRESET_DIR", "DATA_DIR", "DEFAULT_PRESET", "RECIPES", "install_presets", "preset_files", "synthetic_params"]

PRESET_DIR = Path(__file__).with_name("presets")
DATA_DIR = Path(__file__).with_name("data")
DEFAULT_PRESET = "reram-gong2018"       #: the device ``measured`` is without a file or tables

def _digits(device) -> Recipe:
    """The ideal device's digits recipe with the learning shift moved by log2 of the
    device's mean weight change per pulse (``pulse_gain``), plus one (measured devices are
    noisy and their pulse counts saturate at 2^(pulse_bits-1)); stochastic rounding keeps
    sub-pulse updates unbiased."""
    import math
    eta = 15 + round(math.log2(device.pulse_gain))
    return Recipe(x_bits=4, t_pos=2048, t_neg=-2048, eta=min(max(eta, 0), 16),
                  rounding="stochastic", epochs=10)


#: dataset -> recipe (a function of the device model) of ``synemu train --device measured``
RECIPES = {"digits": _digits}


def preset_files() -> dict[str, Path]:
    """Preset name -> shipped device file."""
    return {p.stem: p for p in sorted(PRESET_DIR.glob("*.json"))}


def install_presets(cls) -> None:
    cls.PRESETS.clear()
    cls.PRESETS.update({name: {"file": str(path)} for name, path in preset_files().items()})


def synthetic_params(bits=4, pulse_bits=3, frac_bits=4, noise_bits=3, d2d_bits=2, seed=0,
                     differential=False, levels=False, drift=None) -> dict:
    """Random but well-formed tables (tests and lockstep of the rule on every table entry)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    K, C = 1 << bits, 1 << (pulse_bits - 1)
    dmax = (1 << (bits + frac_bits)) - 1
    up = rng.integers(0, min(dmax, 4 << frac_bits) + 1, (K, C))
    down = rng.integers(0, min(dmax, 4 << frac_bits) + 1, (K, C))
    up[0, 0], down[-1, -1] = dmax, dmax
    def noise():
        return rng.integers(0, noise_bits + 1, (K, C)) + 32 * rng.integers(0, 3, (K, C))
    p = dict(bits=bits, pulse_bits=pulse_bits, frac_bits=frac_bits, noise_bits=noise_bits,
             d2d_bits=d2d_bits, delta_up=up.tolist(), delta_down=down.tolist(),
             noise_up=noise().tolist(), noise_down=noise().tolist(),
             scale=rng.integers(0, 256, 1 << d2d_bits).tolist(), differential=differential)
    if levels:
        p["levels"] = np.sort(rng.integers(0, 1000, K)).tolist()
    if drift is not None:
        p["drift_period_log2"] = drift
    return p


def _sources():
    """Preset name -> (published pulse model, synthesis settings, fit settings)."""
    from .physics import PulseModel
    aihwkit = "aihwkit.simulator.presets.devices (IBM aihwkit, Apache-2.0), fitted parameters"
    return {
        "reram-gong2018": (PulseModel(
            kind="soft_bounds", dw_min=0.002, up_down=0.0, w_min=-0.75, w_max=1.25,
            dw_min_std=3.75, mult_noise=False, dw_min_dtod=0.3, w_max_dtod=0.3 / 1.25,
            w_min_dtod=0.3 / 0.75, g_min_s=10e-6, g_max_s=30e-6,
            source={"family": "ReRAM (HfO2 1T1R)",
                    "paper": "N. Gong et al., Signal and noise extraction from analog memory "
                             "elements for neuromorphic computing, Nat. Commun. 9, 2102 (2018)",
                    "doi": "10.1038/s41467-018-04485-1",
                    "parameters": f"{aihwkit}: ReRamSBPresetDevice (soft bounds)",
                    "assumed": "conductance window 10-30 uS (the preset is in normalised weight "
                               "units); write_noise_std (read-out noise) not modelled"}),
            dict(devices=4, cycles=4, pulses=500, seed=2018), dict(bits=6)),
        "ecram-tang2018": (PulseModel(
            kind="linear_step", dw_min=0.002, up_down=0.0, w_min=-0.8276, w_max=1.1724,
            gamma_up=0.1153, gamma_down=0.5085, dw_min_std=0.3, mult_noise=True,
            dw_min_dtod=0.1, w_max_dtod=0.05, w_min_dtod=0.05, g_min_s=5e-6, g_max_s=25e-6,
            source={"family": "ECRAM (Li-ion, three-terminal)",
                    "paper": "J. Tang et al., ECRAM as scalable synaptic cell for high-speed, "
                             "low-power neuromorphic computing, IEDM 2018, pp. 13.1.1-13.1.4",
                    "doi": "10.1109/IEDM.2018.8614551",
                    "parameters": f"{aihwkit}: EcRamPresetDevice (linear step)",
                    "assumed": "conductance window 5-25 uS (the preset is in normalised weight "
                               "units)"}),
            dict(devices=3, cycles=3, pulses=500, seed=2018), dict(bits=6)),
        "fefet-jerry2017": (PulseModel(
            kind="linear_step", dw_min=2 / 32, up_down=0.0, w_min=-1.0, w_max=1.0,
            gamma_up=0.5, gamma_down=0.5, dw_min_std=0.2, mult_noise=False,
            dw_min_dtod=0.1, w_max_dtod=0.03, w_min_dtod=0.0, g_min_s=0.2e-6, g_max_s=9e-6,
            source={"family": "FeFET (HfZrO2 partial polarisation switching)",
                    "paper": "M. Jerry et al., Ferroelectric FET analog synapse for "
                             "acceleration of deep neural network training, IEDM 2017, "
                             "pp. 6.2.1-6.2.4",
                    "doi": "10.1109/IEDM.2017.8268338",
                    "parameters": "published: 5-bit synapse (32 levels per full swing), 45x "
                                  "conductance range (0.2-9 uS here), symmetric potentiation "
                                  "and depression, 75 ns update pulses",
                    "assumed": "step nonlinearity gamma 0.5 (linear step), c2c std 0.2 of the "
                               "step, d2d 10 % (step) / 3 % (upper bound)"}),
            dict(devices=4, cycles=8, pulses=40, seed=2017), dict(bits=6)),
    }


def preset_csv(name: str) -> Path:
    """The example pulse data of a preset (gzip CSV, generated from its published model)."""
    return DATA_DIR / f"{name}.csv.gz"


def make_preset(name: str, out_dir=None, csv_dir=None, plot_dir=None) -> dict:
    """Regenerate one preset: synthesise its example CSV from the published model, fit it,
    write the device file and its fit plot (``out_dir``/``csv_dir`` default: the shipped
    folders; ``plot_dir`` default: ``out_dir``)."""
    from .fit import fit_file
    from .physics import synthesize, write_csv
    sources = _sources()
    if name not in sources:
        raise ValueError(f"no preset source {name!r}; available: {', '.join(sources)}")
    model, synth, fit = sources[name]
    csv_path = Path(csv_dir or DATA_DIR) / f"{name}.csv.gz"
    write_csv(csv_path, synthesize(model, **synth))
    source = {**model.source, "model": model.kind, "model_params": model.params(),
              "synthesis": synth}
    out = Path(out_dir or PRESET_DIR)
    plot = Path(plot_dir or out) / f"{name}.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    return fit_file(csv_path, out / f"{name}.json", source=source, plot=plot,
                    label=name, command=f"synemu.devices.measured.presets.make_preset({name!r})",
                    **fit)
