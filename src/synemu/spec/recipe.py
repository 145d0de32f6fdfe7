"""Training recipes: the hyper-parameters of on-chip delta-rule learning for a device on a
dataset (a device plugin ships its own in :attr:`synemu.plugin.DevicePlugin.recipes`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Recipe", "DEFAULT_RECIPES"]


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of on-chip delta-rule learning (see :mod:`synemu.spec.engine`).

    x_bits: signed input width (codes 0..2^(x_bits-1)-1); bias: append a constant input;
    t_pos/t_neg: targets (y units); eta: learning shift; err_width: error saturation;
    rounding: pulse rounding; lanes: hardware lanes; epochs: passes over the train split.
    """

    x_bits: int = 4
    bias: bool = True
    t_pos: int = 2048
    t_neg: int = -2048
    eta: int = 14
    err_width: int = 16
    rounding: str = "nearest_even"
    lanes: int = 4
    epochs: int = 10

    def engine_kwargs(self) -> dict:
        return dict(x_width=self.x_bits, t_pos=self.t_pos, t_neg=self.t_neg, eta=self.eta,
                    err_width=self.err_width, rounding=self.rounding)


#: dataset -> recipe of any device that has none of its own for that dataset
DEFAULT_RECIPES: dict[str, Recipe] = {
    "digits": Recipe(),
    "mnist5k": Recipe(epochs=4),   # 784 inputs: see benchmarks for its accuracy
    "mnist5k-14": Recipe(epochs=4),
}
