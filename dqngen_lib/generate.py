"""Generating new digits (lesson 09): painting requested classes, sampling, and measuring the result.

The generate task of ``VecCanvasEnv`` shows the agent the requested class (one-hot planes) and a
latent code ``z`` drawn uniformly from ``[-1, 1]^D`` at the start of every episode (constant
planes), and pays the change of a potential (``dqngen_lib.rewards``). ``paint`` plays one episode
per canvas through the course's episode player (``rollout.play``), greedily or with Boltzmann
sampling; ``sample`` paints a fixed number of digits per class; ``evaluate_generation`` measures
quality and diversity with judges trained on the test digits (``dqngen_lib.metrics``).
"""
from __future__ import annotations

import functools
import os

import numpy as np
import torch

from . import metrics as M
from .checkpoint import GanCheckpoint, load_checkpoint
from .config import TrainConfig, dataset, make_env
from .rewards import task_options
from .rollout import boltzmann, play
from .utils import is_int

__all__ = ["paint", "sample", "sample_checkpoint", "reference_for", "evaluate_images", "evaluate_generation",
           "paint_episode"]


def _check_count(name, v, lo=1):
    if not is_int(v, lo):
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")


@torch.no_grad()
def paint(qnet, env, labels, seed: int = 0, temperature: float = 0.0, record: bool = False) -> dict:
    """Paint one episode on every canvas of a generate ``VecCanvasEnv`` (lesson 09).

    ``labels`` (N,) the requested classes. ``temperature = 0``: greedy actions; ``> 0``:
    Boltzmann sampling, ``P(a) ∝ exp(Q(s, a) / temperature)``, drawn from a generator seeded with
    ``seed + 1``. Canvases that stop (pen mode) keep their picture. Returns ``images`` (N, H, W),
    ``labels``, ``latent`` (N, D) as NumPy arrays; with ``record=True`` also the whole record of
    ``rollout.play`` (``canvas`` (T+1, N, H, W), ``actions``, ``q``, ``pen`` in pen mode, ...).
    """
    if env.task != "generate":
        raise ValueError(f"paint needs an environment of the generate task, got {env.task!r}")
    p = next(qnet.parameters(), None)
    gen = torch.Generator(device=env.device if p is None else p.device).manual_seed(int(seed) + 1)
    ep = play(env, boltzmann(qnet, temperature, gen), seed=seed, label=labels, record=record)
    out = {"images": ep["final"], "labels": ep["label"], "latent": ep["latent"]}
    if record:
        out.update({k: v for k, v in ep.items() if k not in ("final", "label")})
    return out


def sample(qnet, cfg: TrainConfig, per_class: int = 100, seed: int = 0, device=None, temperature: float = 0.0,
           batch: int = 1000) -> dict:
    """Paint ``per_class`` digits of every class, class by class (lesson 09).

    Returns ``images`` (10 * per_class, H, W) float32 in [0, 1], ``labels`` (0 ... 0, 1 ... 1,
    ...) and ``latent``. The same seed gives the same digits on the CPU. ``device`` defaults to
    where the Q-network's weights are.
    """
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


def sample_checkpoint(checkpoint, per_class: int = 100, seed: int = 0, device=None, temperature: float = 0.0) -> dict:
    """``sample`` for a loaded checkpoint of either kind: a DQN generate agent, or the GAN baseline
    (``GanCheckpoint``; ``temperature`` must be 0 for it: its randomness is its Gaussian code)."""
    if isinstance(checkpoint, GanCheckpoint):
        _check_count("per_class", per_class)
        if temperature:
            raise ValueError(f"temperature {temperature} applies to a DQN painter's Q-values; the GAN samples "
                             "its Gaussian code (leave it at 0)")
        gan = checkpoint.gan if device is None else checkpoint.gan.to(device)
        return gan.sample(np.repeat(np.arange(10), per_class), seed=seed)
    return sample(checkpoint.qnet, checkpoint.cfg, per_class=per_class, seed=seed, device=device,
                  temperature=temperature)


def paint_episode(qnet, cfg: TrainConfig, labels=range(10), seed: int = 0) -> dict:
    """A recorded greedy episode of the agent painting one digit per entry of ``labels`` (lesson 09);
    ``viz.episode_animation`` turns it into an animation."""
    labels = np.asarray(list(labels), dtype=np.int64)
    if labels.ndim != 1 or len(labels) == 0 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"labels must be a non-empty list of classes in 0..9, got {labels.tolist()}")
    device = next(qnet.parameters()).device
    env = make_env(cfg, len(labels), "train", device, seed=seed)
    return paint(qnet, env, torch.as_tensor(labels, device=device), seed=seed, record=True)


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _cached_reference(data_path, size) -> M.Reference:
    d = dataset(TrainConfig(task="generate", data_path=data_path, size=size))
    return M.make_reference(d.x_train, d.y_train, d.x_test, d.y_test, judges_from="test")


def reference_for(cfg: TrainConfig) -> M.Reference:
    """The real digits that judge a config's generated digits: judges from the test half (cached)."""
    return _cached_reference(cfg.data_path, cfg.size)


def evaluate_images(images, labels, cfg: TrainConfig) -> dict:
    """``metrics.generation_metrics`` of generated digits against the config's real digits."""
    return M.generation_metrics(images, labels, reference_for(cfg))


def evaluate_generation(checkpoint, per_class: int = 100, seed: int = 0, device=None,
                        temperature: float = 0.0) -> dict:
    """Quality and diversity of a generate checkpoint (its folder, a ``checkpoint.Checkpoint``, a
    ``TrainResult`` or the GAN baseline's ``checkpoint.GanCheckpoint``).

    Paints ``per_class`` digits of every class and returns the metrics of lesson 09
    (``judge_lr``, ``judge_knn``, ``within_class_l2``, ``distinct``, ``nearest_train_l2``,
    ``frechet``), plus ``real``: the same metrics of real held-out digits, and, for the 8x8
    digits, ``targets_met``.
    """
    if isinstance(checkpoint, (str, os.PathLike)):
        checkpoint = load_checkpoint(checkpoint, device="auto" if device is None else device)
    s = sample_checkpoint(checkpoint, per_class=per_class, seed=seed, device=device, temperature=temperature)
    out = {"per_class": per_class, "sample_seed": seed}
    if not isinstance(checkpoint, GanCheckpoint):
        out["reward"] = task_options(checkpoint.cfg.task_options)["reward"]
    out.update(evaluate_images(s["images"], s["labels"], checkpoint.cfg))
    out["real"] = M.real_metrics(reference_for(checkpoint.cfg))
    if checkpoint.cfg.data_path is None:
        out["targets_met"] = M.meets_targets(out)
    return out
