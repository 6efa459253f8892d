"""Every `dqngen` command the README shows runs (with a tiny budget) and produces what the README says.

The commands are read from the README's bash blocks, so a command added there is tested here; a
subcommand this file does not know how to check fails the test. `make lab` and `bench train` have
tests of their own (tests/test_make_lab.py, tests/test_train.py).
"""
import json
import pathlib
import re
import shlex

import numpy as np
import pytest

from dqngen_lib.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY_STEPS = 2048


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    cmds = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("dqngen"):
                cmds.append(line)
    return cmds


def shrink(argv: list[str]) -> list[str]:
    """The same command with a budget of seconds turned into a few steps (and benchmarks made short)."""
    out, i = [], 0
    sub = argv[0] if argv else ""
    while i < len(argv):
        a = argv[i]
        if sub == "train" and a in ("--seconds", "--steps"):
            steps = TINY_STEPS if "--resume" not in argv else 2 * TINY_STEPS
            out += ["--steps", str(steps)]
            i += 2
            continue
        if sub == "bench" and a == "--seconds":
            out += ["--seconds", "0.02"]
            i += 2
            continue
        out.append(a)
        i += 1
    if sub == "gan":
        for flag in ("--seconds", "--steps"):
            if flag in out:
                i = out.index(flag)
                out[i:i + 2] = ["--steps", "50"]
    if sub == "train":
        out += ["--no-progress"]
        if "--task" in argv and argv[argv.index("--task") + 1] == "generate":
            out += ["--horizon", "8"]          # a generate run's tiny budget still plays whole episodes
    if argv[:2] == ["bench", "env"]:
        out += ["--sizes", "1,4"]
    if sub == "evaluate" and "--max-images" in out:
        out[out.index("--max-images") + 1] = "10"      # a planner searches slowly
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("readme")
    rng = np.random.default_rng(0)

    def fake(n):
        return (rng.random((n, 28, 28)) * 255).astype(np.uint8), (np.arange(n) % 10).astype(np.int64)

    (xtr, ytr), (xte, yte) = fake(40), fake(20)
    np.savez(d / "mnist.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)   # the file a learner supplies
    return d


def test_the_readme_shows_commands():
    cmds = readme_commands()
    assert len(cmds) >= 8 and any(c.startswith("dqngen train") for c in cmds)


def test_every_readme_command_does_what_it_says(workdir, capsys, monkeypatch):
    monkeypatch.chdir(workdir)
    seen = set()
    for line in readme_commands():
        argv = shlex.split(line)[1:]
        sub = argv[0] if argv else ""
        if argv[:2] == ["bench", "train"] or argv == ["bench"]:
            continue                                   # minutes of training: tested in tests/test_train.py
        argv = shrink(argv)
        if argv == ["--version"]:
            with pytest.raises(SystemExit) as e:
                main(argv)
            assert e.value.code == 0 and capsys.readouterr().out.startswith("dqngen ")
            continue
        code = main(argv)
        out = capsys.readouterr()
        assert code == 0, f"{line!r} -> exit {code}: {out.err[-2000:]}"
        seen.add(sub)
        if sub == "info":
            assert "sklearn-digits-8x8" in out.out
        elif sub == "train":
            folder = workdir / argv[argv.index("--out") + 1] if "--out" in argv else \
                workdir / argv[argv.index("--resume") + 1]
            for name in ("checkpoint.pt", "metrics.json", "learning_curve.png", "config.json"):
                assert (folder / name).exists(), f"{line!r}: {name} missing"
            summary = json.loads(out.out.strip().splitlines()[-1])
            assert summary["env_steps"] >= TINY_STEPS
            if "--resume" in argv:
                assert summary["env_steps"] >= 2 * TINY_STEPS
        elif sub == "gan":
            folder = workdir / argv[argv.index("--out") + 1]
            assert (folder / "checkpoint.pt").exists() and (folder / "metrics.json").exists()
            assert json.loads(out.out.strip().splitlines()[-1])["updates"] == 50
        elif sub == "evaluate":
            m = json.loads(out.out)
            if m.get("model") == "gan":
                assert m["updates"] == 50 and {"judge_lr", "distinct", "frechet"} <= set(m)
            elif "--planner" in argv:
                assert m["planner"] == argv[argv.index("--planner") + 1] and 0 < m["test_mse"] < m["blank_mse"]
            else:
                assert {"task", "mode", "env_steps"} <= set(m)
                assert ("test_mse" in m) if m["task"] == "reconstruct" else ("judge_lr" in m)
        elif sub == "experiment":
            from dqngen_lib.experiments import EXPERIMENTS

            assert argv == ["experiment", "--list"] and all(name in out.out for name in EXPERIMENTS)
        elif sub == "reconstruct":
            f = np.load(workdir / argv[argv.index("--out") + 1])
            assert f["images"].shape == f["targets"].shape and f["images"].shape[1:] == (8, 8)
            assert 0 <= f["images"].min() and f["images"].max() <= 1 and 0 <= f["targets"].min()
        elif sub == "sample":
            f = np.load(workdir / argv[argv.index("--out") + 1])
            n = 10 * int(argv[argv.index("--per-class") + 1])
            assert f["images"].shape == (n, 8, 8) and f["labels"].shape == (n,)
        elif argv[:2] == ["bench", "env"]:
            assert "| cpu | pixel | 4 |" in out.out and "| cpu | pen | 4 |" in out.out
        else:
            pytest.fail(f"tests/test_readme.py does not know how to check {line!r}")
    assert {"info", "train", "gan", "evaluate", "reconstruct", "sample", "experiment", "bench"} <= seen
