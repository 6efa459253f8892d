"""The exact tables and solvers of lesson 02 (dqngen_lib.tabular)."""
import pytest
import torch

from dqngen_lib.envs import VecCanvasEnv
from dqngen_lib.tabular import (TINY_TARGETS, backward_induction, bellman_backup, bellman_residual, build_mdp,
                                brute_force_best, canvas_index, enumerate_canvases, evaluate_policy, greedy_policy,
                                greedy_rollout, slipped_actions, tiny_targets, uniform_policy)


@pytest.fixture(scope="module")
def mdp():
    return build_mdp()


@pytest.fixture(scope="module")
def solved(mdp):
    return backward_induction(mdp)


@pytest.mark.parametrize("size,levels", [(2, 3), (3, 2)])
def test_canvases_are_enumerated_once_each_and_indexed_back(size, levels):
    canvases = enumerate_canvases(size, levels)
    assert canvases.shape == (levels ** (size * size), size, size)
    assert canvases[0].abs().sum() == 0
    assert torch.equal(canvas_index(canvases, levels), torch.arange(len(canvases)))
    assert len(torch.unique(canvases.flatten(1), dim=0)) == len(canvases)


def test_canvas_index_rejects_values_that_are_not_inks():
    with pytest.raises(ValueError, match="ink values"):
        canvas_index(torch.full((1, 3, 3), 0.3), 2)
    with pytest.raises(ValueError, match=r"shape \(N, H, W\)"):
        canvas_index(torch.zeros(3, 3), 2)


def test_enumeration_refuses_huge_canvases():
    with pytest.raises(ValueError, match="canvases"):
        enumerate_canvases(8, 3)


def test_tables_agree_with_the_environment(mdp):
    """Random episodes in VecCanvasEnv visit exactly the table's next states and rewards."""
    n = 64
    env = VecCanvasEnv(n, mode="pixel", images=mdp.targets, horizon=mdp.horizon, ink_levels=mdp.ink_levels, seed=1)
    obs = env.reset()
    g = torch.Generator().manual_seed(0)
    state = torch.zeros(n, dtype=torch.int64)
    j = env.target_index.clone()
    for t in range(mdp.horizon):
        assert torch.equal(obs, mdp.observations(t, j, state)), "observation layout differs from the env's"
        a = torch.randint(mdp.num_actions, (n,), generator=g)
        obs, r, _, trunc, _ = env.step(a)
        assert torch.allclose(r.double(), mdp.rewards[j, state, a], atol=1e-6)
        state = mdp.next_state[state, a]
        assert torch.equal(canvas_index(env.canvas, mdp.ink_levels), state)
    assert trunc.all()


def test_q_star_has_zero_bellman_residual_and_a_perturbation_shows(mdp, solved):
    q, v = solved
    assert q.shape == (mdp.horizon, mdp.num_targets, mdp.num_states, mdp.num_actions)
    assert bellman_residual(mdp, q) < 1e-9
    assert torch.equal(v[-1], torch.zeros_like(v[-1]))
    bad = q.clone()
    bad[1, 2, 5, 3] += 0.01
    assert bellman_residual(mdp, bad) == pytest.approx(0.01, abs=1e-9)


def test_greedy_q_star_paints_as_well_as_brute_force(mdp, solved):
    q, v = solved
    for j in range(mdp.num_targets):
        best, actions = brute_force_best(mdp, j)
        played = greedy_rollout(mdp, q, j)
        assert played["return"] == pytest.approx(best, abs=1e-6)
        assert float(v[0, j, 0]) == pytest.approx(best, abs=1e-6)
        assert len(actions) == mdp.horizon and len(played["states"]) == mdp.horizon + 1


def test_expectation_equation_of_the_greedy_policy_gives_v_star(mdp, solved):
    q, v = solved
    q_pi, v_pi = evaluate_policy(mdp, greedy_policy(q))
    assert torch.allclose(v_pi, v, atol=1e-12)
    assert torch.allclose(q_pi, q, atol=1e-12)
    _, v_rand = evaluate_policy(mdp, uniform_policy(mdp))
    assert bool((v_rand[0, :, 0] < v[0, :, 0] - 0.1).all()), "the random painter should be far from optimal"


def test_random_policy_value_matches_monte_carlo_returns(mdp):
    _, v_rand = evaluate_policy(mdp, uniform_policy(mdp))
    n, j = 4096, 2
    env = mdp.env(n, seed=0)
    env.reset(index=[j] * n)
    g = torch.Generator().manual_seed(1)
    ret = torch.zeros(n, dtype=torch.float64)
    for t in range(mdp.horizon):
        _, r, *_ = env.step(torch.randint(mdp.num_actions, (n,), generator=g))
        ret += mdp.gamma ** t * r.double()
    se = float(ret.std()) / n ** 0.5
    assert abs(float(ret.mean()) - float(v_rand[0, j, 0])) < 4 * se


def test_sampled_dqn_targets_average_to_the_backup_when_the_hand_slips():
    mdp = build_mdp(slip=0.3)
    q, v = backward_induction(mdp)
    assert bellman_residual(mdp, q) < 1e-9
    assert bool((v[0, :, 0] <= backward_induction(build_mdp())[1][0, :, 0] + 1e-12).all()), "slips cannot help"
    n, j, s, a, t = 20000, 1, 0, 4, 0
    g = torch.Generator().manual_seed(3)
    done = slipped_actions(torch.full((n,), a), mdp.slip, mdp.num_actions, g)
    assert 0.25 < float((done != a).float().mean()) < 0.3  # slip x (A-1)/A = 0.267
    nxt = mdp.next_state[s, done]
    y = mdp.rewards[j, s, done] + mdp.gamma * q[t + 1, j, nxt].max(dim=-1).values
    se = float(y.std()) / n ** 0.5
    assert abs(float(y.mean()) - float(q[t, j, s, a])) < 4 * se


def test_backup_is_reward_plus_discounted_next_value(mdp):
    v = torch.rand(mdp.num_targets, mdp.num_states, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    q = bellman_backup(mdp.rewards, mdp.next_state, v, 0.5)
    j, s, a = 3, 17, 4
    assert float(q[j, s, a]) == pytest.approx(float(mdp.rewards[j, s, a] + 0.5 * v[j, mdp.next_state[s, a]]))
    with pytest.raises(ValueError, match="v_next"):
        bellman_backup(mdp.rewards, mdp.next_state, v[:, :5], 0.5)
    with pytest.raises(ValueError, match="next_state"):
        bellman_backup(mdp.rewards, mdp.next_state[:5], v, 0.5)


def test_bad_inputs_raise_value_errors(mdp, solved):
    with pytest.raises(ValueError, match="shape"):
        build_mdp(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        build_mdp(torch.full((1, 2, 2), 2.0))
    with pytest.raises(ValueError, match="horizon"):
        build_mdp(horizon=0)
    with pytest.raises(ValueError, match="gamma"):
        build_mdp(gamma=1.5)
    with pytest.raises(ValueError, match="slip"):
        build_mdp(slip=-0.1)
    with pytest.raises(ValueError, match="unknown tiny targets"):
        tiny_targets(["eight"])
    with pytest.raises(ValueError, match="expected Q of shape"):
        bellman_residual(mdp, solved[0][:2])
    with pytest.raises(ValueError, match="slips"):
        greedy_rollout(build_mdp(slip=0.1), solved[0], 0)
    with pytest.raises(ValueError, match="target"):
        greedy_rollout(mdp, solved[0], 7)
    with pytest.raises(ValueError, match="action sequences"):
        brute_force_best(mdp, 0, max_sequences=100)
    with pytest.raises(ValueError, match="probabilities"):
        evaluate_policy(mdp, uniform_policy(mdp) * 2)


def test_tiny_targets_are_the_named_ones():
    targets, names = tiny_targets()
    assert names == list(TINY_TARGETS) and targets.shape == (len(names), 3, 3)


def test_q_learning_converges_to_q_star():
    from dqngen_lib.tabular import q_learning, q_learning_update, reachable

    mdp = build_mdp(ink_levels=2, horizon=3, gamma=0.9)
    q_star, _ = backward_induction(mdp)
    runs = [q_learning(mdp, 30_000, eps=1.0, alpha=0.5, seed=s, q_star=q_star, every=3000, starts="exploring")
            for s in (0, 1)]
    for r in runs:
        h = r["history"]
        assert h["max_error"][0] > 0.3 and h["max_error"][-1] < 0.02, h["max_error"]     # every entry, in the end
        assert h["mean_error"][-1] < h["mean_error"][0] / 100
        assert h["greedy_return"][-1] == pytest.approx(h["optimal_return"])
    assert runs[0]["history"]["mean_error"] != runs[1]["history"]["mean_error"]   # the seeds sample differently
    again = q_learning(mdp, 30_000, eps=1.0, alpha=0.5, seed=0, q_star=q_star, every=3000, starts="exploring")
    assert again["history"] == runs[0]["history"]
    r = reachable(mdp)
    assert r[0].sum() == 1 and r[1].sum() == 9 and r[2].sum() == 9 + 36      # one pixel, or two
    # one update by hand
    q = torch.zeros(3, 1, 4, 2, dtype=torch.float64)
    q[1, 0, 2] = torch.tensor([0.5, 2.0])
    td = q_learning_update(q, 0, 0, 1, 1, 1.0, 2, 0.5, 0.9)
    assert td == pytest.approx(1.0 + 0.9 * 2.0) and float(q[0, 0, 1, 1]) == pytest.approx(0.5 * td)
    assert q_learning_update(q, 2, 0, 0, 0, 0.3, 1, 1.0, 0.9) == pytest.approx(0.3)   # nothing after the horizon
    with pytest.raises(ValueError, match="episodes"):
        q_learning(mdp, 0)
    with pytest.raises(ValueError, match="starts"):
        q_learning(mdp, 10, starts="random")
