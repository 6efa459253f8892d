"""Benchmarks behind ``dqngen bench`` (speed targets live here, never in tests).

``dqngen bench env``: steps/s of the batched ``VecCanvasEnv`` at several batch sizes against a
plain loop over the gymnasium ``CanvasEnv``, both action modes, measured side by side in one run
and reported as ratios. ``dqngen bench train``: the trainer against Stable-Baselines3 and the
seed-style agent (``benchmarks/train_vs_sb3.py``). ``dqngen bench`` runs both.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from .envs import CanvasEnv, VecCanvasEnv
from .utils import describe_device

__all__ = ["bench_env", "gym_steps_per_s", "vec_steps_per_s", "format_table", "machine_name"]


def machine_name() -> str:
    """A short description of the machine the numbers come from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import os

    return f"{os.cpu_count()} cores, {cpu}; torch {torch.__version__}, {torch.get_num_threads()} threads"


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


def _si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def format_table(rows: list[dict]) -> str:
    """Markdown table of ``bench_env`` rows."""
    lines = ["| device | mode | N | VecCanvasEnv steps/s | gym CanvasEnv loop steps/s | ratio |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['device']} | {r['mode']} | {r['num_envs']} | {_si(r['vec_steps_per_s'])} | "
                     f"{_si(r['gym_steps_per_s'])} | {r['ratio']:.0f}x |")
    return "\n".join(lines)


def _cmd_env(args) -> int:
    sizes = tuple(int(s) for s in args.sizes.split(","))
    rows = bench_env(sizes=sizes, seconds=args.seconds)
    print(f"Environment steps/s, machine: {machine_name()}")
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine_name(), "rows": rows}, f, indent=2)
    return 0


def _cmd_train(args) -> int:
    try:
        from benchmarks.train_vs_sb3 import main as train_main
    except ImportError:
        import importlib.util
        import pathlib

        path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "train_vs_sb3.py"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: the training benchmark lives in the course repository")
        spec = importlib.util.spec_from_file_location("train_vs_sb3", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        train_main = mod.main
    argv = []
    for flag in ("seconds", "seed", "agents", "json"):
        value = getattr(args, "train_" + flag, None)
        if value is not None:
            argv += [f"--{flag}", str(value)]
    return int(train_main(argv) or 0)


def _cmd_all(args) -> int:
    code = _cmd_env(args)
    if not args.env_only:
        code = code or _cmd_train(args)
    return code


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks: environment steps/s, trainer vs Stable-Baselines3")
    p.add_argument("--seconds", type=float, default=1.0, help="seconds per measurement (default 1)")
    p.add_argument("--sizes", default="1,64,1024,8192", help="batch sizes N for the env benchmark")
    p.add_argument("--json", default=None, help="also write the env rows to this JSON file")
    p.add_argument("--env-only", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_all)
    bs = p.add_subparsers(dest="what", metavar="WHAT")
    pe = bs.add_parser("env", help="VecCanvasEnv vs the gymnasium loop, both modes")
    pe.add_argument("--seconds", type=float, default=1.0, help="seconds per measurement (default 1)")
    pe.add_argument("--sizes", default="1,64,1024,8192", help="batch sizes N")
    pe.add_argument("--json", default=None, help="also write the rows to this JSON file")
    pe.set_defaults(func=_cmd_env)
    pt = bs.add_parser("train", help="our trainer vs Stable-Baselines3 DQN and the seed-style agent")
    pt.add_argument("--seconds", dest="train_seconds", type=float, default=None,
                    help="wall-clock budget of every agent (default 60)")
    pt.add_argument("--seed", dest="train_seed", type=int, default=None)
    pt.add_argument("--agents", dest="train_agents", default=None,
                    help="comma-separated subset of ours-conv, ours-mlp, sb3-conv, sb3-mlp, seed")
    pt.add_argument("--json", dest="train_json", default=None, help="also write the rows to this JSON file")
    pt.set_defaults(func=_cmd_train)
