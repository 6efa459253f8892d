"""Plotting helpers of dqngen_lib.viz (lessons 05, 09, 10) and the pretrained checkpoint."""
import math
import os

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from dqngen_lib import viz  # noqa: E402
from dqngen_lib.envs import VecCanvasEnv, pen_moves  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _red_rectangles(ax):
    red = matplotlib.colors.to_rgb("red")
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_edgecolor()[:3] == red]


# -- canvas_figure ---------------------------------------------------------------------------------

def test_canvas_figure_draws_canvas_target_and_pen():
    canvas = np.zeros((8, 8), dtype=np.float32)
    canvas[2, 3] = 1.0
    target = np.eye(8, dtype=np.float32)
    fig = viz.canvas_figure(torch.as_tensor(canvas), target, pen=(5, 6), title="hello")
    axes = fig.axes
    assert [a.get_title() for a in axes] == ["canvas", "target"]
    np.testing.assert_array_equal(axes[0].images[0].get_array(), canvas)
    np.testing.assert_array_equal(axes[1].images[0].get_array(), target)
    (pen,) = _red_rectangles(axes[0])
    assert pen.get_xy() == (5.5, 4.5)           # column 6, row 5: the pixel's corner at (x - .5, y - .5)
    assert not _red_rectangles(axes[1])
    assert fig._suptitle.get_text() == "hello"


def test_canvas_figure_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(H, W\) canvas"):
        viz.canvas_figure(np.zeros((2, 8, 8)))
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="expected 2 axes"):
        viz.canvas_figure(np.zeros((8, 8)), np.zeros((8, 8)), ax=ax)


# -- plot_pen_q ------------------------------------------------------------------------------------

def _pen_q(window=2, levels=3, seed=0):
    n = levels * (2 * window + 1) ** 2 + 1
    return np.random.default_rng(seed).normal(size=n)


def test_plot_pen_q_grids_hold_q_by_move_and_level():
    q = _pen_q()
    fig = viz.plot_pen_q(q, window=2, ink_levels=3)
    grids, bars = fig.axes[:3], fig.axes[3]
    for lvl, ax in enumerate(grids):
        np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), q[lvl * 25:(lvl + 1) * 25].reshape(5, 5))
    heights = [r.get_height() for r in bars.patches]
    np.testing.assert_allclose(heights, [q[0:25].max(), q[25:50].max(), q[50:75].max(), q[75]])
    assert [t.get_text() for t in bars.get_xticklabels()] == ["pen up", "0.5", "1", "stop"]


def test_plot_pen_q_outlines_the_action_where_the_pen_would_go():
    q = _pen_q()
    moves = pen_moves(2).tolist()
    a = 2 * 25 + moves.index([-1, 2])           # ink 1, up one row, two columns right
    fig = viz.plot_pen_q(q, canvas=np.zeros((8, 8)), pen=(4, 4), target=np.ones((8, 8)), action=a)
    canvas_ax, target_ax, up, half, full, bars = fig.axes[:6]
    assert not _red_rectangles(up) and not _red_rectangles(half)
    (cell,) = _red_rectangles(full)
    assert cell.get_xy() == (2 - 0.5, -1 - 0.5)
    (arrow,) = _arrows(canvas_ax)
    assert arrow.xy == (6, 3) and arrow.xyann == (4, 4)   # from (row 4, col 4) to (row 3, col 6)
    assert bars.patches[2].get_linewidth() > bars.patches[0].get_linewidth()


def test_plot_pen_q_stop_and_default_greedy():
    q = _pen_q()
    q[-1] = 10.0                                 # stop is the greedy action
    fig = viz.plot_pen_q(q, canvas=np.zeros((8, 8)), pen=(1, 2))
    assert any(t.get_text() == "stop" for t in fig.axes[0].texts)
    bars = fig.axes[4]                            # canvas, three grids, the bars (then the colour bar)
    assert bars.patches[-1].get_linewidth() > bars.patches[0].get_linewidth()
    assert all(not _red_rectangles(ax) for ax in fig.axes[1:4])


def _arrows(ax):
    return [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]


def test_plot_pen_q_arrow_stops_at_the_border_like_the_pen():
    env = VecCanvasEnv(1, mode="pen", horizon=8, seed=0)
    env.reset(index=[0])
    a = 1 * 25 + pen_moves(2).tolist().index([2, -2])   # ink 0.5, two down, two left
    env.step([a])                                        # (4, 4) -> (6, 2)
    for expect_arrow in (True, False):
        before = tuple(int(v) for v in env.pen[0])
        fig = viz.plot_pen_q(_pen_q(), canvas=env.canvas[0], pen=before, action=a)
        env.step([a])
        after = tuple(int(v) for v in env.pen[0])
        arrows = _arrows(fig.axes[0])
        if expect_arrow:                                 # (6, 2) -> (7, 0): the wall cuts the move short
            assert after == (7, 0)
            (arrow,) = arrows
            assert arrow.xy == (after[1], after[0])
        else:                                            # (7, 0) into the corner: the pen stays, a dot
            assert after == before and not arrows
            assert fig.axes[0].get_lines()


def test_plot_pen_q_rejects_bad_input():
    with pytest.raises(ValueError, match="76 Q-values"):
        viz.plot_pen_q(np.zeros(75))
    with pytest.raises(ValueError, match=r"action must lie in \[0, 76\)"):
        viz.plot_pen_q(np.zeros(76), action=76)
    fig, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="expected 4 axes"):
        viz.plot_pen_q(np.zeros(76), ax=axes)


# -- plot_learning_curves --------------------------------------------------------------------------

def _metrics(n=6, scale=1.0, evals=True):
    steps = [1024 * (i + 1) for i in range(n)]
    at = steps[::2] if evals else []
    return {"curves": {"env_steps": steps, "seconds": [0.5 * (i + 1) for i in range(n)],
                       "episode_return": [scale * i / n for i in range(n)],
                       "loss": [float("nan")] + [1.0 / (i + 1) for i in range(1, n)]},
            "eval": {"env_steps": at, "seconds": [s / 2048 for s in at], "test_mse": [0.1 / (i + 1) for i in range(len(at))]}}


def test_learning_curves_plot_the_recorded_numbers():
    m = _metrics()
    fig = viz.plot_learning_curves(m)
    ret_ax, loss_ax, mse_ax = fig.axes
    (ret,) = ret_ax.get_lines()
    np.testing.assert_allclose(ret.get_xdata(), m["curves"]["env_steps"])
    np.testing.assert_allclose(ret.get_ydata(), m["curves"]["episode_return"])
    (loss,) = loss_ax.get_lines()
    assert len(loss.get_xdata()) == 5             # the NaN before learning starts is left out
    assert loss_ax.get_yscale() == "log" and mse_ax.get_yscale() == "log"
    mse, ref = mse_ax.get_lines()
    np.testing.assert_allclose(mse.get_ydata(), m["eval"]["test_mse"])
    assert ref.get_ydata()[0] == pytest.approx(0.0126)


def test_learning_curves_overlay_runs_smooth_and_use_seconds():
    runs = {"a": _metrics(), "b": _metrics(scale=2.0, evals=False)}
    fig = viz.plot_learning_curves(runs, x="seconds", smooth=3, reference=None)
    ret_ax = fig.axes[0]
    a, b = ret_ax.get_lines()
    assert [a.get_label(), b.get_label()] == ["a", "b"]
    np.testing.assert_allclose(a.get_xdata(), runs["a"]["curves"]["seconds"])
    y = np.array(runs["b"]["curves"]["episode_return"])
    expected = [y[max(0, i - 2):i + 1].mean() for i in range(len(y))]
    np.testing.assert_allclose(b.get_ydata(), expected)
    assert [t.get_text() for t in fig.axes[-1].get_legend().get_texts()] == ["a"]   # only a has evaluations


def test_learning_curves_without_evaluations_have_two_panels_and_json_nones():
    m = _metrics(evals=False)
    m["curves"]["loss"][0] = None                 # metrics.json writes NaN as null
    fig = viz.plot_learning_curves(m)
    assert len(fig.axes) == 2


def test_learning_curves_reject_bad_input():
    with pytest.raises(ValueError, match="x must be"):
        viz.plot_learning_curves(_metrics(), x="updates")
    with pytest.raises(ValueError, match="smooth"):
        viz.plot_learning_curves(_metrics(), smooth=0)
    with pytest.raises(ValueError, match="run 'b'"):
        viz.plot_learning_curves({"a": _metrics(), "b": {"loss": []}})
    with pytest.raises(ValueError, match="expected a metrics dict"):
        viz.plot_learning_curves([1, 2, 3])


def test_learning_curves_of_a_real_training_run():
    from dqngen_lib.config import TrainConfig
    from dqngen_lib.train import train

    cfg = TrainConfig(num_envs=16, learning_starts=64, batch_size=32, buffer_size=512, log_every=32, eval_every=128,
                      eval_images=20, channels=8, device="cpu")
    res = train(cfg, steps=256, final_eval=False)
    fig = viz.plot_learning_curves(res, label="tiny")
    (ret,) = fig.axes[0].get_lines()
    assert list(ret.get_xdata()) == res.metrics["curves"]["env_steps"]
    assert len(fig.axes[2].get_lines()[0].get_ydata()) == len(res.metrics["eval"]["test_mse"]) == 2


# -- plot_episode, figure_png ----------------------------------------------------------------------

def test_plot_episode_shows_the_recorded_canvases_and_target():
    from dqngen_lib.nets import build_qnet
    from dqngen_lib.rollout import epsilon_greedy_policy, play

    env = VecCanvasEnv(2, horizon=6, seed=0)
    torch.manual_seed(0)
    net = build_qnet("conv", env.obs_shape, env.num_actions, channels=8)
    ep = play(env, epsilon_greedy_policy(net, 0.5, torch.Generator().manual_seed(1)), index=[3, 4], seed=0, record=True)
    fig = viz.plot_episode(ep, i=1, steps=[0, 3, 6])
    shown = [a for a in fig.axes if a.images]
    assert [a.get_title() for a in shown] == ["t=0", "t=3", "t=6", "target"]
    np.testing.assert_array_equal(shown[1].images[0].get_array(), ep["canvas"][3, 1])
    np.testing.assert_array_equal(shown[3].images[0].get_array(), ep["target"][1])
    with pytest.raises(ValueError, match=r"steps must lie in \[0, 6\]"):
        viz.plot_episode(ep, steps=[7])


def test_plot_episode_of_an_explorer_record():
    from dqngen_lib.config import TrainConfig
    from dqngen_lib.explorer import QExplorer
    from dqngen_lib.nets import build_qnet

    cfg = TrainConfig(horizon=5, channels=8, device="cpu")
    torch.manual_seed(0)
    net = build_qnet("conv", (3, 8, 8), 128, channels=8)
    ex = QExplorer(net, cfg, digit=2)
    ep = ex.episode
    fig = viz.plot_episode(ep)
    shown = [a for a in fig.axes if a.images]
    assert [a.get_title() for a in shown] == [f"t={t}" for t in range(6)] + ["target"]
    np.testing.assert_array_equal(shown[-1].images[0].get_array(), ex.target)
    np.testing.assert_array_equal(shown[5].images[0].get_array(), ep["canvas"][5])


def test_figure_png_is_a_png_of_the_figure():
    fig = viz.canvas_figure(np.zeros((8, 8)))
    png = viz.figure_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)      # closed
    other = viz.figure_png(viz.canvas_figure(np.ones((8, 8))))
    assert other != png


# -- the checkpoint that ships with the course ---------------------------------------------------

def test_pretrained_checkpoint_is_small_and_paints_well():
    from dqngen_lib.checkpoint import load_pretrained, pretrained_path
    from dqngen_lib.rollout import evaluate_reconstruction

    path = pretrained_path("pixel")
    assert os.path.getsize(path) < 2 * 1024 * 1024
    ck = load_pretrained("pixel", device="cpu")
    assert (ck.cfg.task, ck.cfg.mode) == ("reconstruct", "pixel")
    ev = evaluate_reconstruction(ck.qnet, ck.cfg, "test", max_images=100)
    # a trained painter removes most of the error of a blank canvas on held-out digits
    assert ev["test_mse"] < 0.1 * ev["blank_mse"], ev
    assert ev["mean_return"] > 0.9, ev
    assert math.isfinite(ck.metrics["final"]["test_mse"])
    with pytest.raises(ValueError, match="unknown pretrained checkpoint 'nope'"):
        pretrained_path("nope")


def test_a_band_ends_at_the_final_evaluation_the_table_shows():
    """When the final evaluation (all test digits) falls on the step of the last curve point (300 digits), the
    band ends at the final number, so legends and tables agree."""
    from dqngen_lib.viz import _curve

    run = {"eval": {"env_steps": [100, 200], "test_mse": [0.5, 0.4]}, "final": {"env_steps": 200, "test_mse": 0.3}}
    assert _curve(run, "test_mse", "env_steps", "eval").tolist() == [[100, 0.5], [200, 0.3]]
    run["final"]["env_steps"] = 250
    assert _curve(run, "test_mse", "env_steps", "eval").tolist() == [[100, 0.5], [200, 0.4], [250, 0.3]]


@pytest.mark.parametrize("which", ["pixel", "pen"])
def test_the_colour_bar_has_its_own_axis_and_covers_no_map(which):
    """The colour bar sits beside the maps, also after tight_layout (which used to move it onto the values and
    warn that the figure was not compatible)."""
    import warnings

    import numpy as np

    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if which == "pixel":
            fig = viz.plot_q_heatmaps(rng.random(9), 3, 2, canvas=np.zeros((3, 3)), target=np.eye(3))
        else:
            fig = viz.plot_pen_q(rng.random(76), 2, 3, canvas=np.zeros((8, 8)), pen=(3, 3), target=np.eye(8))
        fig.tight_layout()
    fig.canvas.draw()
    bars = [c for a in fig.axes for c in a.child_axes]            # the bar's own axis, inset beside the last map
    maps = [a for a in fig.axes if a.images and a not in bars]
    assert len(bars) == 1
    cb = bars[0].get_window_extent()
    for a in maps:
        box = a.get_window_extent()
        assert cb.x0 >= box.x1 - 0.5 or cb.x1 <= box.x0 + 0.5 or cb.y0 >= box.y1 or cb.y1 <= box.y0, a.get_title()
