"""How good are painted digits? Reconstruction references (lessons 00 and 05) and the quality and
diversity of generated digits (lesson 09).

``perfect_painter_mse``: the error of the best pixel-mode painter with T strokes, the floor of
the reconstruction task. For generated digits, judges and statistics computed from *real* digits that the reward never saw:

* ``Judges``: a logistic regression and a 1-nearest-neighbour classifier (scikit-learn) trained
  on real digits; ``accuracy`` is the fraction of generated digits they put in the requested class.
* ``within_class_l2``: mean pairwise L2 distance between two images of the same class (diversity;
  a generator that paints one image per class scores 0).
* ``num_distinct``: how many images differ from every other one.
* ``nearest_l2``: mean L2 distance from each image to its nearest training image (novelty; a
  generator that copies its training digits scores 0, one that paints noise scores high).
* ``frechet_distance``: the Fréchet distance between Gaussians fitted to two sets of images in a
  16-d PCA space fitted on real digits (quality and diversity together; the FID of the course).

``Reference`` bundles the real digits of one data set (judges from one half, the other half to
compare with); ``generation_metrics`` measures generated digits and ``real_metrics`` the same
quantities on real held-out digits, to print beside them (``format_table``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .data import quantize

__all__ = ["perfect_painter_mse", "Judges", "within_class_l2", "num_distinct", "nearest_l2", "fit_pca", "gaussian_frechet",
           "frechet_distance", "Reference", "make_reference", "generation_metrics", "real_metrics",
           "class_mean_images", "format_table", "format_rows", "with_sketch_gap", "METRIC_NAMES",
           "SKETCH_METRIC_NAMES", "TARGETS", "REAL_JUDGE_LR", "ROW_COLUMNS", "meets_targets"]


def perfect_painter_mse(targets: np.ndarray, steps: int, ink_levels: int = 3) -> float:
    """MSE per pixel of the best pixel-mode painter with ``steps`` strokes (lessons 00 and 05).

    Painting pixel p with the ink nearest its target t removes ``t² − (ink − t)²`` of squared
    error; the best painter takes the ``steps`` largest of these gains, one stroke per pixel.
    """
    f = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    gain = f ** 2 - (quantize(f, ink_levels) - f) ** 2
    best = -np.sort(-gain, axis=1)[:, :steps].sum(1)
    return float(((f ** 2).sum(1) - best).mean() / f.shape[1])


# name -> (row title, format)
METRIC_NAMES = {
    "judge_lr": ("judge: logistic regression accuracy", "{:.3f}"),
    "judge_knn": ("judge: 1-nearest-neighbour accuracy", "{:.3f}"),
    "within_class_l2": ("within-class mean pairwise L2", "{:.2f}"),
    "distinct": ("distinct images", "{}"),
    "nearest_train_l2": ("mean L2 to the nearest training image", "{:.2f}"),
    "frechet": ("Fréchet distance (16-d PCA) to test digits", "{:.3f}"),
}
# rows shown only when a column has them: how closely a painter follows its sketches (lesson 09)
SKETCH_METRIC_NAMES = {
    "sketch_frechet": ("Fréchet distance of the sketches painted", "{:.3f}"),
    "frechet_above_sketch": ("Fréchet, painted minus sketches", "{:+.3f}"),
    "pixels_off_sketch": ("pixels (of 64) off the sketch", "{:.1f}"),
}

# Targets of lesson 09 (8x8, 3 ink levels, 100 digits per class): name -> (low, high), None = open.
# The judges' are set against real digits: the linear judge puts 0.963 of the real digits it never saw
# in their class, so a generator is asked for that minus 0.01 (tests/test_metrics.py recomputes it);
# the 1-nearest-neighbour judge (0.992 on real digits) for 0.97.
REAL_JUDGE_LR = 0.963
TARGETS = {
    "judge_lr": (round(REAL_JUDGE_LR - 0.01, 3), None),
    "judge_knn": (0.97, None),
    "within_class_l2": (2.0, None),
    "distinct_fraction": (0.99, None),
    "nearest_train_l2": (0.9, 1.6),
    "frechet": (None, 0.10),
    "frechet_above_sketch": (None, 0.05),
}


def _flat(images, what: str = "images") -> np.ndarray:
    """(N, H, W) or (N, D) images (NumPy or torch) as a float64 (N, D) NumPy array."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    x = np.asarray(images)
    if x.ndim not in (2, 3) or len(x) == 0:
        raise ValueError(f"{what} must have shape (N, H, W) or (N, D) with N >= 1, got {x.shape}")
    x = x.reshape(len(x), -1).astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return x


def _labels(labels, n: int) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    y = np.asarray(labels)
    if y.shape != (n,):
        raise ValueError(f"expected {n} labels (one per image), got an array of shape {y.shape}")
    return y.astype(np.int64)


def _subsample(n: int, max_n: int | None, seed: int = 0) -> np.ndarray:
    """Indices of at most ``max_n`` of ``n`` items (all of them, in order, when they fit)."""
    if max_n is None or n <= max_n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_n, replace=False))


class Judges:
    """Two classifiers trained on real digits: logistic regression and 1-nearest-neighbour (lesson 09).

    ``Judges(images, labels)`` fits both (at most ``max_train`` images, a fixed random subset,
    so that 28x28 MNIST stays quick). ``accuracy(images, labels)`` returns
    ``{"judge_lr": ..., "judge_knn": ...}``: the fraction of images each judge puts in ``labels``.
    """

    def __init__(self, images, labels, max_train: int | None = 10_000, seed: int = 0):
        from sklearn.linear_model import LogisticRegression
        from sklearn.neighbors import KNeighborsClassifier

        x = _flat(images)
        y = _labels(labels, len(x))
        keep = _subsample(len(x), max_train, seed)
        x, y = x[keep], y[keep]
        if len(np.unique(y)) < 2:
            raise ValueError(f"the judges need real digits of at least 2 classes, got classes {np.unique(y).tolist()}")
        self.classes = np.unique(y)
        self.lr = LogisticRegression(max_iter=2000).fit(x, y)
        self.knn = KNeighborsClassifier(n_neighbors=1).fit(x, y)
        self.num_train = len(x)

    def predict(self, images) -> dict[str, np.ndarray]:
        """Each judge's predicted class of every image."""
        x = _flat(images)
        return {"judge_lr": self.lr.predict(x), "judge_knn": self.knn.predict(x)}

    def accuracy(self, images, labels) -> dict[str, float]:
        """Fraction of ``images`` that each judge assigns to the requested class in ``labels``."""
        x = _flat(images)
        y = _labels(labels, len(x))
        return {k: float(np.mean(p == y)) for k, p in self.predict(x).items()}


def within_class_l2(images, labels, max_per_class: int | None = 2_000) -> float:
    """Mean over classes of the mean L2 distance between two different images of that class.

    ``(1/K) sum_c  2/(n_c (n_c - 1)) sum_{i<j in c} ||x_i - x_j||``; classes with fewer than two
    images are skipped (at least one class must have two). A generator that paints one image per
    class scores 0. At most ``max_per_class`` images per class are used (a fixed subset).
    """
    x = _flat(images)
    y = _labels(labels, len(x))
    means = []
    for c in np.unique(y):
        a = x[y == c]
        a = a[_subsample(len(a), max_per_class)]
        n = len(a)
        if n < 2:
            continue
        sq = (a * a).sum(1)
        d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * a @ a.T, 0.0)
        iu = np.triu_indices(n, 1)
        means.append(np.sqrt(d2[iu]).mean())
    if not means:
        raise ValueError("within_class_l2 needs at least one class with two or more images")
    return float(np.mean(means))


def num_distinct(images, decimals: int = 4) -> int:
    """How many different images there are (pixels compared after rounding to ``decimals``)."""
    x = np.round(_flat(images), decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    return int(len(np.unique(x, axis=0)))


def nearest_l2(images, reference, batch: int = 512) -> float:
    """Mean over ``images`` of the L2 distance to the nearest image of ``reference``.

    With ``reference`` the training digits this measures novelty: copies of training digits
    score 0. Computed in batches as ``sqrt(min_j ||x||^2 + ||r_j||^2 - 2 x.r_j)``.
    """
    x = _flat(images)
    r = _flat(reference, "reference images")
    if x.shape[1] != r.shape[1]:
        raise ValueError(f"images have {x.shape[1]} pixels but the reference images have {r.shape[1]}")
    rr = (r * r).sum(1)
    out = np.empty(len(x))
    for s in range(0, len(x), batch):
        a = x[s:s + batch]
        d2 = (a * a).sum(1)[:, None] + rr[None, :] - 2.0 * a @ r.T
        out[s:s + batch] = np.sqrt(np.maximum(d2.min(1), 0.0))
    return float(out.mean())


def fit_pca(images, dim: int = 16):
    """A scikit-learn ``PCA`` with ``dim`` components fitted on real digits (the Fréchet space)."""
    from sklearn.decomposition import PCA

    x = _flat(images)
    if not 1 <= dim <= min(x.shape):
        raise ValueError(f"PCA dimension must lie in [1, {min(x.shape)}] for {x.shape[0]} images of "
                         f"{x.shape[1]} pixels, got {dim}")
    return PCA(n_components=dim, svd_solver="full").fit(x)


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def gaussian_frechet(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein) distance² between N(mu1, cov1) and N(mu2, cov2).

    ``||mu1 - mu2||^2 + tr(cov1 + cov2 - 2 (cov1^(1/2) cov2 cov1^(1/2))^(1/2))``, with the
    matrix square roots from symmetric eigen-decompositions (stable for singular covariances).
    """
    r1 = _sqrt_psd(cov1)
    cross = _sqrt_psd(r1 @ cov2 @ r1)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(cross))


def frechet_distance(images_a, images_b, pca=None) -> float:
    """Fréchet distance between Gaussians fitted to two image sets, in ``pca``'s space (lesson 09).

    ``pca`` is a fitted PCA (``fit_pca``); None compares raw pixels. Each set needs at least two
    images. Real-vs-real digits score near 0; a generator that paints only class means scores ~1.
    """
    a, b = _flat(images_a), _flat(images_b)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"the Fréchet distance needs at least 2 images per set, got {len(a)} and {len(b)}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the two image sets have {a.shape[1]} and {b.shape[1]} pixels")
    if pca is not None:
        a, b = pca.transform(a), pca.transform(b)
    return gaussian_frechet(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


@dataclass
class Reference:
    """The real digits that judge generated ones (lesson 09).

    ``judges`` are trained on ``judge_images`` (digits the reward never saw); ``train_images`` are
    the digits the reward was built from (``nearest_train_l2`` measures copying of them);
    generated digits are compared with ``compare_images`` in the Fréchet space ``pca``.
    """

    judges: Judges
    pca: object
    judge_images: np.ndarray
    judge_labels: np.ndarray
    train_images: np.ndarray
    train_labels: np.ndarray
    compare_images: np.ndarray
    compare_labels: np.ndarray


def make_reference(train_images, train_labels, test_images, test_labels, judges_from: str = "test",
                   pca_dim: int = 16, max_judge_train: int | None = 10_000) -> Reference:
    """Build the ``Reference`` of a train/test split.

    ``judges_from="test"`` (the default of lesson 09): the reward is built from the train half,
    so the judges learn from the test half, the Fréchet distance compares with the test half, and
    the real-data column of the judges is their accuracy on the train half (digits they never saw).
    ``judges_from="train"``: the classic direction (judges from train, measured on test), for
    reproducing the usual classifier accuracies. The PCA is fitted on both halves.
    """
    xtr, xte = _flat(train_images, "train images"), _flat(test_images, "test images")
    ytr, yte = _labels(train_labels, len(xtr)), _labels(test_labels, len(xte))
    if judges_from == "test":
        jx, jy = xte, yte
    elif judges_from == "train":
        jx, jy = xtr, ytr
    else:
        raise ValueError(f"judges_from must be 'test' or 'train', got {judges_from!r}")
    both = np.concatenate([xtr[_subsample(len(xtr), 20_000)], xte[_subsample(len(xte), 20_000)]])
    return Reference(judges=Judges(jx, jy, max_train=max_judge_train), pca=fit_pca(both, pca_dim),
                     judge_images=jx, judge_labels=jy, train_images=xtr, train_labels=ytr,
                     compare_images=xte, compare_labels=yte)


def generation_metrics(images, labels, ref: Reference, max_compare: int | None = 10_000) -> dict:
    """Every metric of generated ``images`` (N, H, W) painted for the requested ``labels`` (N,).

    Returns ``judge_lr``, ``judge_knn`` (accuracy on the requested class), ``within_class_l2``,
    ``distinct`` (and ``num_images``, ``distinct_fraction``), ``nearest_train_l2`` and ``frechet``.
    """
    x = _flat(images)
    y = _labels(labels, len(x))
    if x.shape[1] != ref.train_images.shape[1]:
        raise ValueError(f"generated images have {x.shape[1]} pixels, the real digits {ref.train_images.shape[1]}")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"generated images must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]")
    out = dict(ref.judges.accuracy(x, y))
    out["within_class_l2"] = within_class_l2(x, y) if len(x) > 1 else 0.0
    out["distinct"] = num_distinct(x)
    out["num_images"] = int(len(x))
    out["distinct_fraction"] = out["distinct"] / len(x)
    out["nearest_train_l2"] = nearest_l2(x, ref.train_images)
    comp = ref.compare_images[_subsample(len(ref.compare_images), max_compare)]
    out["frechet"] = frechet_distance(x, comp, ref.pca) if len(x) > 1 else float("nan")
    return out


def real_metrics(ref: Reference, max_images: int | None = 2_000) -> dict:
    """The same metrics on real digits, to print beside generated ones.

    The judges are measured on the digits they were not trained on; the diversity, novelty and
    Fréchet numbers are those of the comparison digits (at most ``max_images``, a fixed subset)
    against the training digits: the values a perfect generator would reach.
    """
    if ref.judge_images is ref.compare_images:
        held_x, held_y = ref.train_images, ref.train_labels
    else:
        held_x, held_y = ref.compare_images, ref.compare_labels
    k = _subsample(len(held_x), max_images)
    out = dict(ref.judges.accuracy(held_x[k], held_y[k]))
    c = _subsample(len(ref.compare_images), max_images)
    x, y = ref.compare_images[c], ref.compare_labels[c]
    out["within_class_l2"] = within_class_l2(x, y)
    out["distinct"] = num_distinct(x)
    out["num_images"] = int(len(x))
    out["distinct_fraction"] = out["distinct"] / len(x)
    out["nearest_train_l2"] = nearest_l2(x, ref.train_images)
    t = _subsample(len(ref.train_images), max_images)
    out["frechet"] = frechet_distance(ref.train_images[t], x, ref.pca)
    return out


def class_mean_images(train_images, train_labels, labels) -> np.ndarray:
    """The training mean of each requested class: the output of a perfectly collapsed generator."""
    x = _flat(train_images, "train images")
    y = _labels(train_labels, len(x))
    req = _labels(labels, len(np.asarray(labels)))
    missing = sorted(set(req.tolist()) - set(y.tolist()))
    if missing:
        raise ValueError(f"no training images of class(es) {missing}")
    means = {c: x[y == c].mean(0) for c in np.unique(req)}
    return np.stack([means[c] for c in req])


def meets_targets(m: dict) -> dict[str, bool]:
    """Which lesson-07 targets (``TARGETS``) a metrics dict meets (those it has a value for)."""
    out = {}
    for k, (lo, hi) in TARGETS.items():
        if k not in m:
            continue
        v = m[k]
        out[k] = (lo is None or v >= lo) and (hi is None or v <= hi)
    return out


def _row_names(columns) -> dict:
    names = dict(METRIC_NAMES)
    for k, v in SKETCH_METRIC_NAMES.items():
        if any(k in m for col in columns for m in (col if isinstance(col, list) else [col])):
            names[k] = v
    return names


def _fmt(name: str, col, names: dict) -> str:
    """One cell: a metrics dict, or a list of them (seeds) shown as mean ± sd."""
    runs = col if isinstance(col, list) else [col]
    if not runs or any(m.get(name) is None for m in runs):
        return ""
    if name == "distinct":
        n = runs[0]["num_images"]
        if len(runs) == 1:
            return f"{runs[0]['distinct']} of {n}"
        d = np.array([m["distinct"] for m in runs], dtype=float)
        return f"{d.mean():.0f} ± {d.std(ddof=1):.0f} of {n}"
    v = np.array([float(m[name]) for m in runs])
    fmt = names[name][1]
    if len(runs) == 1:
        return "nan" if v[0] != v[0] else fmt.format(v[0])
    return f"{fmt.format(v.mean())} ± {fmt.replace('+', '').format(v.std(ddof=1))}"


def _target(name: str) -> str:
    key = "distinct_fraction" if name == "distinct" else name
    if key not in TARGETS:
        return ""
    lo, hi = TARGETS[key]
    if name == "distinct":
        return f">= {lo:.0%}"
    if lo is not None and hi is not None:
        return f"{lo:g} to {hi:g}"
    return f">= {lo:g}" if lo is not None else f"<= {hi:g}"


def with_sketch_gap(m: dict) -> dict:
    """``m`` with ``frechet_above_sketch`` (painted minus sketches' Fréchet distance) when it has both."""
    if "frechet" in m and "sketch_frechet" in m:
        return {**m, "frechet_above_sketch": m["frechet"] - m["sketch_frechet"]}
    return m


def format_table(columns: dict, targets: bool = True) -> str:
    """A plain-text table: one row per metric, one column per metrics dict (e.g. generated, real).

    A column may also be a list of metrics dicts, one per seed: its cells show mean ± sd (lesson 09).
    The rows of ``SKETCH_METRIC_NAMES`` appear when a column has them.
    """
    columns = {k: ([with_sketch_gap(m) for m in v] if isinstance(v, list) else with_sketch_gap(v))
               for k, v in columns.items()}
    names = _row_names(columns.values())
    heads = list(columns) + (["target"] if targets else [])
    rows = []
    for n in names:
        cells = [_fmt(n, col, names) for col in columns.values()]
        if targets:
            cells.append(_target(n))
        rows.append([names[n][0]] + cells)
    width0 = max(len(r[0]) for r in rows)
    widths = [max(len(h), *(len(r[i + 1]) for r in rows)) for i, h in enumerate(heads)]
    lines = [" " * width0 + "  " + "  ".join(h.rjust(w) for h, w in zip(heads, widths))]
    for r in rows:
        lines.append(r[0].ljust(width0) + "  " + "  ".join(c.rjust(w) for c, w in zip(r[1:], widths)))
    return "\n".join(lines)


ROW_COLUMNS = {"judge_lr": "LR judge", "judge_knn": "1-NN judge", "within_class_l2": "within-class L2",
               "distinct": "distinct", "nearest_train_l2": "nearest-train L2", "frechet": "Fréchet",
               "seconds": "seconds"}


def format_rows(rows: dict, columns: dict | None = None) -> str:
    """A Markdown table with one row per model and one column per metric (lesson 09's head to head).

    ``rows`` ``{label: metrics dict, or a list of them (seeds: mean ± sd)}``; ``columns`` ``{metric:
    heading}`` (default ``ROW_COLUMNS``). A cell a row has no value for is left empty; ``seconds``
    is printed as a whole number.
    """
    columns = dict(ROW_COLUMNS if columns is None else columns)
    names = {**METRIC_NAMES, **SKETCH_METRIC_NAMES, "seconds": ("seconds", "{:.0f}")}
    lines = ["| | " + " | ".join(columns.values()) + " |", "|---|" + "---:|" * len(columns)]
    for label, m in rows.items():
        runs = [with_sketch_gap(x) for x in (m if isinstance(m, list) else [m])]
        cells = [_fmt(k, runs, names) if k in names else "" for k in columns]
        if len(runs) > 1:
            label = f"{label} ({len(runs)} seeds)"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
