"""The Q-value explorer of lesson 10, driven headless: widgets are set and clicked from Python."""
import matplotlib

matplotlib.use("agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from dqngen_lib.checkpoint import load_pretrained  # noqa: E402
from dqngen_lib.config import TrainConfig, make_env, make_qnet  # noqa: E402
from dqngen_lib.envs import pen_moves  # noqa: E402
from dqngen_lib.explorer import QExplorer  # noqa: E402


def _agent(mode="pixel", seed=0, task="reconstruct", **kw):
    cfg = TrainConfig.preset(task, mode, device="cpu", channels=8, layers=1, **kw)
    torch.manual_seed(seed)
    return make_qnet(cfg).eval(), cfg


@pytest.fixture(scope="module")
def pixel_agent():
    return _agent("pixel")


@pytest.fixture(scope="module")
def pen_agent():
    return _agent("pen", seed=1)


@pytest.fixture(scope="module")
def pretrained():
    return load_pretrained("pixel", device="cpu")


def _replay(ex, upto):
    """The canvas after the first ``upto`` recorded actions, replayed in a fresh env (the explorer's own record
    must agree with the environment)."""
    env = make_env(ex.cfg, 1, "test", "cpu", 0)
    env.reset(seed=ex.seed, index=[ex.digit])
    for a in ex.episode["actions"][:upto]:
        env.step([int(a)])
    return env.canvas[0].numpy()


def test_initial_state_is_the_agents_greedy_episode(pixel_agent):
    qnet, cfg = pixel_agent
    ex = QExplorer(qnet, cfg, digit=7)
    ep = ex.episode
    assert ex.step == 0 and ex.length == cfg.horizon and ex.done
    assert ex.step_w.max == ex.play_w.max == cfg.horizon
    assert ex.image_w.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert ep["kinds"] == ["greedy"] * cfg.horizon
    np.testing.assert_array_equal(ep["actions"], ep["q"][:-1].argmax(1))
    np.testing.assert_array_equal(ex.target, make_env(cfg, 1, "test", "cpu", 0).images[7].numpy())
    # the Q-values are the network's on the recorded observations
    env = make_env(cfg, 1, "test", "cpu", 0)
    obs = env.reset(seed=0, index=[7])
    with torch.no_grad():
        np.testing.assert_allclose(ex.q, qnet(obs)[0].numpy(), rtol=1e-5, atol=1e-6)
    assert ex.returns == 0.0 and ex.action == ep["actions"][0]
    assert "digit #7" in repr(ex) or "digit 7" in repr(ex)


def test_moving_the_step_slider_redraws_and_updates_the_state(pixel_agent):
    ex = QExplorer(*pixel_agent, digit=3)
    png0, info0 = ex.image_w.value, ex.info_w.value
    ex.step_w.value = 10
    assert ex.step == 10
    assert ex.image_w.value != png0 and ex.info_w.value != info0
    assert "10 of 24" in ex.info_w.value
    ep = ex.episode
    np.testing.assert_array_equal(ex.canvas, ep["canvas"][10])
    np.testing.assert_allclose(ex.canvas, _replay(ex, 10))
    assert ex.returns == pytest.approx(ep["rewards"][:10].sum())
    # the return so far is the fraction of the error removed (the reward telescopes, lesson 01)
    err = lambda c: ((c - ex.target) ** 2).sum()  # noqa: E731
    assert ex.returns == pytest.approx(1 - err(ex.canvas) / (ex.target ** 2).sum(), abs=1e-5)
    ex.step_w.value = 0
    assert ex.image_w.value == png0


def test_play_widget_drives_the_slider(pixel_agent):
    ex = QExplorer(*pixel_agent)
    ex.play_w.value = 7
    assert ex.step_w.value == 7 and ex.step == 7
    assert "7 of 24" in ex.info_w.value


def test_bellman_target_and_td_error(pixel_agent):
    ex = QExplorer(*pixel_agent, digit=5)
    gamma, ep = ex.gamma, ex.episode
    for t in (0, 11):
        ex.step = t
        a = ep["actions"][t]
        y = ep["rewards"][t] + gamma * ep["q"][t + 1].max()
        assert ex.bellman_target == pytest.approx(y)
        assert ex.td_error == pytest.approx(y - ep["q"][t][a])
        assert ex.reward == pytest.approx(ep["rewards"][t])
    ex.step = ex.length - 1                       # the last transition ends the episode: no bootstrap
    assert ex.bellman_target == pytest.approx(ep["rewards"][-1])
    ex.step = ex.length                           # no transition leaves the final state
    assert ex.bellman_target is None and ex.action is None and ex.td_error is None
    assert "episode over" in ex.info_w.value


def test_hand_action_from_the_widgets(pixel_agent):
    ex = QExplorer(*pixel_agent, digit=2)
    ex.step_w.value = 4
    kept = ex.episode["actions"][:4].copy()
    ex.row_w.value, ex.col_w.value, ex.ink_w.value = 6, 1, 0      # ink index 0 = ink 0.5
    png = ex.image_w.value
    ex.take_w.click()
    a = 0 * 64 + 6 * 8 + 1
    assert ex.step == 5 and ex.length == 5 and not ex.done       # what came after step 4 is discarded
    assert ex.episode["actions"][4] == a and ex.episode["kinds"][4] == "hand"
    np.testing.assert_array_equal(ex.episode["actions"][:4], kept)
    assert ex.canvas[6, 1] == 0.5
    np.testing.assert_allclose(ex.canvas, _replay(ex, 5))
    assert ex.image_w.value != png
    assert ex.step_w.max == 5
    assert ex.action is None and ex.bellman_target is None and "none yet" in ex.info_w.value
    # the panel of the hand-played step compares it with the greedy choice
    ex.step = 4
    tr = ex.transition()
    assert tr["kind"] == "hand" and tr["action"] == a
    assert tr["greedy_q"] == pytest.approx(ex.q.max()) and tr["q"] == pytest.approx(ex.q[a])
    assert "(you)" in ex.info_w.value and f"{tr['q']:.3f}" in ex.info_w.value


def test_greedy_step_and_agent_plays_on(pixel_agent):
    ex = QExplorer(*pixel_agent, digit=2)
    ex.step = 3
    ex.take_action(10)
    q_here = ex.q.copy()
    ex.greedy_w.click()
    assert ex.step == 5 and ex.episode["actions"][4] == int(q_here.argmax())
    assert ex.episode["kinds"][3:5] == ["hand", "greedy"]
    ex.agent_play_w.click()
    assert ex.step == 5 and ex.done and ex.length == 24        # the view stays, the episode is complete
    ep = ex.episode
    np.testing.assert_array_equal(ep["actions"][5:], ep["q"][5:-1].argmax(1))
    np.testing.assert_allclose(ep["canvas"][-1], _replay(ex, 24))
    assert ex.step_w.max == 24


def test_eps_slider_replays_with_random_actions(pixel_agent):
    ex = QExplorer(*pixel_agent, digit=9)
    greedy = ex.episode["actions"].copy()
    ex.step = 6
    ex.eps_w.value = 1.0
    ep = ex.episode
    np.testing.assert_array_equal(ep["actions"][:6], greedy[:6])    # before the step shown: kept
    assert ep["length"] == 24 and "random" in ep["kinds"][6:]
    assert not np.array_equal(ep["actions"][6:], greedy[6:])
    for t, kind in enumerate(ep["kinds"]):
        assert (kind == "greedy") == (ep["actions"][t] == ep["q"][t].argmax())
    ex.eps_w.value = 0.0                          # back to greedy from the same step
    np.testing.assert_array_equal(ex.episode["actions"], greedy)


def test_new_episode_and_digit_dropdown(pixel_agent):
    ex = QExplorer(*pixel_agent)
    options = [v for _, v in ex.digit_w.options]
    labels = make_env(ex.cfg, 1, "test", "cpu", 0).labels.numpy()
    assert len(options) == 20 and sorted(labels[options].tolist()) == sorted(list(range(10)) * 2)
    ex.digit_w.value = options[5]
    assert ex.digit == options[5] and ex.step == 0
    np.testing.assert_array_equal(ex.target, make_env(ex.cfg, 1, "test", "cpu", 0).images[options[5]].numpy())
    ex.step = 4
    ex.take_action(0)
    ex.new_w.click()
    assert ex.step == 0 and ex.length == 24 and ex.episode["kinds"] == ["greedy"] * 24
    ex.set_digit(500)                             # any held-out digit, added to the drop-down
    assert ex.digit_w.value == 500 and ex.digit == 500


def test_bad_input_is_refused(pixel_agent):
    qnet, cfg = pixel_agent
    ex = QExplorer(qnet, cfg)
    with pytest.raises(ValueError, match=r"digit index 898 is out of range; the test split has 898 digits"):
        ex.set_digit(898)
    with pytest.raises(ValueError, match=r"invalid action 128; expected an integer in \[0, 128\)"):
        ex.take_action(128)
    with pytest.raises(ValueError, match=r"step must be an integer in \[0, 24\]"):
        ex.step = 25
    ex.step = 24
    with pytest.raises(ValueError, match="the episode is over"):
        ex.greedy_step()
    ex.take_w.click()                             # a button shows the refusal in the side panel
    assert "the episode is over" in ex.info_w.value and ex.length == 24
    with pytest.raises(ValueError, match="eps must be a number in"):
        ex.play(eps=1.5)
    with pytest.raises(ValueError, match="nothing to explore"):
        QExplorer()
    with pytest.raises(ValueError, match="both the Q-network and its config"):
        QExplorer(qnet)
    with pytest.raises(ValueError, match="expected a Checkpoint"):
        QExplorer(checkpoints={"x": 3})
    with pytest.raises(ValueError, match="digits must be indices"):
        QExplorer(qnet, cfg, digits=[0, 5000])
    pen_net, _ = _agent("pen")
    with pytest.raises(ValueError, match="agent 'agent' does not fit the environment of its config"):
        QExplorer(pen_net, cfg)
    other = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 64, 7))
    with pytest.raises(ValueError, match="gives 7 Q-values, its environment has 128 actions"):
        QExplorer(other, cfg)


def test_pen_mode_hand_controls_move_the_pen(pen_agent):
    ex = QExplorer(*pen_agent, digit=1)
    assert len(ex.q) == 76 and {"dy", "dx", "pen", "stop"} <= {c.description for c in ex.hand_box.children}
    ex.new_w.click()
    start = ex.pen
    ex.dy_w.value, ex.dx_w.value, ex.level_w.value = -1, 2, 2
    ex.take_w.click()
    moves = pen_moves(2).tolist()
    assert ex.episode["actions"][0] == 2 * 25 + moves.index([-1, 2])
    assert ex.pen == (start[0] - 1, start[1] + 2) and ex.step == 1
    assert ex.canvas[start[0] - 1, start[1] + 2] == 1.0
    stop_button = [c for c in ex.hand_box.children if c.description == "stop"][0]
    stop_button.click()
    assert ex.done and ex.length == 2 and ex.episode["actions"][1] == 75
    ex.step = 1
    assert ex.bellman_target == pytest.approx(ex.reward) == 0.0  # stop paints nothing and ends the episode


def test_switching_agents_rebuilds_the_view(pixel_agent, pen_agent):
    ex = QExplorer(checkpoints={"pixel": pixel_agent, "pen": pen_agent}, digit=4)
    png = ex.image_w.value
    ex.agent_w.value = "pen"
    assert ex.mode == "pen" and len(ex.q) == 76 and ex.digit == 4
    assert ex.image_w.value != png
    assert hasattr(ex, "dy_w") and ex.dy_w in ex.hand_box.children
    ex.agent_w.value = "pixel"
    assert ex.mode == "pixel" and ex.row_w in ex.hand_box.children
    assert ex.image_w.value == png                # same agent, digit and seed: the same picture


def test_generation_agent_offers_classes():
    qnet, cfg = _agent("pixel", task="generate")
    ex = QExplorer(qnet, cfg)
    assert ex.digit_w.description == "class" and [v for _, v in ex.digit_w.options] == list(range(10))
    ex.set_class(3)
    assert int(ex.env.label[0]) == 3 and ex.target is None and ex.length == cfg.horizon
    ex.step = 2
    assert ex.bellman_target == pytest.approx(ex.reward + ex.gamma * ex.episode["q"][3].max())


def test_pretrained_agent_is_consistent_with_its_bellman_targets(pretrained):
    ex = QExplorer(checkpoints={"pretrained": pretrained}, digit=12)
    ep = ex.episode
    q_taken = ep["q"][np.arange(ep["length"]), ep["actions"]]
    # a trained network agrees with its own targets along its greedy path, far better than the Q-values' size
    assert np.abs(ep["bellman_targets"] - q_taken).mean() < 0.1 * np.abs(q_taken).mean()
    assert ep["return"] > 0.9
    # a mistake (ink on blank paper) is rated below the greedy action and earns a negative reward
    blank = int(np.flatnonzero(ex.target.ravel() == 0)[0])
    tr = ex.take_action(64 + blank)
    assert tr["q"] < tr["greedy_q"] and tr["reward"] < 0


def test_explorer_displays_as_its_widget(pixel_agent):
    ex = QExplorer(*pixel_agent)
    bundle = ex._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget.model_id
