"""Catalogue of wrong answers to exercise 09 (the sketch, the style potential) that learners really write.

Every entry must fail its check with a ``CheckError`` (never a raw exception) whose message holds
the key phrase; ``CATALOGUE`` lists them as ``(check name, wrong function, mistake, key phrase)``.
"""
import math

import pytest
import torch

from dqngen_lib.checks import CheckError, check_sketch, check_style_potential


# -- the solutions (as in solutions/09_generating_digits.ipynb) ------------------------------------
def sketch_solution(model, labels, latent):
    s = model.means[labels] + math.sqrt(3.0) * torch.einsum("nd,ndp->np", latent, model.comps[labels])
    return s.clamp(0.0, 1.0).view(-1, model.size, model.size)


def potential_solution(model, canvas, labels, latent, alpha, beta):
    s = sketch_solution(model, labels, latent)
    dist = (canvas - s).pow(2).flatten(1).sum(1) / s.pow(2).flatten(1).sum(1).clamp_min(1e-6)
    return -alpha * dist + beta * model.log_prob(canvas, labels)


def _dirs(model, labels, latent):
    return torch.einsum("nd,ndp->np", latent, model.comps[labels])


# -- wrong sketches -----------------------------------------------------------------------------------
def sketch_float64(model, labels, latent):
    s = model.means[labels].double() + math.sqrt(3.0) * _dirs(model, labels, latent).double()
    return s.clamp(0, 1).view(-1, model.size, model.size)


def sketch_mutates_latent(model, labels, latent):
    latent.mul_(math.sqrt(3.0))
    return (model.means[labels] + _dirs(model, labels, latent)).clamp(0, 1).view(-1, model.size, model.size)


def sketch_hardcoded_8x8(model, labels, latent):
    s = model.means[labels] + math.sqrt(3.0) * _dirs(model, labels, latent)
    return s.clamp(0, 1).view(-1, 8, 8)


def sketch_times_three(model, labels, latent):
    s = model.means[labels] + 3.0 * _dirs(model, labels, latent)
    return s.clamp(0, 1).view(-1, model.size, model.size)


def sketch_clamp_minus_one(model, labels, latent):
    s = model.means[labels] + math.sqrt(3.0) * _dirs(model, labels, latent)
    return s.clamp(-1, 1).view(-1, model.size, model.size)


def sketch_sigmoid(model, labels, latent):
    s = model.means[labels] + math.sqrt(3.0) * _dirs(model, labels, latent)
    return torch.sigmoid(s).view(-1, model.size, model.size)


def sketch_means_in_order(model, labels, latent):
    n = len(labels)
    s = model.means[:n] + math.sqrt(3.0) * _dirs(model, labels, latent)
    return s.clamp(0, 1).view(-1, model.size, model.size)


def sketch_hardcoded_dims(model, labels, latent):
    comps = model.comps[labels].view(len(labels), 3, 16)
    s = model.means[labels] + math.sqrt(3.0) * torch.einsum("nd,ndp->np", latent, comps)
    return s.clamp(0, 1).view(-1, 4, 4)


def sketch_mutates_model(model, labels, latent):
    model.comps.mul_(math.sqrt(3.0))
    return (model.means[labels] + _dirs(model, labels, latent)).clamp(0, 1).view(-1, model.size, model.size)


def sketch_numpy(model, labels, latent):
    return sketch_solution(model, labels, latent).numpy()


def sketch_rounded_to_inks(model, labels, latent):
    return torch.round(sketch_solution(model, labels, latent) * 2) / 2


def sketch_first_latent_only(model, labels, latent):
    s = model.means[labels] + math.sqrt(3.0) * latent[:, :1] * model.comps[labels, 0]
    return s.clamp(0, 1).view(-1, model.size, model.size)


def sketch_clip_before_adding(model, labels, latent):
    s = model.means[labels].clamp(0, 1) + math.sqrt(3.0) * _dirs(model, labels, latent)
    return s.view(-1, model.size, model.size)


# -- wrong potentials ---------------------------------------------------------------------------------
def potential_float64(model, canvas, labels, latent, alpha, beta):
    return potential_solution(model, canvas, labels, latent, alpha, beta).double()


def potential_mutates_canvas(model, canvas, labels, latent, alpha, beta):
    s = sketch_solution(model, labels, latent)
    logp = model.log_prob(canvas, labels)
    canvas -= s
    return -alpha * canvas.pow(2).flatten(1).sum(1) / s.pow(2).flatten(1).sum(1) + beta * logp


def potential_alpha_beta_swapped(model, canvas, labels, latent, alpha, beta):
    return potential_solution(model, canvas, labels, latent, beta, alpha)


def potential_beta_hardcoded(model, canvas, labels, latent, alpha, beta):
    return potential_solution(model, canvas, labels, latent, alpha, 0.1)


def potential_alpha_hardcoded(model, canvas, labels, latent, alpha, beta):
    return potential_solution(model, canvas, labels, latent, 1.0, beta)


def potential_norm_of_canvas(model, canvas, labels, latent, alpha, beta):
    s = sketch_solution(model, labels, latent)
    dist = (canvas - s).pow(2).flatten(1).sum(1) / canvas.pow(2).flatten(1).sum(1)
    return -alpha * dist + beta * model.log_prob(canvas, labels)


def potential_prob_not_log(model, canvas, labels, latent, alpha, beta):
    s = sketch_solution(model, labels, latent)
    dist = (canvas - s).pow(2).flatten(1).sum(1) / s.pow(2).flatten(1).sum(1)
    return -alpha * dist + beta * model.log_prob(canvas, labels).exp()


def potential_abs_distance(model, canvas, labels, latent, alpha, beta):
    s = sketch_solution(model, labels, latent)
    dist = (canvas - s).abs().flatten(1).sum(1) / s.pow(2).flatten(1).sum(1)
    return -alpha * dist + beta * model.log_prob(canvas, labels)


def potential_keepdim(model, canvas, labels, latent, alpha, beta):
    return potential_solution(model, canvas, labels, latent, alpha, beta)[:, None]


def potential_numpy(model, canvas, labels, latent, alpha, beta):
    return potential_solution(model, canvas, labels, latent, alpha, beta).numpy()


def potential_mutates_latent(model, canvas, labels, latent, alpha, beta):
    latent.clamp_(-0.5, 0.5)
    return potential_solution(model, canvas, labels, latent, alpha, beta)


def potential_classifier_sign_flipped(model, canvas, labels, latent, alpha, beta):
    s = sketch_solution(model, labels, latent)
    dist = (canvas - s).pow(2).flatten(1).sum(1) / s.pow(2).flatten(1).sum(1)
    return -alpha * dist - beta * model.log_prob(canvas, labels)


def potential_mean_over_pixels(model, canvas, labels, latent, alpha, beta):
    s = sketch_solution(model, labels, latent)
    dist = (canvas - s).pow(2).flatten(1).mean(1) / s.pow(2).flatten(1).sum(1)
    return -alpha * dist + beta * model.log_prob(canvas, labels)


CATALOGUE = [
    ("sketch", sketch_float64, "computes in float64 (used to crash the check)",
     "expected dtype torch.float32, got torch.float64"),
    ("sketch", sketch_mutates_latent, "latent.mul_(sqrt(3))", "changed its argument `latent` in place"),
    ("sketch", sketch_hardcoded_8x8, "view(-1, 8, 8)", r"expected shape \(8, 4, 4\) .*got \(2, 8, 8\)"),
    ("sketch", sketch_times_three, "3 instead of sqrt(3)", "the latent is multiplied by 3"),
    ("sketch", sketch_clamp_minus_one, "clip to [-1, 1]", r"clipped to \[0, 1\]"),
    ("sketch", sketch_sigmoid, "sigmoid instead of clip", "values differ at index"),
    ("sketch", sketch_means_in_order, "model.means[:N] instead of model.means[labels]",
     "the class means were taken in the order 0, 1, 2"),
    ("sketch", sketch_hardcoded_dims, "hard-codes 3 latents and 16 pixels", "sketch raised RuntimeError"),
    ("sketch", sketch_mutates_model, "model.comps.mul_(sqrt(3))", "changed its argument `model.comps` in place"),
    ("sketch", sketch_numpy, "a NumPy array", "expected a torch.Tensor, got numpy.ndarray"),
    ("sketch", sketch_rounded_to_inks, "rounds to 3 ink levels", "values differ at index"),
    ("sketch", sketch_first_latent_only, "uses only the first latent value", "values differ at index"),
    ("sketch", sketch_clip_before_adding, "clips the mean, not the sum", r"clipped to \[0, 1\]"),
    ("potential", potential_float64, "float64 potential", "expected dtype torch.float32, got torch.float64"),
    ("potential", potential_mutates_canvas, "canvas -= sketch", "changed its argument `canvas` in place"),
    ("potential", potential_alpha_beta_swapped, "alpha and beta swapped", "alpha and beta are swapped"),
    ("potential", potential_beta_hardcoded, "beta hard-coded to 0.1", "the result is what beta = 0.1 gives"),
    ("potential", potential_alpha_hardcoded, "alpha hard-coded to 1", "the result is what alpha = 1 gives"),
    ("potential", potential_norm_of_canvas, "divides by ||canvas||^2", r"(?s)divided by \|\|canvas\|\|\^2.*got -inf"),
    ("potential", potential_prob_not_log, "p(c | x) instead of its log", "uses p\\(c \\| x\\); expected its log"),
    ("potential", potential_abs_distance, "|x - s| instead of squared", "the distance is not squared"),
    ("potential", potential_keepdim, "returns (N, 1)", r"expected shape \(2,\), got \(2, 1\)"),
    ("potential", potential_numpy, "a NumPy array", "expected a torch.Tensor, got numpy.ndarray"),
    ("potential", potential_mutates_latent, "clamps the latent in place", "changed its argument `latent` in place"),
    ("potential", potential_classifier_sign_flipped, "minus beta log p", "values differ at index"),
    ("potential", potential_mean_over_pixels, "mean over the pixels in the numerator only", "highest near"),
]

CHECKS = {"sketch": check_sketch, "potential": check_style_potential}
SOLUTIONS = {"sketch": sketch_solution, "potential": potential_solution}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_solution_passes(name, capsys):
    CHECKS[name](SOLUTIONS[name])
    assert capsys.readouterr().out.startswith("OK")


@pytest.mark.parametrize("check, wrong, mistake, phrase",
                         [pytest.param(CHECKS[c], w, m, p, id=w.__name__) for c, w, m, p in CATALOGUE])
def test_wrong_answer_fails_with_a_clear_message(check, wrong, mistake, phrase):
    with pytest.raises(CheckError, match=phrase):
        check(wrong)


def test_checks_leave_the_toy_model_alone():
    """A learner's sketch that changes the model in place must not spoil the next check's model."""
    from dqngen_lib.checks import toy_style_model

    before = toy_style_model().comps.clone()
    with pytest.raises(CheckError):
        check_sketch(sketch_mutates_model)
    assert torch.equal(toy_style_model().comps, before)
