"""Named multi-seed experiments behind the lessons' comparisons (``dqngen experiment NAME``).

A comparison in a lesson ("A beats B") is a claim about a random process, so it is measured over
several seeds and shown as mean ± sd or a band. Runs of minutes do not belong in a lesson's
execution: each experiment here trains its configurations over seeds and writes a result file
(``results/NAME.json``: the machine, the date, the command, every config, seed and curve) that the
lessons load and plot, while they train one seed live. Budgets are in environment steps unless an
experiment is about wall-clock time, so a result does not depend on how busy the machine was.

``EXPERIMENTS`` lists them; ``run_experiment(name)`` runs one. ``q_error_probe`` measures, during
training on the pixel task, how far the network's Q-values are from the exact ``Q*`` of
``dqngen_lib.exact`` -- on replayed states and along greedy episodes on held-out digits -- and the
overestimation bias ``E[max_a Q(s, a) - V*(s)]`` (lesson 06).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from . import generate, rewards
from .article_agent import run_article_agent
from .config import TrainConfig, dataset, make_env
from .data import ink_values
from .envs import VecCanvasEnv
from .evaluation import evaluate_planner
from .exact import q_star_of_obs, v_star_of_obs
from .gan import GanConfig, train_gan
from .planners import PlannerPolicy
from .rollout import play
from .replicates import run_seeds
from .results import SeedRuns, result_path, save_results
from .train import train
from .utils import atomic_write_json, check_out_file

__all__ = ["Experiment", "EXPERIMENTS", "run_experiment", "q_error_probe", "ProbeCallback", "PLANNERS",
           "planner_numbers", "FLOOR_PAINTERS", "paint_targets", "generation_floors", "GEN_VS_GAN_SECONDS"]

@torch.no_grad()
def q_error_probe(qnet, buffer, cfg: TrainConfig, generator: torch.Generator, replayed: int = 1024,
                  test_digits: int = 100) -> dict:
    """How far ``qnet`` is from the exact ``Q*`` of the pixel task (lesson 06), on two sets of states.

    ``replay_*``: ``replayed`` transitions sampled from ``buffer`` with ``generator`` (the training's
    own random streams are not touched); ``greedy_*``: every state of greedy episodes on the first
    ``test_digits`` held-out digits. ``*_q_error``: mean ``|Q(s, a) - Q*(s, a)|`` (replayed: the
    action taken; greedy: the greedy action); ``*_bias``: mean ``max_a Q(s, a) - V*(s)``, the
    overestimation of the value of the state by the max operator.
    """
    if cfg.task != "reconstruct" or cfg.mode != "pixel":
        raise ValueError("the exact Q* is known for pixel-mode reconstruction only")
    device = next(qnet.parameters()).device
    ink = torch.as_tensor(ink_values(cfg.ink_levels), device=device)
    was_training = qnet.training
    qnet.eval()
    out = {}
    batch = buffer.sample(replayed, generator)
    q = qnet(batch.obs)
    q_star = q_star_of_obs(batch.obs, cfg.horizon, ink, cfg.gamma)
    taken = batch.actions[:, None]
    out["replay_q_error"] = float((q.gather(1, taken) - q_star.gather(1, taken)).abs().mean())
    out["replay_bias"] = float((q.max(1).values - q_star.max(1).values).mean())
    env = make_env(cfg, test_digits, split="test", device=device, seed=cfg.seed)
    ep = play(env, qnet, index=np.arange(test_digits), seed=cfg.seed, record=True)
    obs = torch.as_tensor(ep["obs"][:-1], device=device).flatten(0, 1)          # every state before the horizon
    q = torch.as_tensor(ep["q"], device=device).flatten(0, 1)
    v_star = v_star_of_obs(obs, cfg.horizon, ink, cfg.gamma)
    greedy = q.argmax(1, keepdim=True)
    q_star = q_star_of_obs(obs, cfg.horizon, ink, cfg.gamma)
    out["greedy_q_error"] = float((q.gather(1, greedy) - q_star.gather(1, greedy)).abs().mean())
    out["greedy_bias"] = float((q.max(1).values - v_star).mean())
    qnet.train(was_training)
    return out


class ProbeCallback:
    """A ``train`` callback that runs ``q_error_probe`` every ``every`` environment steps and records it
    in ``trainer.metrics["probes"]`` (kept in the run's metrics and result file)."""

    def __init__(self, every: int, **probe_kw):
        self.every, self.probe_kw, self.next = int(every), probe_kw, int(every)

    def __call__(self, trainer, point) -> None:
        if trainer.env_steps < self.next:
            return
        self.next = (trainer.env_steps // self.every + 1) * self.every
        gen = torch.Generator(device=trainer.device).manual_seed(trainer.cfg.seed + 1000 + trainer.env_steps)
        p = q_error_probe(trainer.qnet, trainer.buffer, trainer.cfg, gen, **self.probe_kw)
        rec = trainer.metrics.setdefault("probes", {"env_steps": [], **{k: [] for k in p}})
        rec["env_steps"].append(trainer.env_steps)
        for k, v in p.items():
            rec[k].append(v)


@dataclass
class Experiment:
    """A named comparison: ``configs`` ``{label: TrainConfig}`` trained over seeds for ``steps`` each (or
    ``seconds``), with an optional ``callback`` factory for ``train`` and ``extra(quick)`` data stored
    beside the runs (planner numbers). ``threads``: torch's thread count for the runs (a budget in
    seconds of one thread is fair to every model only at a fixed count); ``clock``: what a budget in
    ``seconds`` counts (``budget.CLOCKS``: "wall" time, or "cpu" seconds of the process).
    ``run_one(experiment, label, cfg, seed, quick, log)`` replaces ``train`` for agents that are not
    the course's trainer (the seed's, the GAN); it returns the run's metrics dict (``final`` with
    ``test_mse`` or the generation metrics, ``env_steps``, ``updates``, ``seconds``)."""

    name: str
    description: str
    configs: Callable[[], dict]
    steps: int | None = None
    seconds: float | None = None
    quick_steps: int = 2048
    callback: Callable[[], object] | None = None
    extra: Callable[[bool], dict] | None = None
    run_one: Callable | None = None
    threads: int | None = None
    clock: str = "wall"


PLANNERS = {"pen": ("greedy", "lookahead:2", "beam:16", "beam:64"), "pixel": ("greedy",)}


def planner_numbers(quick: bool = False, log=None) -> dict:
    """Every planner of ``PLANNERS`` on the held-out digits (all 898; 20 when ``quick``):
    ``{mode: {spec: metrics}}`` with the metrics of ``rollout.evaluate_reconstruction`` and the
    planning time in seconds."""
    out = {}
    for mode, specs in PLANNERS.items():
        out[mode] = {}
        for spec in specs:
            ev = evaluate_planner(spec, mode, device="cpu", max_images=20 if quick else None)
            out[mode][spec] = {k: v for k, v in ev.items() if k not in ("planner", "task", "mode", "horizon",
                                                                     "ink_levels", "pen_window")}
            if log is not None:
                log(f"{mode} {spec}: test MSE {ev['test_mse']:.4f} on {ev['images']} digits "
                    f"in {out[mode][spec]['seconds']:.0f} s")
    return out


def _pixel(**kw) -> TrainConfig:
    return TrainConfig.preset("reconstruct", "pixel", device="cpu", eval_every=20_480, eval_images=300, **kw)


def _bootstrap_configs() -> dict:
    out = {}
    for gamma in (0.9, 0.99):
        out[f"γ={gamma}: Double DQN + target network"] = _pixel(gamma=gamma)
        out[f"γ={gamma}: plain DQN (no Double)"] = _pixel(gamma=gamma, double=False)
        out[f"γ={gamma}: no target network"] = _pixel(gamma=gamma, target="none")
    return out


def _pen(**kw) -> TrainConfig:
    return TrainConfig.preset("reconstruct", "pen", device="cpu", eval_every=40_960, eval_images=300, **kw)


PEN_ABLATION_STEPS = 150_016
"""The step budget of the pen ablations (the learning rate decays over it, as the preset's does over 1M)."""


def _pen_short(**kw) -> TrainConfig:
    return _pen(lr_decay_steps=PEN_ABLATION_STEPS, **kw)


SEED_STEPS = {
    "the seed, as written": ("seed", ()),
    "+ exploration (ε-greedy)": ("seed", ("explore",)),
    "+ a real target network": ("seed", ("explore", "target_period")),
    "our trainer, the seed's MLP": ("ours", "mlp"),
    "our trainer, conv Q-map": ("ours", "conv"),
}


def _seed_fixes_one(e: Experiment, label: str, cfg: TrainConfig, seed: int, quick: bool, log) -> dict:
    """One run of the seed-fixes experiment: the seed's agent with some fixes, or our trainer."""
    kind, what = SEED_STEPS[label]
    seconds = 1.0 if quick else e.seconds
    cfg = cfg.replace(seed=seed)
    if kind == "seed":
        r = run_article_agent(cfg, seconds=seconds, fixes=what, eval_every=seconds / 6,
                           max_eval_images=100 if quick else 300)
        metrics = {"final": {k: r[k] for k in ("test_mse", "mean_return", "env_steps", "updates", "seconds")},
                   "eval": {"seconds": r["curve"]["seconds"], "env_steps": r["curve"]["env_steps"],
                            "test_mse": r["curve"]["test_mse"]}, "target_syncs": r["syncs"]}
    else:
        c = cfg.replace(qnet=what, eval_every=max(cfg.num_envs, 10_240), eval_images=300)
        metrics = train(c, seconds=seconds).metrics
    if log is not None:
        log(f"{label} seed {seed}: {metrics['final']['env_steps']:,} steps, test MSE "
            f"{metrics['final']['test_mse']:.4f} in {metrics['final']['seconds']:.0f} s")
    return metrics


def _sample_metrics(images, labels, latent, cfg: TrainConfig) -> dict:
    """The metrics of lesson 09 of painted digits, with those of the sketches they were asked for."""
    m = generate.evaluate_images(images, labels, cfg)
    opts = rewards.task_options(cfg.task_options)
    if cfg.latent_dim and opts["reward"] == "style":
        model = rewards.style_model(cfg.data_path, cfg.ink_levels, cfg.latent_dim, opts["quantize"])
        sketches = model.sketch(torch.as_tensor(labels), torch.as_tensor(latent)).numpy()
        m["sketch_frechet"] = generate.evaluate_images(sketches, labels, cfg)["frechet"]
        m["pixels_off_sketch"] = float((images != sketches).reshape(len(sketches), -1).sum(1).mean())
    return m


def _generate_one(e: Experiment, label: str, cfg, seed: int, quick: bool, log) -> dict:
    """One run of a generation experiment: train (a DQN painter, or the GAN baseline for a ``GanConfig``),
    paint 100 digits per class, measure them (and, for the style reward, the sketches they were asked for)."""
    cfg = cfg.replace(seed=seed)
    steps = e.quick_steps if quick else e.steps
    seconds = None if quick else e.seconds
    per_class = 5 if quick else 100
    if isinstance(cfg, GanConfig):
        res = train_gan(cfg, seconds=seconds, steps=200 if quick else steps, clock=e.clock)
        s = res.gan.sample(np.repeat(np.arange(10), per_class), seed=0)
        m = generate.evaluate_images(s["images"], s["labels"], cfg)
        fin, metrics = res.metrics["final"], dict(res.metrics)
        m.update(updates=fin["updates"], seconds=fin["seconds"])
        head = f"{fin['updates']:,} updates"
    else:
        res = train(cfg, steps=steps, seconds=seconds, final_eval=False, clock=e.clock)
        s = generate.sample(res.qnet, cfg, per_class=per_class, seed=0)
        m = _sample_metrics(s["images"], s["labels"], s["latent"], cfg)
        fin, metrics = res.metrics["final"], dict(res.metrics)
        m.update(env_steps=fin["env_steps"], updates=fin["updates"], seconds=fin["seconds"])
        head = f"{fin['env_steps']:,} steps"
    metrics["final"] = {**fin, **m}
    metrics["samples"] = s["images"][::per_class].tolist()          # one digit of each class, for pictures
    if log is not None:
        log(f"{label} seed {seed}: {head} in {fin['seconds']:.0f} s; judges "
            f"{m['judge_lr']:.3f}/{m['judge_knn']:.3f}, distinct {m['distinct']}, Fréchet {m['frechet']:.3f}")
    return metrics


# ---------------------------------------------------------------------------------------------
# Floors: the best a painter of a given canvas could do (lesson 09)
# ---------------------------------------------------------------------------------------------

FLOOR_PAINTERS = {"pixel": "greedy", "pen": "beam:16"}
"""The painter of real digits (and of sketches) whose pictures are a configuration's floor: in pixel mode
the greedy planner, which is the perfect painter (every pixel's gain is independent); in pen mode beam
search of width 16 over whole episodes, the best planner that paints 1,000 digits in a few minutes on one core
(width 64 is 0.0057 better in test MSE at T = 24, lesson 07)."""


def paint_targets(images, cfg: TrainConfig, planner: str | None = None, batch: int = 512) -> np.ndarray:
    """The pictures a planner paints of ``images`` (N, H, W) in [0, 1] on the canvas of ``cfg`` (mode,
    horizon, inks, pen window): reconstructions, as in lesson 07, of any targets (real digits or
    sketches). ``planner`` defaults to ``FLOOR_PAINTERS[cfg.mode]``."""
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    if x.ndim != 3 or len(x) == 0 or x.shape[1:] != (cfg.size, cfg.size):
        raise ValueError(f"images must have shape (N, {cfg.size}, {cfg.size}) with N >= 1, got {tuple(x.shape)}")
    policy = PlannerPolicy(planner or FLOOR_PAINTERS[cfg.mode])
    out = []
    for start in range(0, len(x), batch):
        part = x[start:start + batch]
        env = VecCanvasEnv(len(part), mode=cfg.mode, task="reconstruct", images=part, labels=np.zeros(len(part), int),
                           horizon=cfg.horizon, ink_levels=cfg.ink_levels, pen_window=cfg.pen_window, device="cpu",
                           seed=0, size=cfg.size)
        out.append(play(env, policy, index=np.arange(len(part)), seed=0)["final"])
    return np.concatenate(out)


def generation_floors(configs: dict, quick: bool = False, log=None) -> dict:
    """What the generation metrics of lesson 09 are for references that need no learning, by configuration.

    ``configs`` ``{label: TrainConfig}`` of the generate task. Returns ``{"real test digits": ...,
    "sketches (the style model on its own)": ..., "floors": {canvas: {"real digits painted": ...,
    "sketches painted": ...}}}`` where a canvas is one (mode, horizon, inks, window) and the painter is
    ``FLOOR_PAINTERS[mode]``. The sketches are 100 per class (5 when ``quick``) with latents drawn as the
    environment draws them (uniform in [-1, 1]), seed 0. A painted real test digit is judged by judges
    that saw it unpainted, so its judge accuracies are an upper bound."""
    any_cfg = next(iter(configs.values()))
    ref = generate.reference_for(any_cfg)
    per_class = 5 if quick else 100
    labels = np.repeat(np.arange(10), per_class)
    latent_dim = max(c.latent_dim for c in configs.values())
    latent = torch.rand(len(labels), latent_dim, generator=torch.Generator().manual_seed(0)) * 2 - 1
    model = rewards.style_model(any_cfg.data_path, any_cfg.ink_levels, latent_dim, True)
    sketches = model.sketch(torch.as_tensor(labels), latent).numpy()
    out = {"real test digits": generate.M.real_metrics(ref),
           "sketches (the style model on its own)": generate.evaluate_images(sketches, labels, any_cfg), "floors": {}}
    test_x, test_y = dataset(any_cfg).split("test")
    if quick:
        test_x, test_y = test_x[:20], test_y[:20]
    for cfg in configs.values():
        key = f"{cfg.mode}, T = {cfg.horizon}, {cfg.ink_levels} inks" + (f", window {cfg.pen_window}"
                                                                          if cfg.mode == "pen" else "")
        if key in out["floors"]:
            continue
        t0 = time.perf_counter()
        floor = {"painter": FLOOR_PAINTERS[cfg.mode]}
        floor["real digits painted"] = generate.evaluate_images(paint_targets(test_x, cfg), test_y, cfg)
        floor["sketches painted"] = generate.evaluate_images(paint_targets(sketches, cfg), labels, cfg)
        floor["seconds"] = time.perf_counter() - t0
        out["floors"][key] = floor
        if log is not None:
            log(f"floor {key} ({floor['painter']}): real digits painted Fréchet "
                f"{floor['real digits painted']['frechet']:.3f}, sketches painted "
                f"{floor['sketches painted']['frechet']:.3f} ({floor['seconds']:.0f} s)")
    return out


def _gen(mode: str, **kw) -> TrainConfig:
    return TrainConfig.preset("generate", mode, device="cpu", **kw)


GEN_VS_GAN_SECONDS = 300.0
"""The training time of every model of gen-vs-gan: CPU seconds of one thread (the experiment sets torch to
one thread and counts the process's CPU time, so a busy machine does not shorten a model's budget;
evaluation is off the clock)."""

_ADVERSARIAL = {"reward": "adversarial"}


_MLP = {"cond_decoder": "mlp"}
"""The first decoder of the class and latent (an MLP), which the pixel rows of gen-rewards, gen-adversarial and
gen-vs-gan's adversarial row were run with; the pixel preset's bilinear decoder is shaped like the sketches."""


def _gen_vs_gan_configs() -> dict:
    return {"GAN (two MLPs)": GanConfig(device="cpu"),
            "DQN, style reward, pixel": _gen("pixel"),
            "DQN, style reward, pixel, MLP decoder": _gen("pixel", **_MLP),
            "DQN, style reward, pen": _gen("pen"),
            "DQN, adversarial reward (relabelled), pixel": _gen("pixel", task_options=_ADVERSARIAL, **_MLP),
            "DQN, adversarial reward (relabelled), pen": _gen("pen", task_options=_ADVERSARIAL)}


def _gen_vs_gan_extra(quick: bool) -> dict:
    return generation_floors({k: c for k, c in _gen_vs_gan_configs().items() if isinstance(c, TrainConfig)},
                             quick=quick, log=print)


EXPERIMENTS = {e.name: e for e in [
    Experiment(
        "gen-rewards",
        "Generation, pixel mode, 200,000 environment steps each (the budget of lesson 09's live run), every row with "
        "the first decoder of class and latent (an MLP; the preset's is now bilinear, gen-vs-gan compares them): "
        "the style reward (the lesson's), "
        "the classifier-only reward (no latent code: nothing random in the observation), and an adversarial "
        "reward (a discriminator trained online, the reward of a GAN; with the latent code), 3 seeds each, 100 "
        "digits per class judged by classifiers trained on the test digits.",
        lambda: {"style reward": _gen("pixel", **_MLP),
                 "classifier reward": _gen("pixel", task_options={"reward": "classifier"}, latent_dim=0, **_MLP),
                 "adversarial reward": _gen("pixel", task_options={"reward": "adversarial", "relabel": False},
                                            **_MLP)},
        steps=200_000, run_one=_generate_one),
    Experiment(
        "gen-pen",
        "Generation in pen mode with the style reward, the preset of lesson 09's pen section, 200,000 environment "
        "steps each (the budget of gen-rewards), 3 seeds, 100 digits per class. (The pen with the relabelled "
        "adversarial reward is a row of gen-vs-gan.)",
        lambda: {"pen, style reward": _gen("pen")}, steps=200_000, run_one=_generate_one, threads=1),
    Experiment(
        "gen-adversarial",
        "Generation, pixel mode, the relabelled adversarial reward (rewards recomputed by the discriminator as it "
        "is when a batch is sampled, the discriminator trained on the replayed canvases), 200,000 environment "
        "steps each: the budget of gen-rewards, whose adversarial row is the first version, 3 seeds; the MLP "
        "decoder of class and latent, as in gen-rewards.",
        lambda: {"adversarial reward (relabelled)": _gen("pixel", task_options=_ADVERSARIAL, **_MLP)}, steps=200_000,
        run_one=_generate_one, threads=1),
    Experiment(
        "gen-vs-gan",
        f"The seed article's claim, head to head: a class-conditional GAN (two MLPs) against DQN painters with "
        f"the style reward and with the relabelled adversarial reward, in pixel and pen mode (the pixel style "
        f"painter with the preset's bilinear decoder of class and latent and with the first one, an MLP; the "
        f"other DQN rows with the MLP), each trained for "
        f"{GEN_VS_GAN_SECONDS:.0f} CPU seconds of one thread (torch.set_num_threads(1), the process's CPU time; "
        f"evaluation off the clock), 3 "
        f"seeds, 100 digits per class. Beside them (extra): real test digits, the sketches of the style model on "
        f"their own, and each canvas's floors (real test digits and sketches painted by the best planner).",
        _gen_vs_gan_configs, seconds=GEN_VS_GAN_SECONDS, run_one=_generate_one, extra=_gen_vs_gan_extra,
        threads=1, clock="cpu"),
    Experiment(
        "gen-long",
        f"The pixel painter with the style reward (the preset, bilinear decoder) given twice gen-vs-gan's budget: "
        f"{2 * GEN_VS_GAN_SECONDS:.0f} CPU seconds of one thread each (the process's CPU time; evaluation off the "
        f"clock), 3 seeds, 100 digits per class: does more training close the gap to the sketches?",
        lambda: {"DQN, style reward, pixel": _gen("pixel")}, seconds=2 * GEN_VS_GAN_SECONDS, run_one=_generate_one,
        threads=1, clock="cpu"),
    Experiment(
        "seed-fixes",
        "Pixel task, 60 s of training each on the CPU: the seed article's agent as written, then with exploration, "
        "then with a real target network, then our batched trainer with the seed's MLP and with the conv Q-map.",
        lambda: {label: TrainConfig.preset("reconstruct", "pixel", device="cpu") for label in SEED_STEPS},
        seconds=60.0, run_one=_seed_fixes_one),
    Experiment(
        "pen-dqn",
        "Pen task, the preset of lesson 07 (`dqngen train --mode pen --seconds 600`): 600 s of training each on "
        "the CPU (evaluations off the clock), 3 seeds, test MSE on all 898 held-out digits. Run it on an idle "
        "machine with the thread count you want to report (OMP_NUM_THREADS).",
        lambda: {"pen DQN (preset)": _pen()}, seconds=600.0),
    Experiment(
        "pen-gamma0",
        "Pen task, the bootstrapping proof: the pen preset against the same agent with γ = 0 (same net, reward "
        "and budget of 150,016 environment steps, the learning rate decayed over them), 3 seeds.",
        lambda: {"DQN (γ = 0.9)": _pen_short(), "γ = 0 (no bootstrapping)": _pen_short(gamma=0.0)},
        steps=PEN_ABLATION_STEPS),
    Experiment(
        "pen-ablations",
        "Pen task, the same budget as pen-gamma0 (whose DQN row is the reference): the preset without its target "
        "network, without replay (each update on the newest transitions), and without Double DQN (the target's "
        "own max), 3 seeds. (Double DQN's bias is measured exactly on the pixel task, pixel-bootstrap.)",
        lambda: {"no target network": _pen_short(target="none"), "no replay": _pen_short(replay=False),
                 "no Double DQN": _pen_short(double=False)},
        steps=PEN_ABLATION_STEPS),
    Experiment(
        "planners",
        "The non-learning baselines on the held-out digits: one-step greedy, two-step lookahead and beam "
        "search (width 16 and 64) in pen mode, and greedy in pixel mode (the perfect pixel painter).",
        dict, extra=lambda quick: {"planners": planner_numbers(quick, log=print)}),
    Experiment(
        "pixel-gamma0",
        "Pixel task: the course's DQN (γ = 0.5) against the same agent with γ = 0 (no bootstrapping), 3 seeds, "
        "the same number of environment steps: the pixel task is a contextual bandit.",
        lambda: {"DQN (γ = 0.5)": _pixel(), "γ = 0 (no bootstrapping)": _pixel(gamma=0.0)},
        steps=491_520),
    Experiment(
        "pixel-bootstrap",
        "Pixel task at γ = 0.9 and 0.99: Double DQN with a target network, plain DQN, and no target network, "
        "3 seeds each, with the exact Q* error and the overestimation bias measured during training.",
        _bootstrap_configs, steps=286_720, callback=lambda: ProbeCallback(20_480)),
]}


def _train_one(e: Experiment, label: str, cfg: TrainConfig, seed: int, quick: bool, log) -> dict:
    if quick:
        cfg = cfg.replace(eval_every=1024, eval_images=20, learning_starts=256)
    cb = e.callback() if e.callback else None
    if cb is not None and quick:
        cb.every = cb.next = 1024
    r = run_seeds(cfg, seeds=(seed,), steps=e.quick_steps if quick else e.steps,
                  seconds=None if quick else e.seconds, label=label, log=log, callback=cb, final_eval=True)
    return r.runs[0]


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def run_experiment(name: str, seeds=(0, 1, 2), out: str | None = None, quick: bool = False, force: bool = False,
                   log=print, command: str | None = None) -> str:
    """Run experiment ``name`` over ``seeds`` and write its result file (default ``result_path(name)``).

    Seeds are the outer loop and configurations the inner one, so that configurations compared
    on wall-clock budgets run side by side. ``quick``: a tiny budget (to check that it runs). An
    existing result file is refused unless ``force``.

    Each finished run is saved at once in the folder ``<result file without .json>.partial/`` (one
    JSON file per configuration and seed, and ``extra.json``), so a stopped experiment resumes where it
    stopped: the same command skips every run already saved there with the same config and budget.
    The folder is removed once the result file is written. Returns the path written.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; expected one of {', '.join(sorted(EXPERIMENTS))}")
    e = EXPERIMENTS[name]
    path = out or result_path(name + ("-quick" if quick else ""))
    check_out_file(path, force, "--out" if out else "the result file")   # before any work
    partial = os.path.splitext(path)[0] + ".partial"
    if force and os.path.isdir(partial):
        shutil.rmtree(partial)
    os.makedirs(partial, exist_ok=True)
    if e.threads is not None:
        torch.set_num_threads(e.threads)
    budget = {"seconds": None if quick else e.seconds, "steps": e.quick_steps if quick else e.steps}
    configs = e.configs()
    runs: dict[str, list] = {label: [] for label in configs}
    for s in seeds:
        for label, cfg in configs.items():
            file = os.path.join(partial, f"{_slug(label)}-seed{s}.json")
            key = {"label": label, "seed": s, "config": cfg.to_dict(), "budget": budget, "quick": quick}
            if os.path.exists(file):
                with open(file) as f:
                    saved = json.load(f)
                if {k: saved.get(k) for k in key} == json.loads(json.dumps(key)):
                    log(f"{label} seed {s}: kept from {file}")
                    runs[label].append(saved["metrics"])
                    continue
            run_one = e.run_one or _train_one
            metrics = run_one(e, label, cfg, s, quick, log)
            atomic_write_json({**key, "metrics": metrics}, file)
            runs[label].append(metrics)
    results = [SeedRuns(label, cfg, list(seeds), runs[label], budget) for label, cfg in configs.items()]
    extra = {}
    if e.extra:
        file = os.path.join(partial, "extra.json")
        if os.path.exists(file):
            with open(file) as f:
                extra = json.load(f)
        else:
            extra = e.extra(quick)
            atomic_write_json(extra, file)
    save_results(path, results, name=name, command=command or f"dqngen experiment {name}"
                 + (" --quick" if quick else ""), notes=e.description, extra=extra)
    shutil.rmtree(partial, ignore_errors=True)
    return path
