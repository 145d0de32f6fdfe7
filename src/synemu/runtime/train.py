"""On-chip single-layer delta-rule training through a :class:`~synemu.runtime.tile.Tile`.

The tile has one row per class and one column per input pixel (+ a bias column held at
the largest input code, + zero padding to a multiple of the lanes). Each training sample
is LOAD_X x C followed by LEARN (the engine computes y, the error and the pulses itself),
so a board trains without the host in the loop; the host only streams samples.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace

import numpy as np

from ..spec.recipe import Recipe
from .datasets import Dataset, load_dataset, quantize_inputs
from .report import plt, progress
from .tile import Tile

__all__ = ["Recipe", "recipe_for", "prepare_inputs", "train_onchip", "plot_curves"]


def recipe_for(device: str, dataset: str, device_params: dict | None = None) -> Recipe:
    """The training recipe of ``device`` (a registered name, with ``device_params``) on
    ``dataset``: the device plugin's own (:attr:`~synemu.plugin.DevicePlugin.recipes`) or
    the default."""
    from ..spec.registry import get_plugin, make_device
    plug = get_plugin(device)
    model = make_device(device, **device_params) if device_params else None
    return plug.recipe(dataset, model)


def prepare_inputs(x: np.ndarray, recipe: Recipe) -> np.ndarray:
    """Quantise [0,1] pixels to input codes, append the bias column, pad to the lanes."""
    codes = quantize_inputs(x, recipe.x_bits)
    cols = [codes]
    if recipe.bias:
        cols.append(np.full((codes.shape[0], 1), (1 << (recipe.x_bits - 1)) - 1, np.int64))
    codes = np.concatenate(cols, axis=1)
    pad = (-codes.shape[1]) % recipe.lanes
    if pad:
        codes = np.concatenate([codes, np.zeros((codes.shape[0], pad), np.int64)], axis=1)
    return codes


def train_onchip(device: str = "ideal", dataset: str | Dataset = "digits", *,
                 backend: str = "golden", seed: int = 0, recipe: Recipe | None = None,
                 device_params: dict | None = None, epochs: int | None = None,
                 show_progress: bool = True, chunk: int = 64, driver: str = "native",
                 tile: Tile | None = None, limit: int | None = None,
                 check: bool = False) -> dict:
    """Train a single layer on-chip; returns a JSON-ready result dict.

    The tile is made here (``device``, ``backend``, ``device_params``, ``driver`` for
    ``verilator``; LFSR seed ``seed + 1``) or passed in as ``tile`` (any backend, e.g. a
    board: then ``device``/``backend`` only label the result, and ``recipe`` must be the one
    its engine was configured with). ``limit``: only the first N train and test samples;
    ``chunk``: samples per ``learn_batch``; ``check``: train a golden tile of the same
    configuration alongside and compare every prediction and the final state words
    (``identical_to_golden``).

    Result keys: ``train_accuracy`` and ``test_accuracy`` per epoch (fractions),
    ``test_accuracy`` (final), ``predictions`` (final test predictions), ``weights_sha``
    (hash of the final state words), ``seconds``, ``samples_per_s`` and the configuration.
    Ctrl-C after at least one finished epoch (on a tile made here) ends training there and
    returns those epochs with ``interrupted`` true.
    """
    import hashlib
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, not {chunk}")
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(dataset, seed=0)
    recipe = recipe or recipe_for(device, ds.name, device_params)
    if epochs is not None:
        recipe = replace(recipe, epochs=epochs)
    if recipe.epochs < 1:
        raise ValueError(f"epochs must be at least 1, not {recipe.epochs}")
    xtr, xte = prepare_inputs(ds.x_train, recipe), prepare_inputs(ds.x_test, recipe)
    ytr, yte = ds.y_train, ds.y_test
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        xtr, ytr, xte, yte = xtr[:limit], ytr[:limit], xte[:limit], yte[:limit]
    order_rng = np.random.default_rng(seed)
    hist_train, hist_test = [], []
    own = tile is None
    if own:
        tile = Tile(device, rows=ds.n_classes, cols=xtr.shape[1], lanes=recipe.lanes,
                    backend=backend, device_params=device_params, seed=seed + 1,
                    backend_options={"driver": driver} if backend == "verilator" else None,
                    **recipe.engine_kwargs())
    golden = Tile(config=tile.config, backend="golden") if check else None
    identical = True
    interrupted = False
    t0 = time.perf_counter()
    try:
        bar = progress(total=recipe.epochs * len(xtr), desc=f"train {device}/{backend}",
                       disable=not show_progress)
        def run_epoch(epoch):
            nonlocal identical
            order = order_rng.permutation(len(xtr))
            correct = 0
            for i in range(0, len(order), chunk):
                idx = order[i:i + chunk]
                pred = tile.learn_batch(xtr[idx], ytr[idx])
                if golden is not None:
                    identical &= bool(np.array_equal(pred, golden.learn_batch(xtr[idx], ytr[idx])))
                correct += int(np.sum(pred == ytr[idx]))
                bar.update(len(idx))
                done = epoch * len(xtr) + i + len(idx)
                bar.set_postfix(epoch=epoch + 1, acc=f"{correct / (i + len(idx)):.3f}",
                                samples_s=f"{done / (time.perf_counter() - t0):.0f}")
            test_pred = tile.predict(xte)
            if golden is not None:
                identical &= bool(np.array_equal(test_pred, golden.predict(xte)))
            return correct / len(xtr), float(np.mean(test_pred == yte)), test_pred

        for epoch in range(recipe.epochs):
            try:
                a_train, a_test, test_pred = run_epoch(epoch)
            except KeyboardInterrupt:
                # Ctrl-C: keep the finished epochs (the caller saves them), or give up
                if not hist_test:
                    raise
                interrupted = True
                break
            hist_train.append(a_train)
            hist_test.append(a_test)
        bar.close()
        words = tile.state_words()
        if golden is not None:
            identical &= bool(np.array_equal(words, golden.state_words()))
        config = tile.config.to_dict()
    finally:
        if own:
            tile.close()
    seconds = time.perf_counter() - t0
    n = len(hist_test) * len(xtr)
    return {
        "device": device, "backend": backend, "dataset": ds.name, "seed": seed,
        "epochs": len(hist_test), "interrupted": interrupted, "recipe": asdict(recipe), "engine": config,
        "train_accuracy_per_epoch": hist_train, "test_accuracy_per_epoch": hist_test,
        "test_accuracy": hist_test[-1], "predictions": test_pred.tolist(),
        "weights_sha": hashlib.sha256(words.tobytes()).hexdigest()[:16],
        "identical_to_golden": identical if check else None, "samples": n,
        "seconds": seconds, "samples_per_s": n / seconds,
    }


def plot_curves(results: list[dict], path, title: str = "on-chip delta-rule learning"):
    """Learning curves (test accuracy per epoch) of one or more runs, saved as PNG."""
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(6, 4))
    styles = [dict(marker="o", ms=9, lw=3, alpha=0.45), dict(marker="x", ms=7, lw=1.2)]
    for i, r in enumerate(results):
        st = styles[i % len(styles)]
        e = np.arange(1, len(r["test_accuracy_per_epoch"]) + 1)
        ax.plot(e, r["test_accuracy_per_epoch"], color="C0", **st,
                label=f"{r['device']} / {r['backend']} (test)")
        ax.plot(e, r["train_accuracy_per_epoch"], color="C1", ls="--", **st,
                label=f"{r['device']} / {r['backend']} (train)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot.close(fig)
    return path
