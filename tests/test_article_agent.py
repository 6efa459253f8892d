"""dqngen_lib.article_agent: the seed article's agent, kept as a baseline."""
import torch

from dqngen_lib.article_agent import ArticleAgent, run_article_agent
from dqngen_lib.config import TrainConfig, make_env


def test_article_agent_target_sync_quirk():
    env = make_env(TrainConfig(), 1, seed=0)
    agent = ArticleAgent(env.obs_shape, env.num_actions, hidden=16, memory_size=40, batch_size=8, target_update=20,
                         explore=True, eps_decay_updates=50)
    obs = env.reset()[0].numpy()
    for _ in range(100):
        a = agent.act(obs)
        nxt, r, term, trunc, _ = env.step(torch.tensor([a]))
        agent.remember(obs, a, float(r[0]), nxt[0].numpy(), float(term[0] or trunc[0]))
        agent.replay()
        obs = env.reset_done(term | trunc)[0].numpy() if bool(term[0] or trunc[0]) else nxt[0].numpy()
    # 8..39 transitions: syncs at 20 (and 40 once full); then the deque stays at 40 and it syncs every update
    assert agent.updates == 93
    assert agent.syncs == 1 + (100 - 39)


def test_run_article_agent_for_a_budget_in_steps():
    r = run_article_agent(TrainConfig(), steps=120, eval_every=1e-3, max_eval_images=10, agent_kwargs={"hidden": 16})
    assert r["env_steps"] == 120 and r["updates"] == 120 - 64 + 1       # updates start once 64 are stored
    assert 0.0 <= r["test_mse"] <= 1.0 and r["curve"]["test_mse"]
    assert r["curve"]["env_steps"] == sorted(r["curve"]["env_steps"])
    assert torch.is_tensor(next(r["agent"].qnet.parameters()))


def test_the_seed_as_written():
    env = make_env(TrainConfig(), 1, seed=0)
    agent = ArticleAgent(env.obs_shape, env.num_actions)
    shapes = [tuple(p.shape) for p in agent.qnet.parameters()]
    assert shapes == [(128, 3 * 64), (128,), (128, 128), (128,), (128, 128), (128,)]   # 128-128, then the head
    assert (agent.gamma, agent.optimizer.param_groups[0]["lr"], agent.memory.memory.maxlen) == (0.99, 1e-3, 10_000)
    assert agent.eps == 0.0                                  # select_action is an argmax: no exploration
    obs = env.reset()[0].numpy()
    first = agent.act(obs)
    assert all(agent.act(obs) == first for _ in range(20))   # the same state, always the same action


def test_fixes_are_named_and_checked():
    import pytest

    from dqngen_lib.article_agent import ARTICLE_FIXES

    assert set(ARTICLE_FIXES) == {"explore", "target_period"}
    with pytest.raises(ValueError, match="unknown fix"):
        run_article_agent(TrainConfig(), steps=10, fixes=("huber",))
    r = run_article_agent(TrainConfig(), steps=200, fixes=("explore", "target_period"),
                       agent_kwargs={"hidden": 16, "memory_size": 100, "eps_decay_updates": 50})
    assert r["syncs"] == 0 and r["updates"] == 200 - 64 + 1   # target_period 1000: no sync yet (the seed: 101)
    seed = run_article_agent(TrainConfig(), steps=200, agent_kwargs={"hidden": 16, "memory_size": 100})
    assert seed["syncs"] == 101                              # memory full at 100, then a sync after every update
