"""Checks of exercise 01 (lesson 01): the reconstruction reward and the pixel-mode transition."""
from __future__ import annotations

import torch

from ..envs import pixel_transition, reconstruction_reward
from ._common import CheckError, call, expect_close, ok

__all__ = ["check_reconstruction_reward", "check_pixel_transition"]


def _reward_cases():
    g = torch.Generator().manual_seed(1)
    target = torch.round(torch.rand(6, 4, 4, generator=g) * 2) / 2
    prev = torch.round(torch.rand(6, 4, 4, generator=g) * 2) / 2
    new = prev.clone()
    new[:, 1, 2] = target[:, 1, 2]          # one pixel fixed
    new[0] = prev[0]                        # an action that changes nothing
    new[1, 0, 0] = 1.0 - target[1, 0, 0]    # a pixel made worse
    return prev, new, target


def check_reconstruction_reward(fn) -> None:
    """``fn(prev_canvas, new_canvas, target) -> (N,)``: the squared-error reduction over ||target||^2."""
    prev, new, target = _reward_cases()
    got = call(fn, prev.clone(), new.clone(), target.clone(), what="reconstruction_reward")
    expect_close(got, reconstruction_reward(prev, new, target), "reward of 6 transitions on 4x4 canvases")
    # An episode from a blank canvas must telescope to the fraction of error removed.
    t = target[2:3]
    canvases = [torch.zeros_like(t)]
    for p in range(16):
        c = canvases[-1].clone()
        c.view(1, -1)[0, p] = t.view(-1)[p]
        canvases.append(c)
    total = sum(call(fn, a, b, t, what="reconstruction_reward") for a, b in zip(canvases, canvases[1:]))
    if abs(float(total.sum()) - 1.0) > 1e-5:
        raise CheckError(f"rewards of an episode that paints the whole target should sum to 1.0 "
                         f"(all error removed), got {float(total.sum()):.4f}")
    ok("reconstruction_reward matches the library and telescopes to the fraction of error removed")


def check_pixel_transition(fn) -> None:
    """``fn(canvas, actions, ink) -> new canvas``: action k*H*W + p paints pixel p with ink[k + 1]."""
    ink = torch.tensor([0.0, 0.5, 1.0])
    g = torch.Generator().manual_seed(2)
    canvas = torch.round(torch.rand(5, 3, 4, generator=g) * 2) / 2   # non-square on purpose
    actions = torch.tensor([0, 5, 11, 12, 23])                       # both ink levels, both ends
    before = canvas.clone()
    got = call(fn, canvas, actions, ink, what="pixel_transition")
    if not torch.equal(canvas, before):
        raise CheckError("pixel_transition changed its input canvas in place; expected it to return a new "
                         "canvas and leave the old one untouched (the old one is still needed for the reward)")
    expect_close(got, pixel_transition(before, actions, ink), "canvases after actions [0, 5, 11, 12, 23] on 3x4")
    ok("pixel_transition paints the right pixel with the right ink and returns a new canvas")
