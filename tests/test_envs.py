import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

import dqngen_lib  # noqa: F401  (registers the env)
from dqngen_lib.data import load_digits
from dqngen_lib.envs import (ENV_ID, ActionCodec, CanvasEnv, VecCanvasEnv, num_actions, pen_moves, pen_transition,
                             pixel_transition, reconstruction_reward)

MODES = ["pixel", "pen"]


def test_pixel_transition_paints_one_pixel_with_the_chosen_ink():
    ink = torch.tensor([0.0, 0.5, 1.0])
    canvas = torch.zeros(3, 8, 8)
    new = pixel_transition(canvas, torch.tensor([0, 64 + 9, 127]), ink)
    assert new[0, 0, 0] == 0.5 and new[1, 1, 1] == 1.0 and new[2, 7, 7] == 1.0
    assert new.sum() == 2.5 and canvas.sum() == 0  # a new tensor, input untouched


def test_pen_moves_paint_the_segment_and_stop_at_the_border():
    ink = torch.tensor([0.0, 0.5, 1.0])
    moves = pen_moves(2)
    m = len(moves)
    right2 = int(((moves[:, 0] == 0) & (moves[:, 1] == 2)).nonzero())
    canvas, pen = torch.zeros(3, 8, 8), torch.tensor([[4, 4], [4, 7], [0, 0]])
    actions = torch.tensor([2 * m + right2, 1 * m + right2, 3 * m])  # ink 1 right; ink .5 into wall; stop
    new, new_pen, stopped = pen_transition(canvas, pen, actions, ink, 2)
    assert new[0, 4, 4:7].tolist() == [1.0, 1.0, 1.0] and new[0].sum() == 3.0
    assert new_pen[0].tolist() == [4, 6]
    assert new_pen[1].tolist() == [4, 7] and new[1, 4, 7] == 0.5 and new[1].sum() == 0.5
    assert stopped.tolist() == [False, False, True] and new_pen[2].tolist() == [0, 0] and new[2].sum() == 0
    up, up_pen, _ = pen_transition(canvas, pen, torch.tensor([right2, right2, right2]), ink, 2)
    assert up.sum() == 0 and up_pen[0].tolist() == [4, 6]


@pytest.mark.parametrize("mode", MODES)
def test_rewards_telescope_to_fraction_of_error_removed(mode):
    env = VecCanvasEnv(256, mode=mode, seed=3)
    env.reset()
    total = torch.zeros(256)
    g = torch.Generator().manual_seed(0)
    done = torch.zeros(256, dtype=torch.bool)
    remaining = torch.zeros(256)
    stopped = torch.zeros(256, dtype=torch.bool)
    for _ in range(env.horizon):
        _, r, term, trunc, _ = env.step(torch.randint(env.num_actions, (256,), generator=g))
        total += torch.where(done, torch.zeros_like(r), r)
        err = (env.canvas - env.target).pow(2).flatten(1).sum(1) / env.target.pow(2).flatten(1).sum(1)
        remaining = torch.where(done, remaining, err)
        stopped |= term & ~done
        done |= term | trunc
    assert done.all()
    if mode == "pen":
        assert stopped.any(), "some pen episodes should have stopped early"
    assert torch.allclose(total, 1 - remaining, atol=1e-5)


def test_reward_of_painting_the_target_exactly_sums_to_one():
    d = load_digits(ink_levels=3)  # quantised targets can be painted exactly
    env = VecCanvasEnv(1, images=d.x_train, labels=d.y_train, seed=0, horizon=64)
    env.reset(index=[5])
    target = env.target[0].flatten()
    total = 0.0
    for p in torch.nonzero(target).flatten().tolist():
        k = int(round(float(target[p]) * 2)) - 1
        _, r, _, _, _ = env.step([k * 64 + p])
        total += float(r[0])
    assert abs(total - 1.0) < 1e-5
    assert float(reconstruction_reward(env.canvas, env.canvas, env.target)[0]) == 0.0


@pytest.mark.parametrize("mode", MODES)
def test_horizon_truncates_and_reset_done_restarts_only_finished_canvases(mode):
    env = VecCanvasEnv(4, mode=mode, horizon=3, seed=1)
    env.reset()
    before = env.target_index.clone()
    first_action = 0 if mode == "pixel" else 25 + 12  # paint a pixel / pen down on the spot
    for i in range(3):
        _, _, term, trunc, _ = env.step(torch.full((4,), first_action))
    assert trunc.all() and not term.any() and (env.t == 3).all()
    done = torch.tensor([True, False, True, False])
    obs = env.reset_done(done)
    assert env.t.tolist() == [0, 3, 0, 3]
    assert env.canvas[0].sum() == 0 and env.canvas[1].sum() > 0
    assert torch.equal(env.target_index[1::2], before[1::2])
    assert obs[:, -1, 0, 0].tolist() == [0.0, 1.0, 0.0, 1.0]  # the time plane


def test_stop_action_terminates_in_pen_mode():
    env = VecCanvasEnv(2, mode="pen", seed=0)
    env.reset()
    _, r, term, trunc, _ = env.step([env.num_actions - 1, 0])
    assert term.tolist() == [True, False] and not trunc.any() and r[0] == 0


def test_observation_layout_and_shapes():
    env = VecCanvasEnv(5, mode="pen", seed=0)
    obs = env.reset()
    assert env.channel_names == ["canvas", "target", "pen", "time"]
    assert obs.shape == (5, 4, 8, 8) and obs.dtype == torch.float32
    assert torch.equal(obs[:, 1], env.target)
    assert (obs[:, 2].flatten(1).sum(1) == 1).all() and (obs[:, 2, 4, 4] == 1).all()
    assert env.num_actions == num_actions("pen", 8, 3, 2) == 3 * 25 + 1
    assert VecCanvasEnv(2).num_actions == 128


def test_same_seed_same_episodes_and_different_seed_differs():
    a, b, c = (VecCanvasEnv(16, seed=s) for s in (7, 7, 8))
    assert torch.equal(a.reset(), b.reset())
    c.reset()
    assert not torch.equal(a.target_index, c.target_index)


def test_generate_task_uses_a_pluggable_potential():
    calls = []

    def ink_potential(canvas, labels, latent):  # toy potential: total ink, scaled by the class
        calls.append(labels.clone())
        return canvas.flatten(1).sum(1) * (labels.float() + 1)

    env = VecCanvasEnv(3, task="generate", potential=ink_potential, latent_dim=2, seed=0)
    obs = env.reset(label=[0, 4, 9])
    assert env.channel_names[:2] == ["canvas", "class0"] and env.channel_names[11:13] == ["latent0", "latent1"]
    assert obs.shape == (3, 1 + 10 + 2 + 1, 8, 8)
    assert obs[1, 1 + 4].min() == 1 and obs[1, 1:11].sum() == 64
    assert ((obs[:, 11:13] >= -1) & (obs[:, 11:13] <= 1)).all()
    _, r, _, _, _ = env.step([64 + 3, 64 + 3, 3])  # ink 1, ink 1, ink 0.5
    assert torch.allclose(r, torch.tensor([1.0, 5.0, 5.0]))
    with pytest.raises(ValueError, match="potential"):
        VecCanvasEnv(2, task="generate")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        env.reset(label=[0, 1, 10])


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "brush"}, "unknown mode 'brush'; expected one of 'pixel', 'pen'"),
    ({"task": "classify"}, "unknown task 'classify'"),
    ({"num_envs": 0}, "num_envs must be an integer >= 1, got 0"),
    ({"horizon": -1}, "horizon"),
    ({"images": np.zeros((4, 8, 7))}, r"shape \(M, H, H\)"),
    ({"size": 28}, "size 28 does not match"),
    ({"ink_levels": 1}, "ink_levels must be an integer >= 2, got 1"),
    ({"latent_dim": -1}, "latent_dim must be an integer >= 0, got -1"),
    ({"images": np.full((4, 8, 8), 5.0)}, r"image values must lie in \[0, 1\], got values in \[5, 5\]"),
    ({"images": np.full((4, 8, 8), np.nan)}, "images must be finite, got 256 NaN"),
    ({"images": np.full((4, 8, 8), 255, dtype=np.uint8)}, "floats in \\[0, 1\\], got torch.uint8 values up to 255"),
    ({"images": np.array([[["a"]]], dtype=object)}, "numeric array"),
    ({"images": np.zeros((3, 8, 8)), "labels": [0, 1, 0.7]}, "labels must be integers"),
    ({"device": "meta"}, "device 'meta' is not supported"),
    ({"device": "gpu"}, "unknown device 'gpu'"),
])
def test_bad_construction_raises_value_error_naming_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VecCanvasEnv(**{"num_envs": 2, **kwargs})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when there is no GPU")
def test_cuda_without_a_gpu_is_named():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        VecCanvasEnv(2, device="cuda")


def test_bad_resets_raise_value_errors():
    env = VecCanvasEnv(2, seed=0)
    with pytest.raises(ValueError, match="target indices must be integers"):
        env.reset(index=[2.7, 1])
    with pytest.raises(ValueError, match=r"must lie in \[0, 899\)"):
        env.reset(index=[0, 899])
    with pytest.raises(ValueError, match="expected 2 target indices"):
        env.reset(index=[0])
    with pytest.raises(ValueError, match="reconstruct task takes index"):
        env.reset(label=[1, 2])
    env.reset()
    for bad in (torch.ones(3, dtype=torch.bool), torch.ones(2), [True, False]):
        with pytest.raises(ValueError, match=r"done must be a bool tensor of shape \(2,\)"):
            env.reset_done(bad)
    gym_env = CanvasEnv()
    for bad in (2.7, "3", True):
        with pytest.raises(ValueError, match="reset option 'index' must be an integer"):
            gym_env.reset(seed=0, options={"index": bad})
    with pytest.raises(ValueError, match="size must be an integer >= 1, got 0"):
        gym.make(ENV_ID, size=0)


def test_invalid_actions_raise_value_error():
    env = VecCanvasEnv(2, seed=0)
    env.reset()
    with pytest.raises(ValueError, match=r"invalid action 128 for canvas 1; expected an integer in \[0, 128\)"):
        env.step([0, 128])
    with pytest.raises(ValueError, match="invalid action -1"):
        env.step([-1, 0])
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        env.step([0, 1, 2])
    with pytest.raises(ValueError, match="integers"):
        env.step([0.5, 1.0])
    with pytest.raises(ValueError, match=r"target indices must lie in \[0, 899\)"):
        env.reset(index=[0, 899])


@pytest.mark.parametrize("mode", MODES)
def test_gymnasium_and_batched_env_give_identical_trajectories(mode):
    genv = gym.make(ENV_ID, mode=mode)
    d = load_digits(ink_levels=None)
    venv = VecCanvasEnv(1, mode=mode, images=d.x_train, labels=d.y_train)
    rng = np.random.default_rng(0)
    for episode in range(3):
        gobs, _ = genv.reset(seed=100 + episode)
        vobs = venv.reset(seed=100 + episode)
        assert np.array_equal(gobs, vobs[0].numpy())
        done = False
        while not done:
            a = int(rng.integers(venv.num_actions))
            gobs, gr, gterm, gtrunc, _ = genv.step(a)
            vobs, vr, vterm, vtrunc, _ = venv.step([a])
            assert np.array_equal(gobs, vobs[0].numpy())
            assert gr == pytest.approx(float(vr[0]), abs=0) and gterm == bool(vterm[0]) and gtrunc == bool(vtrunc[0])
            done = gterm or gtrunc


@pytest.mark.parametrize("mode", MODES)
def test_gymnasium_env_checker_passes(mode):
    from gymnasium.utils.env_checker import check_env

    env = gym.make(ENV_ID, mode=mode, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        check_env(env.unwrapped, skip_render_check=False)


@pytest.mark.parametrize("mode", MODES)
def test_stable_baselines3_env_checker_passes(mode):
    from stable_baselines3.common.env_checker import check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(CanvasEnv(mode=mode), warn=True)
    problems = [str(w.message) for w in caught if "stable_baselines3" in (w.filename or "")
                and "image" not in str(w.message).lower()]
    assert not problems, problems


def test_gym_env_errors_and_render():
    env = CanvasEnv(mode="pixel", render_mode="rgb_array")
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    obs, info = env.reset(seed=0, options={"index": 3})
    assert info["target_index"] == 3 and obs.shape == (3, 8, 8)
    for bad in (128, -1, 1.5, "a", True):
        with pytest.raises(ValueError, match="invalid action"):
            env.step(bad)
    env.step(np.int64(64))
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape == (64, 64 + 4 + 64, 3)
    assert frame[0:8, 0:8].max() < 255 and frame[8:, :64].min() == 255 or frame[0:8, 0:8].mean() < 255
    with pytest.raises(ValueError, match="reset options"):
        env.reset(options={"colour": 1})
    with pytest.raises(ValueError, match="render_mode"):
        CanvasEnv(render_mode="human")
    with pytest.raises(ValueError, match="data_path"):
        CanvasEnv(size=28)
    pen = CanvasEnv(mode="pen", render_mode="rgb_array")
    pen.reset(seed=0)
    frame = pen.render()
    assert (frame[32:40, 32:40] == [220, 30, 30]).all(axis=-1).any()  # the pen at (4, 4) in red


def test_registered_kwargs_reach_the_env():
    env = gym.make(ENV_ID, mode="pen", horizon=10, ink_levels=2, pen_window=1)
    u = env.unwrapped
    assert (u.vec.mode, u.vec.horizon, u.vec.ink_levels, u.action_space.n) == ("pen", 10, 2, 2 * 9 + 1)


# -- the action codec, saving and restoring, masked steps -------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_action_codec_round_trips_every_action(mode):
    from dqngen_lib.envs import ActionCodec

    codec = ActionCodec(mode, 8, ink_levels=3, pen_window=2)
    assert codec.num_actions == num_actions(mode, 8, 3, 2)
    for a in range(codec.num_actions):
        d = codec.decode(a)
        if d.get("stop"):
            assert mode == "pen" and a == codec.stop and codec.encode(stop=True) == a
            continue
        keys = ("row", "col", "ink") if mode == "pixel" else ("dy", "dx", "level")
        assert codec.encode(**{k: d[k] for k in keys}) == a
    assert ActionCodec("pixel", 8).describe(64 + 9) == "paint (1, 1) with ink 1"
    assert ActionCodec("pen", 8).describe(2 * 25 + 14) == "ink 1, move (+0, +2)"
    assert ActionCodec("pen", 8).describe(12) == "pen up, move (+0, +0)"
    assert ActionCodec("pen", 8).describe(75) == "stop"
    for bad in (-1, codec.num_actions, 2.5, True, "3"):
        with pytest.raises(ValueError, match="invalid action"):
            codec.decode(bad)
    with pytest.raises(ValueError, match="must be an integer in"):
        codec.encode(**({"row": 8, "col": 0, "ink": 1} if mode == "pixel" else {"dy": 3, "dx": 0, "level": 1}))


def test_codec_agrees_with_the_dynamics():
    from dqngen_lib.envs import ActionCodec

    codec = ActionCodec("pen", 8)
    env = VecCanvasEnv(1, mode="pen", seed=0)
    env.reset()
    env.step([codec.encode(dy=-2, dx=1, level=2)])
    assert env.pen[0].tolist() == [2, 5] and env.canvas[0, 2, 5] == 1.0 and env.canvas[0, 4, 4] == 1.0
    pix = VecCanvasEnv(1, seed=0)
    pix.reset()
    pix.step([ActionCodec("pixel", 8).encode(row=3, col=6, ink=1)])
    assert pix.canvas[0, 3, 6] == 0.5 and pix.canvas.sum() == 0.5


@pytest.mark.parametrize("mode", MODES)
def test_state_dict_continues_exactly(mode):
    env = VecCanvasEnv(8, mode=mode, seed=4)
    env.reset()
    g = torch.Generator().manual_seed(0)
    acts = torch.randint(env.num_actions, (30, 8), generator=g)
    for a in acts[:10]:
        _, _, te, tr, _ = env.step(a)
        env.reset_done(te | tr)
    saved = env.state_dict()
    later = []
    for a in acts[10:]:
        obs, r, te, tr, _ = env.step(a)
        later.append((obs, r))
        env.reset_done(te | tr)
    other = VecCanvasEnv(8, mode=mode, seed=99)
    other.load_state_dict(saved)
    for (obs, r), a in zip(later, acts[10:]):
        obs2, r2, te, tr, _ = other.step(a)
        assert torch.equal(obs, obs2) and torch.equal(r, r2)
        other.reset_done(te | tr)
    with pytest.raises(ValueError, match="saved environment state"):
        VecCanvasEnv(4, mode=mode).load_state_dict(saved)


@pytest.mark.parametrize("mode", MODES)
def test_inactive_canvases_do_not_move(mode):
    env = VecCanvasEnv(4, mode=mode, seed=2)
    env.reset()
    env.step(torch.tensor([1, 2, 3, 4]))
    before = env.state_dict()
    active = torch.tensor([True, False, True, False])
    _, r, te, tr, _ = env.step(torch.tensor([70, 70, 70, 70]), active=active)
    after = env.state_dict()
    for k in ("canvas", "pen", "t"):
        assert torch.equal(after[k][~active], before[k][~active]), k
    assert (r[~active] == 0).all() and not te[~active].any() and not tr[~active].any()
    assert (after["t"][active] == 2).all()


# -- the action codec's words agree with the environment -------------------------------------------

def test_describe_pixel_action_names_what_the_env_paints():
    env = VecCanvasEnv(1, horizon=4, seed=0)
    for a in (0, 1 * 64 + 3 * 8 + 4, 63, 64 + 9):
        env.reset(index=[0])
        env.step([a])
        text = ActionCodec("pixel", 8).describe(a)
        (r, c), = np.argwhere(env.canvas[0].numpy() > 0)
        assert text == f"paint ({r}, {c}) with ink {float(env.canvas[0, r, c]):g}"


def test_describe_pen_action_names_the_move_and_stop():
    env = VecCanvasEnv(1, mode="pen", horizon=4, seed=0)
    moves = pen_moves(2).tolist()
    for level, (dy, dx) in ((0, (-1, 2)), (1, (2, 0)), (2, (0, -2))):
        env.reset(index=[0])
        start = env.pen[0].tolist()
        a = level * 25 + moves.index([dy, dx])
        env.step([a])
        assert env.pen[0].tolist() == [start[0] + dy, start[1] + dx]
        text = ActionCodec("pen", 8).describe(a)
        assert text == f"{['pen up', 'ink 0.5', 'ink 1'][level]}, move ({dy:+d}, {dx:+d})"
    assert ActionCodec("pen", 8).describe(75) == "stop"
    with pytest.raises(ValueError, match=r"invalid action 76; expected an integer in \[0, 76\)"):
        ActionCodec("pen", 8).describe(76)
    with pytest.raises(ValueError, match="invalid action"):
        ActionCodec("pixel", 8).describe(True)


def test_a_pen_window_wider_than_the_canvas_is_refused():
    """--pen-window 87 on an 8x8 canvas used to build 30,604 actions and stall."""
    with pytest.raises(ValueError, match="pen_window must be at most size - 1 = 7"):
        VecCanvasEnv(1, mode="pen", pen_window=8)
    assert num_actions("pen", 8, 3, 7) == 3 * 15 * 15 + 1
    assert num_actions("pixel", 8, 3, 30) == 128          # pixel mode has no pen


@pytest.mark.parametrize("actions", [["a", "b"], None, "x", [1 + 2j, 1], [[1, 2]], [0.5, 1.0], [True, False]])
def test_step_refuses_actions_that_are_not_integers_in_one_line(actions):
    from dqngen_lib.envs import VecCanvasEnv

    env = VecCanvasEnv(num_envs=2, mode="pixel")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must be|expected actions of shape"):
        env.step(actions)


@pytest.mark.parametrize("bad, match", [
    (lambda c, y, z: c.flatten(1).sum(1)[:2], r"shape \(3,\); got a tensor of shape \(2,\)"),
    (lambda c, y, z: c.flatten(1).sum(1, keepdim=True), r"got a tensor of shape \(3, 1\)"),
    (lambda c, y, z: torch.full((3,), float("nan")), "got 3 NaN or infinite score"),
    (lambda c, y, z: [0.0, 0.0, 0.0], "got list"),
    (lambda c, y, z: torch.zeros(3, dtype=torch.long), "dtype torch.int64"),
])
def test_a_potential_of_the_wrong_shape_or_nan_is_named_at_reset(bad, match):
    from dqngen_lib.envs import VecCanvasEnv

    env = VecCanvasEnv(3, task="generate", potential=bad, seed=0)
    with pytest.raises(ValueError, match=match):
        env.reset(seed=0)
