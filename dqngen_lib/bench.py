"""Benchmarks behind ``dqngen bench`` (speed targets live here, never in tests).

``bench_env``: steps/s of the batched ``VecCanvasEnv`` at several batch sizes against a plain
loop over the gymnasium ``CanvasEnv``, both action modes, measured side by side in one run and
reported as ratios. ``bench_train``: our trainer against Stable-Baselines3 ``DQN`` (with exactly
our Q-network, or the seed's MLP) and the seed article's agent, the same wall-clock budget each, one
after the other in one process, quality measured on the held-out digits with evaluations off the
clock. The command line (``dqngen bench env | train``) lives in ``cli``.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .budget import Clock, Event, run_budget
from .config import TrainConfig, dataset, make_qnet, memory_estimate
from .envs import CanvasEnv, VecCanvasEnv
from .nets import count_params
from .rollout import evaluate_reconstruction
from .article_agent import ARTICLE_HIDDEN, run_article_agent
from .results import quality_bars
from .train import Trainer
from .utils import check_memory, describe_device, machine_info

__all__ = ["bench_env", "gym_steps_per_s", "vec_steps_per_s", "format_env_table", "machine_name", "bench_train",
           "loop_rates", "run_ours", "run_sb3", "run_article", "time_to_reach", "format_train_table", "AGENTS"]


def machine_name() -> str:
    """A short description of the machine the numbers come from."""
    m = machine_info()
    return f"{m['cores']} cores, {m['cpu']}; torch {m['torch']}, {m['torch_threads']} threads" + (
        f"; {m['gpu']}" if m["gpu"] else "")


def gym_steps_per_s(mode: str, seconds: float, seed: int = 0) -> float:
    """Steps/s of one gymnasium ``CanvasEnv`` driven by a Python loop (random actions, reset when done)."""
    env = CanvasEnv(mode=mode)
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(env.action_space.n, size=4096)
    n, t0 = 0, time.perf_counter()
    while True:
        for a in actions[:256]:
            _, _, term, trunc, _ = env.step(int(a))
            if term or trunc:
                env.reset()
        n += 256
        if time.perf_counter() - t0 >= seconds:
            break
    return n / (time.perf_counter() - t0)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def vec_steps_per_s(mode: str, num_envs: int, seconds: float, device: str | torch.device = "cpu",
                    seed: int = 0) -> float:
    """Canvas steps/s of ``VecCanvasEnv``: step + ``reset_done``, random actions made on the device."""
    device = torch.device(device)
    env = VecCanvasEnv(num_envs, mode=mode, device=device, seed=seed)
    env.reset()
    g = torch.Generator(device=device).manual_seed(seed)
    actions = torch.randint(env.num_actions, (16, num_envs), generator=g, device=device)

    def burst(k: int) -> None:
        for i in range(k):
            _, _, term, trunc, _ = env.step(actions[i % 16], validate=False)
            env.reset_done(term | trunc)

    burst(3)  # warm-up
    _sync(device)
    n, k, t0 = 0, 4, time.perf_counter()
    while True:
        burst(k)
        _sync(device)
        n += k
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            break
        k = min(k * 2, 1024)
    return n * num_envs / elapsed


def bench_env(sizes=(1, 64, 1024, 8192), modes=("pixel", "pen"), seconds: float = 1.0,
              gpu_sizes=(8192, 65536, 262144)) -> list[dict]:
    """One row per (device, mode, N): vec steps/s, the gymnasium loop's steps/s, and their ratio."""
    for mode in modes:                  # every size checked against the memory before any is measured
        for n in sizes:
            need = memory_estimate(TrainConfig.preset("reconstruct", mode), num_envs=n, replay=False)
            check_memory({"environments": need["environments"]}, "cpu", hint=f"lower --sizes (got {n:,} canvases)")
    rows = []
    for mode in modes:
        gym_rate = gym_steps_per_s(mode, seconds)
        for n in sizes:
            rate = vec_steps_per_s(mode, n, seconds, "cpu")
            rows.append({"device": "cpu", "mode": mode, "num_envs": n, "vec_steps_per_s": rate,
                         "gym_steps_per_s": gym_rate, "ratio": rate / gym_rate})
        if torch.cuda.is_available():
            for n in gpu_sizes:
                rate = vec_steps_per_s(mode, n, seconds, "cuda")
                rows.append({"device": describe_device(torch.device("cuda")), "mode": mode, "num_envs": n,
                             "vec_steps_per_s": rate, "gym_steps_per_s": gym_rate, "ratio": rate / gym_rate})
    return rows


def loop_rates(cfg: TrainConfig, steps: int = 30, device=None, repeats: int = 5) -> dict:
    """Where the trainer's time goes (lesson 08): rates of the whole loop and of its parts, measured apart.

    ``loop``: env steps/s and updates/s of ``Trainer.run_steps`` past ``learning_starts``;
    ``act``: forward passes of the Q-network on a batch of ``num_envs`` observations per second;
    ``env``: batched ``step`` + ``reset_done`` per second; ``update``: gradient updates (sample,
    loss, backward, Adam, target update) per second. ``seconds_per_batched_step`` splits one batched
    step of the loop into acting, the env and its ``updates_per_step`` updates (the remainder is the
    replay write and the bookkeeping). Every part is timed between two device synchronisations, as the
    median of ``repeats`` measurements of ``steps // repeats`` calls each (a busy moment of a shared
    machine moves one measurement, not the median).
    """
    tr = Trainer(cfg, device=device)
    dev = tr.device
    tr.run_steps(-(-cfg.learning_starts // cfg.num_envs) + 2)        # past learning_starts, warmed up
    tr.stats()

    def timed(fn, k):
        fn()                                                           # warm-up
        _sync(dev)
        n = max(1, k // repeats)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            _sync(dev)
            times.append((time.perf_counter() - t0) / n)
        return float(np.median(times))

    e0, u0 = tr.env_steps, tr.updates
    t_loop = timed(lambda: tr.run_steps(1), steps)
    per_step_updates = (tr.updates - u0) / max((tr.env_steps - e0) / cfg.num_envs, 1)
    with torch.no_grad():
        t_act = timed(lambda: tr.qnet(tr.obs), steps)
    actions = torch.randint(tr.env.num_actions, (cfg.num_envs,), device=dev)

    def env_step():
        _, _, te, tru, _ = tr.env.step(actions, validate=False)
        tr.env.reset_done(te | tru)
    t_env = timed(env_step, steps)
    t_update = timed(tr.update, steps)
    return {"device": str(dev), "num_envs": cfg.num_envs, "batch_size": cfg.batch_size,
            "updates_per_step": cfg.updates_per_step,
            "loop": {"env_steps_per_s": cfg.num_envs / t_loop, "updates_per_s": per_step_updates / t_loop},
            "act_per_s": 1 / t_act, "env_per_s": 1 / t_env, "update_per_s": 1 / t_update,
            "seconds_per_batched_step": {"total": t_loop, "act": t_act, "env": t_env,
                                         "updates": per_step_updates * t_update}}


def _si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def format_env_table(rows: list[dict]) -> str:
    """Markdown table of ``bench_env`` rows."""
    lines = ["| device | mode | N | VecCanvasEnv steps/s | gym CanvasEnv loop steps/s | ratio |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['device']} | {r['mode']} | {r['num_envs']} | {_si(r['vec_steps_per_s'])} | "
                     f"{_si(r['gym_steps_per_s'])} | {r['ratio']:.0f}x |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Our trainer against Stable-Baselines3 and the seed article's agent
# ---------------------------------------------------------------------------------------------

def run_ours(cfg: TrainConfig, seconds: float, first_eval: float = 0.5, growth: float = 1.3) -> dict:
    """Train with ``Trainer`` for ``seconds`` of training time, evaluating at geometric times.

    Evaluations (all test digits) pause the clock; returns the run's curve of (seconds, env steps,
    test MSE), its last point at the end of the budget.
    """
    tr = Trainer(cfg)
    clock = Clock()
    curve = []

    def evaluate():
        curve.append((clock.elapsed(), tr.env_steps, evaluate_reconstruction(tr.qnet, cfg)["test_mse"]))

    done = run_budget(tr.run_steps, lambda: tr.env_steps, seconds=seconds, unit=cfg.num_envs, max_chunk=16,
                      events=[Event(evaluate, seconds=first_eval, growth=growth, pause=True)], clock=clock,
                      sync=tr.stats)  # stats() reads the device accumulators: waits for the chunk to finish
    train_time = done["seconds"]
    ev = evaluate_reconstruction(tr.qnet, cfg)
    curve.append((train_time, tr.env_steps, ev["test_mse"]))
    return {"agent": "ours", "network": f"{cfg.qnet}", "params": count_params(tr.qnet), "num_envs": cfg.num_envs,
            "seconds": train_time, "env_steps": tr.env_steps, "updates": tr.updates,
            "test_mse": ev["test_mse"], "curve": curve}


def _sb3_qnet_to_qmap(model):
    """Make SB3's Q-network exactly our Q-network: our net as the features extractor, identity head."""
    from torch import nn

    for q in (model.policy.q_net, model.policy.q_net_target):
        q.q_net = nn.Identity()
    model.policy.q_net_target.load_state_dict(model.policy.q_net.state_dict())


def run_sb3(cfg: TrainConfig, seconds: float, network: str = "conv", first_eval: float = 0.5,
            growth: float = 1.3) -> dict:
    """Stable-Baselines3 DQN on ``dqngen/Canvas-v0`` for ``seconds`` of training time.

    Evaluated at the same geometric times as ``run_ours`` (evaluations pause the clock).
    """
    import gymnasium as gym
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    images, labels = dataset(cfg).split("train")
    env = gym.make("dqngen/Canvas-v0", mode=cfg.mode, size=cfg.size, horizon=cfg.horizon, ink_levels=cfg.ink_levels,
                   pen_window=cfg.pen_window, images=images, labels=labels)
    obs_shape, num_actions = env.observation_space.shape, int(env.action_space.n)
    net_cfg = cfg.replace(qnet=network)

    class OurQNet(BaseFeaturesExtractor):
        """Our Q-network as SB3's features extractor (its output are the Q-values)."""

        def __init__(self, observation_space):
            super().__init__(observation_space, features_dim=num_actions)
            self.net = make_qnet(net_cfg, obs_shape, num_actions)

        def forward(self, obs):
            return self.net(obs)

    total = 10**8  # SB3 needs a total; the callback stops on the clock
    kw = dict(learning_rate=cfg.lr, buffer_size=cfg.buffer_size, learning_starts=1000, batch_size=64,
              gamma=cfg.gamma, train_freq=4, gradient_steps=1, target_update_interval=1000,
              exploration_fraction=cfg.eps_decay_steps / total, exploration_initial_eps=cfg.eps_start,
              exploration_final_eps=cfg.eps_end, seed=cfg.seed, device="cpu", verbose=0)
    if network != "mlp":            # our Q-network, exactly, inside SB3
        policy_kwargs = dict(features_extractor_class=OurQNet, net_arch=[])
    else:
        policy_kwargs = dict(net_arch=[cfg.hidden, cfg.hidden])
    model = DQN("MlpPolicy", env, policy_kwargs=policy_kwargs, **kw)
    if network != "mlp":
        _sb3_qnet_to_qmap(model)

    class Clock(BaseCallback):
        """Stops SB3 after ``seconds`` of training; evaluates at geometric times, off the clock."""

        def __init__(self):
            super().__init__()
            self.t0, self.paused, self.next_eval, self.curve = None, 0.0, first_eval, []

        def elapsed(self):
            return time.perf_counter() - self.t0 - self.paused

        def _on_training_start(self):
            self.t0 = time.perf_counter()

        def _on_step(self):
            t = self.elapsed()
            if t >= self.next_eval:
                e0 = time.perf_counter()
                self.curve.append((t, int(self.model.num_timesteps),
                                   evaluate_reconstruction(self.model.policy.q_net, cfg)["test_mse"]))
                self.paused += time.perf_counter() - e0
                self.next_eval = max(self.next_eval * growth, t + 0.1)
            return t < seconds

    clock = Clock()
    model.learn(total_timesteps=total, callback=clock)
    elapsed = clock.elapsed()
    qnet = model.policy.q_net
    ev = evaluate_reconstruction(qnet, cfg)
    clock.curve.append((elapsed, int(model.num_timesteps), ev["test_mse"]))
    return {"agent": "Stable-Baselines3 DQN", "network": network, "params": count_params(qnet), "num_envs": 1,
            "seconds": elapsed, "env_steps": int(model.num_timesteps), "updates": int(model._n_updates),
            "test_mse": ev["test_mse"], "curve": clock.curve}


def run_article(cfg: TrainConfig, seconds: float) -> dict:
    """The seed article's agent as written (one env, deque replay, MLP 128-128, no exploration, its target
    sync rule) for ``seconds``."""
    r = run_article_agent(cfg, seconds=seconds)
    return {"agent": "seed agent", "network": "mlp", "params": count_params(r["agent"].qnet), "num_envs": 1,
            "seconds": r["seconds"], "env_steps": r["env_steps"], "updates": r["updates"],
            "test_mse": r["test_mse"], "curve": [],
            "target_syncs": r["syncs"]}


def time_to_reach(curve, quality: float) -> float | None:
    """Training seconds at the first evaluation with test MSE <= ``quality`` (None if never)."""
    for seconds, _, mse in curve:
        if mse <= quality:
            return seconds
    return None


AGENTS = ("ours", "ours-mlp", "sb3", "sb3-mlp", "seed")


def bench_train(seconds: float = 60.0, seed: int = 0, agents=AGENTS, mode: str = "pixel",
                cfg: TrainConfig | None = None, log=None) -> list[dict]:
    """Run the agents for ``seconds`` each on the CPU, one after the other; one row per agent.

    ``ours`` and ``sb3`` use the Q-network of the lesson's preset of ``mode`` (the conv Q-map in
    pixel mode, the pen-centred Q-map in pen mode; SB3 gets exactly that network), ``ours-mlp``
    and ``sb3-mlp`` the seed's MLP, ``seed`` is the seed article's agent as written. Every row with
    an evaluation curve gains ``time_to`` (training seconds to each of ``quality_bars(mode)``, None
    if never); our rows gain ``time_to_sb3`` (seconds to SB3's final MSE with the same network),
    ``speedup_vs_sb3`` and ``speedup_to`` (per bar, SB3's time over ours).
    """
    agents = list(agents)
    bad = [a for a in agents if a not in AGENTS]
    if bad:
        raise ValueError(f"unknown agent(s) {bad}; expected a subset of {', '.join(AGENTS)}")
    base = (cfg or TrainConfig.preset("reconstruct", mode)).replace(device="cpu", seed=seed)
    bars = quality_bars(base.mode)
    # warm-up: the first optimizer step of a process loads part of torch; no agent should pay for it
    Trainer(base.replace(learning_starts=0, num_envs=8, batch_size=8)).run_steps(2)
    rows = []
    for name in agents:
        if log:
            log(f"running {name} for {seconds:g} s ...")
        mlp = base.replace(qnet="mlp", hidden=ARTICLE_HIDDEN, pen_segment=False)
        if name == "ours":
            row = run_ours(base, seconds)
        elif name == "ours-mlp":
            row = run_ours(mlp, seconds)
        elif name == "sb3":
            row = run_sb3(base, seconds, network=base.qnet)
        elif name == "sb3-mlp":
            row = run_sb3(mlp, seconds, network="mlp")
        else:
            row = run_article(base, seconds)
        if log:
            log(f"  {row['env_steps']} env steps, {row['updates']} updates, test MSE {row['test_mse']:.4f}")
        rows.append(row)
    for r in rows:
        r["time_to"] = {k: time_to_reach(r["curve"], v) for k, v in bars.items()} if r["curve"] else None
    for ours in (r for r in rows if r["agent"] == "ours"):
        for sb3 in (r for r in rows if r["agent"].startswith("Stable") and r["network"] == ours["network"]):
            t = time_to_reach(ours["curve"], sb3["test_mse"])
            ours["sb3_test_mse"], ours["time_to_sb3"] = sb3["test_mse"], t
            ours["speedup_vs_sb3"] = None if t is None else sb3["seconds"] / t
            ours["speedup_to"] = {k: (None if ours["time_to"][k] is None or sb3["time_to"][k] is None
                                      else sb3["time_to"][k] / ours["time_to"][k]) for k in bars}
    return rows


def _fmt_t(t) -> str:
    return "not reached" if t is None else f"{t:.2f} s"


def format_train_table(rows: list[dict]) -> str:
    """Markdown table of ``bench_train`` rows."""
    bars = next((list(r["time_to"]) for r in rows if r.get("time_to")), [])
    head = ("| agent | Q-network (params) | canvases | env steps | updates | steps/s | test MSE | "
            "time to SB3's final MSE (same net) | speed-up vs SB3 |"
            + "".join(f" time to {b} | speed-up to {b} vs SB3 |" for b in bars))
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|---:|" * len(bars)]

    def ratio(v):
        return "-" if v is None else f"{v:.1f}x"

    for r in rows:
        ours = r["agent"] == "ours"
        cells = [r["agent"], f"{r['network']} ({r['params'] / 1e3:.0f}k)", str(r["num_envs"]), f"{r['env_steps']:,}",
                 f"{r['updates']:,}", f"{r['env_steps'] / r['seconds']:,.0f}", f"{r['test_mse']:.4f}",
                 _fmt_t(r.get("time_to_sb3")) if ours and "time_to_sb3" in r else "-",
                 ratio(r.get("speedup_vs_sb3")) if ours else "-"]
        for b in bars:
            cells.append(_fmt_t(r["time_to"][b]) if r.get("time_to") else "not measured")
            cells.append(ratio(r.get("speedup_to", {}).get(b)) if ours else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
