"""Acting and learning (lesson 05): ε-greedy actions, the (Double) DQN target and loss, rollouts,
evaluation on held-out digits, and the seed's agent kept as a baseline.

Everything here works on batches of canvases and on any device; nothing in ``epsilon_greedy``,
``dqn_targets`` or ``dqn_loss`` synchronises with the host, so the trainer of lessons 05-06 can
call them inside its hot loop.
"""
from __future__ import annotations

import copy
import random
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import nets

__all__ = [
    "greedy_actions", "epsilon_greedy", "linear_schedule", "dqn_targets", "dqn_loss",
    "rollout", "reconstruct", "evaluate_reconstruction", "perfect_painter_mse", "reference_mse", "SeedAgent", "run_seed_agent",
]


# ---------------------------------------------------------------------------------------------
# Acting
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def greedy_actions(qnet: nn.Module, obs: torch.Tensor) -> torch.Tensor:
    """``argmax_a Q(obs, a)`` for a batch of observations (B, C, H, W) -> int64 (B,) (lesson 05)."""
    return nets.greedy_actions(qnet(obs))


@torch.no_grad()
def epsilon_greedy(qnet: nn.Module, obs: torch.Tensor, eps, generator: torch.Generator | None = None) -> torch.Tensor:
    """ε-greedy actions of a Q-network (lesson 05): with probability ``eps`` a uniform random action.

    ``eps`` is a float or a tensor (one value per canvas). Random numbers come from ``generator``
    (on the observations' device), so the choice is reproducible and needs no host
    synchronisation: both the greedy and the random action are computed for every canvas and
    ``torch.where`` picks one (``dqngen_lib.nets.epsilon_greedy`` of lesson 03 on ``qnet(obs)``).
    """
    if isinstance(eps, (int, float)) and not 0.0 <= float(eps) <= 1.0:
        raise ValueError(f"eps must lie in [0, 1], got {eps!r}")
    return nets.epsilon_greedy(qnet(obs), eps, generator)


def linear_schedule(start: float, end: float, duration: int, t: int) -> float:
    """Linear decay from ``start`` to ``end`` over ``duration`` steps, then constant (lesson 05)."""
    if duration <= 0:
        return end
    frac = min(max(t / duration, 0.0), 1.0)
    return start + frac * (end - start)


# ---------------------------------------------------------------------------------------------
# Learning: the DQN target and loss
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def dqn_targets(target_net: nn.Module, rewards: torch.Tensor, next_obs: torch.Tensor, terminated: torch.Tensor,
                gamma: float, online_net: nn.Module | None = None) -> torch.Tensor:
    """The bootstrapped DQN target ``y = r + γ (1 − terminated) Q_target(s', a*)`` (lesson 05).

    Plain DQN (``online_net=None``): ``a* = argmax_a Q_target(s', a)``, so the target network both
    chooses and evaluates the next action. Double DQN (``online_net`` given): the online network
    chooses ``a* = argmax_a Q_online(s', a)`` and the target network evaluates it, which removes
    most of the max-operator's over-estimation. The result carries no gradient.
    """
    q_next = target_net(next_obs)
    if online_net is None:
        v_next = q_next.max(dim=1).values
    else:
        a_star = online_net(next_obs).argmax(dim=1, keepdim=True)
        v_next = q_next.gather(1, a_star).squeeze(1)
    return rewards + gamma * (1.0 - terminated.float()) * v_next


def dqn_loss(qnet: nn.Module, batch, target_net: nn.Module | None = None, gamma: float = 0.9,
             double: bool = True, loss: str = "huber") -> torch.Tensor:
    """Mean TD loss of a replay ``Batch`` (lesson 05): Huber (or MSE) between ``Q(s, a)`` and the target.

    ``target_net=None`` bootstraps from ``qnet`` itself (the "no target network" ablation; the
    target is still detached). ``double`` selects Double DQN's ``a*`` with ``qnet``.
    """
    if loss not in ("huber", "mse"):
        raise ValueError(f"unknown loss {loss!r}; expected 'huber' or 'mse'")
    q = qnet(batch.obs).gather(1, batch.actions.long()[:, None]).squeeze(1)
    tnet = qnet if target_net is None else target_net
    y = dqn_targets(tnet, batch.rewards, batch.next_obs, batch.terminated, gamma,
                    online_net=qnet if double else None)
    if loss == "huber":
        return F.smooth_l1_loss(q, y)
    return F.mse_loss(q, y)


# ---------------------------------------------------------------------------------------------
# Rollouts and evaluation
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def rollout(qnet: nn.Module, env, eps: float = 0.0, index=None, label=None, seed: int | None = None,
            generator: torch.Generator | None = None) -> dict:
    """Play one episode on every canvas of a ``VecCanvasEnv`` and record it (lessons 05 and 08).

    ``index`` picks the target of each canvas (reconstruct task), ``label`` its class (generate
    task); ``seed`` re-seeds the env (and, unless ``generator`` is given, the ε draws).
    Canvases that finish early (pen ``stop``) stay frozen while the others go on.

    Returns NumPy arrays, with ``T`` the number of steps played (at most the horizon) and ``N``
    the number of canvases: ``obs`` (T+1, N, C, H, W), ``canvas`` (T+1, N, H, W), ``actions``
    (T, N), ``rewards`` (T, N), ``q`` (T, N, A) the Q-values the agent saw before each action,
    ``active`` (T, N) whether the canvas was still playing, ``pen`` (T+1, N, 2) in pen mode,
    ``target`` (N, H, W), ``label`` (N,), ``latent`` (N, D), ``length`` (N,), ``return`` (N,),
    ``final`` (N, H, W), plus ``channel_names``, ``num_actions``, ``mode``, ``task``.
    """
    was_training = qnet.training
    qnet.eval()
    if generator is None:
        generator = torch.Generator(device=env.device).manual_seed(0 if seed is None else int(seed) + 1)
    obs = env.reset(seed=seed, index=index, label=label)
    n = env.num_envs
    active = torch.ones(n, dtype=torch.bool, device=env.device)
    rec = {k: [] for k in ("obs", "canvas", "actions", "rewards", "q", "active", "pen")}
    rec["obs"].append(obs.cpu())
    rec["canvas"].append(env.canvas.cpu())
    if env.mode == "pen":
        rec["pen"].append(env.pen.cpu())
    ret = torch.zeros(n, device=env.device)
    length = torch.zeros(n, dtype=torch.int64, device=env.device)
    for _ in range(env.horizon):
        q = qnet(obs)
        greedy = q.argmax(dim=1)
        if eps > 0:
            rand = torch.randint(q.shape[1], (n,), generator=generator, device=env.device)
            greedy = torch.where(torch.rand(n, generator=generator, device=env.device) < eps, rand, greedy)
        frozen = (env.canvas.clone(), env.pen.clone(), env.t.clone(), env.phi.clone())
        obs_new, r, term, trunc, _ = env.step(greedy, validate=False)
        # finished canvases keep their state
        keep = ~active
        env.canvas = torch.where(keep[:, None, None], frozen[0], env.canvas)
        env.pen = torch.where(keep[:, None], frozen[1], env.pen)
        env.t = torch.where(keep, frozen[2], env.t)
        env.phi = torch.where(keep, frozen[3], env.phi)
        r = torch.where(active, r, torch.zeros_like(r))
        obs = env.observation()
        rec["q"].append(q.cpu())
        rec["actions"].append(greedy.cpu())
        rec["rewards"].append(r.cpu())
        rec["active"].append(active.cpu())
        rec["obs"].append(obs.cpu())
        rec["canvas"].append(env.canvas.cpu())
        if env.mode == "pen":
            rec["pen"].append(env.pen.cpu())
        ret += r
        length += active.long()
        active = active & ~(term | trunc)
        if not bool(active.any()):
            break
    qnet.train(was_training)
    out = {k: torch.stack(v).numpy() for k, v in rec.items() if v}
    out.update(target=env.target.cpu().numpy(), label=env.label.cpu().numpy(), latent=env.latent.cpu().numpy(),
               length=length.cpu().numpy(), final=env.canvas.cpu().numpy(),
               channel_names=list(env.channel_names), num_actions=env.num_actions, mode=env.mode, task=env.task)
    out["return"] = ret.cpu().numpy()
    return out


@torch.no_grad()
def reconstruct(qnet: nn.Module, cfg, split: str = "test", device=None, max_images: int | None = None,
                batch: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy reconstructions of the digits of ``split`` (lesson 05).

    Returns ``(images, targets, returns)``: the final canvases and their targets (the grey
    digits the agent is shown), float32 (N, H, W) in [0, 1], and each
    episode's return (N,). Plays the first ``max_images`` digits (all by default) in batches of
    ``batch`` canvases.
    """
    from .train import dataset, make_env

    if cfg.task != "reconstruct":
        raise ValueError(f"reconstruction needs a checkpoint of task 'reconstruct', this one is {cfg.task!r}")
    device = next(qnet.parameters()).device if device is None else torch.device(device)
    images, _ = dataset(cfg).split(split)
    m = len(images) if max_images is None else min(int(max_images), len(images))
    if m < 1:
        raise ValueError(f"max_images must be >= 1, got {max_images!r}")
    finals, targets, returns = [], [], []
    for start in range(0, m, batch):
        idx = np.arange(start, min(start + batch, m))
        env = make_env(cfg, len(idx), split=split, device=device, seed=cfg.seed)
        ep = rollout(qnet, env, eps=0.0, index=idx, seed=cfg.seed)
        finals.append(ep["final"])
        targets.append(ep["target"])
        returns.append(ep["return"])
    return np.concatenate(finals), np.concatenate(targets), np.concatenate(returns)


def evaluate_reconstruction(qnet: nn.Module, cfg, split: str = "test", device=None,
                            max_images: int | None = None) -> dict:
    """Held-out quality of a reconstruction agent (lesson 05).

    ``test_mse``: mean squared error per pixel between the greedy agent's final canvas and its
    target (the grey digit), over the digits of ``split``; ``blank_mse``: the same for a blank
    canvas; ``mean_return``: the mean episode return (the fraction of the error removed);
    ``images``: how many digits.
    """
    finals, targets, returns = reconstruct(qnet, cfg, split=split, device=device, max_images=max_images)
    return {
        "split": split,
        "images": int(len(finals)),
        "test_mse": float(np.mean((finals - targets) ** 2)),
        "blank_mse": float(np.mean(targets ** 2)),
        "mean_return": float(np.mean(returns)),
    }


def perfect_painter_mse(targets: np.ndarray, steps: int, ink_levels: int = 3) -> float:
    """MSE per pixel of the best pixel-mode painter with ``steps`` strokes (lessons 00 and 05).

    Painting pixel p with the ink nearest its target t removes ``t² − (ink − t)²`` of squared
    error; the best painter takes the ``steps`` largest of these gains, one stroke per pixel.
    """
    from .data import quantize

    f = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    gain = f ** 2 - (quantize(f, ink_levels) - f) ** 2
    best = -np.sort(-gain, axis=1)[:, :steps].sum(1)
    return float(((f ** 2).sum(1) - best).mean() / f.shape[1])


def reference_mse(cfg, split: str = "test") -> dict:
    """Reference points for ``evaluate_reconstruction`` in pixel mode (lesson 05).

    ``blank_mse``: a blank canvas. ``optimal_mse``: the perfect painter of ``cfg.horizon`` strokes
    (``perfect_painter_mse``), the best any pixel-mode agent can do.
    """
    from .train import dataset

    x, _ = dataset(cfg).split(split)
    return {"blank_mse": float(np.mean(x ** 2)),
            "optimal_mse": perfect_painter_mse(x, cfg.horizon, cfg.ink_levels)}


# ---------------------------------------------------------------------------------------------
# The seed's agent, written faithfully as a baseline
# ---------------------------------------------------------------------------------------------

class SeedAgent:
    """The seed project's agent, kept as it was written, for comparison (lesson 05).

    One environment, a ``deque`` replay sampled with ``random.sample``, the MLP Q-network, MSE
    loss, ε decayed multiplicatively after every update, and the target network synced when
    ``len(memory) % target_update == 0``. That last rule is the seed's quirk: while the memory
    fills up it syncs every ``target_update`` transitions, but once the deque is full its length
    never changes, so the target is then synced after *every* update (when ``memory_size`` is a
    multiple of ``target_update``, as in the seed) or never again. ``syncs`` counts them.
    """

    def __init__(self, obs_shape, num_actions: int, hidden: int = 256, lr: float = 1e-3, gamma: float = 0.9,
                 eps_start: float = 1.0, eps_end: float = 0.05, eps_decay: float = 0.9995,
                 memory_size: int = 10_000, batch_size: int = 64, target_update: int = 1000, seed: int = 0):
        from .nets import MLPQNet
        from .replay import DequeReplay

        torch.manual_seed(seed)
        self.rng = random.Random(seed)
        self.qnet = MLPQNet(obs_shape, num_actions, hidden=hidden)
        self.target_net = copy.deepcopy(self.qnet)
        self.optimizer = torch.optim.Adam(self.qnet.parameters(), lr=lr)
        self.memory = DequeReplay(memory_size, seed=seed)
        self.num_actions, self.gamma, self.batch_size = num_actions, gamma, batch_size
        self.eps, self.eps_end, self.eps_decay = eps_start, eps_end, eps_decay
        self.target_update = target_update
        self.syncs = 0
        self.updates = 0

    def act(self, obs: np.ndarray) -> int:
        """ε-greedy on one observation (a NumPy array), as the seed does it."""
        if self.rng.random() < self.eps:
            return self.rng.randrange(self.num_actions)
        with torch.no_grad():
            return int(self.qnet(torch.as_tensor(obs)[None]).argmax(dim=1).item())

    def remember(self, obs, action, reward, next_obs, terminated) -> None:
        self.memory.add(obs, action, reward, next_obs, terminated)

    def replay(self) -> float | None:
        """One update from a random minibatch; returns the loss (a Python float, as the seed logs it)."""
        if len(self.memory) < self.batch_size:
            return None
        b = self.memory.sample(self.batch_size)
        q = self.qnet(b.obs).gather(1, b.actions[:, None]).squeeze(1)
        with torch.no_grad():
            y = b.rewards + self.gamma * (1.0 - b.terminated) * self.target_net(b.next_obs).max(dim=1).values
        loss = F.mse_loss(q, y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.updates += 1
        if len(self.memory) % self.target_update == 0:
            self.target_net.load_state_dict(self.qnet.state_dict())
            self.syncs += 1
        self.eps = max(self.eps_end, self.eps * self.eps_decay)
        return loss.item()


def run_seed_agent(cfg, seconds: float | None = None, steps: int | None = None, eval_every: float | None = None,
                   agent_kwargs: dict | None = None, max_eval_images: int | None = None) -> dict:
    """Train ``SeedAgent`` on the gymnasium ``dqngen/Canvas-v0`` (one canvas) for a budget (lesson 05).

    ``cfg`` is a ``TrainConfig`` (mode, size, horizon, ink levels, seed, data). One update per
    environment step, as in the seed. Returns a dict with the agent, ``env_steps``, ``updates``,
    ``seconds``, ``syncs``, ``curve`` (seconds, env_steps, test_mse) when ``eval_every`` (seconds of
    training between evaluations) is given, and the final ``test_mse`` on the test digits.
    """
    import gymnasium as gym

    from .train import dataset

    if seconds is None and steps is None:
        raise ValueError("give a budget: seconds or steps")
    if cfg.task != "reconstruct":
        raise ValueError("the seed agent baseline is for the reconstruct task")
    images, labels = dataset(cfg).split("train")
    env = gym.make("dqngen/Canvas-v0", mode=cfg.mode, task="reconstruct", size=cfg.size, horizon=cfg.horizon,
                   ink_levels=cfg.ink_levels, pen_window=cfg.pen_window, images=images, labels=labels)
    obs, _ = env.reset(seed=cfg.seed)
    kw = dict(hidden=cfg.hidden, lr=cfg.lr, gamma=cfg.gamma, seed=cfg.seed)
    kw.update(agent_kwargs or {})
    agent = SeedAgent(env.observation_space.shape, env.action_space.n, **kw)
    curve = {"seconds": [], "env_steps": [], "test_mse": []}
    n, train_time, next_eval = 0, 0.0, eval_every
    t0 = time.perf_counter()
    while True:
        a = agent.act(obs)
        nxt, r, term, trunc, _ = env.step(a)
        # time is in the observation, so the horizon is a true end of the episode (as in our trainer)
        agent.remember(obs, a, r, nxt, float(term or trunc))
        agent.replay()
        obs = nxt
        if term or trunc:
            obs, _ = env.reset()
        n += 1
        train_time = time.perf_counter() - t0
        if eval_every is not None and train_time >= next_eval:
            ev = evaluate_reconstruction(agent.qnet, cfg, max_images=max_eval_images)
            curve["seconds"].append(train_time)
            curve["env_steps"].append(n)
            curve["test_mse"].append(ev["test_mse"])
            next_eval += eval_every
            t0 = time.perf_counter() - train_time  # evaluation time does not count
        if (steps is not None and n >= steps) or (seconds is not None and train_time >= seconds):
            break
    ev = evaluate_reconstruction(agent.qnet, cfg)
    return {"agent": agent, "env_steps": n, "updates": agent.updates, "seconds": train_time, "syncs": agent.syncs,
            "curve": curve, "test_mse": ev["test_mse"], "mean_return": ev["mean_return"]}
