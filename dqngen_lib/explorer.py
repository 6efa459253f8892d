"""The Q-value explorer (lesson 08): step through an agent's episode, see its Q-values, play by hand.

``QExplorer`` is an ipywidgets explorer of a trained agent. Every episode it shows is played by the
course's episode player (``rollout.play``): the agent's own play, and your hand actions replayed
from the start as a script followed by the agent. Its pictures are PNG images
(``ipywidgets.Image``) drawn by ``viz``, so they render the same in JupyterLab and in a headless
browser.
"""
from __future__ import annotations

import os

import ipywidgets as w
import numpy as np
import torch

from .checkpoint import load_checkpoint
from .config import make_env
from .rollout import ScriptedPolicy, epsilon_greedy_policy, play
from .viz import figure_png, plot_pen_q, plot_q_heatmaps
from .utils import is_number

__all__ = ["QExplorer"]


class QExplorer:
    """Step through an agent's episode and see its Q-values; play against it by hand (lesson 08).

    ``QExplorer(qnet, cfg)`` explores one Q-network with the ``TrainConfig`` it was trained with;
    ``QExplorer(checkpoints={"pretrained": load_pretrained(), "mine": result})`` offers several
    (each a ``Checkpoint``, a ``TrainResult``, a ``(qnet, cfg)`` pair or a checkpoint path) in a
    drop-down. ``digits``: the held-out digits offered in the digit drop-down (indices into the
    ``split`` digits; default two of each class); for a generation agent the drop-down offers the
    classes. ``eps`` is the initial ε; ``seed`` seeds the episode (target draw, latent code, ε).
    ``env_factory(cfg)`` may build the one-canvas ``VecCanvasEnv`` (default
    ``config.make_env(cfg, 1, split, device, seed)``): the explorer never paints by itself, every
    step goes through the environment.

    The explorer records one episode: the observations ``s_0 .. s_T``, the Q-values
    ``Q(s_t, .)`` the network gives in each, the actions taken (by the agent, greedy or random
    under ε, or by hand) and the rewards. ``.widget`` shows it (display the explorer or its widget
    in a notebook). State at the step shown: ``.step`` (settable), ``.canvas``, ``.q``,
    ``.action`` (taken at this step, ``None`` if none yet), ``.greedy_action``, ``.reward``,
    ``.returns`` (the return so far, ``r_0 + ... + r_{t-1}``), ``.bellman_target``
    (``r_t + gamma (1 - terminal) max_a Q(s_{t+1}, a)`` with the same network, ``None`` before an
    action is taken) and ``.td_error``; ``.episode`` holds the whole record. The buttons call
    ``.restart()``, ``.play()`` (the agent plays on from this step with ε), ``.greedy_step()``,
    ``.take_action(a)`` (your action at this step; what came after it is discarded) and
    ``.set_digit(i)``.
    """

    def __init__(self, qnet=None, cfg=None, *, checkpoints=None, digits=None, split: str = "test", digit=None,
                 eps: float = 0.0, seed: int = 0, env_factory=None, dpi: int = 72, interval: int = 800):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if not is_number(eps, 0.0, 1.0):
            raise ValueError(f"eps must be a number in [0, 1], got {eps!r}")
        self.split, self.seed, self.dpi = split, int(seed), int(dpi)
        self.env_factory = env_factory
        agents = {}
        if qnet is not None or cfg is not None:
            agents["agent"] = self._as_agent("agent", (qnet, cfg))
        for name, ck in (checkpoints or {}).items():
            agents[str(name)] = self._as_agent(name, ck)
        if not agents:
            raise ValueError("nothing to explore: give qnet and cfg, or checkpoints={name: checkpoint}")
        self.agents = agents
        self._digits_arg = None if digits is None else [int(i) for i in digits]
        self._busy = False
        self._cache: dict[int, bytes] = {}

        desc = {"description_width": "initial"}
        self.agent_w = w.Dropdown(options=list(agents), description="agent", style=desc,
                                  layout=w.Layout(width="220px"))
        self.digit_w = w.Dropdown(description="digit", style=desc, layout=w.Layout(width="190px"))
        self.eps_w = w.FloatSlider(value=float(eps), min=0.0, max=1.0, step=0.05, description="ε", style=desc,
                                   readout_format=".2f", continuous_update=False, layout=w.Layout(width="230px"))
        self.new_w = w.Button(description="new episode", tooltip="restart; the agent plays the episode with ε",
                              icon="refresh")
        self.play_w = w.Play(value=0, min=0, max=1, step=1, interval=int(interval), description="play")
        self.step_w = w.IntSlider(value=0, min=0, max=1, description="step", style=desc, continuous_update=True,
                                  layout=w.Layout(width="420px"))
        w.link((self.play_w, "value"), (self.step_w, "value"))
        self.image_w = w.Image(format="png")
        self.info_w = w.HTML(layout=w.Layout(width="330px"))
        self.take_w = w.Button(description="take my action", button_style="warning",
                               tooltip="take the action chosen on the left at this step")
        self.greedy_w = w.Button(description="greedy step", tooltip="take the agent's greedy action at this step")
        self.agent_play_w = w.Button(description="agent plays on", button_style="info",
                                     tooltip="from this step on the agent plays (ε-greedy) to the end")
        self.hand_box = w.HBox()
        self.step_w.add_class("dqngen-step")
        self.new_w.add_class("dqngen-new")
        self.image_w.add_class("dqngen-view")
        self.info_w.add_class("dqngen-info")

        self.step_w.observe(self._on_step, "value")
        self.eps_w.observe(self._on_eps, "value")
        self.agent_w.observe(self._on_agent, "value")
        self.digit_w.observe(self._on_digit, "value")
        self.new_w.on_click(self._button(self.restart))
        self.take_w.on_click(self._button(lambda: self.take_action(self.hand_action())))
        self.greedy_w.on_click(self._button(self.greedy_step))
        self.agent_play_w.on_click(self._button(self.play))

        self.widget = w.VBox([
            w.HBox([self.agent_w, self.digit_w, self.eps_w, self.new_w]),
            w.HBox([self.play_w, self.step_w]),
            w.HBox([self.image_w, self.info_w]),
            w.HBox([self.hand_box, self.take_w, self.greedy_w, self.agent_play_w]),
        ])
        self.widget.add_class("dqngen-explorer")
        self.set_checkpoint(next(iter(agents)), digit=digit)

    # -- agents and environments ------------------------------------------------------------------
    def _as_agent(self, name, ck):
        if isinstance(ck, (str, os.PathLike)):
            ck = load_checkpoint(ck, kind="dqn")
        if isinstance(ck, tuple) and len(ck) == 2:
            qnet, cfg = ck
        elif hasattr(ck, "qnet") and hasattr(ck, "cfg"):
            qnet, cfg = ck.qnet, ck.cfg
        else:
            raise ValueError(f"agent {name!r}: expected a Checkpoint, a TrainResult, a (qnet, cfg) pair or a "
                             f"checkpoint path, got {type(ck).__name__}")
        if qnet is None or cfg is None:
            raise ValueError(f"agent {name!r}: both the Q-network and its config (cfg) are needed")
        for field in ("task", "mode", "size", "ink_levels", "pen_window", "horizon", "gamma"):
            if not hasattr(cfg, field):
                raise ValueError(f"agent {name!r}: cfg has no {field!r}; expected a TrainConfig")
        return qnet, cfg

    def _make_env(self, cfg):
        if self.env_factory is not None:
            env = self.env_factory(cfg)
        else:
            env = make_env(cfg, 1, split=self.split, device=self.device, seed=self.seed)
        if env.num_envs != 1:
            raise ValueError(f"the explorer needs an environment of one canvas, got num_envs={env.num_envs}")
        return env

    def set_checkpoint(self, name: str, digit=None) -> None:
        """Explore the agent ``name`` (one of ``.agents``): builds its environment and plays an episode."""
        if name not in self.agents:
            raise ValueError(f"unknown agent {name!r}; expected one of {sorted(self.agents)}")
        prev_task, prev_digit = getattr(self, "task", None), getattr(self, "digit", None)
        self.qnet, self.cfg = self.agents[name]
        p = next(self.qnet.parameters(), None)
        self.device = p.device if p is not None else torch.device("cpu")
        self.env = self._make_env(self.cfg)
        probe = self.env.observation()
        try:
            with torch.no_grad():
                n_q = self.qnet(probe).shape[1]
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"agent {name!r} does not fit the environment of its config "
                             f"(observations {tuple(probe.shape[1:])}): {exc}") from None
        if n_q != self.env.num_actions:
            raise ValueError(f"agent {name!r} gives {n_q} Q-values, its environment has {self.env.num_actions} actions")
        self.mode, self.task, self.size = self.env.mode, self.env.task, self.env.size
        self.gamma = float(self.cfg.gamma)
        self.ink = self.env.ink.cpu().numpy()
        self._quietly(lambda: setattr(self.agent_w, "value", name))
        # the digit (or class) chooser
        if self.task == "reconstruct":
            labels = self.env.labels.cpu().numpy()
            if self._digits_arg is not None:
                idx = self._digits_arg
            else:
                idx = sorted(int(i) for c in np.unique(labels) for i in np.flatnonzero(labels == c)[:2])
            bad = [i for i in idx if not 0 <= i < len(labels)]
            if bad:
                raise ValueError(f"digits must be indices in [0, {len(labels)}) of the {self.split} digits, got {bad}")
            options = [(f"#{i}: a {labels[i]}", i) for i in idx]
            label = "digit"
        else:
            options = [(f"class {c}", c) for c in range(self.env.num_classes)]
            label = "class"
        if digit is None and prev_task == self.task and prev_digit in [v for _, v in options]:
            digit = prev_digit
        first = options[0][1] if digit is None else digit

        def set_options():
            self.digit_w.options = options
            self.digit_w.description = label
        self._quietly(set_options)
        # hand controls for this action mode
        desc = {"description_width": "initial"}
        small = w.Layout(width="120px")
        if self.mode == "pixel":
            self.row_w = w.Dropdown(options=list(range(self.size)), description="row", style=desc, layout=small)
            self.col_w = w.Dropdown(options=list(range(self.size)), description="col", style=desc, layout=small)
            inks = [(f"{v:g}", k) for k, v in enumerate(self.ink[1:])]
            self.ink_w = w.Dropdown(options=inks, value=len(inks) - 1, description="ink", style=desc, layout=small)
            self.hand_box.children = [self.row_w, self.col_w, self.ink_w]
        else:
            r = list(range(-self.env.pen_window, self.env.pen_window + 1))
            self.dy_w = w.Dropdown(options=r, value=0, description="dy", style=desc, layout=small)
            self.dx_w = w.Dropdown(options=r, value=0, description="dx", style=desc, layout=small)
            self.level_w = w.Dropdown(options=[("up", 0)] + [(f"{v:g}", k + 1) for k, v in enumerate(self.ink[1:])],
                                      value=len(self.ink) - 1, description="pen", style=desc, layout=small)
            self.stop_w = w.Button(description="stop", layout=w.Layout(width="70px"))
            self.stop_w.on_click(self._button(lambda: self.take_action(self.env.num_actions - 1)))
            self.hand_box.children = [self.dy_w, self.dx_w, self.level_w, self.stop_w]
        self.set_digit(first)

    # -- choosing what to paint ----------------------------------------------------------------
    def set_digit(self, i: int) -> None:
        """Paint the held-out digit ``i`` (index into the ``split`` digits), or class ``i`` for generation.

        Starts a new episode that the agent plays with the current ε; the view goes to step 0.
        """
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise ValueError(f"expected an integer digit index (or class), got {i!r}")
        i = int(i)
        if self.task == "reconstruct":
            n = len(self.env.images)
            if not 0 <= i < n:
                raise ValueError(f"digit index {i} is out of range; the {self.split} split has {n} digits (0..{n - 1})")
            if i not in [v for _, v in self.digit_w.options]:
                label = int(self.env.labels[i])
                self._quietly(lambda: setattr(self.digit_w, "options",
                                              list(self.digit_w.options) + [(f"#{i}: a {label}", i)]))
        elif not 0 <= i < self.env.num_classes:
            raise ValueError(f"class {i} is out of range; expected 0..{self.env.num_classes - 1}")
        self.digit = i
        self._quietly(lambda: setattr(self.digit_w, "value", i))
        self.restart()

    def set_class(self, c: int) -> None:
        """Generation agents: paint class ``c`` (the same as ``set_digit``)."""
        self.set_digit(c)

    # -- the record: every episode is played by rollout.play ---------------------------------------
    def _play(self, actions: list[int], kinds: list[str], then_eps: float | None = None) -> None:
        """(Re)play the episode: the scripted ``actions`` from the start, then (when ``then_eps`` is given)
        the agent ε-greedy to the end; the whole record is replaced by what ``rollout.play`` returns."""
        then = None if then_eps is None else epsilon_greedy_policy(self.qnet, float(then_eps), self.gen)
        policy = ScriptedPolicy(actions, qnet=self.qnet, then=then)
        where = {"index": [self.digit]} if self.task == "reconstruct" else {"label": [self.digit]}
        ep = play(self.env, policy, seed=self.seed, record=True, steps=None if then is not None else len(actions),
                  **where)
        with torch.no_grad():
            q_last = self.qnet(torch.as_tensor(ep["obs"][-1], device=self.device))[0].cpu().numpy()
        n = int(ep["length"][0])
        acts = [int(a) for a in ep["actions"][:n, 0]] if n else []
        q = [np.asarray(v[0], dtype=np.float64) for v in ep["q"][:n]] if n else []
        self._q = q + [q_last.astype(np.float64)]
        self._canvas = [c[0] for c in ep["canvas"][:n + 1]]
        self._pen = ([tuple(int(v) for v in p[0]) for p in ep["pen"][:n + 1]] if self.mode == "pen"
                     else [None] * (n + 1))
        self._actions = acts
        self._rewards = [float(r) for r in ep["rewards"][:n, 0]] if n else []
        self._kinds = list(kinds[:len(actions)]) + ["greedy" if a == int(self._q[t].argmax()) else "random"
                                                    for t, a in enumerate(acts) if t >= len(actions)]
        self._terminal = bool(n) and (int(self.env.t[0]) >= self.env.horizon or acts[-1] == self.env.codec.stop)
        self._cache.clear()

    def _reset_record(self) -> None:
        self.gen = torch.Generator(device=self.device).manual_seed(self.seed)
        self._actions, self._kinds = [], []

    # -- what the buttons do ---------------------------------------------------------------------
    def restart(self) -> None:
        """A new episode on the chosen digit: the agent plays it to the end with ε; show step 0."""
        self._reset_record()
        self._play([], [], then_eps=self.eps_w.value)
        self._show(0)

    def play(self, eps: float | None = None) -> None:
        """From the step shown, let the agent play on to the end (ε from the slider unless given).

        The actions recorded after this step are replaced; the view stays at this step.
        """
        eps = self.eps_w.value if eps is None else eps
        if not is_number(eps, 0.0, 1.0):
            raise ValueError(f"eps must be a number in [0, 1], got {eps!r}")
        t = self.step
        self._play(self._actions[:t], self._kinds[:t], then_eps=eps)
        self._show(t)

    def play_greedy(self) -> None:
        """From the step shown, the greedy agent (ε = 0) plays on to the end."""
        self.play(eps=0.0)

    def take_action(self, a: int, kind: str = "hand") -> dict:
        """Take action ``a`` at the step shown (replacing what came after) and show the next step.

        Returns the transition: ``action``, ``q`` (its Q-value), ``greedy_action``, ``greedy_q``,
        ``reward``, ``bellman_target`` and ``td_error``.
        """
        a = self.env.codec.check(a)
        t = self.step
        if t == len(self._actions) and self._terminal:
            raise ValueError(f"the episode is over (step {t}); move the step slider back or start a new episode")
        self._play(self._actions[:t] + [a], self._kinds[:t] + [kind])
        out = self.transition(t)
        self._show(t + 1)
        return out

    def greedy_step(self) -> dict:
        """Take the agent's greedy action at the step shown (see ``take_action``)."""
        if self._terminal and self.step >= len(self._actions):
            raise ValueError("the episode is over; move the step slider back or start a new episode")
        return self.take_action(int(self._q[self.step].argmax()), kind="greedy")

    def hand_action(self) -> int:
        """The action set in the hand controls (row, col, ink; or dy, dx, pen level)."""
        if self.mode == "pixel":
            return self.env.codec.encode(row=int(self.row_w.value), col=int(self.col_w.value),
                                         ink=int(self.ink_w.value) + 1)
        return self.env.codec.encode(dy=int(self.dy_w.value), dx=int(self.dx_w.value), level=int(self.level_w.value))

    # -- state at the step shown -----------------------------------------------------------------
    @property
    def step(self) -> int:
        """The step shown (0 .. the episode's length); setting it moves the slider."""
        return int(self.step_w.value)

    @step.setter
    def step(self, t: int) -> None:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= int(t) <= len(self._actions):
            raise ValueError(f"step must be an integer in [0, {len(self._actions)}], got {t!r}")
        self.step_w.value = int(t)

    @property
    def length(self) -> int:
        """Actions recorded in the episode."""
        return len(self._actions)

    @property
    def done(self) -> bool:
        """Whether the recorded episode has ended (horizon reached, or stop in pen mode)."""
        return self._terminal

    @property
    def canvas(self) -> np.ndarray:
        return self._canvas[self.step]

    @property
    def pen(self):
        return self._pen[self.step]

    @property
    def target(self) -> np.ndarray | None:
        return self.env.target[0].cpu().numpy() if self.task == "reconstruct" else None

    @property
    def q(self) -> np.ndarray:
        """``Q(s_t, a)`` for every action ``a`` at the step shown."""
        return self._q[self.step]

    @property
    def action(self) -> int | None:
        t = self.step
        return self._actions[t] if t < len(self._actions) else None

    @property
    def greedy_action(self) -> int:
        return int(self.q.argmax())

    @property
    def reward(self) -> float | None:
        t = self.step
        return self._rewards[t] if t < len(self._rewards) else None

    @property
    def returns(self) -> float:
        """The return so far: the rewards of the steps before the one shown, ``r_0 + ... + r_{t-1}``."""
        return float(sum(self._rewards[:self.step]))

    def _bellman(self, t: int) -> float | None:
        if t >= len(self._actions):
            return None
        terminal = self._terminal and t + 1 == len(self._actions)
        return self._rewards[t] + (0.0 if terminal else self.gamma * float(self._q[t + 1].max()))

    @property
    def bellman_target(self) -> float | None:
        """``y_t = r_t + gamma (1 - terminal) max_a Q(s_{t+1}, a)`` of the transition from the step shown."""
        return self._bellman(self.step)

    @property
    def td_error(self) -> float | None:
        """``y_t - Q(s_t, a_t)``: how far the network is from its own Bellman target here."""
        y = self.bellman_target
        return None if y is None else y - float(self.q[self.action])

    def transition(self, t: int | None = None) -> dict:
        """The recorded transition from step ``t`` (default: the one shown) as a dict."""
        t = self.step if t is None else int(t)
        if not 0 <= t < len(self._actions):
            raise ValueError(f"no transition recorded from step {t}; the episode has {len(self._actions)} actions")
        q, a = self._q[t], self._actions[t]
        y = self._bellman(t)
        return {"step": t, "action": a, "kind": self._kinds[t], "q": float(q[a]), "greedy_action": int(q.argmax()),
                "greedy_q": float(q.max()), "reward": self._rewards[t], "bellman_target": y,
                "td_error": y - float(q[a])}

    @property
    def episode(self) -> dict:
        """The whole record: ``canvas`` (T+1, H, W), ``q`` (T+1, A), ``actions``, ``rewards`` (T,), ``kinds``,
        ``bellman_targets`` (T,), ``pen`` (pen mode), ``target``, ``label``, ``return``, ``length``, ``done``."""
        ep = {"canvas": np.stack(self._canvas), "q": np.stack(self._q),
              "actions": np.array(self._actions, dtype=np.int64), "rewards": np.array(self._rewards),
              "kinds": list(self._kinds), "bellman_targets": np.array([self._bellman(t) for t in range(self.length)]),
              "target": self.target, "label": int(self.env.label[0]), "return": float(sum(self._rewards)),
              "length": self.length, "done": self._terminal, "mode": self.mode, "task": self.task}
        if self.mode == "pen":
            ep["pen"] = np.array(self._pen, dtype=np.int64)
        return ep

    # -- drawing ---------------------------------------------------------------------------------
    def describe(self, a: int) -> str:
        """Action ``a`` in words."""
        return self.env.codec.describe(a)

    def figure(self, t: int | None = None):
        """The picture of step ``t`` (default: the one shown): canvas, target, Q-values; a matplotlib Figure.

        The action taken at this step is outlined in red, the greedy one (when different) in white dashes.
        """
        from matplotlib.patches import Rectangle

        t = self.step if t is None else int(t)
        q = self._q[t]
        taken = self._actions[t] if t < len(self._actions) else None
        greedy = int(q.argmax())
        shown = greedy if taken is None else taken
        levels = len(self.ink)
        target = self.target
        if self.mode == "pixel":
            n = (2 if target is not None else 1) + levels - 1
            fig, axes, cax = self._new_figure(n)
            plot_q_heatmaps(q, self.size, levels, canvas=self._canvas[t], target=target, action=shown, ax=axes,
                            colorbar=False)
            q_axes = axes[n - levels + 1:]
            if greedy != shown:
                k, p = divmod(greedy, self.size * self.size)
                q_axes[k].add_patch(Rectangle((p % self.size - 0.5, p // self.size - 0.5), 1, 1, fill=False,
                                              edgecolor="white", linestyle="--", linewidth=2))
        else:
            n = (2 if target is not None else 1) + levels + 1
            fig, axes, cax = self._new_figure(n, cbar_at=n - 1, wspace=0.6)
            plot_pen_q(q, self.env.pen_window, levels, canvas=self._canvas[t], pen=self._pen[t], target=target,
                       action=shown, ax=axes, colorbar=False)
            q_axes = axes[n - levels - 1:-1]
            m = (2 * self.env.pen_window + 1) ** 2
            if greedy != shown and greedy != len(q) - 1:
                d = self.env.codec.decode(greedy)
                dy, dx = d["dy"], d["dx"]
                q_axes[greedy // m].add_patch(Rectangle((dx - 0.5, dy - 0.5), 1, 1, fill=False, edgecolor="white",
                                                        linestyle="--", linewidth=2))
        fig.colorbar(q_axes[-1].images[0], cax=cax)
        cax.tick_params(labelsize=8)
        what = (f"digit #{self.digit} (a {int(self.env.label[0])})" if self.task == "reconstruct"
                else f"class {self.digit}")
        fig.suptitle(f"{what}, step {t} of {len(self._actions)}", fontsize=10)
        return fig

    @staticmethod
    def _new_figure(n: int, cbar_at: int | None = None, wspace: float = 0.3):
        """A figure of ``n`` panels in a row plus a thin colour-bar axis inserted at ``cbar_at`` (default: last)."""
        from matplotlib.figure import Figure

        at = n if cbar_at is None else cbar_at
        ratios = [1.0] * n
        ratios.insert(at, 0.07)
        fig = Figure(figsize=(2.2 * n + 0.5, 2.9))
        axes = list(fig.subplots(1, n + 1, gridspec_kw={"width_ratios": ratios}))
        fig.subplots_adjust(left=0.01, right=0.95, bottom=0.12, top=0.8, wspace=wspace)
        cax = axes.pop(at)
        return fig, axes, cax

    def png(self, t: int | None = None) -> bytes:
        """PNG bytes of ``figure(t)`` (cached per step; what the widget shows)."""
        t = self.step if t is None else int(t)
        if t not in self._cache:
            self._cache[t] = figure_png(self.figure(t), dpi=self.dpi, close=False)
        return self._cache[t]

    def _info_html(self) -> str:
        t = self.step
        over = self._terminal and t == len(self._actions)
        rows = [("step", f"{t} of {len(self._actions)}" + (" (episode over)" if over else "")),
                ("return so far", f"{self.returns:.3f}")]
        if self.task == "reconstruct":
            mse = float(np.mean((self.canvas - self.target) ** 2))
            rows.append(("MSE per pixel now", f"{mse:.4f}"))
        q, greedy = self.q, self.greedy_action
        a = self.action
        if a is None:
            rows.append(("action", "none yet: take one below" if not self._terminal else "none (the episode ended)"))
            rows.append(("greedy", f"{self.describe(greedy)}<br>Q = {q[greedy]:.3f}"))
        else:
            tr = self.transition(t)
            who = {"greedy": "agent, greedy", "random": "agent, random (ε)", "hand": "you"}.get(tr["kind"], tr["kind"])
            rows += [("action taken", f"{self.describe(a)} ({who})<br>Q(s, a) = {tr['q']:.3f}"),
                     ("greedy", f"{self.describe(greedy)}<br>Q(s, a*) = {tr['greedy_q']:.3f}"
                      + ("" if a == greedy else f" (+{tr['greedy_q'] - tr['q']:.3f})")),
                     ("reward r", f"{tr['reward']:.4f}"),
                     ("Bellman target", f"y = r + γ max Q(s', ·) = {tr['bellman_target']:.3f} (γ = {self.gamma:g})"),
                     ("TD error", f"y − Q(s, a) = {tr['td_error']:+.3f}")]
        body = "".join(f"<tr><td style='padding:2px 8px 2px 0;color:#555'>{k}</td><td>{v}</td></tr>" for k, v in rows)
        return f"<table style='font-size:13px;line-height:1.3'>{body}</table>"

    # -- widget plumbing -------------------------------------------------------------------------
    def _button(self, fn):
        """A click handler that shows a refused action (ValueError) in the side panel instead of raising."""
        def on_click(_):
            try:
                fn()
            except ValueError as exc:
                self.info_w.value = self._info_html() + f"<p style='color:#b00020;max-width:320px'>{exc}</p>"
        return on_click

    def _quietly(self, fn) -> None:
        busy, self._busy = self._busy, True
        try:
            fn()
        finally:
            self._busy = busy

    def _show(self, t: int) -> None:
        n = len(self._actions)

        def move():
            if n >= self.step_w.max:
                self.play_w.max = n
                self.step_w.max = n
            self.step_w.value = min(int(t), n)
            self.play_w.max = n
            self.step_w.max = n
        self._quietly(move)
        self._render()

    def _render(self) -> None:
        self.image_w.value = self.png()
        self.info_w.value = self._info_html()

    def _on_step(self, change) -> None:
        if not self._busy:
            self._render()

    def _on_eps(self, change) -> None:
        if not self._busy:
            self.play()

    def _on_agent(self, change) -> None:
        if not self._busy and change["new"] != change["old"]:
            self.set_checkpoint(change["new"])

    def _on_digit(self, change) -> None:
        if not self._busy and change["new"] is not None and change["new"] != self.digit:
            self.set_digit(change["new"])

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return (f"QExplorer({self.task}, {self.mode} mode, {'digit' if self.task == 'reconstruct' else 'class'} "
                f"{self.digit}, step {self.step} of {self.length})")


