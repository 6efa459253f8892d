"""The Q-value explorer (lesson 10): widgets over an episode record.

``QExplorer`` is an ``record.EpisodeRecord`` (the episode, its Q-values, rewards and Bellman targets,
played by the course's episode player ``rollout.play``) with ipywidgets on top: drop-downs for the
agent and the digit, an ε slider, a step slider with a play button, the picture of the step shown
(``viz.plot_record_step``, as a PNG ``ipywidgets.Image``, so it renders the same in JupyterLab and
in a headless browser), a side panel with the numbers, and hand controls. This module holds only
the wiring; what the buttons do is the record's.
"""
from __future__ import annotations

import ipywidgets as w

from .record import EpisodeRecord
from .viz import figure_png, plot_record_step

__all__ = ["QExplorer"]


class QExplorer(EpisodeRecord):
    """Step through an agent's episode and see its Q-values; play against it by hand (lesson 10).

    Takes the arguments of ``EpisodeRecord`` (``QExplorer(qnet, cfg)`` or
    ``QExplorer(checkpoints={"pretrained": load_pretrained(), "mine": result})``, ``digits``, ``split``,
    ``digit``, ``eps``, ``seed``, ``env_factory``) and has its state and methods (``.step``, ``.q``,
    ``.transition()``, ``.take_action(a)``, ``.episode`` ...); ``dpi`` and ``interval`` (ms per step of
    the play button) set the view. ``.widget`` shows it (display the explorer or its widget in a
    notebook); its buttons call ``restart()``, ``play()``, ``greedy_step()`` and ``take_action``.
    """

    def __init__(self, qnet=None, cfg=None, *, dpi: int = 72, interval: int = 800, **kw):
        self.dpi, self._interval = int(dpi), int(interval)
        self._busy = False
        self._cache: dict[int, bytes] = {}
        super().__init__(qnet, cfg, **kw)

    def _start(self, digit) -> None:
        desc = {"description_width": "initial"}
        self.agent_w = w.Dropdown(options=list(self.agents), description="agent", style=desc,
                                  layout=w.Layout(width="220px"))
        self.digit_w = w.Dropdown(description="digit", style=desc, layout=w.Layout(width="190px"))
        self.eps_w = w.FloatSlider(value=self.eps, min=0.0, max=1.0, step=0.05, description="ε", style=desc,
                                   readout_format=".2f", continuous_update=False, layout=w.Layout(width="230px"))
        self.new_w = w.Button(description="new episode", tooltip="restart; the agent plays the episode with ε",
                              icon="refresh")
        self.play_w = w.Play(value=0, min=0, max=1, step=1, interval=self._interval, description="play")
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
        super()._start(digit)

    # -- the record's hooks: keep the widgets in step with it ---------------------------------------
    def _agent_changed(self) -> None:
        label = "digit" if self.task == "reconstruct" else "class"

        def set_choices():
            self.agent_w.value = self.agent_name
            self.digit_w.options = self.choices
            self.digit_w.description = label
        self._quietly(set_choices)
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

    def _play(self, actions, kinds, then_eps=None) -> None:
        super()._play(actions, kinds, then_eps)
        self._cache.clear()

    def _show(self, t: int) -> None:
        super()._show(t)
        n = len(self._actions)

        def sync():
            if list(self.digit_w.options) != list(self.choices):
                self.digit_w.options = self.choices
            self.digit_w.value = self.digit
            if n >= self.step_w.max:
                self.play_w.max = n
                self.step_w.max = n
            self.step_w.value = self._step
            self.play_w.max = n
            self.step_w.max = n
        self._quietly(sync)
        self._render()

    def hand_action(self) -> int:
        """The action set in the hand controls (row, col, ink; or dy, dx, pen level)."""
        if self.mode == "pixel":
            return self.env.codec.encode(row=int(self.row_w.value), col=int(self.col_w.value),
                                         ink=int(self.ink_w.value) + 1)
        return self.env.codec.encode(dy=int(self.dy_w.value), dx=int(self.dx_w.value), level=int(self.level_w.value))

    # -- drawing ---------------------------------------------------------------------------------
    def figure(self, t: int | None = None):
        """The picture of step ``t`` (default: the one shown): ``viz.plot_record_step``."""
        return plot_record_step(self, t)

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
            mse = float(((self.canvas - self.target) ** 2).mean())
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

    def _render(self) -> None:
        self.image_w.value = self.png()
        self.info_w.value = self._info_html()

    def _on_step(self, change) -> None:
        if not self._busy:
            self._step = int(change["new"])
            self._render()

    def _on_eps(self, change) -> None:
        if not self._busy:
            self.eps = float(change["new"])
            self.play()

    def _on_agent(self, change) -> None:
        if not self._busy and change["new"] != change["old"]:
            self.set_checkpoint(change["new"])

    def _on_digit(self, change) -> None:
        if not self._busy and change["new"] is not None and change["new"] != self.digit:
            self.set_digit(change["new"])

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
