#!/usr/bin/env python
"""Retrain the small checkpoints that ship with the course (``dqngen_lib/assets``, lesson 10).

Each one is trained on the CPU with the preset of its mode (``TrainConfig.preset``, seed 0) for a
fixed number of environment steps, so the run is reproducible, then saved without the optimizer
and resume state to keep the file small. The held-out test MSE is printed and stored in the
checkpoint.

    python tools/make_assets.py            # all of them
    python tools/make_assets.py pixel      # one of them
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile

from dqngen_lib.checkpoint import CHECKPOINT_FILE, PRETRAINED, load_checkpoint, save_checkpoint
from dqngen_lib.config import TrainConfig
from dqngen_lib.train import train

ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "dqngen_lib", "assets")

RECIPES = {
    "pixel": (TrainConfig.preset("reconstruct", "pixel", device="cpu", seed=0), 240_000),
    # the pen preset's learning rate decays over 1M steps; here over the asset's shorter budget
    "pen": (TrainConfig.preset("reconstruct", "pen", device="cpu", seed=0, lr_decay_steps=200_000), 200_000),
    "pen_generate": (TrainConfig.preset("generate", "pen", device="cpu", seed=0), 600_000),
}


def make(name: str) -> None:
    if name not in RECIPES:
        raise ValueError(f"unknown asset {name!r}; expected one of {sorted(RECIPES)}")
    cfg, steps = RECIPES[name]
    with tempfile.TemporaryDirectory() as tmp:
        res = train(cfg, steps=steps, out=os.path.join(tmp, "run"), progress=False)
        ck = load_checkpoint(os.path.join(tmp, "run"), device="cpu")
        save_checkpoint(os.path.join(tmp, "small"), ck.cfg, ck.qnet, None, ck.rng_state, ck.extra)
        os.makedirs(ASSETS, exist_ok=True)
        shutil.copy(os.path.join(tmp, "small", CHECKPOINT_FILE), os.path.join(ASSETS, PRETRAINED[name]))
    fin = res.metrics["final"]
    quality = (f"test MSE per pixel {fin['test_mse']:.4f}" if cfg.task == "reconstruct"
               else f"mean episode return {res.metrics['curves']['episode_return'][-1]:.3f}")
    print(f"{name}: {res.env_steps:,} env steps, {res.updates:,} updates, {fin['seconds']:.0f} s, {quality} "
          f"-> {PRETRAINED[name]}")


if __name__ == "__main__":
    for n in sys.argv[1:] or list(RECIPES):
        make(n)
