"""Pictures of canvases, digits, Q-values and learning curves (lessons 00, 01, 03, 05, 09 and 10).

Every function returns a matplotlib figure (or animation): ``show_images``, ``canvas_figure``,
``plot_q_heatmaps`` (pixel mode), ``plot_pen_q`` (pen mode), ``plot_learning_curves``,
``plot_episode``, ``episode_animation``, ``plot_bands`` (runs over seeds); ``figure_png`` turns a
figure into PNG bytes (the explorer of lesson 10 shows those). Action indices are decoded by the env's ``ActionCodec``.
"""
from __future__ import annotations

import numpy as np

from .data import ink_values
from .envs import ActionCodec, pen_moves
from .results import as_runs_list, summary
from .utils import is_int

__all__ = ["show_images", "canvas_figure", "plot_q_heatmaps", "plot_pen_q", "plot_record_step", "plot_learning_curves", "plot_episode",
           "episode_animation", "figure_png", "plot_bands"]


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
# More pictures: one canvas, pen-mode Q-values, learning curves, an episode (lessons 05, 09, 10)
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
    """The canvas (and, when given, the target beside it) as a matplotlib figure (lesson 10).

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
               ax=None, title: str | None = None, vmin=None, vmax=None, colorbar: bool = True):
    """Pen-mode Q-values of one state: one grid of moves per pen level, and bars (lessons 07 and 10).

    ``q`` holds the ``L * (2w+1)**2 + 1`` Q-values of one observation in the env's action order
    (``level * M + move``, ``level 0`` = pen up, the last action = stop). For each level a
    ``(2w+1) x (2w+1)`` heat map places the Q-value of every move ``(dy, dx)`` where the move
    would take the pen (the centre, marked ``+``, is "stay"); a bar chart compares the best move
    of each level with ``stop``. With ``canvas`` (and ``pen``, ``target``) the canvas is drawn
    first, with an arrow for ``action`` (red: pen down, blue dashed: pen up). ``action`` defaults
    to the greedy one (``action=False``: none). Returns the matplotlib figure.
    """
    from matplotlib.patches import Rectangle

    q = np.asarray(_to_np(q), dtype=np.float64)
    codec = ActionCodec("pen", 2 * int(window) + 1, ink_levels, window)
    side, m, n_act = codec.side, codec.num_moves, codec.num_actions
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
    names = codec.level_names()
    stop = codec.stop
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
    if img is not None and colorbar:     # one colour scale for the level grids (the caller may draw its own)
        _side_colorbar(fig, img, axes[len(images) + ink_levels - 1])
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
    """Learning curves of one run or several (lessons 05, 08, 09 and 10).

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
    if not is_int(smooth, 1):
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


def plot_episode(ep: dict, i: int = 0, steps=None, ncols: int = 9, scale: float = 1.1, title: str | None = None):
    """Canvases along one recorded episode, with the target (lessons 07, 10).

    ``ep`` is a record of ``rollout.play(..., record=True)`` (``i`` picks the canvas of the batch) or
    ``QExplorer.episode``; ``steps`` the time steps to show (default: about
    eight evenly spaced ones, the first and the last included). In pen mode the pen's position at
    each step shown is outlined in red. ``title`` names the figure. Returns the figure.
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
    fig = show_images(pics, titles=titles, ncols=min(ncols, len(pics)), scale=scale)
    if ep.get("pen") is not None:
        from matplotlib.patches import Rectangle

        pen = np.asarray(ep["pen"])
        pen = pen if single else pen[:, i]
        for ax, s in zip(fig.axes, steps):
            y, x = (int(v) for v in pen[int(s)])
            ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.5))
    if title:
        fig.suptitle(title, fontsize=10, x=0.01, ha="left", y=1.12)    # above the step titles
    return fig


def episode_animation(episodes, titles=None, fps: int = 6, scale: float = 1.0, path: str | None = None):
    """An animation of recorded episodes, one panel per canvas, side by side (lessons 07 and 09).

    ``episodes`` is a record of ``rollout.play(..., record=True)`` (``canvas`` (T+1, N, H, W),
    ``pen`` in pen mode) or a list of them (e.g. the agent's strokes beside a planner's); an
    episode that ends sooner holds its last frame. ``titles``: one per panel. Returns the
    ``FuncAnimation`` (show it with ``IPython.display.HTML(anim.to_jshtml())``); with ``path`` it
    is also saved (``.gif`` with Pillow).
    """
    import os

    import matplotlib.pyplot as plt
    from matplotlib import animation

    eps = [episodes] if isinstance(episodes, dict) else list(episodes)
    if not eps or any(not isinstance(e, dict) or "canvas" not in e for e in eps):
        raise ValueError("expected recorded episodes: dicts from rollout.play(..., record=True) with 'canvas'")
    frames, pens = [], []
    for e in eps:
        c = np.asarray(e["canvas"])
        frames += [c[:, i] for i in range(c.shape[1])]
        p = e.get("pen")
        pens += [None if p is None else np.asarray(p)[:, i] for i in range(c.shape[1])]
    n, length = len(frames), max(len(f) for f in frames)
    if titles is not None and len(titles) != n:
        raise ValueError(f"expected {n} titles (one per panel), got {len(titles)}")
    fig, axes = plt.subplots(1, n, figsize=(scale * 1.1 * n, scale * 1.4), squeeze=False)
    ims, marks = [], []
    for i, ax in enumerate(axes[0]):
        ax.axis("off")
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
        ims.append(ax.imshow(frames[i][0], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest"))
        marks.append(None if pens[i] is None else ax.plot([], [], "s", ms=4 * scale, mfc="none", mec="red")[0])
    label = fig.suptitle("t = 0", fontsize=9)

    def draw(t):
        for i, im in enumerate(ims):
            k = min(t, len(frames[i]) - 1)
            im.set_data(frames[i][k])
            if marks[i] is not None:
                marks[i].set_data([pens[i][k, 1]], [pens[i][k, 0]])
        label.set_text(f"t = {t}")
        return ims + [m for m in marks if m is not None] + [label]

    anim = animation.FuncAnimation(fig, draw, frames=length, interval=1000 // fps, blit=False)
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
        anim.save(path, writer=animation.PillowWriter(fps=fps))
    plt.close(fig)
    return anim


def figure_png(fig, dpi: int = 72, close: bool = True) -> bytes:
    """PNG bytes of a matplotlib figure (for ``ipywidgets.Image``); closes it unless ``close=False``."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return buf.getvalue()


def plot_q_heatmaps(q, size: int, ink_levels: int = 3, canvas=None, target=None, action=None, ax=None,
                    title: str | None = None, annotate: bool | None = None, vmin=None, vmax=None,
                    colorbar: bool = True):
    """Pixel-mode Q-values of one state as heat maps over the canvas (lessons 02, 03 and 10).

    ``q`` holds the ``(ink_levels - 1) * size**2`` Q-values of one observation in the env's action
    order (``(k - 1) * size**2 + p`` paints pixel ``p`` with ink ``k``, lesson 01's numbering). One heat map per ink level
    is drawn, with one shared colour scale; pixels that already hold ink on ``canvas`` get a dot.
    ``canvas`` and ``target`` (size x size), when given, are drawn first. ``action`` is outlined in
    red (default: the greedy action ``argmax q``; ``action=False`` outlines nothing).
    ``annotate`` writes the values in the cells (default: when ``size <= 4``). ``ax`` may pass a
    sequence of axes, one per panel; ``colorbar=False`` leaves the colour bar to the caller.
    Returns the matplotlib figure.
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
    ink = ink_values(ink_levels)
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
    if img is not None and colorbar:     # one colour scale for the maps (the caller may draw its own)
        _side_colorbar(fig, img, axes[-1])
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _side_colorbar(fig, img, ax):
    """A colour bar on its own thin axis just right of ``ax``: it never covers a map's values, and a later
    ``tight_layout`` leaves it alone (a bar that steals space from the maps is moved onto them)."""
    cax = ax.inset_axes([1.05, 0.0, 0.06, 1.0])
    fig.colorbar(img, cax=cax)
    cax.tick_params(labelsize=8)
    return cax


def _row_with_colorbar(n: int, cbar_at: int | None = None, wspace: float = 0.3):
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


def plot_record_step(record, t: int | None = None):
    """The picture of step ``t`` (default: the one shown) of an ``EpisodeRecord`` (lesson 10's explorer):
    canvas, target, Q-values, with the colour bar on its own axis; a matplotlib Figure.

    The action taken at this step is outlined in red, the greedy one (when different) in white dashes.
    """
    from matplotlib.patches import Rectangle

    t = record.step if t is None else int(t)
    ep = record.episode
    q = ep["q"][t]
    taken = int(ep["actions"][t]) if t < ep["length"] else None
    greedy = int(q.argmax())
    shown = greedy if taken is None else taken
    levels = len(record.ink)
    target, size, canvas = ep["target"], record.size, ep["canvas"][t]
    if record.mode == "pixel":
        n = (2 if target is not None else 1) + levels - 1
        fig, axes, cax = _row_with_colorbar(n)
        plot_q_heatmaps(q, size, levels, canvas=canvas, target=target, action=shown, ax=axes, colorbar=False)
        q_axes = axes[n - levels + 1:]
        if greedy != shown:
            k, p = divmod(greedy, size * size)
            q_axes[k].add_patch(Rectangle((p % size - 0.5, p // size - 0.5), 1, 1, fill=False,
                                          edgecolor="white", linestyle="--", linewidth=2))
    else:
        window = record.env.pen_window
        n = (2 if target is not None else 1) + levels + 1
        fig, axes, cax = _row_with_colorbar(n, cbar_at=n - 1, wspace=0.6)
        plot_pen_q(q, window, levels, canvas=canvas, pen=tuple(int(v) for v in ep["pen"][t]), target=target, action=shown,
                   ax=axes, colorbar=False)
        q_axes = axes[n - levels - 1:-1]
        m = (2 * window + 1) ** 2
        if greedy != shown and greedy != len(q) - 1:
            d = record.env.codec.decode(greedy)
            q_axes[greedy // m].add_patch(Rectangle((d["dx"] - 0.5, d["dy"] - 0.5), 1, 1, fill=False,
                                                    edgecolor="white", linestyle="--", linewidth=2))
    fig.colorbar(q_axes[-1].images[0], cax=cax)
    cax.tick_params(labelsize=8)
    what = (f"digit #{record.digit} (a {ep['label']})" if record.task == "reconstruct" else f"class {record.digit}")
    fig.suptitle(f"{what}, step {t} of {ep['length']}", fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------------
# Runs over seeds as bands (lessons 03-09)
# ---------------------------------------------------------------------------------------------

def _curve(run: dict, metric: str, x: str, source: str):
    ev = run.get(source, {})
    xs, ys = ev.get(x, []), ev.get(metric, [])
    pts = [(float(a), float(b)) for a, b in zip(xs, ys) if a is not None and b is not None]
    fin = run.get("final", {})
    if source == "eval" and fin.get(metric) is not None and fin.get(x) is not None:
        fx = float(fin[x])
        if pts and fx == pts[-1][0]:
            pts[-1] = (fx, float(fin[metric]))      # the final evaluation (all test digits) is the table's number
        elif not pts or fx > pts[-1][0]:
            pts.append((fx, float(fin[metric])))
    return np.array(pts).reshape(-1, 2)


def plot_bands(results, metric: str = "test_mse", x: str = "env_steps", ax=None, logy: bool = True,
               references: dict | None = None, title: str | None = None, source: str = "eval",
               ylabel: str | None = None):
    """Curves of several ``SeedRuns``: the mean over seeds as a line, the band from the lowest to the
    highest seed shaded (curves are interpolated onto a common grid). ``source`` is the record that
    holds the curve (``"eval"``: the held-out evaluations; ``"probes"``: what an experiment measured
    during training); the legend gives the final mean ± sd. ``references``: horizontal lines
    ``{label: value}`` (planners, the perfect painter). Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter

    if x not in ("env_steps", "seconds"):
        raise ValueError(f"x must be 'env_steps' or 'seconds', got {x!r}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
    else:
        fig = ax.figure
    for i, r in enumerate(as_runs_list(results)):
        curves = [c for c in (_curve(run, metric, x, source) for run in r.runs) if len(c)]
        if not curves:
            continue
        hi = min(c[-1, 0] for c in curves)
        grid = np.unique(np.concatenate([c[:, 0] for c in curves]))
        grid = grid[grid <= hi]
        ys = np.stack([np.interp(grid, c[:, 0], c[:, 1]) for c in curves])
        m, sd = summary([c[-1, 1] for c in curves])
        ax.plot(grid, ys.mean(0), color=f"C{i}", label=f"{r.label}: {m:.4g} ± {sd:.2g} ({len(curves)} seeds)")
        ax.fill_between(grid, ys.min(0), ys.max(0), color=f"C{i}", alpha=0.2, linewidth=0)
    for j, (name, v) in enumerate((references or {}).items()):
        ax.axhline(v, color="gray", ls=["--", ":", "-.", (0, (1, 3))][j % 4], lw=1, label=f"{name}: {v:.4g}")
    if logy:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g"))
    ax.set_xlabel("environment steps" if x == "env_steps" else "seconds of training")
    ax.set_ylabel(ylabel or {"test_mse": "held-out test MSE per pixel"}.get(metric, metric))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
