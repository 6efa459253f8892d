"""Rewards of the generate task (lesson 07): what the rewards know about the training digits, and
the potentials whose change is the reward.

A potential ``phi(canvas, class, z) -> (N,)`` scores a canvas for the requested class and latent
code; the env pays ``r_{t+1} = phi(s_{t+1}) - phi(s_t)``, so an episode's rewards sum to
``phi(final) - phi(blank)`` (potential-based shaping with gamma = 1). Two potentials:

* ``"classifier"``: ``phi = log p(class | canvas)`` under a logistic regression trained on the
  training digits. It is gamed: the agent learns a few strokes that the classifier is sure about,
  and, with nothing random in its observation, a greedy agent paints one image per class.
* ``"style"`` (lesson 07's): the latent picks a *sketch*, a random digit of the class from a
  per-class PCA model of the training digits, ``s(c, z) = clip(mu_c + sqrt(3) sum_i z_i sigma_ci v_ci)``
  (the sqrt(3) gives ``z_i`` unit variance, so the sketches have the class's mean and top-D
  covariance), and ``phi = -alpha ||canvas - s||^2 / ||s||^2 + beta log p(class | canvas)``.
  The first term makes every latent a different target (diversity, and novelty: the sketches are
  new images, not copies); the second keeps the painting recognisable.

Everything here is built from the *training* digits, read through ``dqngen_lib.data``; the judges
of ``dqngen_lib.metrics`` are trained on the *test* digits, which the rewards never see. The
task's options (``TrainConfig.task_options``, ``dqngen train --task-option KEY=VALUE``) are
``reward`` ("style" or "classifier"), ``alpha`` and ``beta`` (the weights above) and ``quantize``
(round the sketches to the painter's inks).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from .data import load_data

__all__ = ["REWARDS", "OPTION_DEFAULTS", "StyleModel", "fit_style_model", "style_model", "ClassifierPotential",
           "StylePotential", "task_options", "make_potential", "MAX_FIT_IMAGES"]

REWARDS = ("style", "classifier")
OPTION_DEFAULTS = {"reward": "style", "alpha": 1.0, "beta": 0.1, "quantize": True}
MAX_FIT_IMAGES = 10_000  # the reward's classifier learns from at most this many digits (28x28 MNIST)


# ---------------------------------------------------------------------------------------------
# The rewards' model of the training digits
# ---------------------------------------------------------------------------------------------

@dataclass
class StyleModel:
    """What the rewards know about the training digits (lesson 07).

    ``means`` (K, P): the mean image of each class; ``comps`` (K, D, P): its top-D principal
    directions, each scaled by its standard deviation (zero rows when a class has fewer than
    D + 1 images); ``weight`` (K, P), ``bias`` (K,): a logistic regression on the pixels.
    """

    means: torch.Tensor
    comps: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    size: int
    ink_levels: int | None = None

    @property
    def latent_dim(self) -> int:
        return int(self.comps.shape[1])

    @property
    def num_classes(self) -> int:
        return int(self.means.shape[0])

    def to(self, device) -> "StyleModel":
        """The same model with every tensor on ``device``."""
        return StyleModel(self.means.to(device), self.comps.to(device), self.weight.to(device),
                          self.bias.to(device), self.size, self.ink_levels)

    def sketch(self, labels: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """The sketch ``clip(mu_c + sqrt(3) sum_i z_i sigma_ci v_ci, 0, 1)`` of each canvas, (N, H, W).

        ``labels`` (N,) int64, ``latent`` (N, D) in [-1, 1]; only the first ``latent_dim`` latent
        values are used (none when the model has D = 0: the sketch is the class mean).
        """
        s = self.means[labels]
        d = self.latent_dim
        if d:
            if latent.shape[1] < d:
                raise ValueError(f"the style model needs {d} latent values per canvas, got {latent.shape[1]}")
            s = s + math.sqrt(3.0) * torch.einsum("nd,ndp->np", latent[:, :d], self.comps[labels])
        s = s.clamp(0.0, 1.0)
        if self.ink_levels is not None:
            s = torch.round(s * (self.ink_levels - 1)) / (self.ink_levels - 1)
        return s.view(-1, self.size, self.size)

    def logits(self, canvas: torch.Tensor) -> torch.Tensor:
        """The classifier's logits (N, K) of canvases (N, H, W)."""
        return canvas.flatten(1) @ self.weight.T + self.bias

    def log_prob(self, canvas: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``log p(label | canvas)`` under the classifier, (N,)."""
        return torch.log_softmax(self.logits(canvas), dim=1).gather(1, labels[:, None]).squeeze(1)


def fit_style_model(images, labels, latent_dim: int, num_classes: int = 10, ink_levels: int | None = None,
                    max_images: int | None = MAX_FIT_IMAGES, seed: int = 0) -> StyleModel:
    """Fit the per-class PCA sketches and the classifier of the rewards on training digits (lesson 07).

    ``images`` (M, H, W) in [0, 1], ``labels`` (M,). Every class in ``range(num_classes)`` needs at
    least one image. The classifier (scikit-learn's ``LogisticRegression``) sees at most
    ``max_images`` of them (a fixed random subset); the PCA of a class at most 2000.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] != x.shape[2]:
        raise ValueError(f"images must have shape (M, H, H), got {x.shape}")
    size = x.shape[1]
    x = x.reshape(len(x), -1)
    y = np.asarray(labels).astype(np.int64)
    if y.shape != (len(x),):
        raise ValueError(f"expected {len(x)} labels, got shape {y.shape}")
    if len(x) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got values in [{y.min()}, {y.max()}]")
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError("images must be finite values in [0, 1]")
    if not isinstance(latent_dim, (int, np.integer)) or latent_dim < 0:
        raise ValueError(f"latent_dim must be an integer >= 0, got {latent_dim!r}")
    missing = sorted(set(range(num_classes)) - set(y.tolist()))
    if missing:
        raise ValueError(f"the training digits have no images of class(es) {missing}; "
                         f"the generate task needs every class in 0..{num_classes - 1}")
    rng = np.random.default_rng(seed)
    means = np.zeros((num_classes, x.shape[1]))
    comps = np.zeros((num_classes, latent_dim, x.shape[1]))
    for c in range(num_classes):
        a = x[y == c]
        if len(a) > 2000:
            a = a[np.sort(rng.choice(len(a), 2000, replace=False))]
        means[c] = a.mean(0)
        if latent_dim and len(a) > 1:
            _, sv, vt = np.linalg.svd(a - means[c], full_matrices=False)
            vt = vt * np.sign(vt.sum(1, keepdims=True) + 1e-12)  # a fixed sign for each direction
            k = min(latent_dim, len(sv))
            comps[c, :k] = vt[:k] * (sv[:k] / np.sqrt(len(a) - 1))[:, None]
    keep = np.arange(len(x)) if max_images is None or len(x) <= max_images else \
        np.sort(rng.choice(len(x), max_images, replace=False))
    clf = LogisticRegression(max_iter=2000).fit(x[keep], y[keep])
    weight = np.zeros((num_classes, x.shape[1]))
    bias = np.full(num_classes, -1e4)  # classes the classifier never saw get no probability
    weight[clf.classes_] = clf.coef_ if len(clf.classes_) > 2 else np.stack([-clf.coef_[0], clf.coef_[0]])
    bias[clf.classes_] = clf.intercept_ if len(clf.classes_) > 2 else np.array([-clf.intercept_[0], clf.intercept_[0]])
    f32 = functools.partial(torch.as_tensor, dtype=torch.float32)
    return StyleModel(f32(means), f32(comps), f32(weight), f32(bias), size, ink_levels)


@functools.lru_cache(maxsize=8)
def _cached_style_model(data_path, ink_levels, latent_dim, quantize) -> StyleModel:
    d = load_data(data_path, ink_levels=None)
    return fit_style_model(d.x_train, d.y_train, latent_dim, ink_levels=ink_levels if quantize else None)


def style_model(data_path: str | None = None, ink_levels: int = 3, latent_dim: int = 8, quantize: bool = True,
                device="cpu") -> StyleModel:
    """The ``StyleModel`` of the training digits of ``data_path`` (None: the bundled 8x8 digits),
    fitted once per process and cached, on ``device``."""
    return _cached_style_model(data_path, int(ink_levels), int(latent_dim), bool(quantize)).to(device)


# ---------------------------------------------------------------------------------------------
# Potentials
# ---------------------------------------------------------------------------------------------

class ClassifierPotential:
    """``phi(canvas, class, z) = log p(class | canvas)``: the reward that gets gamed (lesson 07)."""

    def __init__(self, model: StyleModel):
        self.model = model

    def __call__(self, canvas, labels, latent):
        return self.model.log_prob(canvas, labels)


class StylePotential:
    """``phi = -alpha ||canvas - s(c, z)||^2 / ||s(c, z)||^2 + beta log p(c | canvas)`` (lesson 07).

    Summed over an episode from a blank canvas, the rewards telescope to ``phi(final) - phi(blank)``:
    ``alpha`` times the fraction of the sketch's error removed, plus ``beta`` times the gain in the
    classifier's log-probability of the requested class.
    """

    def __init__(self, model: StyleModel, alpha: float = 1.0, beta: float = 0.1):
        self.model, self.alpha, self.beta = model, float(alpha), float(beta)

    def __call__(self, canvas, labels, latent):
        s = self.model.sketch(labels, latent)
        norm = s.pow(2).flatten(1).sum(1).clamp_min(1e-6)
        phi = -self.alpha * (canvas - s).pow(2).flatten(1).sum(1) / norm
        if self.beta:
            phi = phi + self.beta * self.model.log_prob(canvas, labels)
        return phi


def task_options(options: dict | None) -> dict:
    """The generate task's options with their defaults; unknown or bad ones raise ``ValueError``."""
    opts = dict(OPTION_DEFAULTS)
    given = dict(options or {})
    unknown = sorted(set(given) - set(opts))
    if unknown:
        raise ValueError(f"unknown generate task option(s) {unknown}; expected {sorted(opts)}")
    opts.update(given)
    if opts["reward"] not in REWARDS:
        raise ValueError(f"unknown reward {opts['reward']!r}; expected one of {', '.join(map(repr, REWARDS))}")
    for k in ("alpha", "beta"):
        v = opts[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"task option {k} must be a number >= 0, got {v!r}")
    if not isinstance(opts["quantize"], bool):
        raise ValueError(f"task option quantize must be true or false, got {opts['quantize']!r}")
    return opts


def make_potential(options: dict | None, model: StyleModel):
    """The potential the task options ask for (``options["reward"]``), built on ``model``."""
    opts = task_options(options)
    if opts["reward"] == "classifier":
        return ClassifierPotential(model)
    return StylePotential(model, opts["alpha"], opts["beta"])
