"""FN-DAM training recipes (one home for the device's tuned settings)."""

from ...spec.recipe import Recipe

__all__ = ["RECIPES", "PAPER_DIGITS"]

#: dataset -> recipe of ``synemu train --device fn`` (the default ``FNDevice()`` parameters)
RECIPES = {
    "digits": Recipe(x_bits=5, t_pos=4096, t_neg=-4096, eta=15, rounding="nearest_even",
                     epochs=8),
}

#: FN-DAM on digits with the ``paper`` (and ``board``) preset, whose weights are codes of
#: 15.3 uV (a unit pulse ~ 4.8 codes): larger targets and eta 17 to match; nearest-even
#: pulses (deterministic, so the host can account energy). Used by ``synemu fn compare`` and
#: the demo's FN-DAM leg.
PAPER_DIGITS = Recipe(x_bits=5, bias=True, t_pos=16384, t_neg=-16384, eta=17, err_width=20,
                      rounding="nearest_even", lanes=4, epochs=8)
