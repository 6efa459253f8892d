"""Checks of exercise 09 (lesson 09): the latent sketch and the style potential that avoid the collapse."""
from __future__ import annotations

import math

import torch

from ..rewards import StyleModel, StylePotential
from ._common import CheckError, call, difference, expect_close, expect_tensor, ok

__all__ = ["toy_style_model", "check_sketch", "check_style_potential"]

_SKETCH_ARGS = ("model", "labels", "latent")
_POTENTIAL_ARGS = ("model", "canvas", "labels", "latent", "alpha", "beta")
_FLOAT_HINT = " (the model's tensors are float32: keep their dtype, e.g. no .double() or float64 constants)"


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


def _models():
    """(model, n, seed): the lesson's toy model and two of other sizes and latent dimensions."""
    return [(toy_style_model(), 8, 1), (toy_style_model(seed=1, size=3, latent_dim=2), 5, 2),
            (toy_style_model(seed=2, size=5, latent_dim=5), 6, 3)]


def _sketch_variants(model, labels, latent):
    n = len(labels)
    mean, comps = model.means[labels], model.comps[labels]
    dirs = torch.einsum("nd,ndp->np", latent, comps)
    return {
        "the latent is uniform on [-1, 1] (variance 1/3); multiply it by sqrt(3) = "
        f"{math.sqrt(3):.4f} so that the sketches have the class's variance": (mean + dirs).clamp(0, 1),
        "the latent is multiplied by 3; expected sqrt(3) = "
        f"{math.sqrt(3):.4f} (it turns the variance 1/3 of a uniform z into 1)": (mean + 3 * dirs).clamp(0, 1),
        "the directions of class 0 were used for every canvas; expected those of each canvas's class, "
        "model.comps[labels]": (mean + math.sqrt(3) * latent @ model.comps[0]).clamp(0, 1),
        "the class means were taken in the order 0, 1, 2, ...; expected the mean of each canvas's class, "
        "model.means[labels]": (model.means[:n] + math.sqrt(3) * dirs).clamp(0, 1) if n <= 10 else None,
    }


def check_sketch(fn) -> None:
    """``fn(model, labels, latent) -> (N, H, W)``: ``clip(mu_c + sqrt(3) sum_i z_i comps[c, i], 0, 1)``."""
    for k, (model, n, seed) in enumerate(_models()):
        labels, latent, _ = _cases(model, n, seed)
        s, d = model.size, model.latent_dim
        what = f"sketch of {n} canvases of classes {labels.tolist()} ({s}x{s} images, latent_dim {d})"
        got = call(fn, model, labels.clone(), latent.clone(), what="sketch", names=_SKETCH_ARGS)
        expect_tensor(got, what)
        if tuple(got.shape) != (n, s, s):
            raise CheckError(f"{what}: expected shape ({n}, {s}, {s}) (one {s}x{s} image per canvas), got "
                             f"{tuple(got.shape)}")
        expect_tensor(got, what, dtype=torch.float32, device=latent.device, dtype_hint=_FLOAT_HINT)
        if k == 0:
            other = call(fn, model, labels.clone(), -latent, what="sketch", names=_SKETCH_ARGS)
            other = expect_tensor(other, what + " with the latents negated", (n, s, s), torch.float32,
                                  dtype_hint=_FLOAT_HINT)
            if torch.allclose(got, other):
                raise CheckError("sketch: two different latents of the same classes gave identical sketches. The "
                                 "sketch must depend on the latent z, or every episode of a class has the same "
                                 "target and the agent paints one image per class (the collapse)")
        lo, hi = float(got.min()), float(got.max())
        if lo < 0.0 or hi > 1.0:
            raise CheckError(f"{what}: expected values clipped to [0, 1] (they are ink values), got values in "
                             f"[{lo:.3f}, {hi:.3f}]")
        want = model.sketch(labels, latent)
        variants = {why: None if v is None else v.view(n, s, s)
                    for why, v in _sketch_variants(model, labels, latent).items()}
        expect_close(got, want, what, variants=variants)
    ok("sketch: a different image for every latent, the class mean at z = 0, clipped to [0, 1]")


def _potential_variants(model, canvas, labels, latent, alpha, beta):
    s = model.sketch(labels, latent)
    err = (canvas - s).pow(2).flatten(1).sum(1)
    norm = s.pow(2).flatten(1).sum(1).clamp_min(1e-6)
    logp = model.log_prob(canvas, labels)
    out = {
        "the distance term is not divided by ||s||^2 (the squared norm of the sketch)":
            -alpha * err + beta * logp,
        "the distance is divided by ||canvas||^2; expected ||s||^2, the squared norm of the sketch":
            -alpha * err / canvas.pow(2).flatten(1).sum(1) + beta * logp,
        "the classifier term uses p(c | x); expected its log, model.log_prob(canvas, labels)":
            -alpha * err / norm + beta * logp.exp(),
        "the distance is not squared; expected ||x - s||^2 / ||s||^2":
            -alpha * (canvas - s).abs().flatten(1).sum(1) / norm + beta * logp,
    }
    if beta != 0:
        out["the classifier term beta * log p(c | x) is missing"] = -alpha * err / norm
    if alpha != beta:
        out["alpha and beta are swapped: alpha weighs the distance to the sketch, beta the classifier's "
            "log-probability"] = -beta * err / norm + alpha * logp
    if beta != 0.1:
        out[f"the result is what beta = 0.1 gives; expected the beta argument (here beta = {beta:g})"] = \
            -alpha * err / norm + 0.1 * logp
    if alpha != 1.0:
        out[f"the result is what alpha = 1 gives; expected the alpha argument (here alpha = {alpha:g})"] = \
            -err / norm + beta * logp
    return out


def check_style_potential(fn) -> None:
    """``fn(model, canvas, labels, latent, alpha, beta) -> (N,)``, the style potential of lesson 09."""
    model = toy_style_model()

    def run(canvas, labels, latent, alpha, beta, what, model=model):
        got = call(fn, model, canvas.clone(), labels.clone(), latent.clone(), alpha, beta, what="style_potential",
                   names=_POTENTIAL_ARGS)
        return expect_tensor(got, f"style_potential {what}", (len(labels),), torch.float32, canvas.device,
                             dtype_hint=_FLOAT_HINT).detach()

    # 1. collapse: each latent must prefer its own sketch
    lab2 = torch.tensor([4, 4])
    z = torch.tensor([[0.9, -0.8, 0.7], [-0.9, 0.8, -0.7]])
    sk = model.sketch(lab2, z)
    own = run(sk, lab2, z, 1.0, 0.1, "of 2 canvases (their own sketches), alpha=1, beta=0.1")
    swapped = run(sk.flip(0), lab2, z, 1.0, 0.1, "of 2 canvases (each the other's sketch), alpha=1, beta=0.1")
    other_z = run(sk, lab2, z.flip(0), 1.0, 0.1, "of 2 canvases with the latents swapped, alpha=1, beta=0.1")
    if torch.allclose(own, other_z, atol=1e-6):
        raise CheckError("style_potential: the same canvases got the same potential under two different latents "
                         f"of class 4 ({[round(float(v), 4) for v in own]} both times). If the potential ignores "
                         "z, the best picture of a class is the same in every episode and the agent paints one "
                         "image per class (the collapse)")
    want = StylePotential(model, 1.0, 0.1)(sk, lab2, z)
    if not torch.allclose(own, want, atol=1e-5):
        for why, wrong in _potential_variants(model, sk, lab2, z, 1.0, 0.1).items():
            if torch.allclose(own, wrong, atol=1e-5):
                raise CheckError(f"style_potential of 2 canvases (their own sketches), alpha=1, beta=0.1: {why}\n  "
                                 f"({difference(own, want)})")
    if not bool((own > swapped).all()):
        raise CheckError("style_potential: for two latents z1, z2 of class 4 with sketches s1, s2, expected "
                         f"phi(s1; z1) > phi(s2; z1) and phi(s2; z2) > phi(s1; z2); got phi(own sketch) = "
                         f"{[round(float(v), 4) for v in own]}, phi(the other sketch) = "
                         f"{[round(float(v), 4) for v in swapped]}. The potential must be highest near the "
                         "latent's own sketch (minus the distance)")
    blank = run(torch.zeros_like(sk), lab2, z, 1.0, 0.0, "of 2 blank canvases, alpha=1, beta=0")
    at_sketch = run(sk, lab2, z, 1.0, 0.0, "of 2 canvases (their own sketches), alpha=1, beta=0")
    expect_close(blank, torch.tensor([-1.0, -1.0]), "with alpha=1, beta=0: phi(blank canvas) (-||s||^2/||s||^2)",
                 variants=_potential_variants(model, torch.zeros_like(sk), lab2, z, 1.0, 0.0))
    expect_close(at_sketch, torch.zeros(2), "with alpha=1, beta=0: phi(the sketch itself)",
                 variants=_potential_variants(model, sk, lab2, z, 1.0, 0.0))
    # 2. the values, with both terms, on models of several sizes
    for k, (model, n, seed) in enumerate(_models()):
        labels, latent, canvas = _cases(model, n, seed)
        combos = ((1.0, 0.0), (0.5, 0.2), (0.0, 1.0), (2.0, 0.1)) if k == 0 else ((0.7, 0.3),)
        for alpha, beta in combos:
            desc = (f"of {n} random {model.size}x{model.size} canvases (latent_dim {model.latent_dim}) with "
                    f"alpha={alpha}, beta={beta}")
            got = run(canvas, labels, latent, alpha, beta, desc, model=model)
            want = StylePotential(model, alpha, beta)(canvas, labels, latent)
            expect_close(got, want, f"style_potential {desc}",
                         variants=_potential_variants(model, canvas, labels, latent, alpha, beta))
    ok("style_potential: highest at each latent's own sketch, -alpha at a blank canvas, plus beta log p(class)")
