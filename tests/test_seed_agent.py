"""dqngen_lib.seed_agent: the seed article's agent, kept as a baseline."""
import torch

from dqngen_lib.config import TrainConfig, make_env
from dqngen_lib.seed_agent import SeedAgent, run_seed_agent


def test_seed_agent_target_sync_quirk():
    env = make_env(TrainConfig(), 1, seed=0)
    agent = SeedAgent(env.obs_shape, env.num_actions, hidden=16, memory_size=40, batch_size=8, target_update=20)
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


def test_run_seed_agent_for_a_budget_in_steps():
    r = run_seed_agent(TrainConfig(hidden=16), steps=120, eval_every=1e-3, max_eval_images=10)
    assert r["env_steps"] == 120 and r["updates"] == 120 - 64 + 1       # updates start once 64 are stored
    assert 0.0 <= r["test_mse"] <= 1.0 and r["curve"]["test_mse"]
    assert r["curve"]["env_steps"] == sorted(r["curve"]["env_steps"])
    assert torch.is_tensor(next(r["agent"].qnet.parameters()))
