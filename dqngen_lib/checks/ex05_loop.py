"""Check of exercise 05's training loop: ``check_dqn_loop(fn)``.

``fn(env, qnet, target_net, optimizer, buffer, act_gen, replay_gen, *, steps, batch_size, gamma, epsilon,
learning_starts, target_period) -> losses`` runs DQN for ``steps`` transitions: ε-greedy actions with
``epsilon(n)`` (``n`` the transitions so far) and ``act_gen``, every transition stored in ``buffer`` with
``done = terminated | truncated``, finished canvases restarted, and once ``learning_starts`` transitions
are stored one update per batched step: a minibatch from ``buffer.sample(batch_size, replay_gen)``, the
Double DQN Huber loss of section 2, ``zero_grad`` / ``backward`` / ``step``, and a hard copy of the online
network into ``target_net`` every ``target_period`` updates. It returns the loss of every update.

The check builds everything on a tiny problem (16 canvases of 8x8 digits, 4 strokes, one ink, a small
conv Q-map; about a second on one CPU thread) and watches the run: every transition stored is replayed
through the environment's rules, every ``sample`` call and every optimizer step is inspected (the
gradient of the learner's loss against the reference loss on the same minibatch, gradients left over
from earlier updates, gradients in the target network), the calls to ``epsilon`` are recorded, and the
target network is compared with the online network before every update. At the end the greedy painter
must have learned: on 200 held-out digits it must remove clearly more error than an untrained one.
"""
from __future__ import annotations

import copy
import functools
import math
import numbers

import torch
from torch.nn import functional as F

from ..agent import dqn_loss, linear_schedule
from ..data import load_digits
from ..envs import VecCanvasEnv, pixel_transition, reconstruction_reward
from ..nets import build_qnet
from ..replay import Batch, ReplayBuffer
from ..rollout import play
from ._common import CheckError, call, fmt_value, ok

__all__ = ["check_dqn_loop", "LOOP_SETTINGS"]

#: The tiny problem the check trains on, and the loop's arguments.
LOOP_SETTINGS = dict(num_envs=16, horizon=4, ink_levels=2, steps=3200, batch_size=64, gamma=0.5, lr=3e-3,
                     eps_start=1.0, eps_end=0.05, eps_decay=1600, learning_starts=256, target_period=20,
                     channels=8, seed=0, eval_digits=200)
_MIN_RETURN = 0.15          # a learning loop reaches about 0.25, an untrained network about -0.14
_LOOP_ARGS = ("env", "qnet", "target_net", "optimizer", "buffer", "act_gen", "replay_gen")


def _fail(message: str):
    raise CheckError(f"dqn_loop (16 canvases of 8x8 digits, 4 strokes, 3200 steps): {message}")


@functools.lru_cache(maxsize=1)
def _digits():
    d = load_digits(ink_levels=None)
    return (torch.as_tensor(d.x_train), torch.as_tensor(d.y_train), torch.as_tensor(d.x_test))


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


class _Epsilon:
    """The schedule handed to the loop; it remembers every ``n`` it was asked about."""

    def __init__(self, s):
        self.s, self.calls = s, []

    def __call__(self, n):
        if isinstance(n, torch.Tensor) and n.numel() == 1:
            n = n.item()
        if isinstance(n, bool) or not isinstance(n, numbers.Real):
            _fail(f"epsilon(n) was called with {type(n).__name__} {n!r}; expected n, the number of transitions "
                  f"(environment steps over all canvases) taken so far")
        self.calls.append(float(n))
        return linear_schedule(self.s["eps_start"], self.s["eps_end"], self.s["eps_decay"], int(n))

    def value(self, n: int) -> float:
        return linear_schedule(self.s["eps_start"], self.s["eps_end"], self.s["eps_decay"], n)


class _Watch:
    """Everything the check sees while the loop runs."""

    def __init__(self, s, env, qnet, target_net, optimizer, buffer, act_gen, replay_gen, epsilon):
        self.s, self.env, self.qnet, self.target_net = s, env, qnet, target_net
        self.optimizer, self.buffer, self.act_gen, self.replay_gen, self.epsilon = \
            optimizer, buffer, act_gen, replay_gen, epsilon
        self.params = list(qnet.parameters())
        self.names = [n for n, _ in qnet.named_parameters()]
        self.pending = [[] for _ in self.params]
        self.internal = False
        self.transitions = 0            # stored
        self.env_calls = 0
        self.last_batch = None
        self.samples = 0
        self.updates = 0
        self.ref_losses: list[float] = []
        self.equal_before: list[bool] = []
        self.target_calls = 0
        self.act_forwards: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.explore = {"early": [0.0, 0.0], "late": [0.0, 0.0]}   # observed, expected non-greedy actions
        self.handles = []
        for i, p in enumerate(self.params):
            self.handles.append(p.register_hook(functools.partial(self._grad_hook, i)))
        self.handles.append(qnet.register_forward_hook(self._act_hook))
        self.handles.append(target_net.register_forward_hook(self._target_hook))
        self.handles.append(optimizer.register_step_pre_hook(self._step_hook))

    def close(self):
        for h in self.handles:
            h.remove()

    # -- hooks ---------------------------------------------------------------------------------
    def _grad_hook(self, i, grad):
        if not self.internal:
            self.pending[i].append(grad.detach().clone())

    def _act_hook(self, module, inputs, output):
        x = inputs[0] if inputs else None
        if self.internal or not isinstance(x, torch.Tensor) or x.shape[0] != self.env.num_envs:
            return
        self.act_forwards = (self.act_forwards + [(x.detach().clone(), output.detach().argmax(dim=1))])[-4:]

    def _target_hook(self, module, inputs, output):
        if not self.internal:
            self.target_calls += 1

    # -- the environment and the buffer --------------------------------------------------------
    def on_env_step(self):
        self.env_calls += 1
        if self.env_calls * self.env.num_envs > self.s["steps"]:
            _fail(f"the loop went on past steps = {self.s['steps']:,} transitions ({self.env_calls} batched steps of "
                  f"{self.env.num_envs} canvases so far): steps counts transitions over all canvases, "
                  f"{self.s['steps'] // self.env.num_envs} batched steps here")

    def on_add(self, obs, actions, rewards, next_obs, terminated):
        n_envs, horizon = self.env.num_envs, self.env.horizon
        obs, next_obs = torch.as_tensor(obs).float(), torch.as_tensor(next_obs).float()
        actions = torch.as_tensor(actions).long()
        rewards, done = torch.as_tensor(rewards).float(), torch.as_tensor(terminated).float()
        if obs.shape[0] != n_envs:
            _fail(f"buffer.add received {obs.shape[0]} transitions at once; expected the {n_envs} of one batched "
                  f"step (one transition per canvas)")
        t_obs = torch.round(obs[:, -1, 0, 0] * horizon).long()
        t_next = torch.round(next_obs[:, -1, 0, 0] * horizon).long()
        at = ("in the first batched step" if self.transitions == 0 else
              f"in the batched step stored after {self.transitions:,} transitions")
        if torch.equal(obs, next_obs):
            _fail(f"the obs and next_obs stored are the same observation ({at}); store the observation the actions "
                  f"were chosen in as obs and the one env.step returned as next_obs (was obs overwritten with "
                  f"next_obs before buffer.add?)")
        if bool((t_obs == t_next + 1).all()):
            _fail(f"obs and next_obs are swapped ({at}): the stored next_obs is one step *earlier* than obs")
        if bool((t_obs >= horizon).any()):
            _fail(f"an obs at t = {int(t_obs.max())} >= T = {horizon} was stored ({at}): the finished canvases were "
                  f"never restarted; call env.reset_done(done) after storing the transitions")
        reset = (t_next == 0) & (t_obs == horizon - 1)
        if bool(reset.any()):
            _fail(f"{int(reset.sum())} transitions ended an episode and their stored next_obs is the first "
                  f"observation of the *next* episode ({at}, at t = 0 on a blank canvas): store the next_obs that "
                  f"env.step returned, and restart with env.reset_done only afterwards")
        if not bool((t_next == t_obs + 1).all()):
            i = int((t_next != t_obs + 1).nonzero()[0, 0])
            _fail(f"canvas {i}: the stored obs is at t = {int(t_obs[i])} and the stored next_obs at t = "
                  f"{int(t_next[i])} ({at}); a transition goes from one step to the next")
        want_canvas = pixel_transition(obs[:, 0], actions, self.env.ink)
        bad = ~(want_canvas - next_obs[:, 0]).abs().flatten(1).le(1e-6).all(dim=1)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            _fail(f"canvas {i}: the stored action {int(actions[i])} ({self.env.codec.describe(int(actions[i]))}) does "
                  f"not turn the stored obs into the stored next_obs ({at}); store the actions the environment was "
                  f"stepped with")
        want_r = reconstruction_reward(obs[:, 0], next_obs[:, 0], obs[:, 1])
        if not torch.allclose(rewards, want_r, atol=1e-5):
            i = int(((rewards - want_r).abs() > 1e-5).nonzero()[0, 0])
            _fail(f"canvas {i}: the stored reward is {fmt_value(rewards[i])}, the transition earned "
                  f"{fmt_value(want_r[i])} ({at}); store the rewards env.step returned")
        want_done = (t_next >= horizon).float()
        if not torch.equal(done, want_done):
            missed = int(((want_done == 1) & (done == 0)).sum())
            if missed:
                _fail(f"{missed} transitions reached the horizon (t = T = {horizon}) and were stored with done = 0 "
                      f"({at}): pixel mode never *terminates*, its episodes are *truncated* at the horizon, and the "
                      f"time t/T is in the observation, so the horizon ends the episode; store done = terminated | "
                      f"truncated, or the last step's target bootstraps past the end ((1 - done) never acts)")
            _fail(f"{int(((want_done == 0) & (done == 1)).sum())} transitions were stored with done = 1 though their "
                  f"episode went on ({at})")
        self._exploration(obs, actions)
        self.transitions += n_envs

    def _exploration(self, obs, actions):
        greedy = next((g for x, g in reversed(self.act_forwards) if x.shape == obs.shape and torch.equal(x, obs)), None)
        if greedy is None:
            return
        eps = self.epsilon.value(self.transitions)
        phase = "early" if eps >= 0.5 else "late" if eps <= 0.2 else None
        if phase:
            a = self.env.num_actions
            self.explore[phase][0] += float((actions != greedy).sum())
            self.explore[phase][1] += eps * (1 - 1 / a) * len(actions)

    def on_sample(self, batch_size, generator):
        if generator is None:
            _fail("buffer.sample was called without a generator: the minibatches came from torch's global random "
                  "state, so the run cannot be reproduced; pass the replay generator, buffer.sample(batch_size, "
                  "replay_gen)")
        if generator is self.act_gen:
            _fail("buffer.sample was called with act_gen; exploration and replay draw from their own generators: "
                  "buffer.sample(batch_size, replay_gen)")
        if generator is not self.replay_gen:
            _fail("buffer.sample was called with a generator other than replay_gen (a new one?); pass the one given, "
                  "buffer.sample(batch_size, replay_gen)")
        if batch_size != self.s["batch_size"]:
            _fail(f"buffer.sample drew {batch_size!r} transitions; expected batch_size = {self.s['batch_size']}")
        if self.transitions < self.s["learning_starts"]:
            _fail(f"buffer.sample was called with only {self.transitions} transitions stored; the updates start once "
                  f"learning_starts = {self.s['learning_starts']} are")
        self.samples += 1

    # -- the optimizer step ----------------------------------------------------------------------
    def _step_hook(self, optimizer, args, kwargs):
        if self.internal:
            return
        self.updates += 1
        u = self.updates
        at = f"update {u} (after {self.transitions:,} transitions)"
        if not any(self.pending):
            _fail(f"optimizer.step() at {at} came without loss.backward() before it: nothing to apply")
        raw = _flat([torch.stack(g).sum(0) if g else torch.zeros_like(p) for g, p in zip(self.pending, self.params)])
        grads = [p.grad for p in self.params]
        if all(g is None or not bool(g.any()) for g in grads):
            _fail(f"at {at} the gradients were cleared between loss.backward() and optimizer.step(): the step had "
                  f"nothing to apply; clear them *before* backward (optimizer.zero_grad(); loss.backward(); "
                  f"optimizer.step())")
        held = _flat([torch.zeros_like(p) if g is None else g for g, p in zip(grads, self.params)])
        cos = float(F.cosine_similarity(held, raw, dim=0)) if float(raw.norm()) > 0 else 1.0
        # .grad may be this update's gradient, or a shrunk copy of it (clipping); never more
        if cos < 0.9999 or float(held.norm()) > float(raw.norm()) * (1 + 1e-4):
            _fail(f"at {at} the gradients in .grad are not this update's alone: they add up over the updates "
                  f"(|.grad| = {float(held.norm()):.4g}, this loss's gradient {float(raw.norm()):.4g}); call "
                  f"optimizer.zero_grad() before loss.backward() at every update")
        leaked = [n for n, p in self.target_net.named_parameters() if p.grad is not None and bool(p.grad.any())]
        if leaked:
            _fail(f"at {at} gradients flowed into the target network (its parameters {leaked[:3]} got a gradient); "
                  f"compute the targets under torch.no_grad(), they are constants of the regression")
        batch = self.last_batch
        if batch is None:
            _fail(f"{at} used no minibatch from buffer.sample (each update draws a fresh one)")
        self.last_batch = None
        full = u <= 10 or u % 10 == 0           # the gradient itself on some updates, the loss's value on all
        ref_value, ref = self._reference(batch, full)
        diff = float((raw - ref).norm() / ref.norm().clamp_min(1e-12)) if full else 0.0
        if diff > 1e-3:
            why = self._diagnose(batch, raw)
            _fail(f"at {at} the gradient of your loss differs from that of the Double DQN Huber loss of section 2 on "
                  f"the minibatch you sampled (relative difference {diff:.3f}){': ' + why if why else ''}")
        self.ref_losses.append(ref_value)
        self.equal_before.append(all(torch.equal(t, o) for t, o in zip(self.target_net.parameters(), self.params)))
        self.pending = [[] for _ in self.params]

    def _grad_of(self, loss) -> torch.Tensor:
        return _flat(torch.autograd.grad(loss, self.params, allow_unused=True, retain_graph=False))

    def _reference(self, batch, with_grad: bool = True):
        self.internal = True
        try:
            with torch.set_grad_enabled(with_grad):
                loss = dqn_loss(self.qnet, self.target_net, batch, self.s["gamma"], double=True, loss="huber")
            return float(loss.detach()), (self._grad_of(loss) if with_grad else None)
        finally:
            self.internal = False

    def _diagnose(self, batch, raw) -> str:
        """Name the mistake whose gradient matches the learner's, if one does."""
        qnet, tnet, gamma = self.qnet, self.target_net, self.s["gamma"]
        b = batch
        no_done = Batch(b.obs, b.actions, b.rewards, b.next_obs, torch.zeros_like(b.terminated))
        inverted = Batch(b.obs, b.actions, b.rewards, b.next_obs, 1.0 - b.terminated)

        def through_target():  # y from the online network, with its gradient
            q = qnet(b.obs).gather(1, b.actions[:, None]).squeeze(1)
            y = b.rewards + gamma * (1 - b.terminated) * qnet(b.next_obs).max(1).values
            return F.smooth_l1_loss(q, y)

        def at_next_obs():
            q = qnet(b.next_obs).gather(1, b.actions[:, None]).squeeze(1)
            with torch.no_grad():
                y = b.rewards + gamma * (1 - b.terminated) * tnet(b.next_obs).gather(
                    1, qnet(b.next_obs).argmax(1, keepdim=True)).squeeze(1)
            return F.smooth_l1_loss(q, y)

        def summed():
            q = qnet(b.obs).gather(1, b.actions[:, None]).squeeze(1)
            with torch.no_grad():
                y = b.rewards + gamma * (1 - b.terminated) * tnet(b.next_obs).gather(
                    1, qnet(b.next_obs).argmax(1, keepdim=True)).squeeze(1)
            return F.smooth_l1_loss(q, y, reduction="sum")

        candidates = {
            "the targets bootstrap past the end of episodes: the (1 - done) factor is missing": lambda: dqn_loss(
                qnet, tnet, no_done, gamma),
            "the done flag is inverted: only the transitions that end an episode bootstrap": lambda: dqn_loss(
                qnet, tnet, inverted, gamma),
            "plain DQN targets (max over the target network); section 2's loss lets the online network choose the "
            "next action and the target network evaluate it": lambda: dqn_loss(qnet, tnet, b, gamma, double=False),
            "the targets come from the online network, not from target_net": lambda: dqn_loss(qnet, None, b, gamma),
            "the targets come from the online network *with* their gradient: compute them under torch.no_grad() "
            "with target_net": through_target,
            "the squared error instead of the Huber loss (F.smooth_l1_loss)": lambda: dqn_loss(qnet, tnet, b, gamma,
                                                                                               loss="mse"),
            "the loss is summed over the minibatch instead of averaged": summed,
            "Q(s, a) was taken at the next observations": at_next_obs,
            f"gamma = 0.9 instead of the gamma argument ({gamma:g})": lambda: dqn_loss(qnet, tnet, b, 0.9),
            f"gamma = 0.99 instead of the gamma argument ({gamma:g})": lambda: dqn_loss(qnet, tnet, b, 0.99),
            "gamma is missing from the target": lambda: dqn_loss(qnet, tnet, b, 1.0),
        }
        self.internal = True
        try:
            for why, make in candidates.items():
                g = self._grad_of(make())
                if float((raw - g).norm() / g.norm().clamp_min(1e-12)) < 1e-3:
                    return why
        finally:
            self.internal = False
        return ""


class _WatchedEnv(VecCanvasEnv):
    watch: _Watch | None = None

    def step(self, *args, **kwargs):
        if self.watch is not None:
            self.watch.on_env_step()
        return super().step(*args, **kwargs)


class _WatchedBuffer(ReplayBuffer):
    watch: _Watch | None = None

    def add(self, obs, actions, rewards, next_obs, terminated, validate: bool = True) -> None:
        if self.watch is not None:
            self.watch.on_add(obs, actions, rewards, next_obs, terminated)
        super().add(obs, actions, rewards, next_obs, terminated, validate=validate)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        if self.watch is not None:
            self.watch.on_sample(batch_size, generator)
        batch = super().sample(batch_size, generator)
        if self.watch is not None:
            self.watch.last_batch = batch
        return batch


def _greedy_return(qnet, s) -> float:
    """Mean return of the greedy painter on the first held-out digits (the fraction of the error removed)."""
    _, _, x_test = _digits()
    m = s["eval_digits"]
    env = VecCanvasEnv(m, images=x_test[:m], horizon=s["horizon"], ink_levels=s["ink_levels"], seed=0)
    return float(play(env, qnet, index=list(range(m)), seed=0)["return"].mean())


def _setup(s):
    x_train, y_train, _ = _digits()
    torch.manual_seed(s["seed"])
    env = _WatchedEnv(s["num_envs"], images=x_train, labels=y_train, horizon=s["horizon"], ink_levels=s["ink_levels"],
                      seed=s["seed"])
    qnet = build_qnet("conv", env.obs_shape, env.num_actions, channels=s["channels"], layers=1)
    target_net = copy.deepcopy(qnet)
    optimizer = torch.optim.Adam(qnet.parameters(), lr=s["lr"])
    buffer = _WatchedBuffer(s["steps"], env.obs_shape)
    act_gen = torch.Generator().manual_seed(s["seed"] + 1)
    replay_gen = torch.Generator().manual_seed(s["seed"] + 2)
    return env, qnet, target_net, optimizer, buffer, act_gen, replay_gen


def _expected_updates(s) -> int:
    n_envs = s["num_envs"]
    return sum(1 for k in range(1, s["steps"] // n_envs + 1) if k * n_envs >= s["learning_starts"])


def check_dqn_loop(fn) -> None:
    """``fn(env, qnet, target_net, optimizer, buffer, act_gen, replay_gen, *, steps, batch_size, gamma, epsilon,
    learning_starts, target_period) -> losses``: the DQN training loop, run and watched on a tiny problem."""
    s = dict(LOOP_SETTINGS)
    env, qnet, target_net, optimizer, buffer, act_gen, replay_gen = _setup(s)
    untrained = _greedy_return(qnet, s)
    target_start = [p.detach().clone() for p in target_net.parameters()]
    act_state = act_gen.get_state().clone()
    epsilon = _Epsilon(s)
    watch = _Watch(s, env, qnet, target_net, optimizer, buffer, act_gen, replay_gen, epsilon)
    env.watch = buffer.watch = watch
    kwargs = dict(steps=s["steps"], batch_size=s["batch_size"], gamma=s["gamma"], epsilon=epsilon,
                  learning_starts=s["learning_starts"], target_period=s["target_period"])
    try:
        got = call(fn, env, qnet, target_net, optimizer, buffer, act_gen, replay_gen, what="dqn_loop",
                   names=_LOOP_ARGS, mutable=True, **kwargs)
    finally:
        watch.close()
        env.watch = buffer.watch = None
    n_envs, steps, period = s["num_envs"], s["steps"], s["target_period"]

    # -- how much was done
    taken = watch.env_calls * n_envs
    if taken != steps:
        _fail(f"the loop took {taken:,} transitions ({watch.env_calls} batched steps of {n_envs} canvases); expected "
              f"steps = {steps:,} transitions (steps counts transitions over all canvases, {steps // n_envs} batched "
              f"steps here)")
    if watch.transitions != steps:
        _fail(f"{watch.transitions:,} of the {steps:,} transitions were stored in the buffer; every transition is "
              f"stored, once")
    want = _expected_updates(s)
    if watch.updates == 0:
        _fail(f"no optimizer step in {steps:,} transitions; once learning_starts = {s['learning_starts']} transitions "
              f"are stored, every batched step ends with one update (with the optimizer passed in)")
    if abs(watch.updates - want) > 1:
        _fail(f"{watch.updates} updates in {steps // n_envs} batched steps; expected one per batched step once "
              f"learning_starts = {s['learning_starts']} transitions are stored, {want} in all")
    if watch.target_calls == 0:
        _fail("target_net was never called: the targets must be computed with the target network")

    # -- exploration
    calls = epsilon.calls
    if not calls:
        _fail("epsilon(n) was never called: ε-greedy needs the exploration rate of the current step, epsilon(n) "
              "with n the transitions taken so far")
    if len(set(calls)) == 1:
        _fail(f"ε never decays: epsilon(n) was always asked with n = {calls[0]:g}; pass the number of transitions "
              f"taken so far, so that ε falls from {s['eps_start']:g} to {s['eps_end']:g}")
    if len(calls) < (steps // n_envs) // 2:
        _fail(f"epsilon(n) was called {len(calls)} times in {steps // n_envs} batched steps; ask for ε at every step")
    if max(calls) <= steps // n_envs + 1:
        if watch.updates and abs(max(calls) - watch.updates) <= 1 and abs(max(calls) - steps // n_envs) > 1:
            _fail(f"ε decays about {steps / max(max(calls), 1):.0f} times too slowly: the largest n passed to epsilon(n) "
                  f"was {max(calls):g}, the number of updates so far ({watch.updates}); n counts transitions "
                  f"({n_envs} per batched step, up to {steps:,})")
        _fail(f"ε decays {n_envs} times too slowly: the largest n passed to epsilon(n) was {max(calls):g}, the number "
              f"of batched steps; n counts transitions ({n_envs} per batched step, up to {steps:,})")
    if any(b < a for a, b in zip(calls, calls[1:])):
        _fail("the n passed to epsilon(n) went down at some step; it counts the transitions taken so far")
    if torch.equal(act_gen.get_state(), act_state):
        _fail("act_gen was never used: draw the random actions and the coin flips of ε-greedy from it, so that the "
              "run can be reproduced")
    early, late = watch.explore["early"], watch.explore["late"]
    if early[1] > 20 and early[0] < 0.5 * early[1]:
        _fail(f"while ε was above 0.5, {early[0]:.0f} actions differed from the greedy one where about {early[1]:.0f} "
              f"were expected: the actions are not ε-greedy with ε = epsilon(n)")
    if late[1] > 5 and late[0] > 3 * late[1] + 20:
        _fail(f"once ε had fallen below 0.2, {late[0]:.0f} actions differed from the greedy one where about "
              f"{late[1]:.0f} were expected: random actions must come with probability ε, not 1 - ε")

    # -- the target network
    changed = any(not torch.equal(a, b) for a, b in zip(target_start, target_net.parameters()))
    if not changed:
        _fail(f"the target network never changed in {watch.updates} updates; copy the online network into it every "
              f"target_period = {period} updates (target_net.load_state_dict(qnet.state_dict()))")
    synced = [u + 1 for u, eq in enumerate(watch.equal_before) if eq and u > 0]
    if len(synced) >= len(watch.equal_before) - 2:
        _fail("the target network was equal to the online network before every update: it is copied after every "
              f"update, so it no longer holds the targets still; copy it every target_period = {period} updates")
    if not synced:
        _fail(f"the target network moved but never became a copy of the online network; expected a hard copy every "
              f"target_period = {period} updates (target_net.load_state_dict(qnet.state_dict()), not a soft update)")
    gaps = {b - a for a, b in zip(synced, synced[1:])}
    if gaps != {period} or synced[0] > period + 2:
        _fail(f"the target network became a copy of the online network before updates {synced[:6]}; expected a copy "
              f"every target_period = {period} updates")

    # -- what came back
    if got is None:
        _fail("returned None; expected the list of the loss of every update (did the function forget to return it?)")
    if isinstance(got, torch.Tensor):
        got = got.detach().reshape(-1).tolist()
    if not isinstance(got, (list, tuple)):
        _fail(f"returned {type(got).__name__}; expected a list with the loss of every update")
    if len(got) != len(watch.ref_losses):
        _fail(f"returned {len(got)} losses for {len(watch.ref_losses)} updates; expected one per update")
    for u, (g, r) in enumerate(zip(got, watch.ref_losses), start=1):
        value = float(g.detach()) if isinstance(g, torch.Tensor) else g
        if not isinstance(value, numbers.Real) or not math.isclose(float(value), r, rel_tol=1e-4, abs_tol=1e-6):
            _fail(f"the returned loss of update {u} is {g!r}, the loss of that update was {fmt_value(r)}; expected "
                  f"loss.item() of every update, in order")

    # -- did it learn?
    trained = _greedy_return(qnet, s)
    if trained < _MIN_RETURN:
        _fail(f"after the loop the greedy painter removes {trained:.3f} of the error of {s['eval_digits']} held-out "
              f"digits on average (its return), expected above {_MIN_RETURN}: an untrained network gets "
              f"{untrained:.3f}, a loop that learns about 0.25")
    ok(f"the loop took {steps:,} steps and {watch.updates} updates (targets copied every {period}); the greedy "
       f"painter's return on {s['eval_digits']} held-out digits went from {untrained:.3f} to {trained:.3f}")
