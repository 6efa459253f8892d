"""Measuring what was trained or planned (lessons 05 and 09): one place for ``dqngen evaluate``, the
experiments and the benchmarks.

``evaluate_checkpoint(path)`` reads any checkpoint of the course (an agent of either task, or the
GAN of ``dqngen gan``) and measures it on the held-out digits: reconstruction quality
(``rollout.evaluate_reconstruction``) or generation quality and diversity
(``generate.evaluate_generation``). ``evaluate_planner(spec)`` measures a planner of ``planners`` the
way an agent is measured.
"""
from __future__ import annotations

import time

from .checkpoint import GanCheckpoint, load_checkpoint
from .config import TrainConfig
from .generate import evaluate_generation
from .planners import PlannerPolicy, parse_planner
from .rewards import task_options
from .rollout import evaluate_reconstruction

__all__ = ["evaluate_checkpoint", "evaluate_planner"]


def evaluate_checkpoint(path: str, split: str | None = None, device="auto") -> dict:
    """Metrics of a checkpoint: its training summary plus held-out reconstruction quality (reconstruct
    task, on ``split``, default test) or generation quality and diversity (generate task, and the GAN
    baseline of ``dqngen gan``, measured the same way)."""
    ck = load_checkpoint(path, device=device)
    if isinstance(ck, GanCheckpoint):
        if split is not None:
            raise ValueError(f"--split {split} applies to reconstruction; a GAN is judged by classifiers trained "
                             "on the test digits against the real test digits")
        out = {"checkpoint": ck.path, "task": "generate", "model": "gan", "updates": ck.extra.get("updates"),
               "train_seconds": ck.extra.get("elapsed")}
        out.update(evaluate_generation(ck))
        return out
    out = {"checkpoint": ck.path, "task": ck.cfg.task, "mode": ck.cfg.mode, "qnet": ck.cfg.qnet,
           "env_steps": ck.extra.get("env_steps"), "updates": ck.extra.get("updates"),
           "train_seconds": ck.extra.get("elapsed")}
    if ck.cfg.task == "reconstruct":
        out.update(evaluate_reconstruction(ck.qnet, ck.cfg, split=split or "test"))
    else:
        if split is not None:
            raise ValueError(f"--split {split} applies to reconstruction; a generate checkpoint is judged by "
                             "classifiers trained on the test digits against the real test digits")
        out["reward"] = task_options(ck.cfg.task_options)["reward"]
        out.update(evaluate_generation(ck))
    return out


def evaluate_planner(spec: str, mode: str = "pen", split: str | None = None, device="auto",
                     max_images: int | None = None, **problem) -> dict:
    """The metrics of ``evaluate_checkpoint`` for a planner (``"greedy"``, ``"lookahead:K"``, ``"beam:W"``)
    on the reconstruct task of ``mode`` (the lesson's preset; ``problem`` overrides horizon, inks ...)."""
    planner = parse_planner(spec)
    cfg = TrainConfig.preset("reconstruct", mode, device=device, **problem)
    t0 = time.perf_counter()
    ev = evaluate_reconstruction(PlannerPolicy(planner), cfg, split=split or "test", max_images=max_images)
    return {"planner": str(planner), "task": cfg.task, "mode": cfg.mode, "horizon": cfg.horizon,
            "ink_levels": cfg.ink_levels, "pen_window": cfg.pen_window, **ev, "seconds": time.perf_counter() - t0}
