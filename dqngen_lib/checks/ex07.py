"""Checks of exercise 07 (lesson 07): the latent sketch and the style potential that avoid the collapse."""
from __future__ import annotations

import math

import torch

from ..rewards import StyleModel, StylePotential
from ._common import CheckError, call, expect_close, ok

__all__ = ["toy_style_model", "check_sketch", "check_style_potential"]


def toy_style_model(seed: int = 0, size: int = 4, latent_dim: int = 3) -> StyleModel:
    """A small random ``StyleModel`` (10 classes, ``size x size`` images) for the checks."""
    g = torch.Generator().manual_seed(seed)
    p = size * size
    means = torch.rand(10, p, generator=g) * 0.8 + 0.1
    comps = torch.randn(10, latent_dim, p, generator=g) * 0.12
    weight = torch.randn(10, p, generator=g)
    bias = torch.randn(10, generator=g) * 0.1
    return StyleModel(means, comps, weight, bias, size)


def _cases(model: StyleModel, n: int = 8, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(10, (n,), generator=g)
    latent = torch.rand(n, model.latent_dim, generator=g) * 2 - 1
    canvas = torch.randint(3, (n, model.size, model.size), generator=g).float() / 2
    return labels, latent, canvas


def check_sketch(fn) -> None:
    """``fn(model, labels, latent) -> (N, H, W)``: ``clip(mu_c + sqrt(3) sum_i z_i comps[c, i], 0, 1)``."""
    model = toy_style_model()
    labels, latent, _ = _cases(model)
    got = call(fn, model, labels.clone(), latent.clone(), what="sketch")
    if not isinstance(got, torch.Tensor):
        raise CheckError(f"sketch: expected a torch.Tensor, got {type(got).__name__}")
    n, s = len(labels), model.size
    if tuple(got.shape) != (n, s, s):
        raise CheckError(f"sketch: expected shape ({n}, {s}, {s}) (one {s}x{s} image per canvas), got {tuple(got.shape)}")
    other = call(fn, model, labels.clone(), -latent.clone(), what="sketch")
    if torch.allclose(got, other):
        raise CheckError("sketch: two different latents of the same classes gave identical sketches. The sketch must "
                         "depend on the latent z, or every episode of a class has the same target and the agent "
                         "paints one image per class (the collapse)")
    lo, hi = float(got.min()), float(got.max())
    if lo < 0.0 or hi > 1.0:
        raise CheckError(f"sketch: expected values clipped to [0, 1] (they are ink values), got values in "
                         f"[{lo:.3f}, {hi:.3f}]")
    want = model.sketch(labels, latent)
    no_sqrt3 = (model.means[labels] + torch.einsum("nd,ndp->np", latent, model.comps[labels])).clamp(0, 1)
    if torch.allclose(got.reshape(n, -1), no_sqrt3, atol=1e-5) and not torch.allclose(want.reshape(n, -1), no_sqrt3):
        raise CheckError("sketch: the latent is uniform on [-1, 1] (variance 1/3); multiply it by sqrt(3) = "
                         f"{math.sqrt(3):.4f} so that the sketches have the class's variance")
    expect_close(got, want, "sketches of 8 canvases of classes " + str(labels.tolist()))
    ok("sketch: a different image for every latent, the class mean at z = 0, clipped to [0, 1]")


def check_style_potential(fn) -> None:
    """``fn(model, canvas, labels, latent, alpha, beta) -> (N,)``, the style potential of lesson 07."""
    model = toy_style_model()
    labels, latent, canvas = _cases(model)
    # 1. collapse: each latent must prefer its own sketch
    lab2 = torch.tensor([4, 4])
    z = torch.tensor([[0.9, -0.8, 0.7], [-0.9, 0.8, -0.7]])
    sk = model.sketch(lab2, z)
    own = call(fn, model, sk.clone(), lab2, z, 1.0, 0.1, what="style_potential")
    if not isinstance(own, torch.Tensor) or tuple(own.shape) != (2,):
        raise CheckError(f"style_potential: expected a tensor of shape (2,) (one value per canvas), got "
                         f"{tuple(own.shape) if isinstance(own, torch.Tensor) else type(own).__name__}")
    swapped = call(fn, model, sk.flip(0).clone(), lab2, z, 1.0, 0.1, what="style_potential")
    other_z = call(fn, model, sk.clone(), lab2, z.flip(0).clone(), 1.0, 0.1, what="style_potential")
    if torch.allclose(own, other_z, atol=1e-6):
        raise CheckError("style_potential: the same canvases got the same potential under two different latents "
                         f"of class 4 ({[round(float(v), 4) for v in own]} both times). If the potential ignores "
                         "z, the best picture of a class is the same in every episode and the agent paints one "
                         "image per class (the collapse)")
    if not bool((own > swapped).all()):
        raise CheckError("style_potential: for two latents z1, z2 of class 4 with sketches s1, s2, expected "
                         f"phi(s1; z1) > phi(s2; z1) and phi(s2; z2) > phi(s1; z2); got phi(own sketch) = "
                         f"{[round(float(v), 4) for v in own]}, phi(the other sketch) = "
                         f"{[round(float(v), 4) for v in swapped]}. The potential must be highest near the "
                         "latent's own sketch (minus the distance)")
    blank = call(fn, model, torch.zeros_like(sk), lab2, z, 1.0, 0.0, what="style_potential")
    at_sketch = call(fn, model, sk.clone(), lab2, z, 1.0, 0.0, what="style_potential")
    expect_close(blank, torch.tensor([-1.0, -1.0]), "with alpha=1, beta=0: phi(blank canvas) (-||s||^2/||s||^2)")
    expect_close(at_sketch, torch.zeros(2), "with alpha=1, beta=0: phi(the sketch itself)")
    # 2. the values, with both terms
    for alpha, beta in ((1.0, 0.0), (0.5, 0.2), (0.0, 1.0)):
        got = call(fn, model, canvas.clone(), labels.clone(), latent.clone(), alpha, beta, what="style_potential")
        want = StylePotential(model, alpha, beta)(canvas, labels, latent)
        expect_close(got, want, f"style_potential of 8 random canvases with alpha={alpha}, beta={beta}")
    ok("style_potential: highest at each latent's own sketch, -alpha at a blank canvas, plus beta log p(class)")
