"""What a training run is made of (lesson 05): the hyper-parameters and the factories that turn them
into data, environments and Q-networks.

``TrainConfig`` holds every hyper-parameter in one dataclass, each field with a docstring (the
command line's help). ``TrainConfig.preset(task, mode)`` is the configuration each lesson trains,
from the table ``PRESETS``; the command line starts from the same table. ``dataset``, ``make_env``
and ``make_qnet`` build the digits, a ``VecCanvasEnv`` and the Q-network of a config.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

import torch

from . import nets, rewards
from .data import Digits, load_data
from .envs import MODES, TASKS, VecCanvasEnv, channel_names, num_actions
from .nets import QNET_KINDS, STOP_Q
from .rewards import task_options
from .utils import check_shared_fields, field_docs, field_error, get_device, is_number

__all__ = ["TrainConfig", "PRESETS", "GPU_SCALE", "dataset", "make_env", "make_qnet", "obs_shape", "memory_estimate"]

# The configuration of each lesson, by (task, mode); fields not named keep TrainConfig's defaults.
PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    ("reconstruct", "pixel"): {},                                                # lesson 05, pixel mode
    ("reconstruct", "pen"): {"qnet": "pen", "channels": 32, "layers": 3, "pen_segment": True,  # lesson 07, pen
                             "gamma": 0.9, "lr_end": 3e-4, "lr_decay_steps": 1_000_000},
    ("generate", "pixel"): {"latent_dim": 8, "horizon": 32, "channels": 16, "layers": 5, "cond_maps": 16,
                            "cond_decoder": "bilinear", "gamma": 0.2, "lr": 1e-3, "batch_size": 128,
                            "updates_per_step": 2.0,
                            "eval_every": 0},                                                    # lesson 09
    ("generate", "pen"): {"latent_dim": 8, "horizon": 32, "qnet": "pen", "pen_segment": True, "channels": 32,
                          "layers": 3, "cond_maps": 16, "gamma": 0.7, "lr": 1e-3, "batch_size": 128,
                          "updates_per_step": 2.0, "eval_every": 0},                             # lesson 09, pen
}

# The GPU scale of lesson 08 (any preset): thousands of canvases and large minibatches at the CPU presets'
# replay ratio (updates_per_step * batch_size / num_envs = 4), exploration and learning start scaled with them.
GPU_SCALE: dict[str, Any] = {"num_envs": 4096, "batch_size": 4096, "buffer_size": 1_000_000, "updates_per_step": 4.0,
                             "learning_starts": 40_960, "eps_decay_steps": 2_000_000, "log_every": 65_536}


@dataclass
class TrainConfig:
    """Every hyper-parameter of a training run (lesson 05). ``dqngen train --help`` lists them."""

    # -- the problem
    task: str = "reconstruct"
    """what the agent paints: 'reconstruct' (the target digit is shown) or 'generate' (a class is given)"""
    mode: str = "pixel"
    """action mode: 'pixel' (paint one pixel with one ink) or 'pen' (move a pen, up or down, or stop)"""
    size: int = 8
    """canvas side length; 8 for the bundled digits, 28 for MNIST (needs data_path)"""
    horizon: int = 24
    """steps per episode T"""
    ink_levels: int = 3
    """number of ink values evenly spaced in [0, 1] (3 -> 0, 0.5, 1)"""
    pen_window: int = 2
    """pen mode: the pen moves at most this many pixels per step along each axis"""
    data_path: str | None = None
    """None: scikit-learn's 8x8 digits; else an MNIST .npz file or folder of IDX files"""
    latent_dim: int = 0
    """generate task: number of latent planes in the observation (diversity)"""
    task_options: dict = field(default_factory=dict)
    """free-form options of the task (the generate task of lesson 09 reads its own)"""

    # -- the Q-network
    qnet: str = "conv"
    """Q-network: 'conv' (convolutional Q-map), 'mlp' (the seed's MLP) or 'pen' (pen-centred Q-map, pen mode)"""
    channels: int = 16
    """width of the conv Q-map (channels of every convolution)"""
    layers: int = 1
    """number of 3x3 convolutions of the conv Q-map"""
    hidden: int = 128
    """width of the MLP's two hidden layers (the seed's: 128)"""
    dueling: bool = False
    """dueling head: Q = V + A - mean(A)"""
    head_layers: int = 1
    """'pen' Q-network: 3x3 convolutions of the head over the patch around the pen (then one 1x1)"""
    stop_q: str = "zero"
    """'pen' Q-network: Q(stop) fixed to 'zero' (its exact value: stopping ends the episode, no reward) or 'learned'"""
    pen_segment: bool = False
    """'pen' Q-network: give the head each move's features summed over the pixels it paints"""
    cond_maps: int = 0
    """generate task, conv and pen Q-networks: planes decoded from the class and latent (0: none)"""
    cond_decoder: str = "mlp"
    """how cond_maps are decoded: 'mlp' (one hidden layer) or 'bilinear' (a linear map of the latent per class)"""

    # -- acting
    num_envs: int = 64
    """canvases stepped together (thousands on a GPU)"""
    eps_start: float = 1.0
    """exploration rate ε at the start"""
    eps_end: float = 0.02
    """exploration rate ε after the decay"""
    eps_decay_steps: int = 15_000
    """environment steps over which ε decays linearly from eps_start to eps_end"""

    # -- learning
    gamma: float = 0.5
    """discount factor γ"""
    lr: float = 3e-3
    """Adam learning rate"""
    lr_end: float = 0.0
    """learning rate reached after lr_decay_steps (linear decay from lr; only when lr_decay_steps > 0)"""
    lr_decay_steps: int = 0
    """environment steps over which the learning rate decays linearly from lr to lr_end (0: constant lr)"""
    batch_size: int = 256
    """transitions per gradient update"""
    buffer_size: int = 50_000
    """replay buffer capacity (transitions)"""
    replay: bool = True
    """False: no replay, learn only from the newest num_envs transitions (ablation)"""
    learning_starts: int = 1_000
    """environment steps of random play before the first update"""
    updates_per_step: float = 1.0
    """gradient updates per batched step of all num_envs canvases (may be fractional)"""
    double: bool = True
    """Double DQN: the online network picks the next action, the target network evaluates it"""
    loss: str = "huber"
    """TD loss: 'huber' or 'mse'"""
    max_grad_norm: float = 10.0
    """clip the gradient norm to this value (0: no clipping)"""
    target: str = "soft"
    """target network: 'soft' (Polyak averaging), 'hard' (copy every target_period) or 'none'"""
    tau: float = 0.05
    """soft target update rate: target <- (1 - tau) target + tau online, after every update"""
    target_period: int = 200
    """hard target update: copy the online network every this many updates"""

    # -- bookkeeping
    seed: int = 0
    """seed of the network, the environments, exploration and replay sampling"""
    device: str = "auto"
    """'auto' (CUDA when present), 'cpu' or 'cuda'"""
    compile: str = "none"
    """torch.compile the Q-network: 'none', 'default' (fused kernels) or 'reduce-overhead' (plus CUDA graphs)"""
    log_every: int = 2_048
    """environment steps between two points of the learning curve"""
    eval_every: int = 40_000
    """environment steps between evaluations on held-out digits (0: only at the end)"""
    eval_images: int = 300
    """held-out digits used by the evaluations during training (the final one uses all)"""
    checkpoint_every: float = 60.0
    """seconds between checkpoints written during training (when an output folder is given)"""

    def __post_init__(self):
        self.validate()

    # field docstrings, read from the source (CleanRL style)
    @classmethod
    def field_docs(cls) -> dict[str, str]:
        """``{field name: its docstring}``."""
        return field_docs(cls)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        def bad(name, expected):
            raise field_error(self, name, expected)

        choices = {"task": TASKS, "mode": MODES, "qnet": QNET_KINDS, "loss": ("huber", "mse"), "stop_q": STOP_Q,
                   "target": ("soft", "hard", "none"), "compile": ("none", "default", "reduce-overhead"),
                   "cond_decoder": nets.COND_DECODERS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                bad(name, "one of " + ", ".join(map(repr, allowed)))
        check_shared_fields(self, positive_ints=("size", "horizon", "pen_window", "num_envs", "batch_size",
                                                 "buffer_size", "target_period", "log_every", "eval_images",
                                                 "channels", "layers", "hidden"),
                            natural_ints=("latent_dim", "learning_starts", "eps_decay_steps", "eval_every",
                                          "head_layers", "cond_maps", "lr_decay_steps"))
        for name in ("dueling", "double", "replay", "pen_segment"):
            if not isinstance(getattr(self, name), bool):
                bad(name, "True or False")
        for name in ("eps_start", "eps_end", "gamma", "tau"):
            v = getattr(self, name)
            if not is_number(v, 0.0, 1.0):
                bad(name, "a number in [0, 1]")
        if not is_number(self.updates_per_step, above=0.0):
            bad("updates_per_step", "a positive number")
        for name in ("max_grad_norm", "checkpoint_every", "lr_end"):
            v = getattr(self, name)
            if not is_number(v, 0):
                bad(name, "a number >= 0")
        if self.cond_maps and (self.task != "generate" or self.qnet == "mlp"):
            bad("cond_maps", "0 unless the task is 'generate' with a 'conv' or 'pen' Q-network")
        if self.qnet == "pen" and self.mode != "pen":
            bad("qnet", "'conv' or 'mlp' in pixel mode ('pen' is the pen-centred Q-map of pen mode)")
        if self.tau == 0.0 and self.target == "soft":
            bad("tau", "a number in (0, 1] for soft target updates")
        if not isinstance(self.task_options, dict):
            bad("task_options", "a dict")
        if self.task == "reconstruct" and self.task_options:
            bad("task_options", "{} for the reconstruct task, which has no options (they belong to 'generate')")
        if self.task == "generate":
            try:
                task_options(self.task_options)
            except ValueError as exc:
                raise ValueError(f"TrainConfig.task_options = {self.task_options!r} is invalid: {exc}") from None
        if self.task == "reconstruct" and self.latent_dim:
            bad("latent_dim", "0 for the reconstruct task (latent planes belong to the generate task)")
        if self.eps_end > self.eps_start:
            bad("eps_end", f"at most eps_start = {self.eps_start} (ε decays from eps_start to eps_end)")
        if self.horizon > 16 * self.size ** 2:       # an episode must end: evaluations play every step of it
            bad("horizon", f"at most 16 x size**2 = {16 * self.size ** 2} strokes on a {self.size}x{self.size} canvas "
                           f"(the lessons use 24 to 32)")
        if self.replay and self.buffer_size < self.batch_size:
            bad("buffer_size", f"at least batch_size = {self.batch_size}")

    def to_dict(self) -> dict:
        """A JSON-friendly dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """The inverse of ``to_dict``; unknown keys raise ``ValueError`` naming them."""
        if not isinstance(d, dict):
            raise ValueError(f"expected a dict of TrainConfig fields, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; known fields: {sorted(names)}")
        kw = dict(d)
        # JSON turns ints that were floats into ints and back; coerce the float fields
        for f in dataclasses.fields(cls):
            if f.name in kw and f.type in ("float", float) and isinstance(kw[f.name], int) \
                    and not isinstance(kw[f.name], bool):
                kw[f.name] = float(kw[f.name])
        return cls(**kw)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def preset(cls, task: str = "reconstruct", mode: str = "pixel", **overrides) -> "TrainConfig":
        """The configuration the lesson of ``(task, mode)`` trains, with ``overrides`` on top.

        ``dqngen train --task T --mode M`` starts from the same preset, so a README command and its
        lesson train the same agent. The table is ``PRESETS``.
        """
        for what, value, allowed in (("task", task, TASKS), ("mode", mode, MODES)):
            if value not in allowed:
                raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(map(repr, allowed))}")
        return cls(**{**PRESETS[(task, mode)], "task": task, "mode": mode, **overrides})




# ---------------------------------------------------------------------------------------------
# Data, environments and networks from a config
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _load(path):
    return load_data(path, ink_levels=None)


def dataset(cfg: TrainConfig) -> Digits:
    """The ``Digits`` a config trains on (cached), at their original grey levels.

    The targets are not quantised: only the painter's inks are (``cfg.ink_levels``), so even a
    perfect painter leaves some error (lesson 01).
    """
    d = _load(cfg.data_path)
    if d.size != cfg.size:
        raise ValueError(f"TrainConfig.size = {cfg.size} does not match the data, which is {d.size}x{d.size}")
    return d


def obs_shape(cfg: TrainConfig) -> tuple[int, int, int]:
    """The observation shape ``(C, H, W)`` of a config's environment (without building one)."""
    return (len(channel_names(cfg.mode, cfg.task, 10, cfg.latent_dim if cfg.task == "generate" else 0)),
            cfg.size, cfg.size)


def memory_estimate(cfg: TrainConfig, num_envs: int | None = None, replay: bool = True) -> dict[str, int]:
    """Bytes the trainer of ``cfg`` holds on its device, by part, from the sizes alone (before anything is
    allocated): the replay buffer (observations twice, actions, rewards, flags), the environments
    (``num_envs`` canvases and their observations), the Q-values and activations of acting and of one
    update (forward and backward), and the Q-network's weights with Adam's state and the target copy. A
    lower bound, within a few times of what torch uses; ``utils.check_memory`` compares it with what the
    device has. ``replay=False`` leaves the buffer out (``bench env``)."""
    c, h, w = obs_shape(cfg)
    obs = 4 * c * h * w
    n_envs = cfg.num_envs if num_envs is None else num_envs
    actions = num_actions(cfg.mode, cfg.size, cfg.ink_levels, cfg.pen_window)
    width = cfg.hidden if cfg.qnet == "mlp" else cfg.channels * h * w * (cfg.layers + 2)
    params = (c * h * w * cfg.hidden + cfg.hidden ** 2 + cfg.hidden * actions if cfg.qnet == "mlp"
              else 9 * cfg.channels ** 2 * (cfg.layers + 2) + cfg.channels * (cfg.ink_levels + 1))
    out = {"environments": n_envs * (3 * obs + 4 * 4 * h * w),
           "acting (Q-values of every canvas)": n_envs * 4 * (width + actions),
           "one update (batch, Q-values, gradients)": cfg.batch_size * (2 * obs + 3 * 4 * 2 * (width + actions)),
           "Q-network (weights, Adam, target)": 4 * 4 * params}
    if replay:
        capacity = cfg.buffer_size if cfg.replay else n_envs
        out["replay buffer"] = capacity * (2 * obs + 8 + 4 + 4)
    return out


def make_env(cfg: TrainConfig, num_envs: int, split: str = "train", device=None, seed: int | None = None) -> VecCanvasEnv:
    """A ``VecCanvasEnv`` of ``num_envs`` canvases built from a config (lesson 05).

    Reconstruct task: targets from the ``split`` digits. Generate task: the potential of the
    task options (``rewards.make_potential``) over the style model of the training digits.
    ``device`` defaults to ``cfg.device``; ``seed`` to ``cfg.seed``.
    """
    device = get_device(cfg.device if device is None else device)
    images, labels = dataset(cfg).tensors(split, device)
    kw: dict[str, Any] = dict(mode=cfg.mode, task=cfg.task, images=images, labels=labels, horizon=cfg.horizon,
                              ink_levels=cfg.ink_levels, pen_window=cfg.pen_window, device=device,
                              seed=cfg.seed if seed is None else seed, size=cfg.size)
    if cfg.task == "generate":
        opts = task_options(cfg.task_options)
        model = rewards.style_model(cfg.data_path, cfg.ink_levels, cfg.latent_dim, opts["quantize"], device)
        train_images, train_labels = dataset(cfg).split("train")
        potential = rewards.make_potential(opts, model, train_images, train_labels, cfg.ink_levels,
                                           seed=cfg.seed if seed is None else seed, device=device)
        kw.update(potential=potential, latent_dim=cfg.latent_dim, num_classes=10)
    return VecCanvasEnv(num_envs, **kw)


def make_qnet(cfg: TrainConfig, obs_shape_: tuple | None = None, num_actions_: int | None = None) -> torch.nn.Module:
    """The Q-network a config asks for, on the CPU (move it with ``.to``); lesson 03's ``nets.build_qnet``.

    The observation shape and the number of actions default to those of the config's environment.
    """
    shape = obs_shape(cfg) if obs_shape_ is None else tuple(obs_shape_)
    n = num_actions(cfg.mode, cfg.size, cfg.ink_levels, cfg.pen_window) if num_actions_ is None else num_actions_
    cond = {"cond": (1, 1 + 10 + cfg.latent_dim), "cond_maps": cfg.cond_maps,
            "cond_decoder": cfg.cond_decoder} if cfg.cond_maps else {}
    if cfg.qnet == "pen":
        extra = {"channels": cfg.channels, "layers": cfg.layers, "window": cfg.pen_window,
                 "head_layers": cfg.head_layers, "stop": cfg.stop_q, "segment": cfg.pen_segment, **cond}
    elif cfg.qnet == "conv":
        extra = {"channels": cfg.channels, "layers": cfg.layers, **cond}
    else:
        extra = {"hidden": cfg.hidden}
    return nets.build_qnet(cfg.qnet, shape, n, mode=cfg.mode, dueling=cfg.dueling, **extra)
