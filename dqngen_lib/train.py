"""The DQN trainer (lessons 05 and 06): one loop for the CPU and the GPU, checkpoints, the CLI.

``train(cfg, seconds=..., steps=...)`` steps ``cfg.num_envs`` canvases together on the device,
stores every transition in a device ``ReplayBuffer``, and updates the Q-network with the Double
DQN Huber loss against a target network (soft or hard updates). Inside a chunk of steps
(``Trainer.run_steps``) nothing synchronises with the host: ε comes from a host-side step
count, random numbers from device generators, statistics accumulate in device tensors and are
read only between chunks. Hyper-parameters live in one dataclass, ``TrainConfig``.

The CLI (``dqngen train | reconstruct | evaluate``) is registered by ``add_commands``.
"""
from __future__ import annotations

import argparse
import ast
import copy
import dataclasses
import functools
import inspect
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from .agent import dqn_loss, epsilon_greedy, evaluate_reconstruction, linear_schedule, reconstruct
from .data import load_data
from .envs import MODES, TASKS, VecCanvasEnv
from .nets import QNET_KINDS, make_qnet
from .replay import ReplayBuffer
from .utils import get_device

__all__ = ["TrainConfig", "TrainResult", "Checkpoint", "Trainer", "dataset", "make_env", "make_qnet_for",
           "train", "no_host_sync", "HostSyncError", "save_checkpoint", "load_checkpoint", "plot_curves", "add_commands", "CHECKPOINT_FILE"]

CHECKPOINT_FILE = "checkpoint.pt"
TRAINER_FILE = "trainer.pt"
FORMAT = "dqngen-checkpoint"
FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------------------
# Hyper-parameters
# ---------------------------------------------------------------------------------------------

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
    """free-form options of the task (the generate task of lesson 07 reads its own)"""

    # -- the Q-network
    qnet: str = "conv"
    """Q-network: 'conv' (per-pixel convolutional Q-map) or 'mlp' (the seed's MLP)"""
    channels: int = 16
    """width of the conv Q-map (channels of every convolution)"""
    layers: int = 1
    """number of 3x3 convolutions of the conv Q-map"""
    hidden: int = 256
    """width of the MLP's two hidden layers"""
    dueling: bool = False
    """dueling head: Q = V + A - mean(A)"""

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
        return _field_docs(cls)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        def bad(name, expected):
            raise ValueError(f"TrainConfig.{name} = {getattr(self, name)!r} is invalid; expected {expected}")

        choices = {"task": TASKS, "mode": MODES, "qnet": QNET_KINDS, "loss": ("huber", "mse"),
                   "target": ("soft", "hard", "none"), "compile": ("none", "default", "reduce-overhead")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                bad(name, "one of " + ", ".join(map(repr, allowed)))
        pos_ints = ("size", "horizon", "pen_window", "num_envs", "batch_size", "buffer_size", "target_period",
                    "log_every", "eval_images", "channels", "layers", "hidden")
        for name in pos_ints:
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                bad(name, "a positive integer")
        for name in ("latent_dim", "learning_starts", "eps_decay_steps", "eval_every", "seed"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                bad(name, "an integer >= 0")
        if not isinstance(self.ink_levels, (int, np.integer)) or isinstance(self.ink_levels, bool) \
                or self.ink_levels < 2:
            bad("ink_levels", "an integer >= 2")
        for name in ("dueling", "double", "replay"):
            if not isinstance(getattr(self, name), bool):
                bad(name, "True or False")
        for name in ("eps_start", "eps_end", "gamma", "tau"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                bad(name, "a number in [0, 1]")
        for name, lo in (("lr", 0.0), ("updates_per_step", 0.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= lo:
                bad(name, "a positive number")
        for name in ("max_grad_norm", "checkpoint_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                bad(name, "a number >= 0")
        if self.tau == 0.0 and self.target == "soft":
            bad("tau", "a number in (0, 1] for soft target updates")
        if self.data_path is None and self.size != 8:
            bad("size", "8 for the bundled 8x8 digits (set data_path to train on 28x28 MNIST)")
        if self.data_path is not None and not isinstance(self.data_path, str):
            bad("data_path", "None or a path")
        if not isinstance(self.task_options, dict):
            bad("task_options", "a dict")
        if not isinstance(self.device, str):
            bad("device", "'auto', 'cpu' or 'cuda[:N]'")
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


@functools.lru_cache(maxsize=None)
def _field_docs(cls) -> dict[str, str]:
    try:
        tree = ast.parse(inspect.getsource(cls).lstrip())
    except (OSError, TypeError):
        return {}
    docs, body = {}, tree.body[0].body
    for a, b in zip(body, body[1:]):
        if isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name) and isinstance(b, ast.Expr) \
                and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str):
            docs[a.target.id] = b.value.value.strip()
    return docs


# ---------------------------------------------------------------------------------------------
# Environments and networks from a config
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _load(path, ink_levels):
    return load_data(path, ink_levels)


def dataset(cfg: TrainConfig):
    """The ``Digits`` a config trains on (cached), at their original grey levels.

    The targets are not quantised: only the painter's inks are (``cfg.ink_levels``), so even a
    perfect painter leaves some error (lesson 01).
    """
    d = _load(cfg.data_path, None)
    if d.size != cfg.size:
        raise ValueError(f"TrainConfig.size = {cfg.size} does not match the data, which is {d.size}x{d.size}")
    return d


def make_env(cfg: TrainConfig, num_envs: int, split: str = "train", device=None, seed: int | None = None) -> VecCanvasEnv:
    """A ``VecCanvasEnv`` of ``num_envs`` canvases built from a config (lesson 05).

    Reconstruct task: targets from the ``split`` digits. Generate task: the keyword arguments
    (potential, latent_dim, maybe images and labels) come from ``dqngen_lib.generate.env_kwargs``.
    """
    device = get_device(cfg.device if device is None else device)
    images, labels = dataset(cfg).tensors(split, device)
    kw: dict[str, Any] = dict(mode=cfg.mode, task=cfg.task, images=images, labels=labels, horizon=cfg.horizon,
                              ink_levels=cfg.ink_levels, pen_window=cfg.pen_window, latent_dim=cfg.latent_dim,
                              device=device, seed=cfg.seed if seed is None else seed, size=cfg.size)
    if cfg.task == "generate":
        try:
            from .generate import env_kwargs
        except ImportError as exc:
            raise ValueError("task 'generate' needs dqngen_lib.generate.env_kwargs (lesson 07), "
                             f"which could not be imported: {exc}") from exc
        kw.update(env_kwargs(cfg, device))
    return VecCanvasEnv(num_envs, **kw)


def make_qnet_for(cfg: TrainConfig, obs_shape, num_actions: int) -> torch.nn.Module:
    """The Q-network a config asks for (on the CPU; move it with ``.to``)."""
    extra = {"channels": cfg.channels, "layers": cfg.layers} if cfg.qnet == "conv" else {"hidden": cfg.hidden}
    return make_qnet(cfg.qnet, obs_shape, num_actions, mode=cfg.mode, dueling=cfg.dueling, **extra)


# ---------------------------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------------------------

@dataclass
class TrainResult:
    """What ``train`` returns: the trained network, the config, the metrics and the step counts."""

    qnet: torch.nn.Module
    cfg: TrainConfig
    metrics: dict
    env_steps: int
    updates: int
    out: str | None = None


_ENV_STATE = ("canvas", "target", "target_index", "label", "latent", "pen", "t", "phi", "norm")


class Trainer:
    """The training state and loop (lessons 05-06). ``train`` drives it; lesson 06 uses it directly.

    ``run_steps(k)`` plays ``k`` batched steps (``k * num_envs`` transitions) with their updates
    and never synchronises with the host; ``stats()`` reads the accumulated statistics (it
    synchronises, call it between chunks).
    """

    def __init__(self, cfg: TrainConfig, device=None):
        cfg.validate()
        self.cfg = cfg
        self.device = get_device(cfg.device if device is None else device)
        torch.manual_seed(cfg.seed)
        self.env = make_env(cfg, cfg.num_envs, "train", self.device, seed=cfg.seed)
        self.qnet = make_qnet_for(cfg, self.env.obs_shape, self.env.num_actions).to(self.device)
        self.target_net = copy.deepcopy(self.qnet) if cfg.target != "none" else None
        if self.target_net is not None:
            self.target_net.requires_grad_(False)
        cuda = self.device.type == "cuda"
        self.optimizer = torch.optim.Adam(self.qnet.parameters(), lr=cfg.lr,
                                          **({"capturable": True} if cuda else {}))
        capacity = cfg.buffer_size if cfg.replay else cfg.num_envs
        self.buffer = ReplayBuffer(capacity, self.env.obs_shape, self.device)
        self.act_gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)
        self.replay_gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 2)
        self.obs = self.env.reset(seed=cfg.seed)
        z = functools.partial(torch.zeros, device=self.device)
        self.ep_return = z(cfg.num_envs)
        self.acc = z(3)  # finished-episode return sum, finished episodes, loss sum
        self.acc_updates = 0
        self.env_steps = 0
        self.updates = 0
        self.update_credit = 0.0
        self.elapsed = 0.0
        self.metrics = {"curves": {k: [] for k in ("env_steps", "updates", "seconds", "eps", "episode_return",
                                                   "loss")},
                        "eval": {k: [] for k in ("env_steps", "seconds", "test_mse", "mean_return")}}
        self._compiled = None
        if cfg.compile != "none":
            self._compiled = torch.compile(self.qnet, mode=None if cfg.compile == "default" else cfg.compile)

    @property
    def net(self) -> torch.nn.Module:
        """The network used in the loop (compiled when ``cfg.compile``)."""
        return self._compiled if self._compiled is not None else self.qnet

    @property
    def eps(self) -> float:
        c = self.cfg
        return linear_schedule(c.eps_start, c.eps_end, c.eps_decay_steps, self.env_steps)

    # -- the hot loop -----------------------------------------------------------------------
    def update(self) -> None:
        """One gradient update from a replay minibatch, then the target network update."""
        c = self.cfg
        batch = self.buffer.sample(c.batch_size, self.replay_gen)
        loss = dqn_loss(self.net, batch, self.target_net, c.gamma, double=c.double, loss=c.loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if c.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.qnet.parameters(), c.max_grad_norm)
        self.optimizer.step()
        self.updates += 1
        self.acc[2] += loss.detach()
        self.acc_updates += 1
        if self.target_net is not None:
            with torch.no_grad():
                tp, op = list(self.target_net.parameters()), list(self.qnet.parameters())
                if c.target == "soft":
                    torch._foreach_lerp_(tp, op, c.tau)
                elif self.updates % c.target_period == 0:
                    torch._foreach_copy_(tp, op)

    def run_steps(self, k: int) -> None:
        """Play ``k`` batched steps, storing transitions and updating (no host synchronisation)."""
        c, env = self.cfg, self.env
        for _ in range(k):
            obs = self.obs
            actions = epsilon_greedy(self.net, obs, self.eps, self.act_gen)
            next_obs, reward, term, trunc, _ = env.step(actions, validate=False)
            # The time t/T is part of the observation, so reaching the horizon ends the MDP:
            # no bootstrapping past it (a true terminal, not a time-limit truncation).
            done = term | trunc
            self.buffer.add(obs, actions, reward, next_obs, done)
            self.ep_return += reward
            self.acc[0] += (self.ep_return * done).sum()
            self.acc[1] += done.sum()
            self.ep_return.masked_fill_(done, 0.0)
            self.obs = env.reset_done(done)
            self.env_steps += c.num_envs
            if self.env_steps >= c.learning_starts:
                self.update_credit += c.updates_per_step
                while self.update_credit >= 1.0:
                    self.update()
                    self.update_credit -= 1.0

    def host_tensors(self) -> list:
        """Tensors that live on the host by design (a CPU optimizer's step counters)."""
        return [st["step"] for st in self.optimizer.state.values()
                if isinstance(st.get("step"), torch.Tensor) and st["step"].device.type == "cpu"]

    # -- bookkeeping between chunks -------------------------------------------------------------
    def stats(self) -> dict:
        """Read and reset the accumulated statistics (synchronises)."""
        a = self.acc.tolist()
        self.acc.zero_()
        n_up, self.acc_updates = self.acc_updates, 0
        return {"episode_return": a[0] / a[1] if a[1] else None, "episodes": int(a[1]),
                "loss": a[2] / n_up if n_up else None}

    def log_point(self) -> dict:
        s = self.stats()
        cur = self.metrics["curves"]
        for k, v in (("env_steps", self.env_steps), ("updates", self.updates), ("seconds", self.elapsed),
                     ("eps", self.eps), ("episode_return", s["episode_return"]), ("loss", s["loss"]),
                     ):
            cur[k].append(v)
        return s

    def evaluate(self, max_images: int | None = None) -> dict | None:
        """Held-out reconstruction quality now (reconstruct task); appended to the eval curve."""
        if self.cfg.task != "reconstruct":
            return None
        ev = evaluate_reconstruction(self.qnet, self.cfg, "test", self.device, max_images=max_images)
        e = self.metrics["eval"]
        e["env_steps"].append(self.env_steps)
        e["seconds"].append(self.elapsed)
        e["test_mse"].append(ev["test_mse"])
        e["mean_return"].append(ev["mean_return"])
        return ev

    # -- saving and restoring ---------------------------------------------------------------
    def rng_state(self) -> dict:
        return {"torch": torch.get_rng_state(), "env": self.env.gen.get_state(), "act": self.act_gen.get_state(),
                "replay": self.replay_gen.get_state()}

    def trainer_state(self) -> dict:
        """Everything beyond the checkpoint that an exact resume needs (env, replay, counters)."""
        b, n = self.buffer, self.buffer.size
        return {
            "env": {k: getattr(self.env, k).cpu() for k in _ENV_STATE},
            "obs": self.obs.cpu(), "ep_return": self.ep_return.cpu(), "acc": self.acc.cpu(),
            "acc_updates": self.acc_updates, "update_credit": self.update_credit,
            "target_net": None if self.target_net is None else self.target_net.state_dict(),
            "buffer": {"pos": b.pos, "size": n, "capacity": b.capacity,
                       **{k: getattr(b, k)[:n].clone().cpu() for k in ("obs", "next_obs", "actions", "rewards", "terminated")}},
        }

    def load_trainer_state(self, st: dict) -> None:
        dev = self.device
        for k in _ENV_STATE:
            setattr(self.env, k, st["env"][k].to(dev))
        self.obs, self.ep_return, self.acc = st["obs"].to(dev), st["ep_return"].to(dev), st["acc"].to(dev)
        self.acc_updates, self.update_credit = int(st["acc_updates"]), float(st["update_credit"])
        if self.target_net is not None:
            self.target_net.load_state_dict(st["target_net"])
        b, sb = self.buffer, st["buffer"]
        if sb["capacity"] != b.capacity:
            raise ValueError(f"the saved replay buffer holds {sb['capacity']} slots, the config asks for {b.capacity}")
        n = int(sb["size"])
        for k in ("obs", "next_obs", "actions", "rewards", "terminated"):
            getattr(b, k)[:n] = sb[k].to(dev)
        b.pos, b.size = int(sb["pos"]), n

    def save(self, out_dir: str, metrics: dict | None = None, resume_state: bool = True) -> None:
        """Write the checkpoint and (unless ``resume_state=False``) the resume state into ``out_dir``."""
        extra = {"env_steps": self.env_steps, "updates": self.updates, "elapsed": self.elapsed,
                 "metrics": metrics if metrics is not None else self.metrics}
        save_checkpoint(out_dir, self.cfg, self.qnet, self.optimizer, rng_state=self.rng_state(), extra=extra)
        if resume_state:
            _atomic_save(self.trainer_state(), os.path.join(out_dir, TRAINER_FILE))

    def restore(self, ckpt_dir: str) -> None:
        """Continue from a folder written by ``save`` (exactly: same weights as an uninterrupted run on CPU)."""
        ck = load_checkpoint(ckpt_dir, device=self.device)
        if ck.cfg.to_dict() != self.cfg.to_dict():
            diff = sorted(k for k, v in ck.cfg.to_dict().items() if self.cfg.to_dict().get(k) != v)
            raise ValueError(f"cannot resume: the checkpoint's config differs in {diff}")
        path = os.path.join(ck.path, TRAINER_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(f"cannot resume from {ck.path}: it has no {TRAINER_FILE} (the resume state)")
        st = _safe_load(path, self.device)
        self.qnet.load_state_dict(ck.qnet.state_dict())
        if ck.optimizer_state is None:
            raise ValueError(f"cannot resume from {ck.path}: the checkpoint holds no optimizer state")
        self.optimizer.load_state_dict(ck.optimizer_state)
        r = ck.rng_state
        torch.set_rng_state(r["torch"])
        self.env.gen.set_state(r["env"])
        self.act_gen.set_state(r["act"])
        self.replay_gen.set_state(r["replay"])
        self.load_trainer_state(st)
        self.env_steps, self.updates = int(ck.extra["env_steps"]), int(ck.extra["updates"])
        self.elapsed = float(ck.extra.get("elapsed", 0.0))
        if "metrics" in ck.extra:
            self.metrics = copy.deepcopy(ck.extra["metrics"])
            self.metrics.pop("final", None)


# ---------------------------------------------------------------------------------------------
# Proof that the loop never waits for the device (lesson 06)
# ---------------------------------------------------------------------------------------------

# ATen operators that copy a device value to the host (and so make the host wait for the device).
_SYNC_OPS = frozenset({"aten::_local_scalar_dense", "aten::item", "aten::is_nonzero", "aten::equal",
                       "aten::nonzero", "aten::nonzero_static", "aten::masked_select", "aten::_unique",
                       "aten::_unique2", "aten::unique_dim", "aten::unique_consecutive", "aten::repeat_interleave"})


class HostSyncError(RuntimeError):
    """Raised by ``no_host_sync`` when the code reads a device value on the host."""


class no_host_sync:  # noqa: N801 - used as a context manager, like torch.no_grad
    """Context manager that fails on any host synchronisation (lesson 06).

    On a GPU it switches on ``torch.cuda.set_sync_debug_mode("error")``. On any device (the CPU
    included) it also watches every ATen operator through a ``TorchDispatchMode`` and raises
    ``HostSyncError`` on those that read a tensor's value on the host (``.item()``,
    ``float(t)``, ``bool(t)``, ``if t:``, ``nonzero``, boolean-mask indexing, ...). ``allow`` lists
    tensors that live on the host by design (a CPU optimizer's step counters); ``Trainer`` gives
    its own with ``trainer.host_tensors()``. ``self.ops`` counts the operators seen.
    """

    def __init__(self, allow=()):
        self.allow = {id(t) for t in allow}
        self.ops = 0
        self._mode = None
        self._cuda_prev = None

    def __enter__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        outer = self

        class _Watch(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                outer.ops += 1
                name = func._schema.name
                if name in _SYNC_OPS and not (args and id(args[0]) in outer.allow):
                    where = args[0].device if args and isinstance(args[0], torch.Tensor) else "?"
                    raise HostSyncError(f"host synchronisation: {name} on a tensor on {where} "
                                        f"(reading a device value on the host inside the loop)")
                return func(*args, **(kwargs or {}))

        if torch.cuda.is_available():
            self._cuda_prev = torch.cuda.get_sync_debug_mode()
            torch.cuda.set_sync_debug_mode("error")
        self._mode = _Watch()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        self._mode.__exit__(*exc)
        if self._cuda_prev is not None:
            torch.cuda.set_sync_debug_mode(self._cuda_prev)
        return False


def _nan_to_none(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_nan_to_none(v) for v in x]
    return x


def train(cfg: TrainConfig, seconds: float | None = None, steps: int | None = None, out: str | None = None,
          progress: bool = False, resume: str | None = None, callback: Callable | None = None,
          final_eval: bool = True) -> TrainResult:
    """Train a DQN agent for a budget (lesson 05); returns a ``TrainResult``.

    ``steps``: total environment steps (transitions) of the run, rounded up to whole batched
    steps of ``num_envs``; ``seconds``: total seconds of training (the evaluations on held-out
    digits every ``cfg.eval_every`` steps pause the clock). With both, whichever comes
    first. A resumed run (``resume=DIR``) counts what was done before, so re-running the same
    command with ``resume`` finishes the interrupted run, with the same weights as an
    uninterrupted run when the budget is in steps (on CPU). ``out``: folder for the checkpoint,
    ``metrics.json`` and ``learning_curve.png`` (written every ``cfg.checkpoint_every`` seconds,
    on Ctrl-C and at the end). Ctrl-C stops the run between two chunks of steps and saves it, so
    that ``resume`` continues exactly; a second Ctrl-C stops at once without saving.
    ``callback(trainer, point)`` is called at every learning-curve point.
    """
    if seconds is None and steps is None:
        raise ValueError("give a budget: seconds or steps (or both)")
    if seconds is not None and (not isinstance(seconds, (int, float)) or seconds <= 0):
        raise ValueError(f"seconds must be a positive number, got {seconds!r}")
    if steps is not None and (not isinstance(steps, (int, np.integer)) or steps < 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    trainer = Trainer(cfg)
    if resume is not None:
        trainer.restore(resume)
    if out is not None:
        os.makedirs(out, exist_ok=True)
    c = cfg
    n = c.num_envs
    step_target = None if steps is None else int(math.ceil(steps / n)) * n
    bar = None
    if progress:
        from tqdm.auto import tqdm

        if step_target is not None:
            bar = tqdm(total=step_target, initial=min(trainer.env_steps, step_target), unit="step",
                       unit_scale=True, desc="train", dynamic_ncols=True)
        else:
            bar = tqdm(total=float(seconds), initial=min(trainer.elapsed, seconds), unit="s",
                       bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{postfix}]", desc="train")

    def next_mark(every):
        return (trainer.env_steps // every + 1) * every

    next_log = next_mark(c.log_every)
    next_eval = next_mark(c.eval_every) if c.eval_every else None
    last_ckpt = time.perf_counter()
    t0 = time.perf_counter() - trainer.elapsed
    interrupted = hard_stop = False
    # Ctrl-C stops the run between two chunks of steps, never inside one, so that the state saved
    # for --resume is exactly the state of an uninterrupted run at that step.
    stop = {"asked": False}
    old_handler = None
    if threading.current_thread() is threading.main_thread():
        def _ask_stop(signum, frame):
            if stop["asked"]:           # a second Ctrl-C stops at once
                raise KeyboardInterrupt
            stop["asked"] = True
        old_handler = signal.signal(signal.SIGINT, _ask_stop)
    try:
        while True:
            if stop["asked"]:
                interrupted = True
                break
            if step_target is not None and trainer.env_steps >= step_target:
                break
            if seconds is not None and trainer.elapsed >= seconds:
                break
            mark = next_log if next_eval is None else min(next_log, next_eval)
            if step_target is not None:
                mark = min(mark, step_target)
            k = max(1, math.ceil((mark - trainer.env_steps) / n))
            before = trainer.env_steps
            trainer.run_steps(k)
            point = None
            if trainer.env_steps >= next_log:
                trainer.elapsed = time.perf_counter() - t0
                point = trainer.log_point()
                next_log = next_mark(c.log_every)
            if next_eval is not None and trainer.env_steps >= next_eval:
                trainer.elapsed = time.perf_counter() - t0
                t_eval = time.perf_counter()
                trainer.evaluate(c.eval_images)
                t0 += time.perf_counter() - t_eval  # evaluations do not count as training time
                next_eval = next_mark(c.eval_every)
            trainer.elapsed = time.perf_counter() - t0
            if bar is not None:
                if step_target is not None:
                    bar.update(trainer.env_steps - before)
                else:
                    bar.n = min(trainer.elapsed, seconds)
                    bar.refresh()
                if point is not None:
                    ret = point["episode_return"]
                    bar.set_postfix(ret="-" if ret is None else f"{ret:.3f}", eps=f"{trainer.eps:.2f}", refresh=False)
            if point is not None and callback is not None:
                callback(trainer, point)
            if out is not None and c.checkpoint_every and time.perf_counter() - last_ckpt >= c.checkpoint_every:
                trainer.save(out)
                last_ckpt = time.perf_counter()
    except KeyboardInterrupt:   # a second Ctrl-C: stopped inside a chunk, the state is not saved
        interrupted = hard_stop = True
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGINT, old_handler)
        if bar is not None:
            bar.close()
    trainer.elapsed = time.perf_counter() - t0
    metrics = copy.deepcopy(trainer.metrics)
    final = {"env_steps": trainer.env_steps, "updates": trainer.updates, "seconds": trainer.elapsed,
             "env_steps_per_s": trainer.env_steps / max(trainer.elapsed, 1e-9),
             "updates_per_s": trainer.updates / max(trainer.elapsed, 1e-9), "device": str(trainer.device),
             "interrupted": interrupted}
    if hard_stop:
        print("stopped inside a chunk of steps: nothing saved" + (f"; the last checkpoint in {out} is kept" if out
              else ""), file=sys.stderr)
        raise KeyboardInterrupt
    if out is not None:
        trainer.save(out)  # the resume state, before the (slow) final evaluation
    if final_eval and c.task == "reconstruct" and not interrupted:
        ev = evaluate_reconstruction(trainer.qnet, c, "test", trainer.device)
        final.update({k: ev[k] for k in ("test_mse", "mean_return", "blank_mse")})
    metrics["final"] = final
    if out is not None:     # the resume state written above is unchanged: only the checkpoint gains "final"
        trainer.save(out, metrics=metrics, resume_state=False)
        with open(os.path.join(out, "metrics.json"), "w") as f:
            json.dump(_nan_to_none(metrics), f, indent=1)
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(c.to_dict(), f, indent=1)
        try:
            fig = plot_curves(metrics, title=f"{c.task}, {c.mode} mode, {c.qnet} Q-network")
            fig.savefig(os.path.join(out, "learning_curve.png"), dpi=100)
            import matplotlib.pyplot as plt

            plt.close(fig)
        except ImportError:  # pragma: no cover - matplotlib is a dependency
            pass
    if interrupted:
        print(f"interrupted after {trainer.env_steps} steps" + (f"; resume with --resume {out}" if out else ""),
              file=sys.stderr)
    return TrainResult(trainer.qnet, c, metrics, trainer.env_steps, trainer.updates, out)


def plot_curves(metrics: dict, title: str | None = None, label: str | None = None, axes=None):
    """Learning curves of a run (lesson 05): ``viz.plot_learning_curves`` with its defaults."""
    from .viz import plot_learning_curves

    return plot_learning_curves(metrics, title=title, label=label, axes=axes)


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------

@dataclass
class Checkpoint:
    """A loaded checkpoint: the config, the Q-network (eval mode), optimizer and RNG state, extras."""

    cfg: TrainConfig
    qnet: torch.nn.Module
    optimizer_state: dict | None
    rng_state: dict | None
    extra: dict
    path: str
    obs_shape: tuple
    num_actions: int

    @property
    def metrics(self) -> dict:
        return self.extra.get("metrics", {})


def _atomic_save(obj, path: str) -> None:
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _safe_load(path: str, device) -> Any:
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # corrupt zip, truncated file, unpickling refusal
        raise ValueError(f"{path} is not a readable dqngen checkpoint ({type(exc).__name__}: {exc})") from None


def save_checkpoint(out_dir: str, cfg: TrainConfig, qnet: torch.nn.Module, optimizer=None, rng_state: dict | None = None,
                    extra: dict | None = None) -> str:
    """Write ``out_dir/checkpoint.pt`` (config, weights, optimizer and RNG state, extras); returns its path."""
    os.makedirs(out_dir, exist_ok=True)
    obs_shape = tuple(getattr(qnet, "obs_shape", ()))
    num_actions = int(getattr(qnet, "num_actions", -1))
    state = {
        "format": FORMAT, "version": FORMAT_VERSION, "cfg": cfg.to_dict(),
        "obs_shape": list(obs_shape), "num_actions": num_actions,
        "qnet": {k: v.detach().cpu() for k, v in qnet.state_dict().items()},
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "rng_state": rng_state if rng_state is not None else {"torch": torch.get_rng_state()},
        "extra": _nan_to_none(extra or {}),
    }
    path = os.path.join(out_dir, CHECKPOINT_FILE)
    _atomic_save(state, path)
    return path


def load_checkpoint(path: str, device="cpu") -> Checkpoint:
    """Load a checkpoint folder (or its ``checkpoint.pt``); the Q-network is rebuilt from the config.

    A missing file raises ``FileNotFoundError``; a corrupt file, another format, or weights that
    do not fit the config raise ``ValueError`` saying what is wrong.
    """
    path = os.fspath(path)
    file = os.path.join(path, CHECKPOINT_FILE) if os.path.isdir(path) else path
    if not os.path.exists(file):
        raise FileNotFoundError(f"no checkpoint at {file!r} (expected a folder written by 'dqngen train')")
    device = get_device(device)
    st = _safe_load(file, "cpu")
    if not isinstance(st, dict) or st.get("format") != FORMAT:
        raise ValueError(f"{file} is not a dqngen checkpoint (no '{FORMAT}' format tag)")
    if st.get("version") != FORMAT_VERSION:
        raise ValueError(f"{file}: checkpoint format version {st.get('version')!r}, this dqngen reads {FORMAT_VERSION}")
    try:
        cfg = TrainConfig.from_dict(st["cfg"])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{file}: the stored config is invalid: {exc}") from None
    obs_shape, num_actions = tuple(st["obs_shape"]), int(st["num_actions"])
    qnet = make_qnet_for(cfg, obs_shape, num_actions)
    try:
        qnet.load_state_dict(st["qnet"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise ValueError(f"{file}: the weights do not match a {cfg.qnet!r} Q-network for observations {obs_shape} "
                         f"and {num_actions} actions ({' '.join(first[:3])})") from None
    qnet.to(device).eval()
    return Checkpoint(cfg=cfg, qnet=qnet, optimizer_state=st.get("optimizer"), rng_state=st.get("rng_state"),
                      extra=st.get("extra") or {}, path=os.path.dirname(os.path.abspath(file)),
                      obs_shape=obs_shape, num_actions=num_actions)


# ---------------------------------------------------------------------------------------------
# Command line: dqngen train | reconstruct | evaluate
# ---------------------------------------------------------------------------------------------

def _parse_bool(s: str) -> bool:
    v = s.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {s!r}")


def _add_config_options(p: argparse.ArgumentParser) -> None:
    docs = TrainConfig.field_docs()
    g = p.add_argument_group("hyper-parameters (TrainConfig)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_ = f"{docs.get(f.name, '')} (default {default!r})".replace("%", "%%")
        if f.name == "task_options":
            g.add_argument("--task-option", dest="task_options", action="append", metavar="KEY=VALUE",
                           default=None, help="a task option, repeatable (JSON values are parsed)")
        elif f.type in ("bool", bool):
            g.add_argument(flag, dest=f.name, type=_parse_bool, nargs="?", const=True, default=None,
                           metavar="BOOL", help=help_)
        else:
            typ = {"int": int, "float": float}.get(f.type if isinstance(f.type, str) else f.type.__name__, str)
            g.add_argument(flag, dest=f.name, type=typ, default=None, help=help_)


def _config_from_args(args) -> TrainConfig:
    changes = {}
    for f in dataclasses.fields(TrainConfig):
        v = getattr(args, f.name, None)
        if v is None:
            continue
        if f.name == "task_options":
            opts = {}
            for item in v:
                if "=" not in item:
                    raise ValueError(f"--task-option expects KEY=VALUE, got {item!r}")
                key, val = item.split("=", 1)
                try:
                    opts[key] = json.loads(val)
                except json.JSONDecodeError:
                    opts[key] = val
            v = opts
        changes[f.name] = v
    return TrainConfig(**changes)


def _cmd_train(args) -> int:
    if args.seconds is None and args.steps is None:
        raise ValueError("give a budget: --seconds or --steps")
    if args.resume:
        ck = load_checkpoint(args.resume)
        cfg = ck.cfg
        overrides = {f.name for f in dataclasses.fields(TrainConfig) if getattr(args, f.name, None) is not None}
        if overrides:
            new = _config_from_args(args).to_dict()
            changed = sorted(k for k in overrides if new[k] != cfg.to_dict()[k])
            if changed:
                raise ValueError(f"--resume continues the checkpoint's run; options {changed} differ from its config")
        out = args.out or args.resume
    else:
        cfg = _config_from_args(args)
        out = args.out
        if out is None:
            raise ValueError("give --out DIR, the folder for the checkpoint, metrics.json and the learning curve")
    res = train(cfg, seconds=args.seconds, steps=args.steps, out=out, progress=not args.no_progress,
                resume=args.resume)
    fin = res.metrics["final"]
    shown = {k: fin[k] for k in ("env_steps", "updates", "seconds", "test_mse", "mean_return") if k in fin}
    print(json.dumps(_nan_to_none(shown)))
    print(f"wrote {os.path.join(out, CHECKPOINT_FILE)}, metrics.json and learning_curve.png", file=sys.stderr)
    return 130 if fin.get("interrupted") else 0


def _cmd_reconstruct(args) -> int:
    ck = load_checkpoint(args.checkpoint, device=args.device)
    images, targets, _ = reconstruct(ck.qnet, ck.cfg, split=args.split, max_images=args.max_images)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez_compressed(args.out, images=images.astype(np.float32), targets=targets.astype(np.float32))
    print(json.dumps({"out": args.out, "images": int(len(images)),
                      "test_mse": float(np.mean((images - targets) ** 2))}))
    return 0


def evaluate_checkpoint(path: str, split: str = "test", device="cpu") -> dict:
    """Metrics of a checkpoint: training summary plus held-out reconstruction (or generation) quality."""
    ck = load_checkpoint(path, device=device)
    out = {"checkpoint": ck.path, "task": ck.cfg.task, "mode": ck.cfg.mode, "qnet": ck.cfg.qnet,
           "env_steps": ck.extra.get("env_steps"), "updates": ck.extra.get("updates"),
           "train_seconds": ck.extra.get("elapsed")}
    if ck.cfg.task == "reconstruct":
        out.update(evaluate_reconstruction(ck.qnet, ck.cfg, split=split))
    else:
        try:
            from .generate import evaluate_generation
        except ImportError:
            evaluate_generation = None
        if evaluate_generation is not None:
            out.update(evaluate_generation(ck))
    return out


def _cmd_evaluate(args) -> int:
    print(json.dumps(_nan_to_none(evaluate_checkpoint(args.checkpoint, args.split, args.device)), indent=1))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``train``, ``reconstruct`` and ``evaluate`` on the ``dqngen`` command line."""
    p = sub.add_parser("train", help="train a DQN agent (lessons 05-06)",
                       description="Train a DQN agent for a budget; writes the checkpoint, metrics.json and "
                                   "learning_curve.png into --out.")
    p.add_argument("--seconds", type=float, default=None, help="training budget in seconds (total, resumed runs count)")
    p.add_argument("--steps", type=int, default=None,
                   help="training budget in environment steps (total, resumed runs count; deterministic on CPU)")
    p.add_argument("--out", default=None, help="output folder (default with --resume: the resumed folder)")
    p.add_argument("--resume", default=None, metavar="DIR", help="continue the run saved in DIR")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_config_options(p)
    p.set_defaults(func=_cmd_train)

    r = sub.add_parser("reconstruct", help="reconstruct held-out digits with a trained agent")
    r.add_argument("--checkpoint", required=True, help="checkpoint folder (or its checkpoint.pt)")
    r.add_argument("--split", default="test", choices=("train", "test"))
    r.add_argument("--out", required=True, help="output .npz with arrays images and targets (N, H, W)")
    r.add_argument("--max-images", type=int, default=None, help="only the first N digits")
    r.add_argument("--device", default="cpu", help="auto, cpu or cuda (default cpu)")
    r.set_defaults(func=_cmd_reconstruct)

    e = sub.add_parser("evaluate", help="metrics of a checkpoint, as JSON")
    e.add_argument("--checkpoint", required=True, help="checkpoint folder (or its checkpoint.pt)")
    e.add_argument("--split", default="test", choices=("train", "test"))
    e.add_argument("--device", default="cpu", help="auto, cpu or cuda (default cpu)")
    e.set_defaults(func=_cmd_evaluate)
