"""dqngen_lib.planners: greedy, lookahead and beam search as policies of the one episode player."""
import itertools

import numpy as np
import pytest
import torch

from dqngen_lib.config import TrainConfig
from dqngen_lib.data import load_digits
from dqngen_lib.envs import VecCanvasEnv, num_actions
from dqngen_lib.planners import Planner, PlannerPolicy, parse_planner
from dqngen_lib.rollout import evaluate_reconstruction, play
from dqngen_lib.tabular import tiny_targets

# tiny problems where every action sequence can be enumerated: (mode, ink levels, pen window, horizon)
TINY = [("pen", 2, 1, 3), ("pen", 3, 1, 2), ("pixel", 2, 1, 3), ("pixel", 3, 1, 3)]


def _env(targets, mode, levels, window, horizon, n=None):
    n = len(targets) if n is None else n
    return VecCanvasEnv(n, mode=mode, images=targets, horizon=horizon, ink_levels=levels, pen_window=window)


def _candidates(mode, levels, window):
    n = num_actions(mode, 3, levels, window)
    return n - 1 if mode == "pen" else n  # every action but stop


def _brute_force(target, mode, levels, window, horizon):
    """The best return over every action sequence, each played through the env."""
    a = _candidates(mode, levels, window)
    seqs = torch.tensor(list(itertools.product(range(a), repeat=horizon)), dtype=torch.int64)
    env = _env(target[None], mode, levels, window, horizon, n=len(seqs))
    env.reset(index=torch.zeros(len(seqs), dtype=torch.int64))
    total = torch.zeros(len(seqs))
    for t in range(horizon):
        _, r, _, _, _ = env.step(seqs[:, t])
        total += r
    return float(total.max())


def _play(spec, targets, mode, levels, window, horizon, **kw):
    env = _env(targets, mode, levels, window, horizon)
    return play(env, PlannerPolicy(spec, **kw), index=np.arange(len(targets)), record=True)


@pytest.mark.parametrize("mode,levels,window,horizon", TINY)
def test_full_width_beam_and_deep_lookahead_find_the_brute_force_optimum(mode, levels, window, horizon):
    targets, _ = tiny_targets()
    a = _candidates(mode, levels, window)
    kw = dict(mode=mode, levels=levels, window=window, horizon=horizon)
    beam = _play(f"beam:{a ** horizon}", targets, **kw)
    look = _play(f"lookahead:{horizon}", targets, **kw)
    deeper = _play(f"lookahead:{horizon + 2}", targets, **kw)
    for j, target in enumerate(targets):
        best = _brute_force(target, mode, levels, window, horizon)
        for ep in (beam, look, deeper):
            assert float(ep["return"][j]) == pytest.approx(best, abs=1e-6)
    assert np.array_equal(look["actions"], deeper["actions"])  # the depth shrinks to the steps left


@pytest.mark.parametrize("mode,levels,window,horizon", TINY)
def test_greedy_is_lookahead_one_and_beam_one(mode, levels, window, horizon):
    targets, _ = tiny_targets()
    kw = dict(mode=mode, levels=levels, window=window, horizon=horizon)
    g = _play("greedy", targets, **kw)
    for other in ("lookahead:1", "beam:1"):
        o = _play(other, targets, **kw)
        assert np.array_equal(g["actions"], o["actions"]) and np.array_equal(g["final"], o["final"])
    # greedy takes the best immediate reward at every step, ties to the lowest action
    env = _env(targets, mode, levels, window, horizon)
    env.reset(index=np.arange(len(targets)))
    a = _candidates(mode, levels, window)
    for t in range(horizon):
        for j in range(len(targets)):
            probe = VecCanvasEnv(a, mode=mode, images=targets, horizon=horizon, ink_levels=levels, pen_window=window)
            probe.reset(index=[j] * a)
            probe.canvas, probe.pen = env.canvas[j].expand(a, 3, 3).clone(), env.pen[j].expand(a, 2).clone()
            _, r, _, _, _ = probe.step(torch.arange(a))
            assert int(g["actions"][t, j]) == int(torch.argmax(r))
        env.step(torch.as_tensor(g["actions"][t]))


def test_ties_go_to_the_lowest_action():
    # a (nearly) blank target: every action that paints loses, every pen-up move gains 0 -> action 0 each step
    target = torch.zeros(2, 3, 3)
    target[:, 0, 0] = 1e-3
    for spec in ("greedy", "lookahead:2", "beam:4"):
        ep = _play(spec, target, "pen", 3, 1, 3)
        assert ep["actions"].tolist() == [[0, 0]] * 3 and ep["final"].sum() == 0


@pytest.mark.parametrize("spec", ["greedy", "lookahead:2", "beam:8"])
def test_planners_never_stop_and_are_deterministic(spec):
    x = torch.as_tensor(load_digits(None).x_test[:12])
    first = _play(spec, x, "pen", 3, 2, 10)
    again = _play(spec, x, "pen", 3, 2, 10)
    chunked = _play(spec, x, "pen", 3, 2, 10, chunk=5)
    stop = num_actions("pen", 8, 3, 2) - 1
    assert first["actions"].shape == (10, 12) and int(first["actions"].max()) < stop
    for other in (again, chunked):
        assert np.array_equal(first["actions"], other["actions"]) and np.array_equal(first["final"], other["final"])
    # rewards telescope to the fraction of the error removed
    err = ((first["final"] - x.numpy()) ** 2).reshape(12, -1).sum(1) / (x.numpy() ** 2).reshape(12, -1).sum(1)
    np.testing.assert_allclose(first["return"], 1 - err, atol=1e-5)


def test_better_search_is_never_worse_on_average():
    x = torch.as_tensor(load_digits(None).x_test[:30])
    ret = {s: float(_play(s, x, "pen", 3, 2, 8)["return"].mean()) for s in ("greedy", "lookahead:2", "beam:8")}
    assert ret["greedy"] <= ret["lookahead:2"] + 1e-6 and ret["greedy"] <= ret["beam:8"] + 1e-6


def test_a_beam_plan_is_made_again_for_a_new_episode():
    x = torch.as_tensor(load_digits(None).x_test[:4])
    env = _env(x, "pen", 3, 2, 6)
    policy = PlannerPolicy("beam:4")
    a = play(env, policy, index=[0, 1, 2, 3], record=True)
    b = play(env, policy, index=[3, 2, 1, 0], record=True)         # the same env and policy, other targets
    fresh = play(env, PlannerPolicy("beam:4"), index=[3, 2, 1, 0], record=True)
    assert np.array_equal(b["actions"], fresh["actions"]) and not np.array_equal(a["actions"], b["actions"])


def test_evaluated_like_an_agent():
    cfg = TrainConfig.preset("reconstruct", "pen")
    ev = evaluate_reconstruction(PlannerPolicy("greedy"), cfg, max_images=20)
    assert ev["images"] == 20 and ev["split"] == "test" and 0 < ev["test_mse"] < ev["blank_mse"]
    pix = evaluate_reconstruction(PlannerPolicy("greedy"), TrainConfig(), max_images=20)
    assert pix["test_mse"] < ev["test_mse"]


@pytest.mark.parametrize("spec", ["greedy", "GREEDY", " lookahead:3 ", "beam:16", Planner("beam", 4)])
def test_parse_planner_accepts_specs(spec):
    p = parse_planner(spec)
    assert isinstance(p, Planner) and parse_planner(str(p)) == p


@pytest.mark.parametrize("spec,words", [
    ("astar", "'astar'"), ("beam", "needs a size"), ("beam:", "needs a size"), ("lookahead:x", "'x'"),
    ("beam:0", "positive"), ("lookahead:-1", "positive"), ("greedy:2", "takes no size"), (3, "3"),
    ("beam:2.5", "'2.5'"),
])
def test_parse_planner_names_the_bad_value(spec, words):
    with pytest.raises(ValueError, match=words.replace(".", r"\.")):
        parse_planner(spec)


def test_bad_uses_are_refused():
    with pytest.raises(ValueError, match="chunk"):
        PlannerPolicy("greedy", chunk=0)
    env = VecCanvasEnv(2, task="generate", potential=lambda c, y, z: c.flatten(1).sum(1))
    obs = env.reset()
    with pytest.raises(ValueError, match="reconstruct task"):
        PlannerPolicy("greedy")(obs, env)


@pytest.mark.parametrize("mode, spec", [("pen", "lookahead:6"), ("pen", "lookahead:4"), ("pixel", "lookahead:4"),
                                        ("pen", "beam:100000")])
def test_a_search_too_large_for_memory_is_refused_before_it_starts(mode, spec):
    """lookahead:6 in pen mode used to expand 75^6 sequences until the kernel killed the process."""
    from dqngen_lib.config import TrainConfig
    from dqngen_lib.planners import PlannerPolicy
    from dqngen_lib.rollout import evaluate_reconstruction

    with pytest.raises(ValueError, match="holds in memory at once; choose a smaller size"):
        evaluate_reconstruction(PlannerPolicy(spec), TrainConfig.preset("reconstruct", mode, device="cpu"),
                                max_images=2)
