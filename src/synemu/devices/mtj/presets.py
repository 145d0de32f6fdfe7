"""STT-MTJ STDP-network settings (one home for the device's tuned settings)."""

__all__ = ["SNN_PRESETS", "TRAIN_NEURONS"]

#: dataset -> SNNConfig overrides (tuned on the golden model; see docs/devices/mtj.md)
SNN_PRESETS: dict[str, dict] = {
    "digits": dict(steps=16, theta0=16, max_rate=1.0, leak_shift=3, code=3, init_code=5,
                   theta_plus=32, theta_frac=6, theta_decay=8),
    # 7 epochs with an annealed learning code (pulse amplitude) 4,3,3,2,2,1,1 and strong, slow
    # homeostasis: 83.8 % (1 epoch, theta_plus 128, theta0 128, decay 8) -> 85.9 % over
    # 12 seeds at N = 400 (docs/devices/mtj.md)
    "mnist5k": dict(steps=16, theta0=64, max_rate=1.0, leak_shift=3, code=3, init_code=5,
                    theta_plus=512, theta_frac=6, theta_decay=10,
                    schedule=(4, 3, 3, 2, 2, 1, 1)),
    # 196 inputs (2x2 means): a quarter of the input current, so a quarter of the
    # thresholds: 66.6 % vs 38.8 % at N = 100 on 1,000 train samples, seed 0 (2026-12-04)
    "mnist5k-14": dict(steps=16, theta0=16, max_rate=1.0, leak_shift=3, code=3, init_code=5,
                       theta_plus=128, theta_frac=6, theta_decay=10,
                       schedule=(4, 3, 3, 2, 2, 1, 1)),
}


#: default network size of ``synemu train --device mtj`` per (dataset, backend)
TRAIN_NEURONS = {("mnist5k", "golden"): 400, ("digits", "golden"): 100,
                 ("digits", "verilator"): 10, ("mnist5k", "verilator"): 10,
                 ("mnist5k-14", "golden"): 100, ("mnist5k-14", "verilator"): 10}
