"""Digits for the course (lesson 00): scikit-learn's bundled 8x8 digits and a 28x28 MNIST loader.

Everything works offline: ``load_digits`` reads the copy of the UCI digits that ships inside
scikit-learn; ``load_mnist`` reads a file the learner supplies (``.npz`` or IDX).
"""
from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass

import numpy as np
import torch

from .utils import is_int

__all__ = ["Digits", "ink_values", "quantize", "load_digits", "load_mnist", "load_data"]


@dataclass
class Digits:
    """A train/test split of digit images, float32 in [0, 1], shape (N, H, W), labels int64 (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str = "digits"

    @property
    def size(self) -> int:
        """Side length of the (square) images."""
        return int(self.x_train.shape[-1])

    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """``(images, labels)`` of ``"train"`` or ``"test"``."""
        if split == "train":
            return self.x_train, self.y_train
        if split == "test":
            return self.x_test, self.y_test
        raise ValueError(f"unknown split {split!r}; expected 'train' or 'test'")

    def tensors(self, split: str, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """The split as torch tensors created on ``device``."""
        x, y = self.split(split)
        return (torch.as_tensor(x, dtype=torch.float32, device=device),
                torch.as_tensor(y, dtype=torch.int64, device=device))

    def __repr__(self) -> str:
        return (f"Digits({self.name!r}, train={len(self.x_train)}, test={len(self.x_test)}, "
                f"size={self.size}x{self.size})")


def ink_values(ink_levels: int) -> np.ndarray:
    """The ink values of ``ink_levels`` evenly spaced levels from 0 to 1, e.g. 3 -> [0, 0.5, 1]."""
    if not is_int(ink_levels, 2):
        raise ValueError(f"ink_levels must be an integer >= 2, got {ink_levels!r}")
    return np.linspace(0.0, 1.0, int(ink_levels), dtype=np.float32)


def quantize(images, ink_levels: int = 3):
    """Round every pixel in [0, 1] to the nearest of ``ink_levels`` evenly spaced ink values.

    Works on NumPy arrays and torch tensors and returns the same kind. Values outside [0, 1]
    raise ``ValueError`` rather than being clipped.
    """
    ink_values(ink_levels)  # validates
    lo, hi = float(images.min()), float(images.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"images must lie in [0, 1] before quantisation, got values in [{lo:.3g}, {hi:.3g}]")
    steps = ink_levels - 1
    if isinstance(images, torch.Tensor):
        return torch.round(images * steps) / steps
    return (np.round(np.asarray(images, dtype=np.float32) * steps) / steps).astype(np.float32)


def _stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified split: each class is shuffled and cut at the same fraction."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_digits(ink_levels: int | None = 3, test_fraction: float = 0.5, seed: int = 0) -> Digits:
    """scikit-learn's 1797 8x8 digits, scaled to [0, 1], quantised, split 50/50 stratified.

    ``ink_levels=None`` keeps the 17 original grey levels. The split is fixed by ``seed`` so that
    every lesson, test and benchmark sees the same held-out digits.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    raw = _sk_load_digits()
    x = (raw.images / 16.0).astype(np.float32)
    y = raw.target.astype(np.int64)
    if ink_levels is not None:
        x = quantize(x, ink_levels)
    tr, te = _stratified_split(y, test_fraction, seed)
    return Digits(x[tr], y[tr], x[te], y[te], name="sklearn-digits-8x8")


def _read_idx(path: str) -> np.ndarray:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != 0x08:
        raise ValueError(f"{path}: IDX element type 0x{dtype_code:02x} is not unsigned byte (0x08)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = struct.unpack(">" + "I" * ndim, data[4:header])
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise ValueError(f"{path}: IDX header promises shape {shape} ({expected} bytes), "
                         f"file holds {len(data) - header} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _scale_images(x: np.ndarray, path: str, what: str) -> np.ndarray:
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"{path}: {what} must be a numeric array, got dtype {x.dtype}")
    if x.ndim != 3 or x.shape[1] != x.shape[2]:
        raise ValueError(f"{path}: {what} must have shape (N, H, H), got {x.shape}")
    if len(x) == 0:
        raise ValueError(f"{path}: there are no {what} (the split is empty)")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: {what} hold {int((~np.isfinite(x)).sum())} NaN or infinite pixel(s)")
    if x.max() > 1.0:
        x = x / 255.0
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"{path}: {what} values must lie in [0, 255] or [0, 1], got values in "
                         f"[{x.min():g}, {x.max():g}]")
    return x


def _check_labels(y: np.ndarray, path: str, what: str) -> np.ndarray:
    if y.dtype == object or not np.issubdtype(y.dtype, np.number):
        raise ValueError(f"{path}: {what} labels must be integers 0-9, got dtype {y.dtype}")
    y = y.ravel()
    if np.issubdtype(y.dtype, np.floating) and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        bad = y[~np.isfinite(y) | (y != np.round(y))][0]
        raise ValueError(f"{path}: {what} labels must be integers 0-9, got {bad:g}")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"{path}: {what} labels must be digits 0-9, got values in [{y.min():g}, {y.max():g}]")
    return y.astype(np.int64)


def load_mnist(path: str, ink_levels: int | None = 3, test_path: str | None = None) -> Digits:
    """Load 28x28 MNIST from a file you supply (nothing is downloaded).

    ``path`` is either an ``.npz`` with arrays ``x_train, y_train, x_test, y_test`` (the layout of
    Keras' ``mnist.npz``), or a directory holding the four IDX files
    (``train-images-idx3-ubyte[.gz]`` etc.). Pixel values 0-255 or 0-1 are accepted.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"MNIST file {path!r} does not exist; supply mnist.npz or a folder of IDX files")
    if os.path.isdir(path):
        def find(stem):
            for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
                p = os.path.join(path, name)
                if os.path.exists(p):
                    return p
            raise FileNotFoundError(f"{path}: missing IDX file {stem}[.gz]")
        xtr = _read_idx(find("train-images-idx3-ubyte"))
        ytr = _read_idx(find("train-labels-idx1-ubyte"))
        xte = _read_idx(find("t10k-images-idx3-ubyte"))
        yte = _read_idx(find("t10k-labels-idx1-ubyte"))
    else:
        import zipfile

        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path}: not a readable .npz file (expected a zip archive of arrays "
                             "x_train, y_train, x_test, y_test, or a folder of IDX files)")
        try:
            with np.load(path, allow_pickle=False) as f:
                missing = {"x_train", "y_train", "x_test", "y_test"} - set(f.files)
                if missing:
                    raise ValueError(f"{path}: npz lacks arrays {sorted(missing)}; "
                                     "expected x_train, y_train, x_test, y_test")
                xtr, ytr, xte, yte = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
        except ValueError as exc:
            if "allow_pickle" in str(exc):
                raise ValueError(f"{path}: holds object arrays (Python objects); expected numeric arrays "
                                 "x_train, y_train, x_test, y_test") from None
            raise
        except Exception as exc:  # zipfile.BadZipFile, OSError ...
            raise ValueError(f"{path}: not a readable .npz file ({exc})") from exc
    xtr = _scale_images(np.asarray(xtr), path, "train images")
    xte = _scale_images(np.asarray(xte), path, "test images")
    ytr, yte = _check_labels(np.asarray(ytr), path, "train"), _check_labels(np.asarray(yte), path, "test")
    for x, y, what in ((xtr, ytr, "train"), (xte, yte, "test")):
        if len(x) != len(y):
            raise ValueError(f"{path}: {len(x)} {what} images but {len(y)} labels")
    if ink_levels is not None:
        xtr, xte = quantize(xtr, ink_levels), quantize(xte, ink_levels)
    return Digits(xtr, ytr, xte, yte, name=f"mnist-{xtr.shape[-1]}x{xtr.shape[-1]}")


def load_data(path: str | None = None, ink_levels: int | None = 3) -> Digits:
    """The 8x8 digits when ``path`` is None, else MNIST from ``path``."""
    return load_digits(ink_levels) if path is None else load_mnist(path, ink_levels)
