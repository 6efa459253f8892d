"""Planners: non-learning baselines for the reconstruct task (lessons 00 and 07).

A planner sees the target, as the agent does, and searches over the environment's own rules
(``envs.pen_transition``, ``envs.pixel_transition``, ``envs.reconstruction_reward``): there is no
second copy of the dynamics. Each is a **policy** for the course's one episode player,
``rollout.play(env, PlannerPolicy("lookahead:2"))``, so a planner is evaluated exactly like an agent
(``rollout.evaluate_reconstruction(PlannerPolicy(spec), cfg)``). All work on batches of canvases
on the env's device, every tensor created there.

* ``greedy``: the action of best immediate reward.
* ``lookahead:K``: the first action of the best K-step action sequence (summed reward), replanned
  every step; near the end of the episode the depth shrinks to the steps left.
* ``beam:W``: beam search over the rest of the episode, planned once at its first step: the W best
  partial sequences by cumulative reward are kept at every depth, and the best complete one is
  played.

Ties go to the lowest action index (for sequences: the lexicographically smallest), and no planner
ever chooses ``stop``: every episode lasts the full horizon (a pen-up move is as free as stopping,
so nothing is lost). ``parse_planner`` reads the specs ``"greedy" | "lookahead:K" | "beam:W"``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .data import ink_values
from .envs import num_actions, pen_transition, pixel_transition, reconstruction_reward
from .utils import is_int

__all__ = ["Planner", "PLANNER_KINDS", "parse_planner", "PlannerPolicy", "best_first_actions", "beam_search"]

PLANNER_KINDS = ("greedy", "lookahead", "beam")

# rows (canvas x candidate) expanded at once; bounds the memory of lookahead and beam search
_MAX_ROWS = 1 << 19
# rows one canvas may need (a search tree that cannot be split): beyond it a planner is refused before it starts
_MAX_STATE_ROWS = 1 << 22


def _check_search_size(planner, num_candidates: int, rows: int) -> None:
    """``ValueError`` when one canvas's search needs more than ``_MAX_STATE_ROWS`` rows (it would exhaust memory)."""
    if rows > _MAX_STATE_ROWS:
        what = (f"{num_candidates}^{planner.k} = {rows:,} action sequences" if planner.kind == "lookahead"
                else f"{num_candidates} x {planner.k} = {rows:,} candidates per step")
        raise ValueError(f"planner {planner}: one canvas's search expands {what}, more than the "
                         f"{_MAX_STATE_ROWS:,} this planner holds in memory at once; choose a smaller size")


@dataclass(frozen=True)
class Planner:
    """A planner: ``kind`` in ``PLANNER_KINDS`` and its size ``k`` (lookahead depth or beam width)."""

    kind: str
    k: int = 1

    def __post_init__(self):
        if self.kind not in PLANNER_KINDS:
            raise ValueError(f"unknown planner {self.kind!r}; expected one of {', '.join(map(repr, PLANNER_KINDS))}")
        if not is_int(self.k, 1):
            raise ValueError(f"planner {self.kind!r} needs a positive integer size, got {self.k!r}")
        if self.kind == "greedy" and self.k != 1:
            raise ValueError(f"planner 'greedy' takes no size (it is lookahead:1), got {self.k!r}")

    def __str__(self) -> str:
        return "greedy" if self.kind == "greedy" else f"{self.kind}:{self.k}"


def parse_planner(spec) -> Planner:
    """``"greedy"``, ``"lookahead:K"`` or ``"beam:W"`` (K, W positive integers) -> ``Planner``.

    A ``Planner`` passes through unchanged. Anything else raises ``ValueError`` naming the bad value.
    """
    if isinstance(spec, Planner):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"a planner spec must be a string such as 'greedy', 'lookahead:2' or 'beam:16', "
                         f"got {spec!r}")
    s = spec.strip().lower()
    kind, sep, size = s.partition(":")
    if kind == "greedy":
        if sep:
            raise ValueError(f"planner spec {spec!r}: 'greedy' takes no size (did you mean 'lookahead:{size}'?)")
        return Planner("greedy", 1)
    if kind not in PLANNER_KINDS:
        raise ValueError(f"planner spec {spec!r}: unknown planner {kind!r}; expected 'greedy', "
                         f"'lookahead:K' or 'beam:W'")
    if not sep or not size:
        raise ValueError(f"planner spec {spec!r}: {kind!r} needs a size, e.g. '{kind}:"
                         f"{2 if kind == 'lookahead' else 16}'")
    try:
        k = int(size)
    except ValueError:
        raise ValueError(f"planner spec {spec!r}: the size {size!r} is not an integer") from None
    if k < 1:
        raise ValueError(f"planner spec {spec!r}: the size must be a positive integer, got {k}")
    return Planner(kind, k)


# ---------------------------------------------------------------------------------------------
# One expansion: every state times every candidate action, through the env's rules
# ---------------------------------------------------------------------------------------------

class _Rules:
    """The env's rules for one (mode, size, ink levels, pen window), bound to a device."""

    def __init__(self, mode: str, size: int, ink_levels: int, pen_window: int, device):
        self.mode, self.size, self.window = mode, size, pen_window
        self.ink = torch.as_tensor(ink_values(ink_levels), device=device)
        n_all = num_actions(mode, size, ink_levels, pen_window)
        self.num_candidates = n_all - 1 if mode == "pen" else n_all       # every action but stop
        self.candidates = torch.arange(self.num_candidates, device=device)

    @classmethod
    def of(cls, env) -> "_Rules":
        return cls(env.mode, env.size, env.ink_levels, env.pen_window, env.device)

    def expand(self, canvas, pen, target, norm):
        """States (B, ...) -> children (B * A, ...) of every candidate action, in (state, action) order.

        Returns ``(canvas, pen, target, norm, reward)`` of the children.
        """
        a = self.num_candidates
        c = canvas.repeat_interleave(a, dim=0)
        tgt = target.repeat_interleave(a, dim=0)
        nrm = norm.repeat_interleave(a, dim=0)
        acts = self.candidates.repeat(canvas.shape[0])
        p = pen.repeat_interleave(a, dim=0)
        if self.mode == "pen":
            new, p, _ = pen_transition(c, p, acts, self.ink, self.window)
        else:
            new = pixel_transition(c, acts, self.ink)
        return new, p, tgt, nrm, reconstruction_reward(c, new, tgt, nrm)


def best_first_actions(rules: _Rules, canvas, pen, target, norm, depth: int) -> torch.Tensor:
    """The first action of the best ``depth``-step sequence from each state (B,) (ties: lexicographic)."""
    b = canvas.shape[0]
    total = torch.zeros(b, device=canvas.device)
    for _ in range(depth):
        canvas, pen, target, norm, r = rules.expand(canvas, pen, target, norm)
        total = total.repeat_interleave(rules.num_candidates) + r
    # row-major over (state, a1, ..., aK): the first maximum is the lexicographically smallest sequence
    best = total.view(b, -1).argmax(dim=1)
    return best // rules.num_candidates ** (depth - 1)


def beam_search(rules: _Rules, canvas, pen, target, norm, steps: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Beam search of ``steps`` actions from each state; returns the best sequences (N, steps) and their
    summed rewards (N,).

    The beams are kept in lexicographic order of their sequences, so that a stable sort of the
    children by score breaks ties towards the lexicographically smallest sequence.
    """
    n, dev = canvas.shape[0], canvas.device
    a_n = rules.num_candidates
    score = torch.zeros(n, device=dev)
    seq = torch.zeros(n, 0, dtype=torch.int64, device=dev)
    beams = 1
    for _ in range(steps):
        tgt = target.repeat_interleave(beams, dim=0)
        nrm = norm.repeat_interleave(beams, dim=0)
        c2, p2, _, _, r = rules.expand(canvas, pen, tgt, nrm)         # (n * beams * A)
        cand = (score.repeat_interleave(a_n) + r).view(n, beams * a_n)
        keep = min(width, beams * a_n)
        order = torch.sort(cand, dim=1, descending=True, stable=True).indices[:, :keep]
        order = torch.sort(order, dim=1).values                        # back to lexicographic order
        flat = (order + torch.arange(n, device=dev)[:, None] * (beams * a_n)).reshape(-1)
        parent = flat // a_n
        canvas, pen = c2[flat], p2[flat]
        score = cand.reshape(-1)[flat]
        seq = torch.cat([seq[parent], (flat % a_n)[:, None]], dim=1)
        beams = keep
    best = score.view(n, beams).argmax(dim=1) + torch.arange(n, device=dev) * beams
    return seq[best], score[best]


class PlannerPolicy:
    """A planner as a policy of ``rollout.play``: ``policy(obs, env)`` -> the actions (N,) it takes
    from the env's current state (its canvases, pens, targets and clock; ``obs`` is not needed).

    ``greedy`` and ``lookahead:K`` replan at every step. ``beam:W`` plans the rest of the episode
    when it is first asked at a state it has no plan for, and then plays that plan. ``chunk``:
    canvases searched together (default: as many as keep about half a million candidate canvases
    in memory).
    """

    def __init__(self, planner, chunk: int | None = None):
        self.planner = parse_planner(planner)
        if chunk is not None and not is_int(chunk, 1):
            raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
        self.chunk = chunk
        self._plan = None                                    # beam search: the plan of the episode being played

    def __repr__(self) -> str:
        return f"PlannerPolicy({str(self.planner)!r})"

    def _chunks(self, n: int, rows_per_state: int):
        size = self.chunk or max(1, _MAX_ROWS // max(rows_per_state, 1))
        return range(0, n, size), size

    @torch.no_grad()
    def __call__(self, obs, env) -> torch.Tensor:
        if env.task != "reconstruct":
            raise ValueError(f"planners paint the reconstruct task, the env's task is {env.task!r}")
        rules = _Rules.of(env)
        t = int(env.t.min())
        left = max(env.horizon - t, 1)
        p = self.planner
        if p.kind == "beam":
            plan = self._plan
            if plan is None or plan["env"] is not env or t != plan["last"] + 1 \
                    or not torch.equal(plan["target"], env.target):           # a new episode: plan it
                _check_search_size(p, rules.num_candidates, rules.num_candidates * p.k)
                starts, size = self._chunks(env.num_envs, rules.num_candidates * p.k)
                seqs = [beam_search(rules, env.canvas[i:i + size], env.pen[i:i + size], env.target[i:i + size],
                                    env.norm[i:i + size], left, p.k)[0] for i in starts]
                plan = self._plan = {"env": env, "start": t, "seq": torch.cat(seqs), "target": env.target.clone()}
            plan["last"] = t
            step = (env.t - plan["start"]).clamp(0, plan["seq"].shape[1] - 1)
            return plan["seq"].gather(1, step[:, None]).squeeze(1)
        depth = min(p.k, left)
        _check_search_size(p, rules.num_candidates, rules.num_candidates ** depth)
        starts, size = self._chunks(env.num_envs, rules.num_candidates ** depth)
        return torch.cat([best_first_actions(rules, env.canvas[i:i + size], env.pen[i:i + size],
                                             env.target[i:i + size], env.norm[i:i + size], depth) for i in starts])
