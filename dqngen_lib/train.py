"""The DQN trainer (lessons 05 and 08): one loop for the CPU and the GPU.

``train(cfg, seconds=..., steps=...)`` steps ``cfg.num_envs`` canvases together on the device,
stores every transition in a device ``ReplayBuffer``, and updates the Q-network with the Double
DQN Huber loss against a target network (soft or hard updates). Inside a chunk of steps
(``Trainer.run_steps``) nothing synchronises with the host: ε comes from a host-side step
count, random numbers from device generators, statistics accumulate in device tensors and are
read only between chunks (``hostsync.no_host_sync`` proves it in lesson 08). The budget, the
learning-curve points, the evaluations and the checkpoints are driven by ``budget.run_budget``.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import os
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Callable

import torch

from .agent import dqn_update, linear_schedule, sync_target
from .budget import Clock, Event, check_budget, check_clock, run_budget
from .checkpoint import (CHECKPOINT_FILE, Checkpoint, RunLock, check_out_dir, load_checkpoint, load_resume_state,
                         save_checkpoint)
from .config import TrainConfig, make_env, make_qnet, memory_estimate
from .nets import epsilon_greedy
from .replay import ReplayBuffer
from .rollout import evaluate_reconstruction
from .utils import atomic_write_json, check_memory, get_device, remove_stale_temporaries

__all__ = ["TrainResult", "Trainer", "train"]


@dataclass
class TrainResult:
    """What ``train`` returns: the trained network, the config, the metrics and the step counts."""

    qnet: torch.nn.Module
    cfg: TrainConfig
    metrics: dict
    env_steps: int
    updates: int
    out: str | None = None


class Trainer:
    """The training state and loop (lessons 05-08). ``train`` drives it; lesson 08 uses it directly.

    ``run_steps(k)`` plays ``k`` batched steps (``k * num_envs`` transitions) with their updates
    and never synchronises with the host; ``stats()`` reads the accumulated statistics (it
    synchronises, call it between chunks).
    """

    def __init__(self, cfg: TrainConfig, device=None):
        cfg.validate()
        self.cfg = cfg
        self.device = get_device(cfg.device if device is None else device)
        check_memory(memory_estimate(cfg), self.device, hint="lower --num-envs, --buffer-size, --batch-size or "
                     "--ink-levels (TrainConfig.num_envs, buffer_size, batch_size, ink_levels)")
        torch.manual_seed(cfg.seed)
        self.env = make_env(cfg, cfg.num_envs, "train", self.device, seed=cfg.seed)
        self.qnet = make_qnet(cfg, self.env.obs_shape, self.env.num_actions).to(self.device)
        self.target_net = copy.deepcopy(self.qnet) if cfg.target != "none" else None
        if self.target_net is not None:
            self.target_net.requires_grad_(False)
        cuda = self.device.type == "cuda"
        self.optimizer = torch.optim.Adam(self.qnet.parameters(), lr=cfg.lr,
                                          **({"capturable": True} if cuda else {}))
        capacity = cfg.buffer_size if cfg.replay else cfg.num_envs
        self.buffer = ReplayBuffer(capacity, self.env.obs_shape, self.device)
        self.act_gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)
        self.replay_gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 2)
        self.obs = self.env.reset(seed=cfg.seed)
        z = functools.partial(torch.zeros, device=self.device)
        self.ep_return = z(cfg.num_envs)
        # statistics summed on the device between two learning-curve points (read by ``stats``)
        self.sums = {"return": z(()), "episodes": z(()), "loss": z(())}
        self.acc_updates = 0
        self.env_steps = 0
        self.updates = 0
        self.update_credit = 0.0
        self.should_stop: Callable[[], bool] = lambda: False   # set by train(): the budget spent, or Ctrl-C
        self.elapsed = 0.0
        self.metrics = {"curves": {k: [] for k in ("env_steps", "updates", "seconds", "eps", "episode_return",
                                                   "loss")},
                        "eval": {k: [] for k in ("env_steps", "seconds", "test_mse", "mean_return")}}
        self._compiled = None
        if cfg.compile != "none":
            self._compiled = torch.compile(self.qnet, mode=None if cfg.compile == "default" else cfg.compile)

    @property
    def net(self) -> torch.nn.Module:
        """The network used in the loop (compiled when ``cfg.compile``)."""
        return self._compiled if self._compiled is not None else self.qnet

    @property
    def eps(self) -> float:
        c = self.cfg
        return linear_schedule(c.eps_start, c.eps_end, c.eps_decay_steps, self.env_steps)

    @property
    def lr(self) -> float:
        """The learning rate now: constant, or decaying linearly with the host's step count (like ε)."""
        c = self.cfg
        return c.lr if c.lr_decay_steps == 0 else linear_schedule(c.lr, c.lr_end, c.lr_decay_steps, self.env_steps)

    # -- the hot loop -----------------------------------------------------------------------
    def update(self) -> None:
        """One DQN update (``agent.dqn_update``) from a replay minibatch, then the target network's update."""
        c = self.cfg
        batch = self.buffer.sample(c.batch_size, self.replay_gen)
        if self.env.relabels:                    # a learning reward scores old transitions as it is now
            batch = batch._replace(rewards=self.env.relabel(batch.obs, batch.next_obs))
        loss = dqn_update(self.net, self.target_net, self.optimizer, batch, c.gamma, double=c.double, loss=c.loss,
                          max_grad_norm=c.max_grad_norm, lr=self.lr if c.lr_decay_steps else None)
        self.updates += 1
        self.sums["loss"] += loss
        self.acc_updates += 1
        if c.target == "soft":
            sync_target(self.qnet, self.target_net, c.tau)
        elif c.target == "hard" and self.updates % c.target_period == 0:
            sync_target(self.qnet, self.target_net)

    def run_steps(self, k: int) -> None:
        """Play ``k`` batched steps, storing transitions and updating (no host synchronisation)."""
        c, env = self.cfg, self.env
        if not self._spend_credit():      # updates owed by a step that was stopped
            return
        for _ in range(k):
            obs = self.obs
            with torch.no_grad():
                actions = epsilon_greedy(self.net(obs), self.eps, self.act_gen)
            next_obs, reward, term, trunc, _ = env.step(actions, validate=False)
            # The time t/T is part of the observation, so reaching the horizon ends the MDP:
            # no bootstrapping past it (a true terminal, not a time-limit truncation).
            done = term | trunc
            self.buffer.add(obs, actions, reward, next_obs, done, validate=False)
            self.ep_return += reward
            self.sums["return"] += (self.ep_return * done).sum()
            self.sums["episodes"] += done.sum()
            self.ep_return.masked_fill_(done, 0.0)
            self.obs = env.reset_done(done)
            self.env_steps += c.num_envs
            if self.env_steps >= c.learning_starts:
                self.update_credit += c.updates_per_step
                if not self._spend_credit():
                    return

    def _spend_credit(self) -> bool:
        """Do the updates owed (``updates_per_step`` per batched step). With many per step (``--updates-per-step
        1000``) the budget and Ctrl-C are heard every 64 updates: False when ``should_stop()`` stopped them; the
        credit left is kept (and saved), and the next ``run_steps`` pays it before stepping, as if never stopped."""
        while self.update_credit >= 1.0:
            self.update()
            self.update_credit -= 1.0
            if self.update_credit >= 1.0 and self.updates % 64 == 0 and self.should_stop():
                return False
        return True

    def host_tensors(self) -> list:
        """Tensors that live on the host by design (a CPU optimizer's step counters, the agent's and a
        learning potential's)."""
        opts = [self.optimizer] + [o for o in (getattr(self.env.potential, "opt", None),) if o is not None]
        return [st["step"] for o in opts for st in o.state.values()
                if isinstance(st.get("step"), torch.Tensor) and st["step"].device.type == "cpu"]

    # -- bookkeeping between chunks -------------------------------------------------------------
    def stats(self) -> dict:
        """Read and reset the accumulated statistics (synchronises)."""
        ret, episodes, loss = torch.stack(list(self.sums.values())).tolist()
        for v in self.sums.values():
            v.zero_()
        n_up, self.acc_updates = self.acc_updates, 0
        return {"episode_return": ret / episodes if episodes else None, "episodes": int(episodes),
                "loss": loss / n_up if n_up else None}

    def log_point(self) -> dict:
        """Append a point to the learning curves (synchronises); returns the statistics since the last."""
        s = self.stats()
        cur = self.metrics["curves"]
        for k, v in (("env_steps", self.env_steps), ("updates", self.updates), ("seconds", self.elapsed),
                     ("eps", self.eps), ("episode_return", s["episode_return"]), ("loss", s["loss"])):
            cur[k].append(v)
        reward_stats = getattr(self.env.potential, "stats", None)   # a learning reward's own curve (lesson 09)
        if reward_stats is not None:
            for k, v in reward_stats().items():
                cur.setdefault(k, []).append(v)
        return s

    def evaluate(self, max_images: int | None = None) -> dict | None:
        """Held-out reconstruction quality now (reconstruct task); appended to the eval curve."""
        if self.cfg.task != "reconstruct":
            return None
        ev = evaluate_reconstruction(self.qnet, self.cfg, "test", self.device, max_images=max_images)
        e = self.metrics["eval"]
        e["env_steps"].append(self.env_steps)
        e["seconds"].append(self.elapsed)
        e["test_mse"].append(ev["test_mse"])
        e["mean_return"].append(ev["mean_return"])
        return ev

    # -- saving and restoring ---------------------------------------------------------------
    def rng_state(self) -> dict:
        return {"torch": torch.get_rng_state(), "act": self.act_gen.get_state(), "replay": self.replay_gen.get_state()}

    def resume_state(self) -> dict:
        """Everything beyond the checkpoint that an exact resume needs (env, replay, counters)."""
        return {
            "env_steps": self.env_steps, "env": self.env.state_dict(), "buffer": self.buffer.state_dict(),
            "obs": self.obs.cpu(), "ep_return": self.ep_return.cpu(),
            "sums": {k: v.cpu() for k, v in self.sums.items()},
            "acc_updates": self.acc_updates, "update_credit": self.update_credit,
            "target_net": None if self.target_net is None else self.target_net.state_dict(),
        }

    def load_resume_state(self, st: dict) -> None:
        dev = self.device
        self.env.load_state_dict(st["env"])
        self.buffer.load_state_dict(st["buffer"])
        self.obs, self.ep_return = st["obs"].to(dev), st["ep_return"].to(dev)
        sums = st["sums"] if "sums" in st else dict(zip(self.sums, st["acc"]))   # "acc": the older files' name
        self.sums = {k: sums[k].to(dev) for k in self.sums}
        self.acc_updates, self.update_credit = int(st["acc_updates"]), float(st["update_credit"])
        if self.target_net is not None:
            self.target_net.load_state_dict(st["target_net"])

    def save(self, out_dir: str, metrics: dict | None = None, resume_state: bool = True) -> str:
        """Write the checkpoint and (unless ``resume_state=False``) its resume state into ``out_dir``."""
        extra = {"env_steps": self.env_steps, "updates": self.updates, "elapsed": self.elapsed,
                 "metrics": metrics if metrics is not None else self.metrics}
        return save_checkpoint(out_dir, self.cfg, self.qnet, self.optimizer, rng_state=self.rng_state(), extra=extra,
                               resume_state=self.resume_state() if resume_state else None)

    def restore(self, source: str | Checkpoint) -> None:
        """Continue from a folder written by ``save``, or its checkpoint already loaded (exactly: same weights
        as an uninterrupted run on CPU)."""
        ck = source if isinstance(source, Checkpoint) else load_checkpoint(source, device=self.device, kind="dqn")
        if ck.cfg.to_dict() != self.cfg.to_dict():
            diff = sorted(k for k, v in ck.cfg.to_dict().items() if self.cfg.to_dict().get(k) != v)
            raise ValueError(f"cannot resume: the checkpoint's config differs in {diff}")
        if ck.optimizer_state is None:
            raise ValueError(f"cannot resume from {ck.path}: the checkpoint holds no optimizer state")
        st = load_resume_state(ck)
        self.qnet.load_state_dict(ck.qnet.state_dict())
        self.optimizer.load_state_dict(ck.optimizer_state)
        r = ck.rng_state
        torch.set_rng_state(r["torch"])
        self.act_gen.set_state(r["act"])
        self.replay_gen.set_state(r["replay"])
        self.load_resume_state(st)
        self.env_steps, self.updates = int(ck.extra["env_steps"]), int(ck.extra["updates"])
        self.elapsed = float(ck.extra.get("elapsed", 0.0))
        if "metrics" in ck.extra:
            self.metrics = copy.deepcopy(ck.extra["metrics"])
            self.metrics.pop("final", None)


class _CtrlC:
    """Ctrl-C asks the run to stop between two chunks (``asked``); a second one stops at once. SIGTERM (what a
    scheduler or a closing terminal sends) is handled the same way, so the run is saved before it ends.
    While a save is written (``saving``) signals wait: the save finishes, then the run stops, so no signal
    leaves a folder without its newest complete checkpoint."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.asked = False
        self.old = {}
        self.writing = False

    @contextlib.contextmanager
    def saving(self):
        self.writing = True
        try:
            yield
        finally:
            self.writing = False

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.old = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        if self.writing:
            self.asked = True
            print("saving the run: it stops as soon as the checkpoint is written", file=sys.stderr, flush=True)
            return
        if self.asked:
            raise KeyboardInterrupt
        self.asked = True

    def __exit__(self, *exc):
        for s, old in self.old.items():
            signal.signal(s, old)
        return False


def train(cfg: TrainConfig, seconds: float | None = None, steps: int | None = None, out: str | None = None,
          progress: bool = False, resume: str | Checkpoint | None = None, callback: Callable | None = None,
          final_eval: bool = True, force: bool = False, clock: str = "wall") -> TrainResult:
    """Train a DQN agent for a budget (lesson 05); returns a ``TrainResult``.

    ``steps``: total environment steps (transitions) of the run, rounded up to whole batched
    steps of ``num_envs``; ``seconds``: total seconds of training (the evaluations on held-out
    digits every ``cfg.eval_every`` steps pause the clock). With both, whichever comes
    first. A resumed run (``resume``: the run's folder, or its checkpoint as ``load_checkpoint``
    returns it) counts what was done before, so re-running the same command with ``resume``
    finishes the interrupted run, with the same weights as an uninterrupted run when the budget is
    in steps (on CPU). ``out``: folder for the checkpoint,
    its resume state, ``metrics.json`` and ``config.json`` (written every ``cfg.checkpoint_every``
    seconds of training, on Ctrl-C and at the end); a folder that already holds another run is
    refused unless ``force=True``. Ctrl-C stops the run between two chunks of steps and saves it,
    so that ``resume`` continues exactly; a second Ctrl-C stops at once without saving.
    ``callback(trainer, point)`` is called at every learning-curve point. ``clock``: what
    ``seconds`` counts, ``"wall"`` time or ``"cpu"`` seconds of this process (``budget.CLOCKS``).
    """
    check_budget(seconds, steps)
    check_clock(clock)
    if out is None:
        return _train(cfg, seconds, steps, None, progress, resume, callback, final_eval, clock)
    resume_dir = resume.path if isinstance(resume, Checkpoint) else resume
    check_out_dir(out, resume=resume_dir, force=force)         # before anything is written
    with RunLock(out):                                         # one writer per folder
        check_out_dir(out, resume=resume_dir, force=force)     # a run another process finished meanwhile is kept
        stale = remove_stale_temporaries(out)
        if stale:
            print(f"removed {len(stale)} temporary file(s) an interrupted save left in {out}: {', '.join(stale)}",
                  file=sys.stderr)
        return _train(cfg, seconds, steps, out, progress, resume, callback, final_eval, clock)


def _train(cfg: TrainConfig, seconds, steps, out, progress, resume, callback, final_eval, clock) -> TrainResult:
    """The body of ``train``, its arguments checked (and, with ``out``, the folder locked)."""
    trainer = Trainer(cfg)
    if resume is not None:
        trainer.restore(resume)
    c, n = cfg, cfg.num_envs
    step_target = None if steps is None else -(-steps // n) * n
    if resume is not None and ((step_target is not None and trainer.env_steps >= step_target)
                               or (seconds is not None and trainer.elapsed >= seconds)):
        where = resume.path if isinstance(resume, Checkpoint) else resume
        raise ValueError(f"the run in {where} already reached this budget ({trainer.env_steps} environment steps, "
                         f"{trainer.elapsed:.0f} s of training): nothing to continue, its files are unchanged; give "
                         "a larger --steps or --seconds")
    if step_target is not None and c.learning_starts >= step_target and trainer.env_steps < c.learning_starts:
        print(f"warning: learning_starts = {c.learning_starts} is not below the budget of {step_target} environment "
              f"steps: this run makes no update (lower --learning-starts or raise --steps)", file=sys.stderr)
    clock = Clock(trainer.elapsed, kind=clock)
    saved = {"any": False}
    ctrl_c = _CtrlC()
    trainer.should_stop = lambda: ctrl_c.asked or (seconds is not None and clock.elapsed() >= seconds)

    def save(**kw):
        trainer.elapsed = clock.elapsed()
        with ctrl_c.saving():
            trainer.save(out, **kw)
        saved["any"] = True

    def log():
        trainer.elapsed = clock.elapsed()
        point = trainer.log_point()
        if bar is not None and point["episode_return"] is not None:
            bar.set_postfix(ret=f"{point['episode_return']:.3f}", eps=f"{trainer.eps:.2f}", refresh=False)
        if callback is not None:
            callback(trainer, point)

    def evaluate():
        trainer.elapsed = clock.elapsed()
        trainer.evaluate(c.eval_images)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        if step_target is not None:
            bar = tqdm(total=step_target, initial=min(trainer.env_steps, step_target), unit="step",
                       unit_scale=True, desc="train", dynamic_ncols=True)
        else:
            bar = tqdm(total=float(seconds), initial=min(trainer.elapsed, seconds), unit="s",
                       bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{postfix}]", desc="train")

    def show():
        if step_target is not None:
            bar.update(trainer.env_steps - bar.n)
        else:
            bar.n = min(clock.elapsed(), seconds)
            bar.refresh()

    events = [Event(log, steps=c.log_every)]
    if c.eval_every:
        events.append(Event(evaluate, steps=c.eval_every, pause=True))
    if bar is not None:
        events.append(Event(show))
    if out is not None and c.checkpoint_every:
        events.append(Event(save, seconds=c.checkpoint_every))
    interrupted = hard_stop = False
    try:
        with ctrl_c:
            try:
                run_budget(trainer.run_steps, lambda: trainer.env_steps, seconds=seconds, steps=step_target, unit=n,
                           max_chunk=max(1, c.log_every // n), events=events, stop=lambda: ctrl_c.asked, clock=clock)
            except KeyboardInterrupt:   # the second Ctrl-C: stopped inside a chunk, not saved
                hard_stop = True
            interrupted = ctrl_c.asked
    finally:
        if bar is not None:
            bar.close()
    trainer.elapsed = clock.elapsed()
    if hard_stop:
        kept = out is not None and (saved["any"] or resume is not None) and os.path.exists(
            os.path.join(out, CHECKPOINT_FILE))
        print("stopped inside a chunk of steps: nothing saved" +
              (f"; the last checkpoint in {out} is kept (resume with --resume {out})" if kept else
               (f"; {out} holds no checkpoint of this run yet" if out is not None else "")), file=sys.stderr)
        raise KeyboardInterrupt
    metrics = copy.deepcopy(trainer.metrics)
    final = {"env_steps": trainer.env_steps, "updates": trainer.updates, "seconds": trainer.elapsed,
             "env_steps_per_s": trainer.env_steps / max(trainer.elapsed, 1e-9),
             "updates_per_s": trainer.updates / max(trainer.elapsed, 1e-9), "device": str(trainer.device),
             "interrupted": interrupted}
    with _CtrlC() as guard:     # the final saves finish whatever signal arrives; the evaluation may be cut short
        if out is not None:
            with guard.saving():
                trainer.save(out)  # the resume state, before the (slow) final evaluation
        if final_eval and c.task == "reconstruct" and not interrupted and not guard.asked:
            try:
                ev = evaluate_reconstruction(trainer.qnet, c, "test", trainer.device)
                final.update({k: ev[k] for k in ("test_mse", "mean_return", "blank_mse")})
            except KeyboardInterrupt:         # a second Ctrl-C: the run is saved, only its evaluation is skipped
                print("final evaluation skipped (Ctrl-C); dqngen evaluate measures the saved run", file=sys.stderr)
        metrics["final"] = final
        if out is not None:     # the resume state written above is unchanged: only the checkpoint gains "final"
            with guard.saving():
                trainer.save(out, metrics=metrics, resume_state=False)
                atomic_write_json(metrics, os.path.join(out, "metrics.json"))
                atomic_write_json(c.to_dict(), os.path.join(out, "config.json"))
    if interrupted:
        print(f"interrupted after {trainer.env_steps} steps" + (f"; resume with --resume {out}" if out else ""),
              file=sys.stderr)
    return TrainResult(trainer.qnet, c, metrics, trainer.env_steps, trainer.updates, out)
