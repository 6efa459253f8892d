"""Pictures of canvases, digits and Q-values, and the Q-value explorer (lessons 00, 01, 03, 05, 07, 08).

Static pictures return matplotlib figures: ``show_images``, ``canvas_figure``, ``plot_q_heatmaps``
(pixel mode), ``plot_pen_q`` (pen mode), ``plot_learning_curves``, ``plot_episode``.
``QExplorer`` (lesson 08) is an ipywidgets explorer of a trained agent's episode; its pictures are
PNG images (``ipywidgets.Image``), so they render the same in JupyterLab and in a headless browser.
"""
from __future__ import annotations

import numpy as np

__all__ = ["canvas_rgb", "show_images", "canvas_figure", "plot_pen_q", "plot_learning_curves", "plot_episode",
           "figure_png", "pretrained_path", "load_pretrained", "describe_action", "QExplorer", "PRETRAINED"]


def canvas_rgb(image: np.ndarray, scale: int = 8, pen: tuple[int, int] | None = None) -> np.ndarray:
    """An (H, W) image in [0, 1] as an RGB uint8 array, ink dark on white, each pixel ``scale`` wide.

    With ``pen=(row, col)`` that pixel is outlined in red (pen mode).
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


def show_images(images, titles=None, ncols: int = 10, scale: float = 0.9, suptitle: str | None = None):
    """Draw a grid of (H, W) images in [0, 1] (ink dark on white); returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    images = [np.asarray(getattr(im, "cpu", lambda: im)()) for im in images]
    n = len(images)
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, scale * nrows * (1.25 if titles else 1)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# More pictures: one canvas, pen-mode Q-values, learning curves, an episode (lessons 05, 07, 08)
# ---------------------------------------------------------------------------------------------

def _to_np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def _image_panel(ax, image, title=None, pen=None):
    from matplotlib.patches import Rectangle

    ax.imshow(_to_np(image), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    if pen is not None:
        r, c = (int(v) for v in _to_np(pen))
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    if title:
        ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def canvas_figure(canvas, target=None, pen=None, title: str | None = None, ax=None, size: float = 2.3):
    """The canvas (and, when given, the target beside it) as a matplotlib figure (lesson 08).

    ``canvas`` and ``target`` are (H, W) arrays or tensors in [0, 1], ink dark on white; ``pen``
    ``(row, col)`` outlines the pen's pixel in red. ``ax`` may pass one axis (canvas only) or two.
    Returns the figure.
    """
    import matplotlib.pyplot as plt

    canvas = _to_np(canvas)
    if canvas.ndim != 2:
        raise ValueError(f"expected an (H, W) canvas, got shape {canvas.shape}")
    n = 1 if target is None else 2
    if ax is None:
        fig, axes = plt.subplots(1, n, figsize=(size * n, size + 0.3), squeeze=False)
        axes = list(axes.flat)
    else:
        axes = list(np.atleast_1d(ax))
        if len(axes) != n:
            raise ValueError(f"expected {n} axes (canvas{' and target' if n == 2 else ''}), got {len(axes)}")
        fig = axes[0].figure
    _image_panel(axes[0], canvas, "canvas", pen)
    if target is not None:
        _image_panel(axes[1], target, "target")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _panel_row(ax, n_panels: int, what: str):
    """A new row of ``n_panels`` axes, or the ``ax`` given (checked to hold ``n_panels``)."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, axes = plt.subplots(1, n_panels, figsize=(2.3 * n_panels, 2.6), squeeze=False)
        return fig, list(axes.flat)
    axes = list(np.atleast_1d(ax))
    if len(axes) != n_panels:
        raise ValueError(f"expected {n_panels} axes ({what}), got {len(axes)}")
    return axes[0].figure, axes


def plot_pen_q(q, window: int = 2, ink_levels: int = 3, canvas=None, pen=None, target=None, action=None,
               ax=None, title: str | None = None, vmin=None, vmax=None):
    """Pen-mode Q-values of one state: one grid of moves per pen level, and bars (lessons 05 and 08).

    ``q`` holds the ``L * (2w+1)**2 + 1`` Q-values of one observation in the env's action order
    (``level * M + move``, ``level 0`` = pen up, the last action = stop). For each level a
    ``(2w+1) x (2w+1)`` heat map places the Q-value of every move ``(dy, dx)`` where the move
    would take the pen (the centre, marked ``+``, is "stay"); a bar chart compares the best move
    of each level with ``stop``. With ``canvas`` (and ``pen``, ``target``) the canvas is drawn
    first, with an arrow for ``action`` (red: pen down, blue dashed: pen up). ``action`` defaults
    to the greedy one (``action=False``: none). Returns the matplotlib figure.
    """
    from matplotlib.patches import Rectangle

    from .envs import pen_moves

    q = np.asarray(_to_np(q), dtype=np.float64)
    side = 2 * int(window) + 1
    m = side * side
    n_act = ink_levels * m + 1
    if q.ndim != 1 or q.shape[0] != n_act:
        raise ValueError(f"expected {n_act} Q-values (ink_levels * (2 * window + 1)**2 + 1) for one state, "
                         f"got shape {q.shape}")
    if action is None:
        action = int(q.argmax())
    if action is not False and not 0 <= int(action) < n_act:
        raise ValueError(f"action must lie in [0, {n_act}), got {action!r}")
    images = [] if canvas is None else [("canvas", canvas)]
    if canvas is not None and target is not None:
        images.append(("target", target))
    n_panels = len(images) + ink_levels + 1
    fig, axes = _panel_row(ax, n_panels, "canvas/target panels, one per pen level, one for the bars")
    moves = pen_moves(window).numpy()
    ink = np.linspace(0.0, 1.0, ink_levels)
    names = ["pen up"] + [f"ink {v:g}" for v in ink[1:]]
    stop = n_act - 1
    act_level = None if action is False or int(action) == stop else int(action) // m
    for a, (name, im) in zip(axes, images):
        _image_panel(a, im, name, pen if name == "canvas" else None)
    if canvas is not None and pen is not None and action is not False:
        a = axes[0]
        r, c = (int(v) for v in _to_np(pen))
        if int(action) == stop:
            a.text(c, r, "stop", color="red", ha="center", va="center", fontsize=9, fontweight="bold")
        else:
            h, w = np.shape(_to_np(canvas))
            dy, dx = moves[int(action) % m]
            # the pen stops at the border (a wall): the arrow ends where the pen would end
            y, x = min(max(r + int(dy), 0), h - 1), min(max(c + int(dx), 0), w - 1)
            if (y, x) == (r, c):
                a.plot([c], [r], marker="o", color="red" if act_level else "tab:blue", markersize=6)
            else:
                a.annotate("", xy=(x, y), xytext=(c, r),
                           arrowprops=dict(arrowstyle="->", lw=2, color="red" if act_level else "tab:blue",
                                           linestyle="-" if act_level else "--"))
    lo = float(q.min()) if vmin is None else vmin
    hi = float(q.max()) if vmax is None else vmax
    img = None
    for lvl in range(ink_levels):
        a = axes[len(images) + lvl]
        grid = q[lvl * m:(lvl + 1) * m].reshape(side, side)
        img = a.imshow(grid, cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest",
                       extent=(-window - 0.5, window + 0.5, window + 0.5, -window - 0.5))
        a.plot([0], [0], marker="+", color="white", markersize=8)
        a.set_title(f"Q: {names[lvl]}", fontsize=9)
        a.set_xticks(range(-window, window + 1))
        a.set_yticks(range(-window, window + 1))
        a.tick_params(labelsize=7)
        a.set_xlabel("dx", fontsize=8)
        if lvl == 0:
            a.set_ylabel("dy", fontsize=8)
        if act_level == lvl:
            dy, dx = moves[int(action) % m]
            a.add_patch(Rectangle((dx - 0.5, dy - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.5))
    bars = [float(q[lvl * m:(lvl + 1) * m].max()) for lvl in range(ink_levels)] + [float(q[stop])]
    a = axes[-1]
    colors = ["tab:blue"] + ["dimgray"] * (ink_levels - 1) + ["tab:orange"]
    rects = a.bar(range(len(bars)), bars, color=colors)
    hit = None if action is False else (ink_levels if int(action) == stop else act_level)
    if hit is not None:
        rects[hit].set_edgecolor("red")
        rects[hit].set_linewidth(2.5)
    a.set_xticks(range(len(bars)))
    a.set_xticklabels([n.replace("ink ", "") for n in names] + ["stop"], fontsize=7)
    a.set_title("best Q per level", fontsize=9)
    a.tick_params(labelsize=7)
    if img is not None and ax is None:
        fig.colorbar(img, ax=axes[len(images):len(images) + ink_levels], shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _smooth(y: np.ndarray, k: int) -> np.ndarray:
    """Running mean over the last ``k`` finite points (shorter at the start)."""
    if k <= 1 or len(y) == 0:
        return y
    out = np.empty_like(y)
    for i in range(len(y)):
        w = y[max(0, i - k + 1):i + 1]
        w = w[np.isfinite(w)]
        out[i] = w.mean() if len(w) else np.nan
    return out


def _as_runs(metrics, label):
    if hasattr(metrics, "metrics") and not isinstance(metrics, dict):
        metrics = metrics.metrics
    if not isinstance(metrics, dict):
        raise ValueError(f"expected a metrics dict (with 'curves'), a TrainResult, or a dict of them by label; "
                         f"got {type(metrics).__name__}")
    if "curves" in metrics:
        return {label: metrics}
    runs = {}
    for k, v in metrics.items():
        v = v.metrics if hasattr(v, "metrics") and not isinstance(v, dict) else v
        if not isinstance(v, dict) or "curves" not in v:
            raise ValueError(f"run {k!r}: expected a metrics dict with 'curves' (as train() returns), got "
                             f"{type(v).__name__}{' with keys ' + str(sorted(v)) if isinstance(v, dict) else ''}")
        runs[k] = v
    if not runs:
        raise ValueError("no runs to plot: the metrics dict is empty")
    return runs


def _floats(xs) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in xs], dtype=np.float64)


def plot_learning_curves(metrics, x: str = "env_steps", smooth: int = 1, label: str | None = None, axes=None,
                         title: str | None = None, reference: float | None = 0.0126):
    """Learning curves of one run or several (lessons 05, 06, 07 and 08).

    ``metrics`` is what ``train`` records (``TrainResult.metrics``, a ``Checkpoint``'s
    ``metrics``, or ``metrics.json``): ``curves`` (``env_steps``, ``seconds``, ``episode_return``,
    ``loss``, ...) and ``eval`` (``test_mse``). Several runs: pass a dict ``{label: metrics}`` and
    they are overlaid (ablations). Three panels: training episode return, TD loss (log scale),
    held-out test MSE per pixel (log scale; drawn when evaluations were recorded) with the
    ``reference`` line (0.0126, the perfect 3-ink painter in 24 strokes on the test digits, lesson
    05's ``reference_mse``; ``None`` to omit).
    ``x`` is ``"env_steps"`` or ``"seconds"``; ``smooth`` is a running-mean window in points.
    Returns the figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, FuncFormatter, MaxNLocator

    if x not in ("env_steps", "seconds"):
        raise ValueError(f"x must be 'env_steps' or 'seconds', got {x!r}")
    if isinstance(smooth, bool) or not isinstance(smooth, (int, np.integer)) or smooth < 1:
        raise ValueError(f"smooth must be a positive integer (points in the running mean), got {smooth!r}")
    runs = _as_runs(metrics, label)
    has_eval = any(len(m.get("eval", {}).get("test_mse", [])) for m in runs.values())
    n = 3 if has_eval else 2
    if axes is None:
        fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.2), squeeze=False)
        axes = list(axes.flat)
    else:
        axes = list(np.atleast_1d(axes))
        if len(axes) != n:
            raise ValueError(f"expected {n} axes (return, loss{', test MSE' if has_eval else ''}), got {len(axes)}")
        fig = axes[0].figure
    xlabel = "environment steps" if x == "env_steps" else "seconds of training"
    for name, m in runs.items():
        cur = m["curves"]
        if x not in cur:
            raise ValueError(f"run {name!r} records no {x!r}; it has {sorted(cur)}")
        xs = _floats(cur[x])
        ret, loss = _floats(cur.get("episode_return", [])), _floats(cur.get("loss", []))
        axes[0].plot(xs[:len(ret)], _smooth(ret, smooth), label=name)
        ok = np.isfinite(loss) & (loss > 0)
        axes[1].plot(xs[:len(loss)][ok], _smooth(loss, smooth)[ok], label=name)
        ev = m.get("eval", {})
        if has_eval and len(ev.get("test_mse", [])):
            axes[2].plot(_floats(ev[x]), _floats(ev["test_mse"]), marker="o", markersize=3, label=name)
    axes[0].set_ylabel("episode return")
    axes[0].set_title("training return", fontsize=10)
    axes[1].set_ylabel("TD loss")
    axes[1].set_yscale("log")
    axes[1].set_title("TD loss", fontsize=10)
    if has_eval:
        axes[2].set_yscale("log")
        axes[2].set_ylabel("MSE per pixel")
        axes[2].set_title("held-out test MSE", fontsize=10)
        if reference is not None:
            axes[2].axhline(reference, color="gray", ls="--", lw=1, label=f"perfect painter {reference:g}")
    if has_eval:                                    # plain numbers; minor ticks labelled on a narrow range only
        lo, hi = axes[2].get_ylim()
        axes[2].yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
        axes[2].yaxis.set_minor_formatter(FormatStrFormatter("%.3g") if hi < 4 * lo else
                                          FuncFormatter(lambda v, _: f"{v:.3g}" if f"{v:.0e}"[0] in "25" else ""))
    for a in axes:
        a.set_xlabel(xlabel)
        a.grid(alpha=0.3)
        a.xaxis.set_major_locator(MaxNLocator(4))
        if x == "env_steps":
            a.ticklabel_format(axis="x", style="sci", scilimits=(0, 4))
    if len(runs) > 1 or label is not None or (has_eval and reference is not None):
        axes[-1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_episode(ep: dict, i: int = 0, steps=None, ncols: int = 9, scale: float = 1.1):
    """Canvases along one recorded episode, with the target (lessons 05, 08).

    ``ep`` is a dict from ``agent.rollout`` (``i`` picks the canvas of the batch) or
    ``QExplorer.episode``; ``steps`` the time steps to show (default: about
    eight evenly spaced ones, the first and the last included). Returns the figure.
    """
    canvases = np.asarray(ep["canvas"])
    single = canvases.ndim == 3                     # one episode (QExplorer.episode): no batch axis
    if single:
        canvases = canvases[:, None]
    length = int(np.asarray(ep.get("length", [len(canvases) - 1])).reshape(-1)[i])
    if steps is None:
        steps = sorted(set(np.linspace(0, length, min(length + 1, ncols - 1)).round().astype(int).tolist()))
    bad = [s for s in steps if not 0 <= int(s) <= length]
    if bad:
        raise ValueError(f"steps must lie in [0, {length}] (the episode's length), got {bad}")
    pics = [canvases[int(s), i] for s in steps]
    titles = [f"t={int(s)}" for s in steps]
    if ep.get("task", "reconstruct") == "reconstruct" and ep.get("target") is not None:
        target = np.asarray(ep["target"])
        pics.append(target if single else target[i])
        titles.append("target")
    return show_images(pics, titles=titles, ncols=min(ncols, len(pics)), scale=scale)


def figure_png(fig, dpi: int = 72, close: bool = True) -> bytes:
    """PNG bytes of a matplotlib figure (for ``ipywidgets.Image``); closes it unless ``close=False``."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# The checkpoint that ships with the course
# ---------------------------------------------------------------------------------------------

PRETRAINED = {"pixel": "pixel_reconstruct.pt", "pen": "pen_reconstruct.pt"}


def pretrained_path(name: str = "pixel") -> str:
    """Path of a checkpoint that ships with the course (``dqngen_lib/assets``; lesson 08).

    Both were made by ``tools/make_assets.py``: ``train`` with the default ``TrainConfig`` of the
    mode (a convolutional Q-map, seed 0; pen mode with ``gamma=0.7`` as in lesson 05) for 240,000
    environment steps on the CPU, saved without the optimizer state. Held-out test MSE per pixel:
    ``"pixel"`` 0.0130 (the perfect painter: 0.0126), ``"pen"`` 0.0571. The config and the
    training record are inside the file (``dqngen evaluate --checkpoint PATH`` prints them).
    """
    import os

    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained checkpoint {name!r}; expected one of {sorted(PRETRAINED)}")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", PRETRAINED[name])
    if not os.path.exists(path):
        raise FileNotFoundError(f"the pretrained checkpoint {path} is missing; reinstall dqngen")
    return path


def load_pretrained(name: str = "pixel", device="cpu"):
    """Load a checkpoint that ships with the course (see ``pretrained_path``); returns a ``train.Checkpoint``."""
    from .train import load_checkpoint

    return load_checkpoint(pretrained_path(name), device=device)


# ---------------------------------------------------------------------------------------------
# The Q-value explorer (lesson 08)
# ---------------------------------------------------------------------------------------------

def describe_action(action: int, mode: str, size: int, ink_levels: int = 3, pen_window: int = 2) -> str:
    """An action index in words: ``"paint (3, 4) with ink 1"``, ``"ink 0.5, move (-1, 2)"``, ``"stop"``."""
    from .envs import num_actions, pen_moves

    n = num_actions(mode, size, ink_levels, pen_window)
    if isinstance(action, bool) or not isinstance(action, (int, np.integer)) or not 0 <= int(action) < n:
        raise ValueError(f"invalid action {action!r}; expected an integer in [0, {n}) ({mode} mode)")
    a = int(action)
    ink = np.linspace(0.0, 1.0, ink_levels)
    if mode == "pixel":
        k, p = divmod(a, size * size)
        return f"paint ({p // size}, {p % size}) with ink {ink[k + 1]:g}"
    if a == n - 1:
        return "stop"
    m = (2 * pen_window + 1) ** 2
    level, move = divmod(a, m)
    dy, dx = (int(v) for v in pen_moves(pen_window)[move])
    return f"{'pen up' if level == 0 else f'ink {ink[level]:g}'}, move ({dy:+d}, {dx:+d})"


class QExplorer:
    """Step through an agent's episode and see its Q-values; play against it by hand (lesson 08).

    ``QExplorer(qnet, cfg)`` explores one Q-network with the ``TrainConfig`` it was trained with;
    ``QExplorer(checkpoints={"pretrained": load_pretrained(), "mine": result})`` offers several
    (each a ``Checkpoint``, a ``TrainResult``, a ``(qnet, cfg)`` pair or a checkpoint path) in a
    drop-down. ``digits``: the held-out digits offered in the digit drop-down (indices into the
    ``split`` digits; default two of each class); for a generation agent the drop-down offers the
    classes. ``eps`` is the initial ε; ``seed`` seeds the episode (target draw, latent code, ε).
    ``env_factory(cfg)`` may build the one-canvas ``VecCanvasEnv`` (default
    ``train.make_env(cfg, 1, split, device, seed)``): the explorer never paints by itself, every
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
        import ipywidgets as w

        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 <= eps <= 1.0:
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
        import os

        if isinstance(ck, (str, os.PathLike)):
            from .train import load_checkpoint

            ck = load_checkpoint(ck, device="cpu")
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
            from .train import make_env

            env = make_env(cfg, 1, split=self.split, device=self.device, seed=self.seed)
        if env.num_envs != 1:
            raise ValueError(f"the explorer needs an environment of one canvas, got num_envs={env.num_envs}")
        return env

    def set_checkpoint(self, name: str, digit=None) -> None:
        """Explore the agent ``name`` (one of ``.agents``): builds its environment and plays an episode."""
        import ipywidgets as w
        import torch

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

    # -- the record ------------------------------------------------------------------------------
    def _env_reset(self):
        if self.task == "reconstruct":
            return self.env.reset(seed=self.seed, index=[self.digit])
        return self.env.reset(seed=self.seed, label=[self.digit])

    def _reset_env(self) -> None:
        import torch

        obs = self._env_reset()
        self._obs, self._canvas, self._pen, self._q = [], [], [], []
        self._actions, self._kinds, self._rewards = [], [], []
        self._terminal = False
        self._push(obs)
        self.gen = torch.Generator().manual_seed(self.seed)
        self._cache.clear()

    def _push(self, obs) -> None:
        import torch

        with torch.no_grad():
            q = self.qnet(obs)[0]
        self._obs.append(obs[0])
        self._q.append(q.detach().cpu().numpy().astype(np.float64))
        self._canvas.append(self.env.canvas[0].cpu().numpy())
        self._pen.append(tuple(int(v) for v in self.env.pen[0]) if self.mode == "pen" else None)

    def _apply(self, a: int, kind: str) -> None:
        import torch

        if self._terminal:
            raise ValueError(f"the episode is over (step {len(self._actions)}); move the step slider back "
                             "or start a new episode")
        obs, r, term, trunc, _ = self.env.step(torch.tensor([int(a)], device=self.env.device), validate=True)
        self._actions.append(int(a))
        self._kinds.append(kind)
        self._rewards.append(float(r[0]))
        self._terminal = bool(term[0] | trunc[0])
        self._push(obs)
        self._cache.pop(len(self._actions) - 1, None)

    def _cut(self, t: int) -> None:
        """Forget everything after step ``t``; the env is brought back to step ``t`` by replaying the
        first ``t`` actions (the dynamics are deterministic, and the env stays the only painter)."""
        import torch

        if t >= len(self._actions):
            return
        del self._actions[t:], self._kinds[t:], self._rewards[t:]
        del self._obs[t + 1:], self._canvas[t + 1:], self._pen[t + 1:], self._q[t + 1:]
        self._terminal = False
        self._env_reset()
        for a in self._actions:
            self.env.step(torch.tensor([a], device=self.env.device), validate=False)
        for k in [k for k in self._cache if k >= t]:
            del self._cache[k]

    def _agent_action(self, eps: float) -> tuple[int, str]:
        import torch

        from .nets import epsilon_greedy

        q = torch.from_numpy(self._q[-1])[None]
        a = int(epsilon_greedy(q, float(eps), self.gen)[0])
        return a, "greedy" if a == int(self._q[-1].argmax()) else "random"

    # -- what the buttons do ---------------------------------------------------------------------
    def restart(self) -> None:
        """A new episode on the chosen digit: the agent plays it to the end with ε; show step 0."""
        self._reset_env()
        self._run_agent(self.eps_w.value)
        self._show(0)

    def play(self, eps: float | None = None) -> None:
        """From the step shown, let the agent play on to the end (ε from the slider unless given).

        The actions recorded after this step are replaced; the view stays at this step.
        """
        eps = self.eps_w.value if eps is None else eps
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 <= eps <= 1.0:
            raise ValueError(f"eps must be a number in [0, 1], got {eps!r}")
        t = self.step
        self._cut(t)
        self._run_agent(eps)
        self._show(t)

    def play_greedy(self) -> None:
        """From the step shown, the greedy agent (ε = 0) plays on to the end."""
        self.play(eps=0.0)

    def _run_agent(self, eps: float) -> None:
        while not self._terminal:
            self._apply(*self._agent_action(eps))

    def take_action(self, a: int, kind: str = "hand") -> dict:
        """Take action ``a`` at the step shown (replacing what came after) and show the next step.

        Returns the transition: ``action``, ``q`` (its Q-value), ``greedy_action``, ``greedy_q``,
        ``reward``, ``bellman_target`` and ``td_error``.
        """
        n = self.env.num_actions
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not 0 <= int(a) < n:
            raise ValueError(f"invalid action {a!r}; expected an integer in [0, {n}) ({self.mode} mode)")
        t = self.step
        self._cut(t)
        self._apply(int(a), kind)
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
            pixel = int(self.row_w.value) * self.size + int(self.col_w.value)
            return int(self.ink_w.value) * self.size * self.size + pixel
        from .envs import pen_moves

        moves = pen_moves(self.env.pen_window).tolist()
        move = moves.index([int(self.dy_w.value), int(self.dx_w.value)])
        return int(self.level_w.value) * len(moves) + move

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
        return describe_action(a, self.mode, self.size, len(self.ink), self.env.pen_window)

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
            plot_q_heatmaps(q, self.size, levels, canvas=self._canvas[t], target=target, action=shown, ax=axes)
            q_axes = axes[n - levels + 1:]
            if greedy != shown:
                k, p = divmod(greedy, self.size * self.size)
                q_axes[k].add_patch(Rectangle((p % self.size - 0.5, p // self.size - 0.5), 1, 1, fill=False,
                                              edgecolor="white", linestyle="--", linewidth=2))
        else:
            n = (2 if target is not None else 1) + levels + 1
            fig, axes, cax = self._new_figure(n, cbar_at=n - 1, wspace=0.6)
            plot_pen_q(q, self.env.pen_window, levels, canvas=self._canvas[t], pen=self._pen[t], target=target,
                       action=shown, ax=axes)
            q_axes = axes[n - levels - 1:-1]
            m = (2 * self.env.pen_window + 1) ** 2
            if greedy != shown and greedy != len(q) - 1:
                from .envs import pen_moves

                dy, dx = (int(v) for v in pen_moves(self.env.pen_window)[greedy % m])
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


def plot_q_heatmaps(q, size: int, ink_levels: int = 3, canvas=None, target=None, action=None, ax=None,
                    title: str | None = None, annotate: bool | None = None, vmin=None, vmax=None):
    """Pixel-mode Q-values of one state as heat maps over the canvas (lessons 02, 03 and 08).

    ``q`` holds the ``(ink_levels - 1) * size**2`` Q-values of one observation in the env's action
    order (``k * size**2 + p`` paints pixel ``p`` with ink ``k + 1``). One heat map per ink level
    is drawn, with one shared colour scale; pixels that already hold ink on ``canvas`` get a dot.
    ``canvas`` and ``target`` (size x size), when given, are drawn first. ``action`` is outlined in
    red (default: the greedy action ``argmax q``; ``action=False`` outlines nothing).
    ``annotate`` writes the values in the cells (default: when ``size <= 4``). ``ax`` may pass a
    sequence of axes, one per panel. Returns the matplotlib figure.
    """
    from matplotlib.patches import Rectangle

    q = np.asarray(_to_np(q), dtype=np.float64)
    levels = ink_levels - 1
    if q.ndim != 1 or q.shape[0] != levels * size * size:
        raise ValueError(f"expected {levels * size * size} Q-values ((ink_levels - 1) * size**2) for one state, "
                         f"got shape {q.shape}")
    maps = q.reshape(levels, size, size)
    if action is None:
        action = int(q.argmax())
    if action is not False and not 0 <= int(action) < q.shape[0]:
        raise ValueError(f"action must lie in [0, {q.shape[0]}), got {action!r}")
    images = [(name, im) for name, im in (("canvas", canvas), ("target", target)) if im is not None]
    n_panels = len(images) + levels
    fig, axes = _panel_row(ax, n_panels, "canvas/target panels plus one per ink level")
    for a, (name, im) in zip(axes, images):
        _image_panel(a, im, name)
    lo = float(maps.min()) if vmin is None else vmin
    hi = float(maps.max()) if vmax is None else vmax
    annotate = size <= 4 if annotate is None else annotate
    ink = np.linspace(0.0, 1.0, ink_levels)
    painted = None if canvas is None else _to_np(canvas) > 0
    img = None
    for k in range(levels):
        a = axes[len(images) + k]
        img = a.imshow(maps[k], cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest")
        a.set_title(f"Q: paint ink {ink[k + 1]:g}", fontsize=9)
        a.set_xticks([])
        a.set_yticks([])
        if painted is not None:
            ys, xs = np.nonzero(painted)
            a.scatter(xs, ys, s=12 if size > 4 else 40, c="white", edgecolors="black", linewidths=0.5)
        if annotate:
            mid = (lo + hi) / 2
            for r in range(size):
                for c in range(size):
                    a.text(c, r + (0.28 if painted is not None and painted[r, c] else 0), f"{maps[k, r, c]:.2f}",
                           ha="center", va="center", fontsize=8,
                           color="black" if maps[k, r, c] > mid else "white")
        if action is not False and int(action) // (size * size) == k:
            p = int(action) % (size * size)
            a.add_patch(Rectangle((p % size - 0.5, p // size - 0.5), 1, 1, fill=False, edgecolor="red",
                                  linewidth=2.5))
    if img is not None and ax is None:
        fig.colorbar(img, ax=axes[len(images):], shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


__all__.append("plot_q_heatmaps")
