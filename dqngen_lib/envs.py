"""The painting MDP (lesson 01): one dynamics implementation, batched on torch tensors.

``VecCanvasEnv`` steps N canvases at once on any device with no Python loop over canvases and no
host synchronisation (unless asked to validate actions). ``CanvasEnv`` is the gymnasium
environment ``dqngen/Canvas-v0``: it wraps a ``VecCanvasEnv`` of one canvas, so the two can never
disagree. The transition and reward rules are plain functions (``pixel_transition``,
``pen_transition``, ``reconstruction_reward``) that lesson 02 also uses to build exact tables.

Two action modes share the canvas:

* **pixel**: action ``a = k * H * W + p`` paints pixel ``p`` (row-major) with ink value
  ``ink[k + 1]`` -- every non-blank ink level at every pixel, ``(L - 1) * H * W`` actions.
* **pen**: the pen moves by ``(dy, dx)`` within a ``(2w + 1) x (2w + 1)`` window, either up
  (moving only) or down with one of the ``L - 1`` inks, painting every pixel on the segment it
  travels; the last action, ``stop``, ends the episode. ``L * (2w + 1)**2 + 1`` actions. The pen
  cannot leave the canvas: a move past the border stops at the border (a wall, not an error).

Two tasks:

* **reconstruct**: the target digit is in the observation; the reward is
  ``(previous squared error - new squared error) / ||target||**2``, so an episode's rewards sum
  to the fraction of the error removed.
* **generate**: the class (one-hot planes) and an optional latent code are in the observation;
  the reward is the change of a pluggable potential ``potential(canvas, labels, latent) -> (N,)``.

Observation: a float32 tensor ``(N, C, H, W)`` with channels, in order: canvas; conditioning
(target image, or class one-hot planes then latent planes); pen position one-hot (pen mode);
``t / T`` as a constant plane. ``VecCanvasEnv.channel_names`` lists them.
"""
from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from .data import ink_values, load_data, load_digits
from .utils import get_device, is_int

__all__ = [
    "MODES", "TASKS", "pixel_transition", "pen_moves", "pen_transition", "reconstruction_reward",
    "num_actions", "channel_names", "ActionCodec", "VecCanvasEnv", "CanvasEnv", "ENV_ID", "canvas_rgb",
]

MODES = ("pixel", "pen")
TASKS = ("reconstruct", "generate")
ENV_ID = "dqngen/Canvas-v0"

Potential = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------------------------
# The rules, as pure functions on batches (used by the env and by lesson 02's exact tables)
# ---------------------------------------------------------------------------------------------

def pixel_transition(canvas: torch.Tensor, actions: torch.Tensor, ink: torch.Tensor) -> torch.Tensor:
    """Pixel mode: paint pixel ``a % (H*W)`` with ink ``ink[a // (H*W) + 1]``; returns a new canvas.

    ``canvas`` (N, H, W), ``actions`` (N,) int64, ``ink`` (L,) the ink values (``ink[0] == 0``).
    The painted pixel takes the new ink value (it overwrites, so mistakes can be repaired).
    """
    n, h, w = canvas.shape
    hw = h * w
    level = actions // hw + 1
    pixel = actions % hw
    flat = canvas.reshape(n, hw).clone()
    flat.scatter_(1, pixel[:, None], ink[level][:, None])
    return flat.view(n, h, w)


def pen_moves(window: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """The ``(2w+1)**2`` pen moves ``(dy, dx)``, row-major from ``(-w, -w)`` to ``(w, w)``."""
    r = torch.arange(-window, window + 1, device=device)
    dy, dx = torch.meshgrid(r, r, indexing="ij")
    return torch.stack([dy.reshape(-1), dx.reshape(-1)], dim=1)


def pen_transition(canvas: torch.Tensor, pen: torch.Tensor, actions: torch.Tensor, ink: torch.Tensor,
                   window: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pen mode: move the pen, painting the segment when the pen is down.

    ``pen`` (N, 2) int64 row/column. Action ``a = level * M + move`` with ``M = (2w+1)**2``;
    ``level 0`` is pen up, ``level k > 0`` paints ink ``ink[k]``; ``a = L * M`` is stop.
    Returns ``(new_canvas, new_pen, stopped)``.
    """
    n, h, w = canvas.shape
    m = (2 * window + 1) ** 2
    n_levels = ink.shape[0]
    stopped = actions == n_levels * m
    a = torch.where(stopped, torch.zeros_like(actions), actions)
    level = a // m
    delta = pen_moves(window, canvas.device)[a % m]
    limit = torch.tensor([h - 1, w - 1], device=canvas.device)
    new_pen = torch.minimum(torch.clamp(pen + delta, min=0), limit)
    new_pen = torch.where(stopped[:, None], pen, new_pen)
    # Rasterise the segment pen -> new_pen at 2w+1 evenly spaced points (enough for |d| <= w).
    s = torch.linspace(0.0, 1.0, 2 * window + 1, device=canvas.device)
    pts = torch.round(pen[:, None, :].float() + s[None, :, None] * (new_pen - pen)[:, None, :].float()).long()
    idx = pts[..., 0] * w + pts[..., 1]
    flat = canvas.reshape(n, h * w)
    down = (level > 0) & ~stopped
    current = flat.gather(1, idx)
    src = torch.where(down[:, None], ink[level][:, None].expand_as(current), current)
    new_flat = flat.scatter(1, idx, src)
    return new_flat.view(n, h, w), new_pen, stopped


def reconstruction_reward(prev_canvas: torch.Tensor, new_canvas: torch.Tensor, target: torch.Tensor,
                          norm: torch.Tensor | None = None) -> torch.Tensor:
    """``(||prev - target||**2 - ||new - target||**2) / ||target||**2`` per canvas, shape (N,).

    Summed over an episode that starts from a blank canvas, these rewards telescope to
    ``1 - ||final - target||**2 / ||target||**2``: the fraction of the error removed.
    ``norm`` may pass ``||target||**2`` when it is already known (the env caches it per episode).
    The difference of squares is computed as ``(prev - new) * (prev + new - 2 target)``.
    """
    if norm is None:
        norm = target.pow(2).flatten(1).sum(1).clamp_min(1e-8)
    gain = ((prev_canvas - new_canvas) * (prev_canvas + new_canvas - 2.0 * target)).flatten(1).sum(1)
    return gain / norm


def num_actions(mode: str, size: int, ink_levels: int, pen_window: int = 2) -> int:
    """How many discrete actions a mode has on a ``size x size`` canvas."""
    _check_choice("mode", mode, MODES)
    _check_int("size", size, 1)
    _check_int("ink_levels", ink_levels, 2)
    _check_int("pen_window", pen_window, 1)
    if mode == "pixel":
        return (ink_levels - 1) * size * size
    if size > 1 and pen_window > size - 1:
        raise ValueError(f"pen_window must be at most size - 1 = {size - 1} (a wider move leaves the canvas from "
                         f"anywhere), got {pen_window}")
    return ink_levels * (2 * pen_window + 1) ** 2 + 1


def channel_names(mode: str, task: str, num_classes: int = 10, latent_dim: int = 0) -> list[str]:
    """The observation's channels, in order: canvas; target (reconstruct) or class one-hot planes and
    latent planes (generate); the pen's one-hot plane (pen mode); the time ``t / T``."""
    _check_choice("mode", mode, MODES)
    _check_choice("task", task, TASKS)
    cond = ["target"] if task == "reconstruct" else \
        [f"class{c}" for c in range(num_classes)] + [f"latent{i}" for i in range(latent_dim)]
    return ["canvas"] + cond + (["pen"] if mode == "pen" else []) + ["time"]


def _check_choice(what: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(map(repr, allowed))}")


def _check_int(what: str, value, lo: int) -> None:
    if not is_int(value, lo):
        raise ValueError(f"{what} must be an integer >= {lo}, got {value!r}")


class ActionCodec:
    """Action indices of a mode in words and back (lesson 01): the one place that knows the encoding.

    Pixel mode: ``a = k * H * W + p`` paints pixel ``p = row * W + col`` with ink level ``k + 1``.
    Pen mode: ``a = level * M + move`` with ``M = (2w + 1)**2`` moves ``(dy, dx)`` in row-major order
    (``pen_moves``); ``level 0`` is pen up, ``level k > 0`` paints ink ``ink[k]``; ``a = L * M`` is stop.
    """

    def __init__(self, mode: str, size: int, ink_levels: int = 3, pen_window: int = 2):
        self.num_actions = num_actions(mode, size, ink_levels, pen_window)
        self.mode, self.size, self.ink_levels, self.pen_window = mode, int(size), int(ink_levels), int(pen_window)
        self.ink = ink_values(ink_levels)
        self.side = 2 * self.pen_window + 1
        self.num_moves = self.side ** 2
        self.stop = self.num_actions - 1 if mode == "pen" else None

    def __repr__(self) -> str:
        return (f"ActionCodec({self.mode!r}, size={self.size}, ink_levels={self.ink_levels}"
                + (f", pen_window={self.pen_window})" if self.mode == "pen" else ")"))

    def check(self, action) -> int:
        """``action`` as a Python int, or ``ValueError`` naming it and the valid range."""
        if isinstance(action, np.ndarray) and action.shape == ():
            action = action.item()
        if isinstance(action, torch.Tensor) and action.numel() == 1 and not action.dtype.is_floating_point \
                and action.dtype != torch.bool:
            action = int(action)
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)) \
                or not 0 <= int(action) < self.num_actions:
            raise ValueError(f"invalid action {action!r}; expected an integer in [0, {self.num_actions}) "
                             f"({self.mode} mode)")
        return int(action)

    def encode(self, *, row: int | None = None, col: int | None = None, ink: int | None = None,
               dy: int | None = None, dx: int | None = None, level: int | None = None, stop: bool = False) -> int:
        """The action index of a pixel action (``row``, ``col``, ``ink`` level 1..L-1) or of a pen action
        (``dy``, ``dx`` in [-w, w], ``level`` 0 = pen up .. L-1), or ``stop=True`` (pen mode)."""
        if self.mode == "pixel":
            if stop or dy is not None or dx is not None or level is not None:
                raise ValueError("pixel mode actions take row, col and ink (a level in 1..L-1)")
            for name, v, hi in (("row", row, self.size), ("col", col, self.size), ("ink", ink, self.ink_levels)):
                if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not (name == "ink") <= v < hi:
                    lo = 1 if name == "ink" else 0
                    raise ValueError(f"{name} must be an integer in [{lo}, {hi}), got {v!r}")
            return (int(ink) - 1) * self.size * self.size + int(row) * self.size + int(col)
        if stop:
            if dy is not None or dx is not None or level is not None:
                raise ValueError("stop takes no move or level")
            return self.stop
        if row is not None or col is not None or ink is not None:
            raise ValueError("pen mode actions take dy, dx and level (0 = pen up), or stop=True")
        w = self.pen_window
        for name, v, lo, hi in (("dy", dy, -w, w + 1), ("dx", dx, -w, w + 1), ("level", level, 0, self.ink_levels)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v < hi:
                raise ValueError(f"{name} must be an integer in [{lo}, {hi}), got {v!r}")
        return int(level) * self.num_moves + (int(dy) + w) * self.side + (int(dx) + w)

    def decode(self, action) -> dict:
        """An action index as a dict: ``{"row", "col", "ink", "value"}`` (pixel), ``{"dy", "dx", "level",
        "value"}`` (pen; ``value`` is the ink painted, ``None`` with the pen up) or ``{"stop": True}``."""
        a = self.check(action)
        if self.mode == "pixel":
            k, p = divmod(a, self.size * self.size)
            return {"row": p // self.size, "col": p % self.size, "ink": k + 1, "value": float(self.ink[k + 1])}
        if a == self.stop:
            return {"stop": True}
        level, move = divmod(a, self.num_moves)
        dy, dx = divmod(move, self.side)
        w = self.pen_window
        return {"dy": dy - w, "dx": dx - w, "level": level, "value": float(self.ink[level]) if level else None}

    def describe(self, action) -> str:
        """An action in words: ``"paint (3, 4) with ink 1"``, ``"ink 0.5, move (-1, +2)"``, ``"stop"``."""
        d = self.decode(action)
        if self.mode == "pixel":
            return f"paint ({d['row']}, {d['col']}) with ink {d['value']:g}"
        if d.get("stop"):
            return "stop"
        pen = "pen up" if d["level"] == 0 else f"ink {d['value']:g}"
        return f"{pen}, move ({d['dy']:+d}, {d['dx']:+d})"

    def level_names(self) -> list[str]:
        """Names of the ink levels an action can use: pixel ``["ink 0.5", "ink 1"]``, pen ``["pen up", ...]``."""
        inks = [f"ink {v:g}" for v in self.ink[1:]]
        return inks if self.mode == "pixel" else ["pen up"] + inks


# ---------------------------------------------------------------------------------------------
# The batched environment
# ---------------------------------------------------------------------------------------------

class VecCanvasEnv:
    """N painting canvases stepped together as torch tensors on ``device`` (lesson 01).

    Parameters
    ----------
    num_envs: number of canvases N.
    mode: ``"pixel"`` or ``"pen"``.
    task: ``"reconstruct"`` or ``"generate"``.
    images, labels: the digits targets are drawn from, (M, H, W) floats in [0, 1] and (M,) integers;
        by default the training half of the 8x8 digits in their 17 original grey levels. The
        painter's inks are quantised, the targets are not, so even a perfect painter leaves some
        error (lesson 00 measures it: 0.0126 per pixel in 24 steps with 3 inks).
    horizon: steps per episode T (the episode is truncated at T).
    ink_levels: number of ink values L, evenly spaced in [0, 1] (3 -> 0, 0.5, 1).
    pen_window: the pen moves at most this many pixels per step along each axis.
    potential: generate task only, ``potential(canvas, labels, latent) -> (N,)``.
    num_classes, latent_dim: generate task only, the one-hot and latent planes.
    device: where every tensor lives. seed: seeds the env's own ``torch.Generator``.
    """

    def __init__(self, num_envs: int = 1, mode: str = "pixel", task: str = "reconstruct",
                 images=None, labels=None, horizon: int = 24, ink_levels: int = 3, pen_window: int = 2,
                 potential: Potential | None = None, num_classes: int = 10, latent_dim: int = 0,
                 device: str | torch.device = "cpu", seed: int | None = None, size: int | None = None):
        _check_choice("mode", mode, MODES)
        _check_choice("task", task, TASKS)
        _check_int("num_envs", num_envs, 1)
        _check_int("horizon", horizon, 1)
        _check_int("pen_window", pen_window, 1)
        _check_int("num_classes", num_classes, 1)
        _check_int("latent_dim", latent_dim, 0)
        if seed is not None:
            _check_int("seed", seed, 0)
        if task == "generate" and not callable(potential):
            raise ValueError("task 'generate' needs a potential: a callable potential(canvas, labels, latent) -> (N,)")
        self.device = get_device(device)
        self.num_envs, self.mode, self.task = int(num_envs), mode, task
        self.horizon, self.ink_levels, self.pen_window = int(horizon), int(ink_levels), int(pen_window)
        self.ink = torch.as_tensor(ink_values(ink_levels), device=self.device)
        self.potential, self.num_classes, self.latent_dim = potential, int(num_classes), int(latent_dim)

        if images is None:
            digits = load_digits(ink_levels=None)  # grey targets; only the painter's inks are quantised
            images, labels = digits.x_train, digits.y_train
        self.images = _check_images(images).to(self.device)
        if size is not None and size != self.images.shape[-1]:
            raise ValueError(f"size {size} does not match the images, which are "
                             f"{self.images.shape[-1]}x{self.images.shape[-1]}")
        self.labels = _check_labels(labels, len(self.images), self.num_classes if task == "generate" else None
                                    ).to(self.device)
        self.size = int(self.images.shape[-1])
        self.image_norm = self.images.pow(2).flatten(1).sum(1).clamp_min(1e-8)  # ||target||^2 of each image
        self.codec = ActionCodec(mode, self.size, ink_levels, pen_window)
        self.num_actions = self.codec.num_actions
        self.channel_names = channel_names(mode, task, self.num_classes, self.latent_dim)
        self.obs_shape = (len(self.channel_names), self.size, self.size)

        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(0 if seed is None else int(seed))
        n, s = self.num_envs, self.size
        self.canvas = torch.zeros(n, s, s, device=self.device)
        self.target = torch.zeros(n, s, s, device=self.device)
        self.target_index = torch.zeros(n, dtype=torch.int64, device=self.device)
        self.label = torch.zeros(n, dtype=torch.int64, device=self.device)
        self.latent = torch.zeros(n, self.latent_dim, device=self.device)
        self.pen = torch.full((n, 2), s // 2, dtype=torch.int64, device=self.device)
        self.t = torch.zeros(n, dtype=torch.int64, device=self.device)
        self.phi = torch.zeros(n, device=self.device)
        self.norm = torch.ones(n, device=self.device)
        self._arange = torch.arange(n, device=self.device)

    def __repr__(self) -> str:
        return (f"VecCanvasEnv({self.num_envs} canvases, {self.mode} mode, {self.task}, {self.size}x{self.size}, "
                f"T={self.horizon}, {self.ink_levels} inks, device={self.device})")

    # -- episode starts -------------------------------------------------------------------------
    def _indices(self, values, what: str, high: int) -> torch.Tensor:
        """Validated per-canvas integers in [0, high) as an int64 tensor on the device (synchronises)."""
        v = torch.as_tensor(values, device=self.device)
        if v.dtype.is_floating_point or v.dtype == torch.bool:
            raise ValueError(f"{what} must be integers, got {values!r}")
        v = v.long().reshape(-1)
        if v.shape != (self.num_envs,):
            raise ValueError(f"expected {self.num_envs} {what} (one per canvas), got {v.numel()}")
        if int(v.min()) < 0 or int(v.max()) >= high:
            raise ValueError(f"{what} must lie in [0, {high}), got values in [{int(v.min())}, {int(v.max())}]")
        return v

    def _fresh_episodes(self, index=None, label=None):
        """New targets / labels / latents for all N canvases (callers keep the ones they need)."""
        n = self.num_envs
        if index is None:
            index = torch.randint(len(self.images), (n,), generator=self.gen, device=self.device)
        else:
            index = self._indices(index, "target indices", len(self.images))
        if self.task == "generate":
            if label is None:
                label = torch.randint(self.num_classes, (n,), generator=self.gen, device=self.device)
            else:
                label = self._indices(label, "labels", self.num_classes)
        else:
            label = self.labels[index]
        if self.latent_dim:
            latent = torch.rand(n, self.latent_dim, generator=self.gen, device=self.device) * 2 - 1
        else:
            latent = self.latent
        return index, label, latent

    def reset(self, seed: int | None = None, index=None, label=None) -> torch.Tensor:
        """Start N new episodes; returns the observation (N, C, H, W).

        ``seed`` re-seeds the env's generator. ``index`` picks the target image of each canvas
        (default: uniform at random); ``label`` picks the class of each canvas (generate task).
        """
        if seed is not None:
            _check_int("seed", seed, 0)
            self.gen.manual_seed(int(seed))
        if label is not None and self.task != "generate":
            raise ValueError("label picks the class of the generate task; the reconstruct task takes index")
        self.target_index, self.label, self.latent = self._fresh_episodes(index, label)
        self.target = self.images[self.target_index]
        self.norm = self.image_norm[self.target_index]
        self.canvas = torch.zeros_like(self.canvas)
        self.pen = torch.full_like(self.pen, self.size // 2)
        self.t = torch.zeros_like(self.t)
        if self.task == "generate":
            self.phi = self._check_potential(self.potential(self.canvas, self.label, self.latent))
        return self.observation()

    def _check_potential(self, phi) -> torch.Tensor:
        """The potential's scores of blank canvases, checked once per ``reset`` (not in the hot loop): a tensor
        of shape (N,) of finite floats on the env's device; a function that returns anything else is named."""
        what = "potential(canvas, labels, latent) must return finite float scores of shape"
        if not isinstance(phi, torch.Tensor) or phi.shape != (self.num_envs,) or not phi.dtype.is_floating_point:
            got = (f"a tensor of shape {tuple(phi.shape)} and dtype {phi.dtype}" if isinstance(phi, torch.Tensor)
                   else type(phi).__name__)
            raise ValueError(f"{what} ({self.num_envs},); got {got}")
        if phi.device != self.canvas.device:
            raise ValueError(f"{what} ({self.num_envs},) on {self.canvas.device}; got a tensor on {phi.device}")
        if not bool(torch.isfinite(phi).all()):
            raise ValueError(f"{what} ({self.num_envs},); got {int((~torch.isfinite(phi)).sum())} NaN or "
                             f"infinite score(s) for blank canvases")
        return phi

    def reset_done(self, done: torch.Tensor) -> torch.Tensor:
        """Restart only the canvases where ``done`` (N,) bool is true; returns the new observation.

        Written with ``torch.where`` so that it never synchronises with the host: every canvas
        draws a fresh target and the finished ones keep it.
        """
        if not isinstance(done, torch.Tensor) or done.dtype != torch.bool or done.shape != (self.num_envs,):
            got = f"a {done.dtype} tensor of shape {tuple(done.shape)}" if isinstance(done, torch.Tensor) \
                else type(done).__name__
            raise ValueError(f"done must be a bool tensor of shape ({self.num_envs},), got {got}")
        index, label, latent = self._fresh_episodes()
        d = done.to(self.device)
        observe = getattr(self.potential, "observe", None)
        if observe is not None:                 # a learning potential sees the finished canvases
            observe(self.canvas, self.label, self.latent, d)
        self.target_index = torch.where(d, index, self.target_index)
        self.label = torch.where(d, label, self.label)
        if self.latent_dim:
            self.latent = torch.where(d[:, None], latent, self.latent)
        self.target = self.images[self.target_index]
        self.norm = self.image_norm[self.target_index]
        self.canvas = self.canvas.masked_fill(d[:, None, None], 0.0)
        self.pen = self.pen.masked_fill(d[:, None], self.size // 2)
        self.t = self.t.masked_fill(d, 0)
        if self.task == "generate":
            self.phi = torch.where(d, self.potential(self.canvas, self.label, self.latent), self.phi)
        return self.observation()

    @property
    def relabels(self) -> bool:
        """Whether the rewards of replayed transitions must be recomputed when sampled: a potential that
        learns while the agent does (the relabelled adversarial reward of lesson 09)."""
        return bool(getattr(self.potential, "relabel", False)) and hasattr(self.potential, "relabel_rewards")

    def relabel(self, obs: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """The rewards (N,) of transitions ``obs -> next_obs`` (observations of this env) under the
        potential as it is now, ``phi(s') - phi(s)`` (lesson 09); read from the observations' canvas and
        class planes, without host synchronisation."""
        if not self.relabels:
            raise ValueError("this environment's rewards are fixed when a transition is stored; only a "
                             "learning potential with relabel on (the adversarial reward) recomputes them")
        labels = obs[:, 1:1 + self.num_classes, 0, 0].argmax(1)
        return self.potential.relabel_rewards(obs[:, 0], next_obs[:, 0], labels)

    # -- observation ----------------------------------------------------------------------------
    def observation(self) -> torch.Tensor:
        """The current observation, float32 (N, C, H, W); channels as in ``channel_names``."""
        n, s = self.num_envs, self.size
        parts = [self.canvas[:, None]]
        if self.task == "reconstruct":
            parts.append(self.target[:, None])
        else:
            onehot = (self.label[:, None] == torch.arange(self.num_classes, device=self.device)).float()  # no sync
            parts.append(onehot[:, :, None, None].expand(n, self.num_classes, s, s))
            if self.latent_dim:
                parts.append(self.latent[:, :, None, None].expand(n, self.latent_dim, s, s))
        if self.mode == "pen":
            plane = torch.zeros(n, s * s, device=self.device)
            plane[self._arange, self.pen[:, 0] * s + self.pen[:, 1]] = 1.0
            parts.append(plane.view(n, 1, s, s))
        frac = (self.t.float() / self.horizon)[:, None, None, None]
        parts.append(frac.expand(n, 1, s, s))
        return torch.cat(parts, dim=1)

    # -- dynamics -------------------------------------------------------------------------------
    def check_actions(self, actions) -> torch.Tensor:
        """Validate and convert actions to an int64 tensor (N,) on the device (synchronises)."""
        expected = f"one integer action in [0, {self.num_actions}) per canvas, shape ({self.num_envs},)"
        try:
            a = torch.as_tensor(np.asarray(actions) if isinstance(actions, (list, tuple)) else actions,
                                device=self.device)
        except (TypeError, RuntimeError, ValueError):
            raise ValueError(f"actions must be {expected}; got {actions!r:.80}") from None
        if a.shape != (self.num_envs,):
            raise ValueError(f"expected actions of shape ({self.num_envs},), got {tuple(a.shape)}")
        if a.dtype.is_floating_point or a.dtype.is_complex or a.dtype == torch.bool:
            raise ValueError(f"actions must be integers, got dtype {a.dtype}")
        a = a.long()
        bad = (a < 0) | (a >= self.num_actions)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise ValueError(f"invalid action {int(a[i])} for canvas {i}; expected an integer in "
                             f"[0, {self.num_actions}) ({self.mode} mode)")
        return a

    def step(self, actions, validate: bool = True, active: torch.Tensor | None = None):
        """Apply one action per canvas. Returns ``(obs, reward, terminated, truncated, info)``.

        ``terminated`` is true after ``stop`` (pen mode); ``truncated`` after ``horizon`` steps.
        Finished canvases are not restarted here: call ``reset_done(terminated | truncated)``.
        ``validate=False`` skips the action check (which needs a host sync) in hot loops.
        ``active`` (N,) bool: canvases where it is false do not move at all (canvas, pen, time and
        potential stay, reward 0, not terminated or truncated again); the episode player uses it to
        keep finished canvases as they ended while the others play on.
        """
        a = self.check_actions(actions) if validate else actions
        if active is not None and (not isinstance(active, torch.Tensor) or active.dtype != torch.bool
                                   or active.shape != (self.num_envs,)):
            raise ValueError(f"active must be a bool tensor of shape ({self.num_envs},)")
        prev, prev_pen, prev_phi = self.canvas, self.pen, self.phi
        if self.mode == "pixel":
            new = pixel_transition(prev, a, self.ink)
            terminated = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
            new_pen = prev_pen
        else:
            new, new_pen, terminated = pen_transition(prev, prev_pen, a, self.ink, self.pen_window)
        if active is not None:
            new = torch.where(active[:, None, None], new, prev)
            new_pen = torch.where(active[:, None], new_pen, prev_pen)
            terminated = terminated & active
        if self.task == "reconstruct":
            reward = reconstruction_reward(prev, new, self.target, self.norm)
        else:
            phi = self.potential(new, self.label, self.latent)
            if active is not None:
                phi = torch.where(active, phi, prev_phi)
            reward, self.phi = phi - prev_phi, phi
        self.canvas, self.pen = new, new_pen
        self.t = self.t + (1 if active is None else active.long())
        truncated = (self.t >= self.horizon) & ~terminated
        if active is not None:
            truncated = truncated & active
        return self.observation(), reward, terminated, truncated, {}

    # -- saving and restoring -------------------------------------------------------------------
    _STATE = ("canvas", "target", "target_index", "label", "latent", "pen", "t", "phi", "norm")

    def state_dict(self) -> dict:
        """Everything that changes while playing (canvases, targets, pens, clocks, the generator), as CPU
        tensors: ``load_state_dict`` on an env of the same shape continues exactly from here."""
        st = {k: getattr(self, k).detach().clone().cpu() for k in self._STATE}
        st["generator"] = self.gen.get_state().clone()
        if hasattr(self.potential, "state_dict"):          # a learning potential (the adversarial reward)
            st["potential"] = self.potential.state_dict()
        st["shape"] = {"num_envs": self.num_envs, "mode": self.mode, "task": self.task, "size": self.size,
                       "latent_dim": self.latent_dim}
        return st

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` saved; an env of another shape is refused with ``ValueError``."""
        mine = {"num_envs": self.num_envs, "mode": self.mode, "task": self.task, "size": self.size,
                "latent_dim": self.latent_dim}
        if not isinstance(state, dict) or state.get("shape") != mine:
            got = state.get("shape") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"the saved environment state is for {got}, this environment is {mine}")
        for k in self._STATE:
            v = state[k]
            if tuple(v.shape) != tuple(getattr(self, k).shape):
                raise ValueError(f"the saved environment state has {k} of shape {tuple(v.shape)}, "
                                 f"expected {tuple(getattr(self, k).shape)}")
            setattr(self, k, v.to(self.device, getattr(self, k).dtype).clone())
        self.gen.set_state(state["generator"])
        if "potential" in state:
            self.potential.load_state_dict(state["potential"])


def _check_images(images) -> torch.Tensor:
    """Target images as float32 (M, H, H) in [0, 1]; anything else is refused with a clear message."""
    if isinstance(images, torch.Tensor):
        x = images.detach()
    else:
        arr = np.asarray(images)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ValueError(f"images must be a numeric array (M, H, H) in [0, 1], got dtype {arr.dtype}")
        x = torch.as_tensor(arr)
    if x.ndim != 3 or x.shape[1] != x.shape[2] or len(x) == 0:
        raise ValueError(f"images must have shape (M, H, H) with M >= 1, got {tuple(x.shape)}")
    if not x.dtype.is_floating_point:
        hi = int(x.max())
        raise ValueError(f"images must be floats in [0, 1], got {x.dtype} values up to {hi}"
                         + (" (divide 0-255 images by 255)" if hi > 1 else ""))
    x = x.float()
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"images must be finite, got {int((~torch.isfinite(x)).sum())} NaN or infinite pixel(s)")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"image values must lie in [0, 1], got values in [{lo:g}, {hi:g}]"
                         + (" (divide 0-255 images by 255)" if hi > 1 else ""))
    return x


def _check_labels(labels, n: int, num_classes: int | None) -> torch.Tensor:
    """Labels as int64 (n,); with ``num_classes`` they must lie in [0, num_classes)."""
    if labels is None:
        return torch.zeros(n, dtype=torch.int64)
    y = labels.detach() if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels))
    if y.dtype.is_floating_point:
        if not bool(torch.isfinite(y).all()) or not bool((y == y.round()).all()):
            raise ValueError(f"labels must be integers, got non-integer values such as "
                             f"{float(y[(y != y.round()) | ~torch.isfinite(y)][0]):g}")
    elif y.dtype == torch.bool:
        raise ValueError("labels must be integers, got booleans")
    y = y.long()
    if y.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(y.shape)}")
    if num_classes is not None and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got values in [{int(y.min())}, {int(y.max())}]")
    return y


def canvas_rgb(image: np.ndarray, scale: int = 8, pen: tuple[int, int] | None = None) -> np.ndarray:
    """An (H, W) image in [0, 1] as an RGB uint8 array, ink dark on white, each pixel ``scale`` wide.

    With ``pen=(row, col)`` that pixel is outlined in red (pen mode). ``CanvasEnv.render`` draws with it.
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise ValueError(f"expected an (H, W) image, got shape {img.shape}")
    grey = np.round(255 * (1.0 - np.clip(img, 0.0, 1.0))).astype(np.uint8)
    rgb = np.repeat(np.repeat(grey, scale, 0), scale, 1)[..., None].repeat(3, axis=2)
    if pen is not None:
        r, c = pen
        y0, x0 = r * scale, c * scale
        red = np.array([220, 30, 30], dtype=np.uint8)
        t = max(1, scale // 8)
        rgb[y0:y0 + t, x0:x0 + scale] = red
        rgb[y0 + scale - t:y0 + scale, x0:x0 + scale] = red
        rgb[y0:y0 + scale, x0:x0 + t] = red
        rgb[y0:y0 + scale, x0 + scale - t:x0 + scale] = red
    return rgb

# ---------------------------------------------------------------------------------------------
# The gymnasium environment: one canvas, the same dynamics
# ---------------------------------------------------------------------------------------------

class CanvasEnv(gym.Env):
    """``dqngen/Canvas-v0``: one canvas, a thin wrapper around ``VecCanvasEnv(num_envs=1)``.

    ``gymnasium.make("dqngen/Canvas-v0", mode="pen", task="reconstruct", size=8, horizon=24,
    ink_levels=3)``. Observations are float32 NumPy arrays (C, H, W); ``render()`` returns an
    RGB array (ink dark on white paper; the target beside the canvas; the pen in red).
    ``options`` of ``reset`` may hold ``index`` (target image) or ``label`` (generate task).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(self, mode: str = "pixel", task: str = "reconstruct", size: int = 8, horizon: int = 24,
                 ink_levels: int = 3, pen_window: int = 2, split: str = "train", data_path: str | None = None,
                 images=None, labels=None, potential: Potential | None = None, num_classes: int = 10,
                 latent_dim: int = 0, render_mode: str | None = None, device: str = "cpu"):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; expected 'rgb_array' or None")
        if images is None:
            _check_int("size", size, 1)
            if data_path is None and size != 8:
                raise ValueError(f"size {size} needs data_path (a 28x28 MNIST file); the bundled digits are 8x8")
            images, labels = load_data(data_path, ink_levels=None).split(split)
        self.vec = VecCanvasEnv(1, mode=mode, task=task, images=images, labels=labels, horizon=horizon,
                                ink_levels=ink_levels, pen_window=pen_window, potential=potential,
                                num_classes=num_classes, latent_dim=latent_dim, device=device, size=size)
        self.render_mode = render_mode
        self.action_space = spaces.Discrete(self.vec.num_actions)
        low = np.zeros(self.vec.obs_shape, dtype=np.float32)
        for c, name in enumerate(self.vec.channel_names):
            if name.startswith("latent"):
                low[c] = -1.0
        self.observation_space = spaces.Box(low=low, high=np.ones_like(low), dtype=np.float32)
        self._done = True
        self._seeded = False

    def _obs(self) -> np.ndarray:
        return self.vec.observation()[0].cpu().numpy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is None and not self._seeded:
            seed = int(self.np_random.integers(2**31 - 1))
        self._seeded = True
        options = dict(options or {})
        unknown = set(options) - {"index", "label"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; expected 'index' and/or 'label'")
        index = None if options.get("index") is None else [_option_int("index", options["index"])]
        label = None if options.get("label") is None else [_option_int("label", options["label"])]
        self.vec.reset(seed=seed, index=index, label=label)
        self._done = False
        return self._obs(), self._info()

    def _info(self) -> dict:
        v = self.vec
        info = {"t": int(v.t[0]), "target_index": int(v.target_index[0]), "label": int(v.label[0])}
        if v.mode == "pen":
            info["pen"] = tuple(int(x) for x in v.pen[0])
        return info

    def step(self, action):
        action = self.vec.codec.check(action)
        if self._done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        _, r, term, trunc, _ = self.vec.step(torch.tensor([int(action)], device=self.vec.device), validate=False)
        terminated, truncated = bool(term[0]), bool(trunc[0])
        self._done = terminated or truncated
        return self._obs(), float(r[0]), terminated, truncated, self._info()

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        v = self.vec
        pen = tuple(int(x) for x in v.pen[0]) if v.mode == "pen" else None
        left = canvas_rgb(v.canvas[0].cpu().numpy(), pen=pen)
        if v.task == "reconstruct":
            gap = np.full((left.shape[0], 4, 3), 200, dtype=np.uint8)
            return np.concatenate([left, gap, canvas_rgb(v.target[0].cpu().numpy())], axis=1)
        return left


def _option_int(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"reset option {name!r} must be an integer, got {value!r}")
    return int(value)


if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="dqngen_lib.envs:CanvasEnv")
