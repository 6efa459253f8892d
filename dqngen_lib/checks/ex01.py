"""Checks of exercise 01 (lesson 01): the reconstruction reward and the pixel-mode transition.

Both run the learner's function on several batches (square and non-square canvases, 2 to 5 ink
levels, ink values that are not evenly spaced), on the GPU too when there is one, and report an
input changed in place by name.
"""
from __future__ import annotations

import torch

from ..envs import pixel_transition, reconstruction_reward
from ._common import CheckError, call, cuda_devices, expect_close, expect_tensor, fmt_index, fmt_value, ok

__all__ = ["check_reconstruction_reward", "check_pixel_transition"]

_REWARD_ARGS = ("prev_canvas", "new_canvas", "target")
_TRANSITION_ARGS = ("canvas", "actions", "ink")
_FLOAT_HINT = " (the canvases are float32: keep their dtype, e.g. no .double() or float64 constants)"


def _levels(x: torch.Tensor, levels: int) -> torch.Tensor:
    return torch.round(x * (levels - 1)) / (levels - 1)


def _reward_cases():
    """``(description, prev, new, target)`` batches; each has a transition that makes the canvas worse."""
    g = torch.Generator().manual_seed(1)
    target = _levels(torch.rand(6, 4, 4, generator=g), 3)
    target[:, 0, 1] = 1.0                   # no blank target
    prev = _levels(torch.rand(6, 4, 4, generator=g), 3)
    new = prev.clone()
    new[:, 1, 2] = target[:, 1, 2]          # one pixel fixed
    new[0] = prev[0]                        # an action that changes nothing
    new[1, 0, 0] = 1.0 - target[1, 0, 0]    # a pixel made worse
    new[1, 1, 2] = prev[1, 1, 2]
    cases = [("6 transitions on 4x4 canvases (3 ink levels)", prev, new, target)]
    # Non-square canvases with 5 ink levels; two pixels change per transition, one of them for the worse.
    target = _levels(torch.rand(4, 3, 5, generator=g), 5)
    target[:, 2, 4] = 0.75
    prev = _levels(torch.rand(4, 3, 5, generator=g), 5)
    new = prev.clone()
    new[:, 0, 3] = target[:, 0, 3]
    new[:, 2, 0] = 1.0 - target[:, 2, 0]
    new[2] = target[2]                      # one transition that finishes the painting
    cases.append(("4 transitions on 3x5 canvases (5 ink levels)", prev, new, target))
    # A single canvas: the batch dimension must stay.
    t = torch.zeros(1, 2, 2)
    t[0, 0, 0], t[0, 1, 1] = 1.0, 0.5
    prev = torch.zeros(1, 2, 2)
    new = prev.clone()
    new[0, 1, 1] = 0.5
    cases.append(("1 transition on a 2x2 canvas", prev, new, t))
    return cases


def _reward_variants(prev, new, target, expected):
    e_prev = (prev - target).pow(2).flatten(1).sum(1)
    e_new = (new - target).pow(2).flatten(1).sum(1)
    norm = target.pow(2).flatten(1).sum(1)
    return {
        "some rewards are clamped at 0; an action that makes the canvas worse must get a negative reward "
        "(the error grows)": expected.clamp_min(0.0),
        "the sign is flipped: the reward is the error before the action minus the error after it":
            -expected,
        "the reward is not divided by ||target||^2 (the squared norm of each target)": e_prev - e_new,
        "the reward is divided by ||target|| instead of ||target||^2": (e_prev - e_new) / norm.sqrt(),
        "only the error after the action is used; the reward is the *reduction* of the error, "
        "(||c - x||^2 - ||c' - x||^2) / ||x||^2": -e_new / norm,
    }


def check_reconstruction_reward(fn) -> None:
    """``fn(prev_canvas, new_canvas, target) -> (N,)``: the squared-error reduction over ||target||^2."""
    devices = ["cpu", *cuda_devices()]
    for device in devices:
        for desc, prev, new, target in _reward_cases():
            prev, new, target = prev.to(device), new.to(device), target.to(device)
            on = "" if device == "cpu" else f" on {device}"
            got = call(fn, prev.clone(), new.clone(), target.clone(), what="reconstruction_reward",
                       names=_REWARD_ARGS)
            expected = reconstruction_reward(prev, new, target)
            expect_close(got, expected, f"reward of {desc}{on}", variants=_reward_variants(prev, new, target, expected),
                         dtype_hint=_FLOAT_HINT)
    # An episode from a blank canvas must telescope to the fraction of error removed.
    t = _reward_cases()[0][3][2:3]
    canvases = [torch.zeros_like(t)]
    for p in range(16):
        c = canvases[-1].clone()
        c.view(1, -1)[0, p] = t.view(-1)[p]
        canvases.append(c)
    total = 0.0
    for a, b in zip(canvases, canvases[1:]):
        r = call(fn, a, b, t, what="reconstruction_reward", names=_REWARD_ARGS)
        total += float(expect_tensor(r, "reward of one step of an episode", (1,)).sum())
    if abs(total - 1.0) > 1e-5:
        raise CheckError(f"rewards of an episode that paints the whole target should sum to 1.0 "
                         f"(all error removed), got {total:.4f}")
    ok("reconstruction_reward matches the library and telescopes to the fraction of error removed")


def _transition_cases():
    """``(description, canvas, actions, ink)``: several sizes and ink counts, uneven inks, overwrites."""
    g = torch.Generator().manual_seed(2)
    cases = []
    # 3 inks on non-square 3x4 canvases: both ink levels, both ends of the action range.
    ink = torch.tensor([0.0, 0.5, 1.0])
    canvas = _levels(torch.rand(5, 3, 4, generator=g), 2)     # 0 and 1: painting 0.5 anywhere changes it
    actions = torch.tensor([0, 5, 11, 12, 23])
    canvas[1, 1, 1] = 1.0                                  # action 5 paints it with 0.5: overwrite, not max
    canvas[0, 0, 0] = 0.0
    canvas[4, 2, 3] = 0.5                                  # action 23 paints it with 1.0
    cases.append(("3 ink levels [0, 0.5, 1] on 3x4 canvases", canvas, actions, ink))
    # 2 inks on 2x5 canvases.
    ink = torch.tensor([0.0, 1.0])
    canvas = _levels(torch.rand(4, 2, 5, generator=g), 2)
    actions = torch.tensor([9, 0, 4, 7])
    canvas[0, 1, 4] = 0.0
    canvas[1, 0, 0] = 0.0
    canvas[2, 0, 4] = 0.0
    cases.append(("2 ink levels [0, 1] on 2x5 canvases", canvas, actions, ink))
    # 5 inks on 4x4 canvases: darker and lighter overwrites.
    ink = torch.linspace(0.0, 1.0, 5)
    canvas = _levels(torch.rand(8, 4, 4, generator=g), 5)
    actions = torch.tensor([63, 0, 17, 34, 49, 15, 16, 40])
    canvas[0, 3, 3], canvas[1, 0, 0], canvas[2, 0, 1], canvas[3, 0, 2] = 0.25, 0.5, 1.0, 0.0
    cases.append(("5 ink levels [0, 0.25, 0.5, 0.75, 1] on 4x4 canvases", canvas, actions, ink))
    # Ink values that are not evenly spaced: the function must paint with ink[k], whatever it holds.
    ink = torch.tensor([0.0, 0.2, 0.9])
    canvas = _levels(torch.rand(3, 3, 3, generator=g), 3)
    actions = torch.tensor([4, 13, 17])
    canvas[0, 1, 1], canvas[1, 1, 1], canvas[2, 2, 2] = 0.0, 0.0, 0.0
    cases.append(("ink = [0, 0.2, 0.9] (not evenly spaced) on 3x3 canvases", canvas, actions, ink))
    return cases


def _transition_variants(canvas, actions, ink, expected):
    out = {"the painted pixel keeps the larger of its old value and the new ink (max); expected it to take "
           "the new ink value, even a lighter one (painting overwrites, so mistakes can be repaired)":
           torch.maximum(canvas, expected)}
    L = int(ink.shape[0])
    _, h, w = canvas.shape
    level = actions // (h * w) + 1
    for fake, why in ((torch.linspace(0.0, 1.0, L), (f"the ink values came out as k / {L - 1} for level k; expected "
                       f"the values of the ink argument, ink[k] (here ink = {[round(float(v), 2) for v in ink]})")),
                      (torch.tensor([0.0, 0.5, 1.0]), ("the ink values came out as for 3 ink levels [0, 0.5, 1]; "
                       f"expected the values of the ink argument (here ink = {[round(float(v), 2) for v in ink]})"))):
        if int(level.max()) < len(fake) and not torch.equal(fake, ink.cpu()):
            out[why] = pixel_transition(canvas, actions, fake.to(ink.device))
    return out


def check_pixel_transition(fn) -> None:
    """``fn(canvas, actions, ink) -> new canvas``: action k*H*W + p paints pixel p with ink[k + 1]."""
    devices = ["cpu", *cuda_devices()]
    for device in devices:
        for desc, canvas, actions, ink in _transition_cases():
            canvas, actions, ink = canvas.to(device), actions.to(device), ink.to(device)
            _, h, w = canvas.shape
            on = "" if device == "cpu" else f" on {device}"
            got = call(fn, canvas.clone(), actions.clone(), ink.clone(), what="pixel_transition",
                       names=_TRANSITION_ARGS)
            expected = pixel_transition(canvas, actions, ink)

            def where(i, actions=actions, ink=ink, h=h, w=w):
                b, r, c = i
                a = int(actions[b])
                k, p = a // (h * w) + 1, a % (h * w)
                if p == r * w + c:
                    action = f"action {a} paints this pixel with ink[{k}] = {fmt_value(ink[k])}"
                else:
                    action = (f"action {a} paints pixel (row {p // w}, col {p % w}) with ink[{k}] = "
                              f"{fmt_value(ink[k])}; this one stays as it was")
                return f"index {fmt_index(i)}: canvas {b}, pixel (row {r}, col {c}) [{action}]"

            what = f"canvases after actions {actions.tolist()} with {desc}{on}"
            expect_close(got, expected, what, variants=_transition_variants(canvas, actions, ink, expected),
                         where=where, dtype_hint=_FLOAT_HINT)
    ok("pixel_transition paints the right pixel with the right ink and returns a new canvas")
