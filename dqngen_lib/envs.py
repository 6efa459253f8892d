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

from .data import ink_values, load_digits

__all__ = [
    "MODES", "TASKS", "pixel_transition", "pen_moves", "pen_transition", "reconstruction_reward",
    "num_actions", "VecCanvasEnv", "CanvasEnv", "ENV_ID",
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
    if mode == "pixel":
        return (ink_levels - 1) * size * size
    return ink_levels * (2 * pen_window + 1) ** 2 + 1


def _check_choice(what: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(map(repr, allowed))}")


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
    images, labels: the digits targets are drawn from, (M, H, W) in [0, 1] and (M,); by default
        the training half of the 8x8 digits in their 17 original grey levels. The painter's inks
        are quantised, the targets are not, so even a perfect painter leaves some error
        (lesson 00 measures it: 0.0126 per pixel in 24 steps with 3 inks).
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
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
        if not isinstance(pen_window, (int, np.integer)) or pen_window < 1:
            raise ValueError(f"pen_window must be a positive integer, got {pen_window!r}")
        if task == "generate" and potential is None:
            raise ValueError("task 'generate' needs a potential: a callable potential(canvas, labels, latent) -> (N,)")
        self.device = torch.device(device)
        self.num_envs, self.mode, self.task = int(num_envs), mode, task
        self.horizon, self.ink_levels, self.pen_window = int(horizon), int(ink_levels), int(pen_window)
        self.ink = torch.as_tensor(ink_values(ink_levels), device=self.device)
        self.potential, self.num_classes, self.latent_dim = potential, int(num_classes), int(latent_dim)

        if images is None:
            digits = load_digits(ink_levels=None)  # grey targets; only the painter's inks are quantised
            images, labels = digits.x_train, digits.y_train
        self.images = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images,
                                      dtype=torch.float32).to(self.device)
        if self.images.ndim != 3 or self.images.shape[1] != self.images.shape[2] or len(self.images) == 0:
            raise ValueError(f"images must have shape (M, H, H) with M >= 1, got {tuple(self.images.shape)}")
        if size is not None and size != self.images.shape[-1]:
            raise ValueError(f"size {size} does not match the images, which are "
                             f"{self.images.shape[-1]}x{self.images.shape[-1]}")
        if labels is None:
            labels = torch.zeros(len(self.images), dtype=torch.int64)
        self.labels = torch.as_tensor(labels, dtype=torch.int64).to(self.device)
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"labels must have shape ({len(self.images)},), got {tuple(self.labels.shape)}")
        self.size = int(self.images.shape[-1])
        self.image_norm = self.images.pow(2).flatten(1).sum(1).clamp_min(1e-8)  # ||target||^2 of each image
        self.num_actions = num_actions(mode, self.size, ink_levels, pen_window)
        self.channel_names = (["canvas"] + (["target"] if task == "reconstruct" else
                              [f"class{c}" for c in range(self.num_classes)] +
                              [f"latent{i}" for i in range(self.latent_dim)]) +
                              (["pen"] if mode == "pen" else []) + ["time"])
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

    # -- episode starts -------------------------------------------------------------------------
    def _fresh_episodes(self, index=None, label=None):
        """New targets / labels / latents for all N canvases (callers keep the ones they need)."""
        n = self.num_envs
        if index is None:
            index = torch.randint(len(self.images), (n,), generator=self.gen, device=self.device)
        else:
            index = torch.as_tensor(index, dtype=torch.int64, device=self.device).reshape(-1)
            if index.shape != (n,):
                raise ValueError(f"expected {n} target indices (one per canvas), got {index.numel()}")
            if int(index.min()) < 0 or int(index.max()) >= len(self.images):
                raise ValueError(f"target indices must lie in [0, {len(self.images)}), "
                                 f"got values in [{int(index.min())}, {int(index.max())}]")
        if self.task == "generate":
            if label is None:
                label = torch.randint(self.num_classes, (n,), generator=self.gen, device=self.device)
            else:
                label = torch.as_tensor(label, dtype=torch.int64, device=self.device).reshape(-1)
                if label.shape != (n,) or int(label.min()) < 0 or int(label.max()) >= self.num_classes:
                    raise ValueError(f"labels must be {n} integers in [0, {self.num_classes}), got {label.tolist()}")
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
            self.gen.manual_seed(int(seed))
        self.target_index, self.label, self.latent = self._fresh_episodes(index, label)
        self.target = self.images[self.target_index]
        self.norm = self.image_norm[self.target_index]
        self.canvas = torch.zeros_like(self.canvas)
        self.pen = torch.full_like(self.pen, self.size // 2)
        self.t = torch.zeros_like(self.t)
        if self.task == "generate":
            self.phi = self.potential(self.canvas, self.label, self.latent)
        return self.observation()

    def reset_done(self, done: torch.Tensor) -> torch.Tensor:
        """Restart only the canvases where ``done`` (N,) bool is true; returns the new observation.

        Written with ``torch.where`` so that it never synchronises with the host: every canvas
        draws a fresh target and the finished ones keep it.
        """
        index, label, latent = self._fresh_episodes()
        d = done.to(self.device)
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

    # -- observation ----------------------------------------------------------------------------
    def observation(self) -> torch.Tensor:
        """The current observation, float32 (N, C, H, W); channels as in ``channel_names``."""
        n, s = self.num_envs, self.size
        parts = [self.canvas[:, None]]
        if self.task == "reconstruct":
            parts.append(self.target[:, None])
        else:
            onehot = torch.nn.functional.one_hot(self.label, self.num_classes).float()
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
        a = torch.as_tensor(actions, device=self.device)
        if a.shape != (self.num_envs,):
            raise ValueError(f"expected actions of shape ({self.num_envs},), got {tuple(a.shape)}")
        if a.dtype.is_floating_point or a.dtype == torch.bool:
            raise ValueError(f"actions must be integers, got dtype {a.dtype}")
        a = a.long()
        bad = (a < 0) | (a >= self.num_actions)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise ValueError(f"invalid action {int(a[i])} for canvas {i}; expected an integer in "
                             f"[0, {self.num_actions}) ({self.mode} mode)")
        return a

    def step(self, actions, validate: bool = True):
        """Apply one action per canvas. Returns ``(obs, reward, terminated, truncated, info)``.

        ``terminated`` is true after ``stop`` (pen mode); ``truncated`` after ``horizon`` steps.
        Finished canvases are not restarted here: call ``reset_done(terminated | truncated)``.
        ``validate=False`` skips the action check (which needs a host sync) in hot loops.
        """
        a = self.check_actions(actions) if validate else actions
        prev = self.canvas
        if self.mode == "pixel":
            new = pixel_transition(prev, a, self.ink)
            terminated = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        else:
            new, self.pen, terminated = pen_transition(prev, self.pen, a, self.ink, self.pen_window)
        if self.task == "reconstruct":
            reward = reconstruction_reward(prev, new, self.target, self.norm)
        else:
            phi = self.potential(new, self.label, self.latent)
            reward, self.phi = phi - self.phi, phi
        self.canvas = new
        self.t = self.t + 1
        truncated = (self.t >= self.horizon) & ~terminated
        return self.observation(), reward, terminated, truncated, {}


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
            from .data import load_data

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
        index = None if options.get("index") is None else [int(options["index"])]
        label = None if options.get("label") is None else [int(options["label"])]
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
        if isinstance(action, np.ndarray) and action.shape == ():
            action = action.item()
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)) \
                or not 0 <= int(action) < self.vec.num_actions:
            raise ValueError(f"invalid action {action!r}; expected an integer in [0, {self.vec.num_actions})")
        if self._done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        _, r, term, trunc, _ = self.vec.step(torch.tensor([int(action)], device=self.vec.device), validate=False)
        terminated, truncated = bool(term[0]), bool(trunc[0])
        self._done = terminated or truncated
        return self._obs(), float(r[0]), terminated, truncated, self._info()

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        from .viz import canvas_rgb

        v = self.vec
        pen = tuple(int(x) for x in v.pen[0]) if v.mode == "pen" else None
        left = canvas_rgb(v.canvas[0].cpu().numpy(), pen=pen)
        if v.task == "reconstruct":
            gap = np.full((left.shape[0], 4, 3), 200, dtype=np.uint8)
            return np.concatenate([left, gap, canvas_rgb(v.target[0].cpu().numpy())], axis=1)
        return left


if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="dqngen_lib.envs:CanvasEnv")
