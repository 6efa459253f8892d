"""The checks of exercise 09 fail on the stub and on plausible wrong answers, and pass the solution."""
import math

import pytest
import torch

from dqngen_lib.checks import CheckError, check_sketch, check_style_potential


# -- the solutions (as in solutions/09_generating_digits.ipynb) --------------------------------
def sketch(model, labels, latent):
    s = model.means[labels] + math.sqrt(3.0) * torch.einsum("nd,ndp->np", latent, model.comps[labels])
    return s.clamp(0.0, 1.0).view(-1, model.size, model.size)


def style_potential(model, canvas, labels, latent, alpha, beta):
    s = sketch(model, labels, latent)
    dist = (canvas - s).pow(2).flatten(1).sum(1) / s.pow(2).flatten(1).sum(1).clamp_min(1e-6)
    return -alpha * dist + beta * model.log_prob(canvas, labels)


def stub(*args):
    raise NotImplementedError("exercise: replace this line with your code")


# -- wrong answers --------------------------------------------------------------------------------
def sketch_class_mean(model, labels, latent):          # ignores the latent: the collapse
    return model.means[labels].clamp(0, 1).view(-1, model.size, model.size)


def sketch_no_sqrt3(model, labels, latent):
    s = model.means[labels] + torch.einsum("nd,ndp->np", latent, model.comps[labels])
    return s.clamp(0.0, 1.0).view(-1, model.size, model.size)


def sketch_no_clip(model, labels, latent):
    s = model.means[labels] + math.sqrt(3.0) * torch.einsum("nd,ndp->np", latent, model.comps[labels])
    return s.view(-1, model.size, model.size)


def sketch_class0_directions(model, labels, latent):
    s = model.means[labels] + math.sqrt(3.0) * latent @ model.comps[0]
    return s.clamp(0.0, 1.0).view(-1, model.size, model.size)


def sketch_flat(model, labels, latent):
    return sketch(model, labels, latent).flatten(1)


def potential_classifier_only(model, canvas, labels, latent, alpha, beta):
    return model.log_prob(canvas, labels)


def potential_sign_flipped(model, canvas, labels, latent, alpha, beta):
    s = sketch(model, labels, latent)
    dist = (canvas - s).pow(2).flatten(1).sum(1) / s.pow(2).flatten(1).sum(1)
    return alpha * dist + beta * model.log_prob(canvas, labels)


def potential_unnormalised(model, canvas, labels, latent, alpha, beta):
    s = sketch(model, labels, latent)
    return -alpha * (canvas - s).pow(2).flatten(1).sum(1) + beta * model.log_prob(canvas, labels)


def potential_without_classifier(model, canvas, labels, latent, alpha, beta):
    s = sketch(model, labels, latent)
    return -alpha * (canvas - s).pow(2).flatten(1).sum(1) / s.pow(2).flatten(1).sum(1)


def potential_class_mean_target(model, canvas, labels, latent, alpha, beta):
    s = sketch_class_mean(model, labels, latent)
    dist = (canvas - s).pow(2).flatten(1).sum(1) / s.pow(2).flatten(1).sum(1)
    return -alpha * dist + beta * model.log_prob(canvas, labels)


def test_solutions_pass(capsys):
    check_sketch(sketch)
    check_style_potential(style_potential)
    assert capsys.readouterr().out.count("OK") == 2


@pytest.mark.parametrize("check", [check_sketch, check_style_potential])
def test_stub_fails_clearly(check):
    with pytest.raises(CheckError, match="not implemented"):
        check(stub)


SKETCH_WRONG = [
    (sketch_class_mean, "collapse"),
    (sketch_no_sqrt3, "sqrt"),
    (sketch_no_clip, r"clipped to \[0, 1\]"),
    (sketch_class0_directions, "the directions of class 0 were used for every canvas"),
    (sketch_flat, "expected shape"),
]
POTENTIAL_WRONG = [
    (potential_classifier_only, "collapse"),
    (potential_class_mean_target, "collapse"),
    (potential_sign_flipped, "highest near"),
    (potential_unnormalised, "blank canvas"),
    (potential_without_classifier, r"the classifier term beta \* log p\(c \| x\) is missing"),
]
CHECKS = {"sketch": check_sketch, "potential": check_style_potential}
CATALOGUE = [("sketch", f, f.__name__, p) for f, p in SKETCH_WRONG] + \
    [("potential", f, f.__name__, p) for f, p in POTENTIAL_WRONG]


@pytest.mark.parametrize("wrong, match", SKETCH_WRONG)
def test_wrong_sketches_fail(wrong, match):
    with pytest.raises(CheckError, match=match):
        check_sketch(wrong)


@pytest.mark.parametrize("wrong, match", POTENTIAL_WRONG)
def test_wrong_potentials_fail(wrong, match):
    with pytest.raises(CheckError, match=match):
        check_style_potential(wrong)
