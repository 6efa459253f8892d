"""Generating new digits (lesson 07): class-conditional rewards, sampling, evaluation, the CLI.

The generate task of ``VecCanvasEnv`` shows the agent the requested class (one-hot planes) and a
latent code ``z`` drawn uniformly from ``[-1, 1]^D`` at the start of every episode (constant
planes), and pays the change of a potential ``phi(canvas, class, z)``. Two potentials:

* ``"classifier"``: ``phi = log p(class | canvas)`` under a logistic regression trained on the
  training digits. It is gamed: the agent learns a few strokes that the classifier is sure about,
  and, with nothing random in its observation, a greedy agent paints one image per class.
* ``"style"`` (the default): the latent picks a *sketch*, a random digit of the class from a
  per-class PCA model of the training digits, ``s(c, z) = clip(mu_c + sqrt(3) sum_i z_i sigma_ci v_ci)``
  (the sqrt(3) gives ``z_i`` unit variance, so the sketches have the class's mean and top-D
  covariance), and
  ``phi = -alpha ||canvas - s||^2 / ||s||^2 + beta log p(class | canvas)``.
  The first term makes every latent a different target (diversity, and novelty: the sketches are
  new images, not copies); the second keeps the painting recognisable.

Everything the reward uses is built from the *training* digits; ``dqngen_lib.metrics`` judges
the results with classifiers trained on the *test* digits, which the reward never saw.

Options of the task live in ``TrainConfig.task_options`` (``dqngen train --task-option KEY=VALUE``):
``reward`` ("style" or "classifier"), ``alpha`` and ``beta`` (the weights above).
``TrainConfig.latent_dim = 0`` picks ``DEFAULT_LATENT_DIM`` for the style reward.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from . import metrics as M

__all__ = ["DEFAULT_LATENT_DIM", "REWARDS", "StyleModel", "fit_style_model", "style_model_for",
           "ClassifierPotential", "StylePotential", "task_options", "latent_dim_for", "make_potential",
           "env_kwargs", "paint", "sample", "reference_for", "evaluate_images", "evaluate_generation",
           "paint_animation", "save_npz", "add_commands"]

DEFAULT_LATENT_DIM = 8
REWARDS = ("style", "classifier")
_OPTION_DEFAULTS = {"reward": "style", "alpha": 1.0, "beta": 0.1, "quantize": True}
MAX_FIT_IMAGES = 10_000  # the reward's classifier learns from at most this many digits (28x28 MNIST)


# ---------------------------------------------------------------------------------------------
# The reward's model of the training digits
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
def _cached_model(data_path, ink_levels, latent_dim, size, quantize=True) -> StyleModel:
    from .train import TrainConfig, dataset

    d = dataset(TrainConfig(task="generate", data_path=data_path, ink_levels=ink_levels, size=size))
    return fit_style_model(d.x_train, d.y_train, latent_dim, ink_levels=ink_levels if quantize else None)


def style_model_for(cfg, device="cpu") -> StyleModel:
    """The ``StyleModel`` of a config's training digits (fitted once per process, then cached)."""
    return _cached_model(cfg.data_path, cfg.ink_levels, latent_dim_for(cfg), cfg.size,
                         bool(task_options(cfg)["quantize"])).to(device)


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


def task_options(cfg) -> dict:
    """The generate task's options of a config, with defaults; unknown or bad ones raise ValueError."""
    opts = dict(_OPTION_DEFAULTS)
    given = dict(cfg.task_options or {})
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


def latent_dim_for(cfg) -> int:
    """The latent size a config's generate task uses: ``cfg.latent_dim``, or the default for the style reward."""
    if cfg.latent_dim == 0 and task_options(cfg)["reward"] == "style":
        return DEFAULT_LATENT_DIM
    return int(cfg.latent_dim)


def make_potential(cfg, device="cpu"):
    """The potential a config asks for (``task_options(cfg)["reward"]``), on ``device``."""
    opts = task_options(cfg)
    model = style_model_for(cfg, device)
    if opts["reward"] == "classifier":
        return ClassifierPotential(model)
    return StylePotential(model, opts["alpha"], opts["beta"])


def env_kwargs(cfg, device) -> dict:
    """Keyword arguments of ``VecCanvasEnv`` for the generate task (called by ``train.make_env``)."""
    return {"potential": make_potential(cfg, device), "latent_dim": latent_dim_for(cfg), "num_classes": 10}


# ---------------------------------------------------------------------------------------------
# Painting and sampling
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def paint(qnet, env, labels, seed: int = 0, temperature: float = 0.0, record: bool = False) -> dict:
    """Paint one episode on every canvas of a generate ``VecCanvasEnv`` (lesson 07).

    ``labels`` (N,) the requested classes. ``temperature = 0``: greedy actions; ``> 0``:
    Boltzmann sampling, ``P(a) ∝ exp(Q(s, a) / temperature)``. Canvases that stop (pen mode) keep
    their picture. Returns ``images`` (N, H, W), ``labels``, ``latent`` (N, D) as NumPy arrays,
    and with ``record=True`` also ``frames`` (T+1, N, H, W) and ``pens`` (T+1, N, 2) (pen mode).
    """
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
        raise ValueError(f"temperature must be a number >= 0, got {temperature!r}")
    was_training = qnet.training
    qnet.eval()
    gen = torch.Generator(device=env.device).manual_seed(int(seed) + 1)
    obs = env.reset(seed=seed, label=labels)
    final = env.canvas.clone()
    active = torch.ones(env.num_envs, dtype=torch.bool, device=env.device)
    frames, pens = [final.cpu()], [env.pen.cpu()]
    for _ in range(env.horizon):
        q = qnet(obs)
        if temperature > 0:
            a = torch.multinomial(torch.softmax(q / temperature, dim=1), 1, generator=gen).squeeze(1)
        else:
            a = q.argmax(dim=1)
        obs, _, term, trunc, _ = env.step(a, validate=False)
        final = torch.where(active[:, None, None], env.canvas, final)
        active = active & ~(term | trunc)
        if record:
            frames.append(final.cpu())
            pens.append(env.pen.cpu())
        if not bool(active.any()):
            break
    qnet.train(was_training)
    out = {"images": final.cpu().numpy(), "labels": env.label.cpu().numpy(), "latent": env.latent.cpu().numpy()}
    if record:
        out["frames"] = torch.stack(frames).numpy()
        if env.mode == "pen":
            out["pens"] = torch.stack(pens).numpy()
    return out


def _check_count(name, v, lo=1):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")


def sample(qnet, cfg, per_class: int = 100, seed: int = 0, device=None, temperature: float = 0.0,
           batch: int = 1000) -> dict:
    """Paint ``per_class`` digits of every class, class by class (lesson 07).

    Returns ``images`` (10 * per_class, H, W) float32 in [0, 1], ``labels`` (0 ... 0, 1 ... 1,
    ...) and ``latent``. The same seed gives the same digits on the CPU.
    """
    from .train import make_env

    _check_count("per_class", per_class)
    _check_count("batch", batch)
    if cfg.task != "generate":
        raise ValueError(f"sampling needs a checkpoint of task 'generate', this one is {cfg.task!r}")
    device = next(qnet.parameters()).device if device is None else torch.device(device)
    labels = np.repeat(np.arange(10), per_class)
    parts = []
    for i, start in enumerate(range(0, len(labels), batch)):
        lab = labels[start:start + batch]
        env = make_env(cfg, len(lab), "train", device, seed=seed)
        parts.append(paint(qnet, env, torch.as_tensor(lab, device=device), seed=seed + 7919 * i,
                           temperature=temperature))
    return {k: np.concatenate([p[k] for p in parts]).astype(np.float32 if k != "labels" else np.int64)
            for k in ("images", "labels", "latent")}


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _cached_reference(data_path, ink_levels, size) -> M.Reference:
    from .train import TrainConfig, dataset

    d = dataset(TrainConfig(task="generate", data_path=data_path, ink_levels=ink_levels, size=size))
    return M.make_reference(d.x_train, d.y_train, d.x_test, d.y_test, judges_from="test")


def reference_for(cfg) -> M.Reference:
    """The real digits that judge a config's generated digits: judges from the test half (cached)."""
    return _cached_reference(cfg.data_path, cfg.ink_levels, cfg.size)


def evaluate_images(images, labels, cfg) -> dict:
    """``metrics.generation_metrics`` of generated digits against the config's real digits."""
    return M.generation_metrics(images, labels, reference_for(cfg))


def evaluate_generation(checkpoint, per_class: int = 100, seed: int = 0, device="cpu",
                        temperature: float = 0.0) -> dict:
    """Quality and diversity of a generate checkpoint (a ``train.Checkpoint`` or its folder).

    Paints ``per_class`` digits of every class and returns the metrics of lesson 07
    (``judge_lr``, ``judge_knn``, ``within_class_l2``, ``distinct``, ``nearest_train_l2``,
    ``frechet``), plus ``real``: the same metrics of real held-out digits, and, for the 8x8
    digits, ``targets_met``.
    """
    from .train import load_checkpoint

    ck = load_checkpoint(checkpoint, device=device) if isinstance(checkpoint, (str, os.PathLike)) else checkpoint
    s = sample(ck.qnet, ck.cfg, per_class=per_class, seed=seed, device=device, temperature=temperature)
    out = {"per_class": per_class, "sample_seed": seed, "reward": task_options(ck.cfg)["reward"]}
    out.update(evaluate_images(s["images"], s["labels"], ck.cfg))
    out["real"] = M.real_metrics(reference_for(ck.cfg))
    if ck.cfg.data_path is None:
        out["targets_met"] = M.meets_targets(out)
    return out


# ---------------------------------------------------------------------------------------------
# Pictures
# ---------------------------------------------------------------------------------------------

def paint_animation(qnet, cfg, labels=range(10), seed: int = 0, path: str | None = None, fps: int = 6,
                    scale: float = 1.0):
    """A matplotlib animation of the agent painting one digit per entry of ``labels`` (lesson 07).

    Returns the ``FuncAnimation`` (show it with ``IPython.display.HTML(anim.to_jshtml())``); with
    ``path`` it is also saved (``.gif`` with Pillow).
    """
    import matplotlib.pyplot as plt
    from matplotlib import animation

    from .train import make_env

    labels = np.asarray(list(labels), dtype=np.int64)
    if labels.ndim != 1 or len(labels) == 0 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"labels must be a non-empty list of classes in 0..9, got {labels.tolist()}")
    device = next(qnet.parameters()).device
    env = make_env(cfg, len(labels), "train", device, seed=seed)
    ep = paint(qnet, env, torch.as_tensor(labels, device=device), seed=seed, record=True)
    frames, pens = ep["frames"], ep.get("pens")
    n = len(labels)
    fig, axes = plt.subplots(1, n, figsize=(scale * n, scale * 1.25), squeeze=False)
    ims = []
    for i, ax in enumerate(axes[0]):
        ax.axis("off")
        ax.set_title(str(labels[i]), fontsize=9)
        ims.append(ax.imshow(frames[0, i], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest"))
    marks = [ax.plot([], [], "s", ms=4 * scale, mfc="none", mec="red")[0] for ax in axes[0]] if pens is not None else []
    title = fig.suptitle("t = 0", fontsize=9)

    def draw(t):
        for i, im in enumerate(ims):
            im.set_data(frames[t, i])
        for i, mk in enumerate(marks):
            mk.set_data([pens[t, i, 1]], [pens[t, i, 0]])
        title.set_text(f"t = {t}")
        return ims + marks + [title]

    anim = animation.FuncAnimation(fig, draw, frames=len(frames), interval=1000 // fps, blit=False)
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
        anim.save(path, writer=animation.PillowWriter(fps=fps))
    plt.close(fig)
    return anim


# ---------------------------------------------------------------------------------------------
# Command line: dqngen sample
# ---------------------------------------------------------------------------------------------

def save_npz(path: str, **arrays) -> None:
    """``np.savez_compressed`` with fixed timestamps in the zip, so the same arrays give the same bytes."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, a in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)


def _cmd_sample(args) -> int:
    from .train import load_checkpoint

    _check_count("--per-class", args.per_class)
    if not args.out.endswith(".npz"):
        raise ValueError(f"--out must name a .npz file, got {args.out!r}")
    ck = load_checkpoint(args.checkpoint, device=args.device)
    s = sample(ck.qnet, ck.cfg, per_class=args.per_class, seed=args.seed, device=args.device,
               temperature=args.temperature)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_npz(args.out, images=s["images"], labels=s["labels"], latent=s["latent"])
    print(json.dumps({"out": args.out, "images": int(len(s["images"])), "size": int(s["images"].shape[-1]),
                      "distinct": M.num_distinct(s["images"])}))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``dqngen sample`` (``train --task generate`` and ``evaluate`` live in ``train``)."""
    p = sub.add_parser("sample", help="paint new digits with a generate checkpoint (lesson 07)",
                       description="Paint --per-class digits of every class with a checkpoint trained with "
                                   "--task generate; writes an .npz with arrays images (N, H, W) in [0, 1], "
                                   "labels (N,) and latent (N, D).")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder (or its checkpoint.pt)")
    p.add_argument("--per-class", type=int, default=100, help="digits per class (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the latents (same seed, same file on CPU)")
    p.add_argument("--temperature", type=float, default=0.0,
                   help="0: greedy painting (default); > 0: Boltzmann sampling from the Q-values")
    p.add_argument("--out", required=True, help="output .npz file")
    p.add_argument("--device", default="cpu", help="auto, cpu or cuda (default cpu)")
    p.set_defaults(func=_cmd_sample)
