"""Bad input to the command line: every case gets one line naming the bad value (exit 2), nothing is
overwritten, nothing hangs, no traceback."""
import json
import os
import stat

import numpy as np
import pytest

from dqngen_lib.cli import main

TINY = ["--channels", "4", "--layers", "1", "--num-envs", "8", "--batch-size", "8", "--buffer-size", "200",
        "--learning-starts", "16", "--log-every", "32", "--eval-every", "0", "--eval-images", "10",
        "--horizon", "4", "--device", "cpu", "--no-progress"]


def run(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:            # argparse refuses a value: exit 2 with a usage line
        code = e.code
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


@pytest.fixture(scope="module")
def pixel_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "pixel"
    assert main(["train", "--steps", "64", "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)

    def fake(n):
        return (rng.random((n, 28, 28)) * 255).astype(np.uint8), (np.arange(n) % 10).astype(np.int64)

    xtr, ytr = fake(20)
    xte, yte = fake(10)
    files = {}

    def save(name, **changes):
        arrays = {**dict(x_train=xtr, y_train=ytr, x_test=xte, y_test=yte), **changes}
        files[name] = str(d / f"{name}.npz")
        np.savez(files[name], **arrays)

    save("ok")
    save("label42", y_train=np.where(ytr == 3, 42, ytr))
    save("label_neg", y_train=np.where(ytr == 3, -3, ytr))
    save("label_frac", y_train=ytr + 0.7)
    save("nan", x_train=np.where(rng.random(xtr.shape) < 0.01, np.nan, xtr / 255.0))
    save("empty_test", x_test=xte[:0], y_test=yte[:0])
    obj = str(d / "object.npz")
    np.savez(obj, x_train=np.array([xtr[0], None], dtype=object), y_train=ytr[:2], x_test=xte, y_test=yte)
    files["object"] = obj
    return files


@pytest.mark.parametrize("argv, match", [
    (["train", "--seconds", "nan", "--out", "x"], "expected a positive finite number, got 'nan'"),
    (["train", "--seconds", "inf", "--out", "x"], "expected a positive finite number, got 'inf'"),
    (["train", "--seconds", "-5", "--out", "x"], "expected a positive finite number, got '-5'"),
    (["train", "--steps", "0", "--out", "x"], "expected a positive integer, got '0'"),
    (["train", "--steps", "12", "--out", "x", "--device", "meta"], "device 'meta' is not supported"),
    (["train", "--steps", "12", "--out", "x", "--mode", "brush"], "unknown mode 'brush'"),
    (["train", "--steps", "12", "--out", "x", "--task-option", "reward=style"], "reconstruct task, which has no options"),
    (["train", "--steps", "12", "--out", "x", "--task", "generate", "--task-option", "colour=1"],
     "unknown generate task option"),
    (["train", "--steps", "12"], "give --out DIR"),
    (["train", "--out", "x"], "give a budget"),
    (["bench", "--seconds", "-1"], "expected a positive finite number, got '-1'"),
    (["bench", "env", "--sizes", "abc"], "expected comma-separated positive integers, got 'abc'"),
    (["bench", "env", "--sizes", "0,4"], "expected comma-separated positive integers, got '0,4'"),
    (["bench", "train", "--seconds", "nan"], "expected a positive finite number"),
    (["evaluate", "--checkpoint", "nowhere"], "no checkpoint at"),
    (["evaluate", "--checkpoint", "nowhere", "--device", "gpu"], "unknown device 'gpu'"),
    # a negative number in exponent form reaches the option's check (argparse took it for an option)
    (["train", "--steps", "12", "--out", "x", "--lr", "-1e-3"], "lr = -0.001 is invalid; expected a positive number"),
    (["train", "--steps", "12", "--out", "x", "--gamma", "-5e-1"], "gamma = -0.5 is invalid"),
    (["train", "--steps", "12", "--out", "x", "--horizon", "1000000000"], "at most 16 x size**2 = 1024 strokes"),
])
def test_bad_values_are_named(capsys, tmp_path, monkeypatch, argv, match):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv)
    assert code == 2 and match in err, err
    assert not (tmp_path / "x").exists()


def test_out_that_cannot_hold_a_run(capsys, tmp_path, pixel_run):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    cases = [(afile, "is a file, not a folder"), (afile / "sub", "which is a file")]
    for out, match in cases:
        code, _, err = run(capsys, "train", "--steps", "16", "--out", out, *TINY)
        assert code == 2 and match in err, err
    assert afile.read_text() == "keep me"
    for cmd in (["reconstruct"], ["sample"]):
        for out, match in ((afile, "must name a .npz file"), (tmp_path / "o", "must name a .npz file"),
                           (afile / "x.npz", "which is a file")):
            code, _, err = run(capsys, *cmd, "--checkpoint", pixel_run, "--out", out)
            assert code == 2 and match in err, (cmd, out, err)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_out(capsys, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    code, _, err = run(capsys, "train", "--steps", "16", "--out", ro / "run", *TINY)
    assert code == 2 and "permission denied" in err


def test_an_existing_run_or_file_is_not_overwritten(capsys, tmp_path, pixel_run):
    before = (pixel_run / "checkpoint.pt").read_bytes()
    code, _, err = run(capsys, "train", "--steps", "16", "--out", pixel_run, *TINY)
    assert code == 2 and "already holds a run" in err and "--resume" in err and "--force" in err
    other = tmp_path / "other"
    assert run(capsys, "train", "--steps", "16", "--out", other, *TINY)[0] == 0
    code, _, err = run(capsys, "train", "--steps", "128", "--resume", pixel_run, "--out", other)
    assert code == 2 and "already holds a run" in err
    assert (pixel_run / "checkpoint.pt").read_bytes() == before
    rec = tmp_path / "rec.npz"
    assert run(capsys, "reconstruct", "--checkpoint", pixel_run, "--out", rec, "--max-images", "3")[0] == 0
    code, _, err = run(capsys, "reconstruct", "--checkpoint", pixel_run, "--out", rec, "--max-images", "3")
    assert code == 2 and "exists; add --force" in err
    code, out, _ = run(capsys, "reconstruct", "--checkpoint", pixel_run, "--out", rec, "--max-images", "3", "--force")
    assert code == 0 and json.loads(out)["out"] == str(rec) and rec.exists()


def test_resume_with_another_mode_or_a_pen_checkpoint_is_refused(capsys, tmp_path, pixel_run):
    code, _, err = run(capsys, "train", "--steps", "128", "--resume", pixel_run, "--mode", "pen")
    assert code == 2 and "differ from its config" in err and "mode" in err
    pen = tmp_path / "pen"
    assert run(capsys, "train", "--steps", "16", "--out", pen, "--mode", "pen", *TINY)[0] == 0
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name in os.listdir(pixel_run):
        if name.startswith("resume-"):
            (mixed / name).write_bytes((pixel_run / name).read_bytes())
    (mixed / "checkpoint.pt").write_bytes((pen / "checkpoint.pt").read_bytes())
    code, _, err = run(capsys, "train", "--steps", "128", "--resume", mixed)
    assert code == 2 and "resume state" in err, err


def test_evaluate_split_applies_to_reconstruction_only(capsys, tmp_path):
    gen = tmp_path / "gen"
    assert run(capsys, "train", "--task", "generate", "--steps", "16", "--out", gen, *TINY)[0] == 0
    code, _, err = run(capsys, "evaluate", "--checkpoint", gen, "--split", "train")
    assert code == 2 and "--split train applies to reconstruction" in err


@pytest.mark.parametrize("name, match", [
    ("label42", "train labels must be digits 0-9, got values in [0, 42]"),
    ("label_neg", "train labels must be digits 0-9, got values in [-3, 9]"),
    ("label_frac", "train labels must be integers 0-9, got 0.7"),
    ("object", "holds object arrays"),
    ("nan", "NaN or infinite pixel"),
    ("empty_test", "there are no test images"),
])
@pytest.mark.parametrize("task", ["reconstruct", "generate"])
def test_bad_data_files_are_named(capsys, tmp_path, data_files, name, match, task):
    code, _, err = run(capsys, "train", "--task", task, "--mode", "pen", "--size", "28", "--data-path",
                       data_files[name], "--steps", "16", "--out", tmp_path / "run", *TINY)
    assert code == 2 and match in err and os.path.basename(data_files[name]) in err, err
    assert not (tmp_path / "run").exists()


def test_reconstruct_reports_the_file_it_wrote(capsys, tmp_path, pixel_run):
    out = tmp_path / "sub" / "rec.npz"
    code, stdout, _ = run(capsys, "reconstruct", "--checkpoint", pixel_run, "--out", out, "--max-images", "2")
    assert code == 0 and json.loads(stdout)["out"] == str(out) and out.exists()


def test_every_file_output_is_checked_before_the_work(capsys, tmp_path, monkeypatch):
    """bench --json and experiment --out follow the rule of reconstruct and sample: an existing file needs
    --force, a folder or a path under a file is refused, and all of it before any benchmark or training."""
    import dqngen_lib.cli as cli

    def no_work(*a, **kw):
        raise AssertionError("the work started before the output path was checked")

    monkeypatch.setattr(cli, "bench_env", no_work)
    monkeypatch.setattr(cli, "bench_train", no_work)
    monkeypatch.setattr(cli, "run_experiment", no_work)
    existing = tmp_path / "rows.json"
    existing.write_text("{}")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [
        (("bench", "env", "--json", existing), "exists; add --force"),
        (("bench", "train", "--agents", "ours", "--json", existing), "exists; add --force"),
        (("bench", "env", "--json", tmp_path), "is a folder"),
        (("bench", "env", "--json", a_file / "rows.json"), "which is a file"),
        (("bench", "env", "--json", tmp_path / "rows.txt"), "must name a .json file"),
    ]
    for argv, match in cases:
        code, _, err = run(capsys, *argv)
        assert code == 2 and match in err, (argv, err)
    assert existing.read_text() == "{}"
    monkeypatch.undo()
    from dqngen_lib.experiments import run_experiment

    for out, match in ((existing, "exists; add --force"), (tmp_path, "is a folder"),
                       (a_file / "r.json", "which is a file"), (tmp_path / "r.txt", "must name a .json file")):
        with pytest.raises(ValueError, match=match):
            run_experiment("pixel-gamma0", out=str(out), quick=True, log=no_work)
    assert not (tmp_path / "r.partial").exists()


def test_bench_json_into_a_missing_folder_is_made(capsys, tmp_path):
    out = tmp_path / "new" / "deeper" / "env.json"
    code, _, _ = run(capsys, "bench", "env", "--seconds", "0.01", "--sizes", "1", "--json", out)
    assert code == 0 and json.loads(out.read_text())["rows"]
    code, _, err = run(capsys, "bench", "env", "--seconds", "0.01", "--sizes", "1", "--json", out)
    assert code == 2 and "exists; add --force" in err
    assert run(capsys, "bench", "env", "--seconds", "0.01", "--sizes", "1", "--json", out, "--force")[0] == 0


def test_ctrl_c_during_setup_says_so_in_one_line(capsys, tmp_path, monkeypatch):
    import dqngen_lib.cli as cli

    def ctrl_c(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "train", ctrl_c)
    code, _, err = run(capsys, "train", "--steps", "16", "--out", tmp_path / "run", *TINY)
    assert code == 130 and err.strip() == "dqngen train: interrupted"


def test_seeds_on_an_experiment_without_seeds_is_refused(capsys, tmp_path):
    code, _, err = run(capsys, "experiment", "planners", "--seeds", "0,1", "--quick", "--out", tmp_path / "p.json")
    assert code == 2 and "trains nothing over seeds" in err and not (tmp_path / "p.json").exists()


def test_a_foreign_or_corrupt_checkpoint_is_one_line(capsys, tmp_path):
    """torch's refusal of a pickle it will not load runs to several lines; the command says it in one."""
    import collections

    import torch

    torch.save({"x": collections.OrderedDict, "f": json.dumps}, tmp_path / "foreign.pt")   # refused by weights_only
    (tmp_path / "text.pt").write_text("hello")
    for name in ("foreign.pt", "text.pt"):
        code, _, err = run(capsys, "evaluate", "--checkpoint", tmp_path / name)
        assert code == 2 and err.count("\n") == 1 and "is not a readable dqngen checkpoint" in err, err


def test_ctrl_c_while_the_command_loads_is_one_line():
    """The `dqngen` script imports torch before main runs; a Ctrl-C then says so in one line, exit 130."""
    import shutil
    import signal
    import subprocess
    import sys
    import time

    exe = shutil.which("dqngen", path=os.path.dirname(sys.executable)) or shutil.which("dqngen")
    if exe is None:
        pytest.skip("the dqngen script is not installed")
    p = subprocess.Popen([exe, "info"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.1)                                  # torch alone takes longer than this to import
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert "Traceback" not in err, err
    if p.returncode == 0:                            # loaded before the signal: nothing to check here
        pytest.skip("the command had finished before the signal")
    assert p.returncode == 130 and err == "dqngen: interrupted while starting; nothing was done\n", (p.returncode, err)


@pytest.mark.parametrize("argv, part", [
    (["--buffer-size", "10000000000"], "replay buffer"),
    (["--num-envs", "100000000"], "acting"),
    (["--ink-levels", "10000000"], "one update"),
])
def test_sizes_that_cannot_fit_in_memory_are_refused_before_the_work(capsys, tmp_path, argv, part):
    code, _, err = run(capsys, "train", "--steps", "10", "--out", tmp_path / "run", "--device", "cpu", *argv)
    assert code == 2 and "this needs about" in err and part in err and "available" in err, err
    assert not (tmp_path / "run").exists()


def test_bench_env_sizes_that_cannot_fit_are_refused_before_measuring(capsys):
    code, out, err = run(capsys, "bench", "env", "--sizes", "1,10000000000")
    assert code == 2 and "environments" in err and "lower --sizes" in err and out == "", err
