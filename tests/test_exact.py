"""dqngen_lib.exact: the closed-form Q* of pixel-mode reconstruction, against backward induction and brute force."""
import itertools

import numpy as np
import pytest
import torch

from dqngen_lib.data import ink_values, load_digits
from dqngen_lib.envs import VecCanvasEnv, pixel_transition, reconstruction_reward
from dqngen_lib.exact import pixel_q_star, pixel_v_star, q_star_of_obs, v_star_of_obs
from dqngen_lib.tabular import backward_induction, build_mdp


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9, 1.0])
def test_equals_backward_induction_on_the_3x3_canvas(gamma):
    mdp = build_mdp(ink_levels=2, horizon=4, gamma=gamma)
    q_tab, _ = backward_induction(mdp)                      # (T, K, S, A)
    T, K, S, A = q_tab.shape
    ink = mdp.ink.double()
    for t in range(T):
        for j in range(K):
            canvas = mdp.canvases.double()
            target = mdp.targets[j].double().expand(S, 3, 3)
            q = pixel_q_star(canvas, target, torch.full((S,), t), T, ink, gamma)
            assert torch.allclose(q, q_tab[t, j], atol=1e-9), (t, j, float((q - q_tab[t, j]).abs().max()))


def brute_force(canvas, target, t, horizon, ink, gamma):
    """max over all action sequences of the discounted return, from one state (tiny canvases only)."""
    n_act = (len(ink) - 1) * canvas.numel()
    best = -np.inf
    for seq in itertools.product(range(n_act), repeat=horizon - t):
        c, ret = canvas[None].clone(), 0.0
        for i, a in enumerate(seq):
            new = pixel_transition(c, torch.tensor([a]), ink)
            ret += gamma ** i * float(reconstruction_reward(c, new, target[None])[0])
            c = new
        best = max(best, ret)
    return best


@pytest.mark.parametrize("levels, gamma", [(3, 0.9), (3, 1.0), (2, 0.5), (4, 0.99)])
def test_equals_brute_force_on_tiny_canvases(levels, gamma):
    g = torch.Generator().manual_seed(levels)
    ink = torch.as_tensor(ink_values(levels), dtype=torch.float64)
    for _ in range(6):
        target = torch.rand(2, 2, generator=g, dtype=torch.float64)
        target[0, 0] = 0.0                                       # a pixel best left blank
        canvas = ink[torch.randint(levels, (2, 2), generator=g)]
        for horizon, t in ((3, 0), (3, 1), (2, 0)):
            for start in (canvas, torch.zeros_like(canvas)):
                v = pixel_v_star(start[None], target[None], torch.tensor([t]), horizon, ink, gamma)
                assert float(v[0]) == pytest.approx(brute_force(start, target, t, horizon, ink, gamma), abs=1e-9)


def test_blank_target_forces_a_loss_first():
    ink = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    target = torch.zeros(1, 2, 2, dtype=torch.float64)
    target[0, 1, 1] = 1e-3                                   # (a target must not be all zero)
    blank = torch.zeros(1, 2, 2, dtype=torch.float64)
    v = pixel_v_star(blank, target, torch.tensor([0]), 3, ink, 0.9)
    assert float(v[0]) == pytest.approx(brute_force(blank[0], target[0], 0, 3, ink, 0.9), abs=1e-12)
    assert float(v[0]) < 0


def test_the_8x8_task_from_observations():
    d = load_digits(ink_levels=None)
    env = VecCanvasEnv(16, images=d.x_test, labels=d.y_test, seed=0)
    obs = env.reset(seed=0)
    ink = env.ink
    v0 = v_star_of_obs(obs, env.horizon, ink, 1.0)
    # gamma = 1 from a blank canvas: the perfect painter's fraction of error removed
    f = env.target.flatten(1)
    gain = f ** 2 - (torch.round(f * 2) / 2 - f) ** 2
    best = gain.sort(dim=1, descending=True).values[:, :24].sum(1) / f.pow(2).sum(1)
    assert torch.allclose(v0, best, atol=1e-5)
    q = q_star_of_obs(obs, env.horizon, ink, 0.9)
    assert q.shape == (16, env.num_actions)
    assert torch.allclose(q.max(1).values, v_star_of_obs(obs, env.horizon, ink, 0.9), atol=1e-6)
    # one step on: Q*(s, a) = r + gamma V*(s') with the env's own step
    a = q.argmax(1)
    nxt, r, *_ = env.step(a)
    assert torch.allclose(q.gather(1, a[:, None]).squeeze(1), r + 0.9 * v_star_of_obs(nxt, env.horizon, ink, 0.9),
                          atol=1e-6)
    with pytest.raises(ValueError, match="pixel-mode reconstruction observations"):
        q_star_of_obs(torch.zeros(2, 4, 8, 8), 24, ink, 0.9)
