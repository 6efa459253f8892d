"""Comparisons over seeds (lessons 03-09): one configuration trained once per seed for the same budget.

``run_seeds(cfg, seeds, ...)`` returns a ``results.SeedRuns``; ``results`` reports and saves it,
``viz.plot_bands`` draws it.
"""
from __future__ import annotations

import os

from .config import TrainConfig
from .results import SeedRuns
from .train import train
from .utils import is_int

__all__ = ["run_seeds"]


def _check_seeds(seeds) -> list[int]:
    seeds = list(seeds)
    if not seeds or any(not is_int(s, 0) for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds!r}")
    return [int(s) for s in seeds]


def run_seeds(cfg: TrainConfig, seeds=(0, 1, 2), seconds: float | None = None, steps: int | None = None,
              label: str | None = None, log=None, out_dir: str | None = None, **train_kw) -> SeedRuns:
    """Train ``cfg`` once per seed (``cfg.seed`` replaced) for the same budget; returns a ``SeedRuns``.

    ``out_dir``: each run's folder is ``out_dir/seed<N>`` (checkpoints, metrics). ``log(message)``
    is called after each seed. Other keyword arguments go to ``train``.
    """
    seeds = _check_seeds(seeds)
    runs = []
    for s in seeds:
        out = None if out_dir is None else os.path.join(out_dir, f"seed{s}")
        res = train(cfg.replace(seed=s), seconds=seconds, steps=steps, out=out, **train_kw)
        runs.append(res.metrics)
        if log is not None:
            fin = res.metrics["final"]
            log(f"{label or 'run'} seed {s}: {res.env_steps:,} steps, test MSE "
                f"{fin.get('test_mse', float('nan')):.4f} in {fin['seconds']:.0f} s")
    return SeedRuns(label or "run", cfg, seeds, runs, {"seconds": seconds, "steps": steps})
