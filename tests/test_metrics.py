"""dqngen_lib.metrics: the judges and statistics of lesson 09 on real and made-up digits."""
import numpy as np
import pytest
import torch

from dqngen_lib import metrics as M
from dqngen_lib.data import load_digits


@pytest.fixture(scope="module")
def digits():
    return load_digits(None)   # the grey digits, as the generate task uses them


@pytest.fixture(scope="module")
def ref(digits):
    return M.make_reference(digits.x_train, digits.y_train, digits.x_test, digits.y_test)


def test_within_class_l2_by_hand():
    x = np.zeros((5, 2, 2))
    x[1, 0, 0] = 3.0          # class 0: distances 3 (0-1), 4 (0-2), 5 (1-2) -> mean 4
    x[2, 1, 1] = 4.0
    x[4, 0, 1] = 2.0          # class 1: one distance 2
    y = np.array([0, 0, 0, 1, 1])
    x[2, 0, 0] = 0.0
    assert M.within_class_l2(x, y) == pytest.approx((4.0 + 2.0) / 2)
    assert M.within_class_l2(np.repeat(x[1:2], 4, 0), np.zeros(4, int)) == pytest.approx(0.0, abs=1e-6)  # collapse
    with pytest.raises(ValueError, match="at least one class with two"):
        M.within_class_l2(x[:2], np.array([0, 1]))


def test_num_distinct_and_nearest_l2():
    x = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [-0.0, 1.0]])
    assert M.num_distinct(x) == 2
    ref = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert M.nearest_l2(x, ref) == pytest.approx(1.0)
    assert M.nearest_l2(np.array([[3.0, 4.0]]), ref) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="pixels"):
        M.nearest_l2(x, np.zeros((2, 3)))


def test_nearest_l2_matches_brute_force(digits):
    a, r = digits.x_test[:37], digits.x_train[:300]
    brute = np.sqrt(((a.reshape(37, 1, -1) - r.reshape(1, 300, -1)) ** 2).sum(-1)).min(1).mean()
    assert M.nearest_l2(a, r, batch=10) == pytest.approx(brute, rel=1e-6)


def test_gaussian_frechet_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    cov = a @ a.T + np.eye(5)
    mu = rng.normal(size=5)
    assert M.gaussian_frechet(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-8)
    assert M.gaussian_frechet(mu, cov, mu + 2.0, cov) == pytest.approx(4.0 * 5, rel=1e-6)
    # 1-d: (m1 - m2)^2 + (s1 - s2)^2
    assert M.gaussian_frechet(np.zeros(1), np.eye(1) * 4, np.ones(1), np.eye(1) * 9) == pytest.approx(1 + 1)
    # singular covariances are fine
    assert M.gaussian_frechet(np.zeros(3), np.zeros((3, 3)), np.zeros(3), np.eye(3)) == pytest.approx(3.0)


def test_frechet_distance_takes_numpy_and_torch(digits):
    pca = M.fit_pca(digits.x_train, 16)
    f_np = M.frechet_distance(digits.x_train, digits.x_test, pca)
    f_t = M.frechet_distance(torch.as_tensor(digits.x_train), torch.as_tensor(digits.x_test), pca)
    assert f_np == pytest.approx(f_t)
    with pytest.raises(ValueError, match="at least 2 images"):
        M.frechet_distance(digits.x_train[:1], digits.x_test, pca)


def test_real_digits_score_like_real_digits(ref, digits):
    """Real held-out digits: good judges, diverse, novel, and close in the Fréchet sense."""
    real = M.real_metrics(ref)
    assert 0.9 < real["judge_lr"] <= 1.0 and 0.9 < real["judge_knn"] <= 1.0
    assert 1.5 < real["within_class_l2"] < 4.0
    assert real["distinct"] == real["num_images"] == len(digits.x_test)
    assert 0.5 < real["nearest_train_l2"] < real["within_class_l2"]
    # a collapsed "generator" that paints each class mean is far worse in the Fréchet sense
    means = M.class_mean_images(digits.x_train, digits.y_train, digits.y_test)
    f_means = M.frechet_distance(means, digits.x_test, ref.pca)
    assert real["frechet"] < 0.1 < f_means
    assert real["frechet"] * 10 < f_means


def test_the_reference_numbers_of_the_design(digits):
    """The 17-grey-level digits reproduce the course design's reference numbers (within rounding)."""
    d = load_digits(None)
    fwd = M.make_reference(d.x_train, d.y_train, d.x_test, d.y_test, judges_from="train")
    real = M.real_metrics(fwd)
    assert abs(real["judge_lr"] - 0.957) < 0.01
    assert abs(real["within_class_l2"] - 2.26) < 0.03
    assert abs(real["nearest_train_l2"] - 1.12) < 0.03
    assert abs(real["frechet"] - 0.023) < 0.005
    back = M.make_reference(d.x_train, d.y_train, d.x_test, d.y_test, judges_from="test")
    assert abs(M.real_metrics(back)["judge_knn"] - 0.992) < 0.005
    means = M.class_mean_images(d.x_train, d.y_train, d.y_test)
    assert abs(M.frechet_distance(means, d.x_test, fwd.pca) - 1.04) < 0.03


def test_generation_metrics_catch_collapse_and_copying(ref, digits):
    y = np.repeat(np.arange(10), 20)
    # one image per class: judges may be happy, diversity is zero, Fréchet is large
    means = M.class_mean_images(digits.x_train, digits.y_train, y)
    m = M.generation_metrics(means, y, ref)
    assert m["distinct"] == 10 and m["within_class_l2"] == pytest.approx(0.0, abs=1e-6)
    assert m["frechet"] > 0.5
    assert not M.meets_targets(m)["within_class_l2"]
    # copies of training digits: perfect novelty score of 0
    copies = digits.x_train[:200]
    mc = M.generation_metrics(copies, digits.y_train[:200], ref)
    assert mc["nearest_train_l2"] == 0.0 and not M.meets_targets(mc)["nearest_train_l2"]
    # random noise: judges near chance
    noise = np.random.default_rng(0).integers(0, 3, size=(200, 8, 8)) / 2
    mn = M.generation_metrics(noise, y, ref)
    assert mn["judge_lr"] < 0.4 and mn["judge_knn"] < 0.4


def test_generation_metrics_validate_input(ref):
    y = np.zeros(3, int)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.generation_metrics(np.full((3, 8, 8), 2.0), y, ref)
    with pytest.raises(ValueError, match="pixels"):
        M.generation_metrics(np.zeros((3, 4, 4)), y, ref)
    with pytest.raises(ValueError, match="labels"):
        M.generation_metrics(np.zeros((3, 8, 8)), np.zeros(2, int), ref)
    with pytest.raises(ValueError, match="NaN"):
        M.generation_metrics(np.full((3, 8, 8), np.nan), y, ref)
    with pytest.raises(ValueError, match="judges_from"):
        M.make_reference(np.zeros((4, 8, 8)), np.arange(4), np.zeros((4, 8, 8)), np.arange(4), judges_from="x")


def test_format_table_lists_every_metric_and_target(ref):
    real = M.real_metrics(ref)
    table = M.format_table({"generated": real, "real digits": real})
    for title, _ in M.METRIC_NAMES.values():
        assert title in table
    assert "generated" in table and "target" in table and "0.9 to 1.6" in table
    assert f"{real['distinct']} of {real['num_images']}" in table


def test_format_table_over_seeds_and_the_sketch_gap():
    base = {"judge_lr": 0.99, "judge_knn": 0.98, "within_class_l2": 2.1, "distinct": 998, "num_images": 1000,
            "nearest_train_l2": 1.3, "frechet": 0.07, "sketch_frechet": 0.04, "pixels_off_sketch": 5.0}
    runs = [base, dict(base, frechet=0.09, distinct=990), dict(base, frechet=0.08, distinct=994)]
    table = M.format_table({"style": runs, "one seed": base})
    assert "0.080 ± 0.010" in table                                     # mean ± sd of the Fréchet distance
    assert "994 ± 4 of 1000" in table and "998 of 1000" in table
    assert "+0.040 ± 0.010" in table and "<= 0.05" in table             # painted minus sketches
    assert M.SKETCH_METRIC_NAMES["pixels_off_sketch"][0] in table
    plain = M.format_table({"no sketches": {k: v for k, v in base.items() if "sketch" not in k}})
    assert all(title not in plain for title, _ in M.SKETCH_METRIC_NAMES.values())
    assert M.with_sketch_gap(base)["frechet_above_sketch"] == pytest.approx(0.03)
    ok = M.meets_targets(M.with_sketch_gap(dict(base, sketch_frechet=0.01)))
    assert ok["frechet"] and not ok["frechet_above_sketch"]


def test_the_linear_judges_target_is_real_digits_minus_a_point(ref):
    """Lesson 09 asks a generator for the linear judge's accuracy on real digits minus 0.01."""
    real = M.real_metrics(ref)["judge_lr"]
    assert round(real, 3) == M.REAL_JUDGE_LR
    assert M.TARGETS["judge_lr"] == (round(real - 0.01, 3), None)
    assert M.meets_targets({"judge_lr": real - 0.005}) == {"judge_lr": True}
    assert M.meets_targets({"judge_lr": real - 0.02}) == {"judge_lr": False}


def test_format_rows_one_row_per_model_with_seeds_as_mean_and_sd():
    a = {"judge_lr": 0.9, "judge_knn": 0.8, "within_class_l2": 2.0, "distinct": 990, "num_images": 1000,
         "nearest_train_l2": 1.2, "frechet": 0.1, "seconds": 300.2}
    text = M.format_rows({"model": [a, dict(a, frechet=0.2, distinct=996)], "real": dict(a, seconds=None)})
    lines = text.splitlines()
    assert lines[0].startswith("| | LR judge | 1-NN judge") and len(lines) == 4
    assert "| model (2 seeds) |" in lines[2] and "0.150 ± 0.071" in lines[2] and "993 ± 4 of 1000" in lines[2]
    assert lines[3].startswith("| real | 0.900 |") and "| 990 of 1000 |" in lines[3]
    assert M.format_rows({"m": a}, columns={"frechet": "FD"}).splitlines()[2] == "| m | 0.100 |"
