"""FeMFET training recipes and the device-comparison sets (one home)."""

from ...spec.recipe import Recipe

__all__ = ["RECIPES", "COMPARE_SETS"]

#: dataset -> recipe of ``synemu train --device femfet``
RECIPES = {
    "digits": Recipe(x_bits=5, t_pos=4096, t_neg=-4096, eta=16, rounding="stochastic",
                     epochs=8),
}

#: the FeMFET-vs-ideal MLP comparison (``synemu femfet compare``): label -> (device, preset,
#: params); "float" is the float32 reference
COMPARE_SETS = {
    "float32": ("float32", None, {}),
    "ideal-6bit": ("ideal", "6bit", {}),
    "femfet-6bit": ("femfet", "6bit", {}),
    "ideal-8bit": ("ideal", "8bit", {}),
    "femfet-8bit": ("femfet", "8bit", {}),
}
