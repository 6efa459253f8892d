#!/usr/bin/env python
"""Our DQN trainer against Stable-Baselines3 ``DQN`` and the seed-style agent, side by side.

All agents learn the same task, pixel-mode reconstruction of the 8x8 digits (``dqngen/Canvas-v0``,
T = 24, 3 ink levels), for the same wall-clock budget each, one after the other in one process.
Stable-Baselines3 and the seed-style agent step the gymnasium env one canvas at a time; our
trainer steps ``num_envs`` canvases of the same dynamics (``VecCanvasEnv``) together. Networks of
the same width are compared: the conv Q-map (SB3 gets exactly our ``ConvQMap`` as its Q-network)
and the seed's MLP (256-256, SB3's ``MlpPolicy`` with ``net_arch=[256, 256]``).

Quality is the held-out test MSE per pixel of the greedy agent on all 898 test digits (against
the grey digits the agents are shown). For our trainer the script also measures the
training time it needs to first reach each SB3 run's final quality (evaluations pause the clock).

    python benchmarks/train_vs_sb3.py --seconds 60      # or: dqngen bench train
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import torch

from dqngen_lib.agent import evaluate_reconstruction, reference_mse, run_seed_agent
from dqngen_lib.nets import count_params
from dqngen_lib.train import TrainConfig, Trainer, make_qnet_for

__all__ = ["run", "main", "run_ours", "run_sb3", "run_seed", "format_table"]


def _machine() -> str:
    try:
        from dqngen_lib.bench import machine_name

        return machine_name()
    except ImportError:  # pragma: no cover
        return f"{os.cpu_count()} cores, torch {torch.__version__}"


def run_ours(cfg: TrainConfig, seconds: float, first_eval: float = 0.5, growth: float = 1.3) -> dict:
    """Train with ``Trainer`` for ``seconds`` of training time, evaluating at geometric times.

    Evaluations (all test digits) pause the clock; returns the run's curve of (seconds, test MSE).
    """
    tr = Trainer(cfg)
    curve = []
    train_time, next_eval = 0.0, first_eval
    chunk = 1
    while train_time < seconds:
        t0 = time.perf_counter()
        tr.run_steps(chunk)
        tr.stats()  # reads the device accumulators: waits for the device to finish the chunk
        train_time += time.perf_counter() - t0
        if train_time >= next_eval or train_time >= seconds:
            ev = evaluate_reconstruction(tr.qnet, cfg)
            curve.append((train_time, tr.env_steps, ev["test_mse"]))
            next_eval = max(next_eval * growth, train_time + 0.1)
        chunk = min(chunk * 2, 16)
    ev = evaluate_reconstruction(tr.qnet, cfg)
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

    from dqngen_lib.train import dataset

    images, labels = dataset(cfg).split("train")
    env = gym.make("dqngen/Canvas-v0", mode=cfg.mode, size=cfg.size, horizon=cfg.horizon, ink_levels=cfg.ink_levels,
                   pen_window=cfg.pen_window, images=images, labels=labels)
    obs_shape, num_actions = env.observation_space.shape, int(env.action_space.n)
    net_cfg = cfg.replace(qnet=network)

    class OurQNet(BaseFeaturesExtractor):
        """Our Q-network as SB3's features extractor (its output are the Q-values)."""

        def __init__(self, observation_space):
            super().__init__(observation_space, features_dim=num_actions)
            self.net = make_qnet_for(net_cfg, obs_shape, num_actions)

        def forward(self, obs):
            return self.net(obs)

    total = 10**8  # SB3 needs a total; the callback stops on the clock
    kw = dict(learning_rate=cfg.lr, buffer_size=cfg.buffer_size, learning_starts=1000, batch_size=64,
              gamma=cfg.gamma, train_freq=4, gradient_steps=1, target_update_interval=1000,
              exploration_fraction=cfg.eps_decay_steps / total, exploration_initial_eps=cfg.eps_start,
              exploration_final_eps=cfg.eps_end, seed=cfg.seed, device="cpu", verbose=0)
    if network == "conv":
        policy_kwargs = dict(features_extractor_class=OurQNet, net_arch=[])
    else:
        policy_kwargs = dict(net_arch=[cfg.hidden, cfg.hidden])
    model = DQN("MlpPolicy", env, policy_kwargs=policy_kwargs, **kw)
    if network == "conv":
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


def run_seed(cfg: TrainConfig, seconds: float) -> dict:
    """The seed-style agent (one env, deque replay, MLP, its target sync rule) for ``seconds``."""
    r = run_seed_agent(cfg, seconds=seconds)
    return {"agent": "seed-style agent", "network": "mlp", "params": count_params(r["agent"].qnet), "num_envs": 1,
            "seconds": r["seconds"], "env_steps": r["env_steps"], "updates": r["updates"],
            "test_mse": r["test_mse"], "curve": [],
            "target_syncs": r["syncs"]}


BAR = 0.014
"""The course's quality bar for pixel-mode reconstruction: held-out test MSE per pixel (lesson 05)."""


def time_to_reach(curve, quality: float) -> float | None:
    """Training seconds at the first evaluation with test MSE <= ``quality`` (None if never)."""
    for seconds, _, mse in curve:
        if mse <= quality:
            return seconds
    return None


def run(seconds: float = 60.0, seed: int = 0, agents=("ours-conv", "ours-mlp", "sb3-conv", "sb3-mlp", "seed"),
        cfg: TrainConfig | None = None, log=None) -> list[dict]:
    """Run the agents for ``seconds`` each (pixel mode, CPU); one row per agent.

    Rows of our trainer gain ``time_to_sb3_<network>`` (the training seconds it needed to reach
    the final test MSE of SB3 with the same network) and ``speedup_vs_sb3`` (SB3's seconds over
    that time). Rows with an evaluation curve (ours and SB3) gain ``time_to_bar``: the training
    seconds to the course's bar ``BAR`` (None if not reached); ours gain ``speedup_to_bar_vs_sb3``.
    """
    base = (cfg or TrainConfig()).replace(device="cpu", seed=seed)
    # warm-up: the first optimizer step of a process loads part of torch; no agent should pay for it
    Trainer(base.replace(learning_starts=0, num_envs=8, batch_size=8)).run_steps(2)
    rows = []
    for name in agents:
        if log:
            log(f"running {name} for {seconds:g} s ...")
        if name.startswith("ours-"):
            row = run_ours(base.replace(qnet=name.split("-")[1]), seconds)
        elif name.startswith("sb3-"):
            row = run_sb3(base, seconds, network=name.split("-")[1])
        elif name == "seed":
            row = run_seed(base, seconds)
        else:
            raise ValueError(f"unknown agent {name!r}; expected ours-conv, ours-mlp, sb3-conv, sb3-mlp or seed")
        if log:
            log(f"  {row['env_steps']} env steps, {row['updates']} updates, test MSE {row['test_mse']:.4f}")
        rows.append(row)
    for r in rows:
        r["time_to_bar"] = time_to_reach(r["curve"], BAR) if r["curve"] else None
    for ours in (r for r in rows if r["agent"] == "ours"):
        for sb3 in (r for r in rows if r["agent"].startswith("Stable")):
            t = time_to_reach(ours["curve"], sb3["test_mse"])
            ours[f"time_to_sb3_{sb3['network']}"] = t
            if sb3["network"] == ours["network"]:
                ours["sb3_test_mse"] = sb3["test_mse"]
                ours["time_to_sb3"] = t
                ours["speedup_vs_sb3"] = None if t is None else sb3["seconds"] / t
                a, b = ours["time_to_bar"], sb3["time_to_bar"]
                ours["speedup_to_bar_vs_sb3"] = None if a is None or b is None else b / a
    return rows


def _fmt_t(t) -> str:
    return "not reached" if t is None else f"{t:.2f} s"


def format_table(rows: list[dict]) -> str:
    """Markdown table of ``run`` rows."""
    lines = ["| agent | Q-network (params) | canvases | env steps | updates | steps/s | test MSE | "
             "time to SB3's final MSE (same net) | speed-up vs SB3 | time to MSE 0.014 | speed-up to 0.014 vs SB3 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def ratio(v):
        return "-" if v is None else f"{v:.1f}x"

    for r in rows:
        ours = r["agent"] == "ours"
        ttq = _fmt_t(r.get("time_to_sb3")) if ours else "-"
        bar = _fmt_t(r.get("time_to_bar")) if r.get("curve") else "not measured"
        lines.append(f"| {r['agent']} | {r['network']} ({r['params'] / 1e3:.0f}k) | {r['num_envs']} | "
                     f"{r['env_steps']:,} | {r['updates']:,} | {r['env_steps'] / r['seconds']:,.0f} | "
                     f"{r['test_mse']:.4f} | {ttq} | {ratio(r.get('speedup_vs_sb3')) if ours else '-'} | "
                     f"{bar} | {ratio(r.get('speedup_to_bar_vs_sb3')) if ours else '-'} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="wall-clock budget of every agent (default 60)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--agents", default="ours-conv,ours-mlp,sb3-conv,sb3-mlp,seed",
                    help="comma-separated subset of ours-conv, ours-mlp, sb3-conv, sb3-mlp, seed")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    if not math.isfinite(args.seconds) or args.seconds <= 0:
        raise ValueError(f"--seconds must be a positive number, got {args.seconds}")
    agents = tuple(a.strip() for a in args.agents.split(",") if a.strip())
    rows = run(args.seconds, args.seed, agents, log=lambda m: print(m, file=sys.stderr, flush=True))
    ref = reference_mse(TrainConfig())
    print(f"Training for {args.seconds:g} s each, pixel mode, T=24, 3 inks; machine: {_machine()}")
    print(f"test MSE per pixel on 898 held-out digits: blank canvas {ref['blank_mse']:.4f}, "
          f"perfect painter in 24 steps {ref['optimal_mse']:.4f}")
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seconds": args.seconds, "machine": _machine(), "reference": ref, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
