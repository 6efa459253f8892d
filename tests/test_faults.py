"""Fault injection: the `dqngen train` command stopped by Ctrl-C (SIGINT), SIGTERM or kill -9 at random moments,
the final save included, and two writers started at once into one folder.

After every fault the folder is usable: its newest complete checkpoint loads, `--resume` continues it to the
same weights, bit for bit, as a run never stopped; where nothing was saved, the same command starts afresh (no
dead end); no temporary file is left. ``DQNGEN_FAULT_REPEATS`` (default 1) repeats each signal with other random
moments; `make test` runs one repetition)."""
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from dqngen_lib.checkpoint import CHECKPOINT_FILE, load_checkpoint

ARGS = ["--channels", "4", "--layers", "1", "--num-envs", "8", "--batch-size", "8", "--buffer-size", "200",
        "--learning-starts", "16", "--log-every", "32", "--eval-every", "0", "--eval-images", "10",
        "--horizon", "4", "--device", "cpu", "--no-progress", "--seed", "0", "--steps", "4000",
        "--checkpoint-every", "0.3"]
REPEATS = int(os.environ.get("DQNGEN_FAULT_REPEATS", "1"))
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}         # the same thread count in every process: the same floats


def dqngen(*argv):
    exe = shutil.which("dqngen", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "dqngen_lib"]


def start(out, *extra):
    return subprocess.Popen([*dqngen(), "train", *ARGS, "--out", str(out), *extra], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def weights(folder) -> str:
    ck = load_checkpoint(str(folder), device="cpu", kind="dqn")
    h = hashlib.sha256()
    for k, v in sorted(ck.qnet.state_dict().items()):
        h.update(k.encode() + v.numpy().tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    t0 = time.monotonic()
    p = start(out)
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    return weights(out), time.monotonic() - t0


def leftovers(folder):
    return [f for f in os.listdir(folder) if ".tmp" in f or f.endswith(".lock")] if os.path.isdir(folder) else []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "kill-9"])
@pytest.mark.parametrize("rep", range(REPEATS))
def test_a_run_stopped_at_a_random_moment_resumes_to_the_same_weights(tmp_path, reference, sig, rep):
    ref_hash, ref_wall = reference
    rng = random.Random(f"{sig}-{rep}")
    delay = rng.uniform(0.5, ref_wall + 0.5)        # from the imports to past the final save
    out = tmp_path / "run"
    p = start(out)
    time.sleep(delay)
    p.send_signal(sig)
    _, err = p.communicate(timeout=600)
    where = f"{signal.Signals(sig).name} after {delay:.2f} s of {ref_wall:.2f} s: rc {p.returncode}, {err[-400:]!r}"
    assert "Traceback" not in err, where
    if sig == signal.SIGKILL:
        assert p.returncode in (0, -signal.SIGKILL), where
    else:
        assert p.returncode in (0, 130), where
        assert p.returncode == 0 or err.strip(), "exit 130 without a word: " + where
    if os.path.exists(out / CHECKPOINT_FILE):
        weights(out)                                 # the newest complete checkpoint loads
        q = subprocess.run([*dqngen(), "train", *ARGS, "--resume", str(out)], env=ENV, capture_output=True,
                           text=True, timeout=600)
        finished = q.returncode == 2 and "already reached this budget" in q.stderr
        assert q.returncode == 0 or finished, where + f"; resume: rc {q.returncode}, {q.stderr[-400:]!r}"
    else:                                            # nothing saved: the same command starts afresh
        q = subprocess.run([*dqngen(), "train", *ARGS, "--out", str(out)], env=ENV, capture_output=True,
                           text=True, timeout=600)
        assert q.returncode == 0, where + f"; fresh start: rc {q.returncode}, {q.stderr[-400:]!r}"
    assert weights(out) == ref_hash, "the resumed run's weights differ from a run never stopped: " + where
    assert leftovers(out) == [], where


def test_two_writers_into_one_folder_one_wins_the_other_is_refused(tmp_path, reference):
    out = tmp_path / "run"
    a, b = start(out), start(out)
    (_, err_a), (_, err_b) = a.communicate(timeout=600), b.communicate(timeout=600)
    codes = sorted([a.returncode, b.returncode])
    assert codes == [0, 2], (codes, err_a[-300:], err_b[-300:])
    loser = err_a if a.returncode == 2 else err_b
    assert "Traceback" not in loser and ("being written by another run" in loser or "already holds a run" in loser), loser
    assert weights(out) == reference[0] and leftovers(out) == []
