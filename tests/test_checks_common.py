"""The shared pieces of the exercise checks: calling the learner's code, comparing results."""

import pytest
import torch
from torch import nn

from dqngen_lib.checks import CheckError
from dqngen_lib.checks._common import call, describe, expect_close, expect_tensor, same_device
from dqngen_lib.replay import Batch


def test_call_returns_the_result_and_reports_a_stub():
    assert call(lambda x: x + 1, 1, what="f") == 2
    with pytest.raises(CheckError, match=r"f is not implemented yet \(it raised NotImplementedError: todo\)"):
        call(lambda: (_ for _ in ()).throw(NotImplementedError("todo")), what="f")


def test_call_wraps_any_exception_with_the_call_and_its_arguments():
    def bad(x, gamma):
        return x.view(-1, 64) * gamma

    with pytest.raises(CheckError, match=r"(?s)bad raised RuntimeError: shape .*\n  \(called with x=tensor \(2, 3\) "
                                         r"float32, gamma=0.5\)") as info:
        call(bad, torch.zeros(2, 3), 0.5, what="bad", names=("x", "gamma"))
    assert isinstance(info.value.__cause__, RuntimeError)


def test_call_names_the_argument_changed_in_place():
    def add_(a, b):
        a += b
        return a

    with pytest.raises(CheckError, match=r"f changed its argument `a` in place \(2 of 3 values changed, e.g. at index "
                                         r"1: was 0.0000, now 1.0000\)"):
        call(add_, torch.zeros(3), torch.tensor([0.0, 1.0, 2.0]), what="f", names=("a", "b"))


def test_call_sees_fields_of_a_batch_and_parameters_of_a_network():
    batch = Batch(*(torch.zeros(2) for _ in range(5)))
    with pytest.raises(CheckError, match=r"changed its argument `batch.rewards` in place"):
        call(lambda b: b.rewards.add_(1.0), batch, what="f", names=("batch",))
    net = nn.Linear(2, 2)
    with pytest.raises(CheckError, match=r"changed the parameter `bias` of `net`"):
        call(lambda n: n.bias.data.add_(1.0), net, what="f", names=("net",))
    with pytest.raises(CheckError, match=r"its shape went from \(3,\) to \(2,\)"):
        call(lambda x: x.resize_(2), torch.zeros(3), what="f", names=("x",))


def test_expect_tensor_names_the_kind_shape_dtype_and_device():
    with pytest.raises(CheckError, match="expected a torch.Tensor, got tuple"):
        expect_tensor((torch.zeros(2),), "r")
    with pytest.raises(CheckError, match=r"expected shape \(3,\), got \(2,\)"):
        expect_tensor(torch.zeros(2), "r", shape=(3,))
    with pytest.raises(CheckError, match="expected dtype torch.int64, got torch.float32"):
        expect_tensor(torch.zeros(2), "r", dtype=torch.int64)
    with pytest.raises(CheckError, match="expected a tensor on cpu .* got one on meta"):
        expect_tensor(torch.zeros(2, device="meta"), "r", device="cpu")


def test_expect_close_names_the_first_difference_and_counts():
    exp = torch.tensor([1.0, 2.0, 3.0, 4.0])
    got = torch.tensor([1.0, 2.5, 3.0, 5.0])
    with pytest.raises(CheckError, match=r"^r: values differ at index 1: expected 2.0000, got 2.5000 "
                                         r"\(2 of 4 values differ\)$"):
        expect_close(got, exp, "r")
    with pytest.raises(CheckError, match=r"^r: a named mistake\n  \(values differ at index 1"):
        expect_close(got, exp, "r", variants={"a named mistake": got.clone()})
    with pytest.raises(CheckError, match=r"values differ at index \(0, 1\): expected 0.0000, got nan"):
        expect_close(torch.tensor([[0.0, float("nan")]]), torch.zeros(1, 2), "r")
    with pytest.raises(CheckError, match=r"^loss: expected 1.0000, got 2.0000$"):
        expect_close(torch.tensor(2.0), torch.tensor(1.0), "loss")
    expect_close(exp + 1e-7, exp, "r")


def test_describe_is_short():
    assert describe(torch.zeros(2, 3, dtype=torch.float64)) == "tensor (2, 3) float64"
    assert describe(0.5) == "0.5"
    assert describe(torch.Generator()) == "a torch.Generator"
    assert describe(nn.Linear(1, 1)) == "a Linear network"
    assert describe(Batch(*(torch.zeros(2) for _ in range(5)))).startswith("Batch(obs=tensor (2,) float32, ")


def test_same_device():
    assert same_device(torch.device("cpu"), "cpu")
    assert not same_device(torch.device("meta"), "cpu")
    if torch.cuda.is_available():
        assert same_device(torch.zeros(1, device="cuda").device, "cuda")


@pytest.mark.parametrize("name", ["reward", "transition", "backup", "induction", "slip", "update", "slippery", "qmap",
                                  "greedy", "eps", "add", "sample", "targets", "nstep", "loss", "sketch", "potential"])
def test_every_check_passes_the_reference(name, capsys):
    import test_checks_catalogue_ex01 as c01
    import test_checks_catalogue_ex02 as c02
    import test_checks_catalogue_ex03 as c03
    import test_checks_catalogue_ex04 as c04
    import test_checks_catalogue_ex05 as c05
    import test_checks_catalogue_ex09 as c07

    for mod in (c01, c02, c03, c05, c07):
        if name in mod.CHECKS:
            check, solution = mod.CHECKS[name], mod.SOLUTIONS[name]
    if name in c04.CHECKS:
        check, solution = c04.CHECKS[name], c04.Ring
    check(solution)
    assert capsys.readouterr().out.startswith("OK")
