import gzip
import struct

import numpy as np
import pytest
import torch

from dqngen_lib.data import ink_values, load_data, load_digits, load_mnist, quantize


def test_digits_split_is_fixed_stratified_and_quantised():
    d = load_digits()
    assert d.x_train.shape == (899, 8, 8) and d.x_test.shape == (898, 8, 8)
    assert d.x_train.dtype == np.float32
    assert set(np.unique(d.x_train)) <= {0.0, 0.5, 1.0}
    # stratified: each class appears in both halves in nearly equal numbers
    tr, te = np.bincount(d.y_train), np.bincount(d.y_test)
    assert np.all(np.abs(tr - te) <= 1)
    d2 = load_digits()
    assert np.array_equal(d.x_test, d2.x_test) and np.array_equal(d.y_train, d2.y_train)
    # no digit is in both halves by index (sizes add up to the whole set)
    assert len(d.x_train) + len(d.x_test) == 1797


def test_digits_without_quantisation_keep_17_levels():
    d = load_digits(ink_levels=None)
    assert len(np.unique(d.x_train)) == 17
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0


def test_quantize_rounds_to_nearest_level_and_keeps_type():
    x = np.array([0.0, 0.2, 0.26, 0.74, 0.76, 1.0], dtype=np.float32)
    assert quantize(x, 3).tolist() == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0]
    t = quantize(torch.tensor(x), 2)
    assert isinstance(t, torch.Tensor) and t.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("bad", [1, 0, 2.5, True])
def test_ink_levels_must_be_integer_at_least_two(bad):
    with pytest.raises(ValueError, match="ink_levels"):
        ink_values(bad)


def test_quantize_refuses_values_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        quantize(np.array([0.0, 1.5]), 3)


def test_tensors_are_created_on_the_device():
    x, y = load_digits().tensors("test", "cpu")
    assert x.device.type == "cpu" and x.dtype == torch.float32 and y.dtype == torch.int64
    with pytest.raises(ValueError, match="split"):
        load_digits().split("valid")


def _fake_mnist(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n).astype(np.uint8)


def test_load_mnist_npz(tmp_path):
    x, y = _fake_mnist()
    p = tmp_path / "mnist.npz"
    np.savez(p, x_train=x[:8], y_train=y[:8], x_test=x[8:], y_test=y[8:])
    d = load_mnist(str(p))
    assert d.x_train.shape == (8, 28, 28) and d.x_test.shape == (4, 28, 28)
    assert set(np.unique(d.x_train)) <= {0.0, 0.5, 1.0}
    assert d.y_test.tolist() == y[8:].tolist()
    raw = load_mnist(str(p), ink_levels=None)
    assert np.allclose(raw.x_train, x[:8] / 255.0)
    assert load_data(str(p)).size == 28


def _write_idx(path, arr, gz=False):
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    data = header + arr.tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def test_load_mnist_idx_folder(tmp_path):
    x, y = _fake_mnist()
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", x[:8], gz=True)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y[:8], gz=True)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", x[8:])
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", y[8:])
    d = load_mnist(str(tmp_path), ink_levels=None)
    assert np.allclose(d.x_test, x[8:] / 255.0) and d.y_train.tolist() == y[:8].tolist()


def test_load_mnist_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist(str(tmp_path / "nope.npz"))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_mnist(str(bad))
    x, y = _fake_mnist()
    partial = tmp_path / "partial.npz"
    np.savez(partial, x_train=x, y_train=y)
    with pytest.raises(ValueError, match="x_test"):
        load_mnist(str(partial))
    mism = tmp_path / "mism.npz"
    np.savez(mism, x_train=x, y_train=y[:3], x_test=x, y_test=y)
    with pytest.raises(ValueError, match="12 train images but 3 labels"):
        load_mnist(str(mism))
    (tmp_path / "idx").mkdir()
    _write_idx(tmp_path / "idx" / "train-images-idx3-ubyte", x)
    with pytest.raises(FileNotFoundError, match="train-labels"):
        load_mnist(str(tmp_path / "idx"))
    trunc = tmp_path / "idx" / "train-labels-idx1-ubyte"
    _write_idx(trunc, y)
    trunc.write_bytes(trunc.read_bytes()[:-2])
    _write_idx(tmp_path / "idx" / "t10k-images-idx3-ubyte", x)
    _write_idx(tmp_path / "idx" / "t10k-labels-idx1-ubyte", y)
    with pytest.raises(ValueError, match="IDX header promises"):
        load_mnist(str(tmp_path / "idx"))
