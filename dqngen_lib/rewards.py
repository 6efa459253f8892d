"""Rewards of the generate task (lesson 09): what the rewards know about the training digits, and
the potentials whose change is the reward.

A potential ``phi(canvas, class, z) -> (N,)`` scores a canvas for the requested class and latent
code; the env pays ``r_{t+1} = phi(s_{t+1}) - phi(s_t)``, so an episode's rewards sum to
``phi(final) - phi(blank)`` (potential-based shaping with gamma = 1). Three potentials:

* ``"classifier"``: ``phi = log p(class | canvas)`` under a logistic regression trained on the
  training digits. It is gamed: the agent learns a few strokes that the classifier is sure about,
  and, with nothing random in its observation, a greedy agent paints one image per class.
* ``"style"`` (lesson 09's): the latent picks a *sketch*, a random digit of the class from a
  per-class PCA model of the training digits, ``s(c, z) = clip(mu_c + sqrt(3) sum_i z_i sigma_ci v_ci)``
  (the sqrt(3) gives ``z_i`` unit variance, so the sketches have the class's mean and top-D
  covariance), and ``phi = -alpha ||canvas - s||^2 / ||s||^2 + beta log p(class | canvas)``.
  The first term makes every latent a different target (diversity, and novelty: the sketches are
  new images, not copies); the second keeps the painting recognisable.
* ``"adversarial"``: ``phi = alpha log sigmoid(D(canvas, class))`` with a discriminator ``D``
  trained online to tell the agent's canvases from real digits of the class: the reward of a GAN
  (as SPIRAL gives it to a policy-gradient painter), to test the seed article's claim that
  DQN-based generation avoids mode collapse. With ``relabel`` (the default) the rewards of every
  replayed transition are computed again by ``D`` as it is when the batch is sampled, and ``D``
  learns from the canvases it is asked about (the replayed ones, at every step of an episode);
  ``relabel=False`` is the first version: rewards fixed when the transition was stored, ``D``
  trained on finished canvases only.

Everything here is built from the *training* digits, read through ``dqngen_lib.data``; the judges
of ``dqngen_lib.metrics`` are trained on the *test* digits, which the rewards never see. The
task's options (``TrainConfig.task_options``, ``dqngen train --task-option KEY=VALUE``) are
``reward`` ("style", "classifier" or "adversarial"), ``alpha`` and ``beta`` (the weights above),
``quantize`` (round the sketches to the painter's inks), ``disc_lr`` and ``disc_every`` (the
discriminator's learning rate, and the number of agent updates -- batched environment steps when
``relabel`` is off -- between two of its updates) and ``relabel`` (above).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from .data import load_data
from .utils import is_int, is_number

__all__ = ["REWARDS", "OPTION_DEFAULTS", "StyleModel", "fit_style_model", "style_model", "ClassifierPotential",
           "StylePotential", "Discriminator", "AdversarialPotential", "task_options", "make_potential",
           "MAX_FIT_IMAGES"]

REWARDS = ("style", "classifier", "adversarial")
OPTION_DEFAULTS = {"reward": "style", "alpha": 1.0, "beta": 0.1, "quantize": True, "disc_lr": 1e-3, "disc_every": 4,
                   "relabel": True}
MAX_FIT_IMAGES = 10_000  # the reward's classifier learns from at most this many digits (28x28 MNIST)


# ---------------------------------------------------------------------------------------------
# The rewards' model of the training digits
# ---------------------------------------------------------------------------------------------

@dataclass
class StyleModel:
    """What the rewards know about the training digits (lesson 09).

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
    """Fit the per-class PCA sketches and the classifier of the rewards on training digits (lesson 09).

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
    """``phi(canvas, class, z) = log p(class | canvas)``: the reward that gets gamed (lesson 09)."""

    def __init__(self, model: StyleModel):
        self.model = model

    def __call__(self, canvas, labels, latent):
        return self.model.log_prob(canvas, labels)


class StylePotential:
    """``phi = -alpha ||canvas - s(c, z)||^2 / ||s(c, z)||^2 + beta log p(c | canvas)`` (lesson 09).

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


class Discriminator(torch.nn.Module):
    """A small class-conditional discriminator (lesson 09): two 3x3 convolutions, then a projection
    onto the requested class (Miyato and Koyama, 2018): ``D(x, c) = w . f(x) + e_c . f(x) + b``, a
    logit of "a real digit of class c"."""

    def __init__(self, size: int, num_classes: int = 10, channels: int = 16):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(1, channels, 3, padding=1), torch.nn.LeakyReLU(0.2),
            torch.nn.Conv2d(channels, channels, 3, padding=1, stride=2), torch.nn.LeakyReLU(0.2),
            torch.nn.Flatten(), torch.nn.Linear(channels * ((size + 1) // 2) ** 2, 64), torch.nn.LeakyReLU(0.2))
        self.out = torch.nn.Linear(64, 1)
        self.embed = torch.nn.Embedding(num_classes, 64)

    def forward(self, canvas: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        f = self.body(canvas[:, None])
        return self.out(f).squeeze(1) + (self.embed(labels) * f).sum(1)


class AdversarialPotential:
    """``phi(x, c, z) = alpha log sigmoid(D(x, c))``, with a discriminator trained online (lesson 09).

    The seed article claims that DQN-based generation avoids the mode collapse of GANs. This is the
    test: the reward of a GAN, as SPIRAL (Ganin et al., 2018) gives it to a policy-gradient painter,
    given to DQN. A discriminator ``D`` (``Discriminator``) learns to tell the painter's canvases of
    class ``c`` from real training digits of class ``c`` (rounded to the painter's inks, or it would
    only have to look for grey); the potential is ``alpha log sigmoid(D(x, c))``, so an episode's
    return is how much more "real" the final canvas looks than a blank one. The agent's reward never
    carries a gradient into ``D`` (it is computed under ``torch.no_grad``).

    Two ways to keep ``D`` and the rewards in step (``relabel``):

    * ``relabel=True`` (the default): the trainer hands every sampled replay batch to
      ``relabel_rewards``, which recomputes ``r = phi(s') - phi(s)`` with ``D`` as it is now -- a
      reward stored long ago would score a canvas by a discriminator that no longer exists -- and,
      every ``every`` calls, first trains ``D`` on the batch's canvases against real digits of the
      same classes. ``D`` is then asked only about the kind of canvas it learnt from: the agent's
      canvases at every step of an episode, blank ones included (SPIRAL's discriminator sees only
      final canvases because only the final canvas is rewarded there; here every step is).
    * ``relabel=False`` (the first version, kept to reproduce ``results/gen-rewards.json``): the
      environment hands every finished canvas to ``observe`` (in ``reset_done``); they go into a
      ring of ``memory`` canvases, and every ``every`` calls ``D`` takes one Adam step on fakes from
      the ring. The rewards stored in the replay buffer are never updated.

    Everything stays on the device without host synchronisation. ``stats()`` reads (and resets)
    ``D``'s learning curve: its loss and its mean probability on real and fake digits. Its weights,
    optimizer and ring are part of the environment's ``state_dict``, so a resumed run continues exactly.
    """

    def __init__(self, images, labels, ink_levels: int | None, num_classes: int = 10, alpha: float = 1.0,
                 lr: float = 1e-3, every: int = 4, batch: int = 64, memory: int = 4096, seed: int = 0,
                 device="cpu", relabel: bool = True):
        self.device = torch.device(device)
        x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
        if ink_levels is not None:
            x = torch.round(x * (ink_levels - 1)) / (ink_levels - 1)
        y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        order = torch.argsort(y, stable=True)
        self.real, real_labels = x[order].to(self.device), y[order]
        counts = torch.bincount(real_labels, minlength=num_classes)
        if bool((counts == 0).any()):
            raise ValueError(f"the adversarial reward needs real digits of every class; missing "
                             f"{torch.nonzero(counts == 0).flatten().tolist()}")
        self.class_start = (torch.cumsum(counts, 0) - counts).to(self.device)
        self.class_count = counts.to(self.device)
        self.alpha, self.every, self.batch, self.memory = float(alpha), int(every), int(batch), int(memory)
        self.relabel = bool(relabel)
        size = int(x.shape[-1])
        torch.manual_seed(seed)        # (the agent's network is built after the environment, from its own seed)
        self.disc = Discriminator(size, num_classes).to(self.device)
        self.opt = torch.optim.Adam(self.disc.parameters(), lr=lr, betas=(0.5, 0.999),
                                    **({"capturable": True} if self.device.type == "cuda" else {}))
        self.gen = torch.Generator(device=self.device).manual_seed(seed + 17)
        ring = 0 if self.relabel else self.memory
        self.ring = torch.zeros(ring, size, size, device=self.device)
        self.ring_labels = torch.zeros(ring, dtype=torch.int64, device=self.device)
        self.ring_filled = torch.zeros(ring, device=self.device)
        self.pos, self.calls, self.updates = 0, 0, 0
        self.last_loss = torch.zeros((), device=self.device)
        self.acc = torch.zeros(4, device=self.device)   # loss, D(real), D(fake) sums, updates: since stats()

    @torch.no_grad()
    def __call__(self, canvas, labels, latent):
        return self.alpha * torch.nn.functional.logsigmoid(self.disc(canvas, labels))

    def observe(self, canvas: torch.Tensor, labels: torch.Tensor, latent, done: torch.Tensor) -> None:
        """``relabel=False``: remember the canvases that just finished (``done``) and, every ``every``
        calls, train ``D`` on the ring. With ``relabel`` it does nothing (``D`` learns in ``relabel_rewards``)."""
        if self.relabel:
            return
        n = canvas.shape[0]
        idx = (self.pos + torch.arange(n, device=self.device)) % self.memory
        keep = done.to(self.device)
        self.ring.index_copy_(0, idx, torch.where(keep[:, None, None], canvas.detach(), self.ring[idx]))
        self.ring_labels.index_copy_(0, idx, torch.where(keep, labels, self.ring_labels[idx]))
        self.ring_filled.index_copy_(0, idx, torch.maximum(self.ring_filled[idx], keep.float()))
        self.pos = (self.pos + n) % self.memory
        self.calls += 1
        if self.calls % self.every == 0:
            self.train_step()

    def relabel_rewards(self, canvas: torch.Tensor, next_canvas: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The rewards ``phi(next_canvas) - phi(canvas)`` of replayed transitions under ``D`` as it is now,
        (N,), after one update of ``D`` on ``next_canvas`` every ``every`` calls. No gradient flows
        back into ``D`` through the rewards."""
        self.calls += 1
        if self.calls % self.every == 0:
            self._disc_step(next_canvas.detach(), labels, None)
        return self(next_canvas, labels, None) - self(canvas, labels, None)      # __call__ runs without grad

    def train_step(self) -> None:
        """One Adam step of ``D``: fake canvases from the ring against real digits of the same classes."""
        weights = self.ring_filled + 1e-12                 # (an empty ring samples anything; its loss is masked)
        fake_idx = torch.multinomial(weights, self.batch, replacement=True, generator=self.gen)
        self._disc_step(self.ring[fake_idx], self.ring_labels[fake_idx], self.ring_filled[fake_idx])

    def _disc_step(self, fake: torch.Tensor, lab: torch.Tensor, valid: torch.Tensor | None) -> None:
        """One Adam step of ``D`` on ``fake`` canvases of classes ``lab`` against as many real digits of
        the same classes (``valid``: a 0/1 weight per fake, None: all count)."""
        n = fake.shape[0]
        pick = torch.floor(torch.rand(n, generator=self.gen, device=self.device) * self.class_count[lab]).long()
        real = self.real[self.class_start[lab] + pick]
        w = torch.ones(n, device=self.device) if valid is None else valid
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        with torch.enable_grad():
            d_real, d_fake = self.disc(real, lab), self.disc(fake, lab)
            loss = ((bce(d_real, torch.ones_like(d_real), reduction="none")
                     + bce(d_fake, torch.zeros_like(d_fake), reduction="none")) * w).sum() / w.sum().clamp_min(1.0)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        self.updates += 1
        self.last_loss = loss.detach()
        with torch.no_grad():
            self.acc += torch.stack([self.last_loss, torch.sigmoid(d_real).mean(),
                                     (torch.sigmoid(d_fake) * w).sum() / w.sum().clamp_min(1.0),
                                     torch.ones((), device=self.device)])

    def stats(self) -> dict:
        """``D``'s mean loss and mean probability on real and on fake digits since the last call
        (``disc_loss``, ``disc_real``, ``disc_fake``; None before its first update). Synchronises."""
        a = self.acc.tolist()
        self.acc.zero_()
        n = a[3]
        return {k: (v / n if n else None) for k, v in zip(("disc_loss", "disc_real", "disc_fake"), a[:3])}

    def state_dict(self) -> dict:
        return {"disc": self.disc.state_dict(), "opt": self.opt.state_dict(), "gen": self.gen.get_state(),
                "ring": self.ring.cpu(), "ring_labels": self.ring_labels.cpu(), "ring_filled": self.ring_filled.cpu(),
                "pos": self.pos, "calls": self.calls, "updates": self.updates, "acc": self.acc.cpu()}

    def load_state_dict(self, st: dict) -> None:
        self.disc.load_state_dict(st["disc"])
        self.opt.load_state_dict(st["opt"])
        self.gen.set_state(st["gen"])
        self.ring, self.ring_labels = st["ring"].to(self.device), st["ring_labels"].to(self.device)
        self.ring_filled = st["ring_filled"].to(self.device)
        self.pos, self.calls, self.updates = int(st["pos"]), int(st["calls"]), int(st["updates"])
        if "acc" in st:
            self.acc = st["acc"].to(self.device)


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
        if not is_number(v, 0):
            raise ValueError(f"task option {k} must be a number >= 0, got {v!r}")
    for k in ("quantize", "relabel"):
        if not isinstance(opts[k], bool):
            raise ValueError(f"task option {k} must be true or false, got {opts[k]!r}")
    v = opts["disc_lr"]
    if not is_number(v, above=0):
        raise ValueError(f"task option disc_lr must be a positive number, got {v!r}")
    v = opts["disc_every"]
    if not is_int(v, 1):
        raise ValueError(f"task option disc_every must be a positive integer, got {v!r}")
    return opts


def make_potential(options: dict | None, model: StyleModel, images=None, labels=None, ink_levels: int | None = None,
                   seed: int = 0, device="cpu"):
    """The potential the task options ask for (``options["reward"]``), built on ``model``; the
    adversarial one also needs the real training ``images`` and ``labels`` and trains on ``device``."""
    opts = task_options(options)
    if opts["reward"] == "classifier":
        return ClassifierPotential(model)
    if opts["reward"] == "adversarial":
        if images is None:
            raise ValueError("the adversarial reward needs the real training digits (images, labels)")
        return AdversarialPotential(images, labels, ink_levels if opts["quantize"] else None, alpha=opts["alpha"],
                                    lr=opts["disc_lr"], every=opts["disc_every"], seed=seed, device=device,
                                    relabel=opts["relabel"])
    return StylePotential(model, opts["alpha"], opts["beta"])
