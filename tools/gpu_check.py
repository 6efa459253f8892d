#!/usr/bin/env python
"""The GPU check: lesson 08's measurements and the benchmarks on CUDA, into result files (``make gpu-check``).

Run it once on a machine with a CUDA GPU (about 6 minutes): it writes, into ``--out`` (default
``results/gpu``), the machine and every number with the date:

* ``env.json``: ``VecCanvasEnv`` steps/s at N up to 65,536 canvases, both modes, against the
  gymnasium loop (``dqngen bench env`` on the GPU);
* ``loop.json``: the trainer's env steps/s and updates/s at three GPU scales, and where a batched
  step's time goes (``bench.loop_rates``);
* ``pen.json``: pen-mode training on the GPU with the GPU scale of lesson 08, evaluated on all held-out
  digits every few seconds of training (off the clock): the training time to the greedy planner's
  and to the two-step lookahead's quality;
* ``08_gpu_training.ipynb``: lesson 08 executed on the GPU (FAST off), its outputs kept.

Lesson 08 and the README load these files, so a CPU re-run of the lesson still shows the GPU numbers.
``--quick --device cpu`` runs every step at a tiny size (to check the script without a GPU).

    python tools/gpu_check.py                      # on a GPU machine
    python tools/gpu_check.py --quick --device cpu --out /tmp/gpu-check
"""
from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import subprocess
import sys
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dqngen_lib.bench import bench_env, loop_rates, time_to_reach  # noqa: E402
from dqngen_lib.budget import Clock, Event, run_budget  # noqa: E402
from dqngen_lib.config import GPU_SCALE, TrainConfig  # noqa: E402
from dqngen_lib.results import load_result  # noqa: E402
from dqngen_lib.rollout import evaluate_reconstruction  # noqa: E402
from dqngen_lib.train import Trainer  # noqa: E402
from dqngen_lib.utils import atomic_write_json, get_device, machine_info  # noqa: E402



def stamp(extra: dict) -> dict:
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info(), **extra}


def pen_time_to_quality(device, seconds: float, quick: bool) -> dict:
    """Train the pen preset at GPU scale, evaluating on all test digits (off the clock) every few seconds."""
    cfg = TrainConfig.preset("reconstruct", "pen", device=str(device), **GPU_SCALE, eval_every=0)
    if quick:
        cfg = cfg.replace(num_envs=64, batch_size=64, buffer_size=4096, learning_starts=256, eps_decay_steps=2048)
    planners = load_result("planners")["extra"]["planners"]["pen"]
    bars = {"greedy": planners["greedy"]["test_mse"], "lookahead:2": planners["lookahead:2"]["test_mse"]}
    tr = Trainer(cfg)
    clock, curve = Clock(), []

    def evaluate():
        ev = evaluate_reconstruction(tr.qnet, cfg, max_images=50 if quick else None)
        curve.append((clock.elapsed(), tr.env_steps, ev["test_mse"]))

    sync = torch.cuda.synchronize if device.type == "cuda" else None
    done = run_budget(tr.run_steps, lambda: tr.env_steps, seconds=seconds, unit=cfg.num_envs, max_chunk=8,
                      events=[Event(evaluate, seconds=2.0 if not quick else 0.5, growth=1.15, pause=True)],
                      clock=clock, sync=sync)
    evaluate()
    return {"config": cfg.to_dict(), "seconds": done["seconds"], "env_steps": tr.env_steps, "updates": tr.updates,
            "curve": curve, "final_test_mse": curve[-1][2], "bars": bars,
            "time_to": {name: time_to_reach(curve, v) for name, v in bars.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "results" / "gpu"), help="folder for the result files")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu with --quick")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, to check the script")
    ap.add_argument("--pen-seconds", type=float, default=150.0, help="seconds of pen training (default 150)")
    args = ap.parse_args(argv)
    device = get_device(args.device)
    if device.type != "cuda" and not args.quick:
        print("gpu_check: no CUDA device; use --quick --device cpu to check the script", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    t_start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t_start:6.1f} s] {msg}", flush=True)

    sizes = (1, 64) if args.quick else (1, 1024, 8192)
    gpu_sizes = (256,) if args.quick else (8192, 65536)
    rows = bench_env(sizes=sizes, seconds=0.2 if args.quick else 1.0, gpu_sizes=gpu_sizes)
    if device.type != "cuda":        # --quick on a CPU: time the "GPU" sizes on the device given
        from dqngen_lib.bench import vec_steps_per_s
        for mode in ("pixel", "pen"):
            for n in gpu_sizes:
                rows.append({"device": str(device), "mode": mode, "num_envs": n,
                             "vec_steps_per_s": vec_steps_per_s(mode, n, 0.2, device), "gym_steps_per_s": None,
                             "ratio": None})
    atomic_write_json(stamp({"rows": rows}), os.path.join(args.out, "env.json"))
    log(f"env.json: {len(rows)} rows")

    scales = [(64, 64, 1.0)] if args.quick else [(1024, 1024, 1.0), (4096, 4096, 4.0), (16384, 8192, 8.0)]
    loops = []
    for mode in ("pixel", "pen"):
        base = TrainConfig.preset("reconstruct", mode, device=str(device))
        for num_envs, batch, ups in scales:
            c = base.replace(num_envs=num_envs, batch_size=batch, updates_per_step=ups,
                             learning_starts=2 * num_envs, buffer_size=max(base.buffer_size, 4 * num_envs))
            loops.append({"mode": mode, **loop_rates(c, steps=5 if args.quick else 30)})
            log(f"loop {mode} N={num_envs}: {loops[-1]['loop']['env_steps_per_s']:,.0f} env steps/s")
    atomic_write_json(stamp({"rows": loops}), os.path.join(args.out, "loop.json"))

    pen = pen_time_to_quality(device, 3.0 if args.quick else args.pen_seconds, args.quick)
    atomic_write_json(stamp(pen), os.path.join(args.out, "pen.json"))
    log(f"pen.json: final test MSE {pen['final_test_mse']:.4f}, time to {pen['time_to']}")

    nb_out = os.path.join(os.path.abspath(args.out), "08_gpu_training.ipynb")
    env = dict(os.environ)
    env.pop("FAST", None)
    if args.quick:
        env["FAST"] = "1"
    cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--output", nb_out,
           "--ExecutePreprocessor.timeout=600", str(ROOT / "notebooks" / "08_gpu_training.ipynb")]
    proc = subprocess.run(cmd, cwd=ROOT / "notebooks", env=env, capture_output=True, text=True)
    log(f"lesson 08 executed: exit {proc.returncode}" + ("" if proc.returncode == 0 else f"\n{proc.stderr[-2000:]}"))
    log("done")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
