"""dqngen_lib.train (with checkpoint, hostsync, bench): the trainer, checkpoints, resume."""
import glob
import os
import signal

import pytest
import torch

from dqngen_lib.checkpoint import load_checkpoint, save_checkpoint
from dqngen_lib.config import TrainConfig, make_env
from dqngen_lib.hostsync import HostSyncError, no_host_sync
from dqngen_lib.results import quality_bars
from dqngen_lib.train import Trainer, train

TINY = dict(channels=8, layers=1, hidden=16, num_envs=16, batch_size=32, buffer_size=2000, learning_starts=64,
            log_every=64, eval_every=0, eps_decay_steps=500, device="cpu", checkpoint_every=0.0)


def tiny(**kw):
    return TrainConfig(**{**TINY, **kw})


def weights(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


# -- the loop -------------------------------------------------------------------------------------

def test_training_is_deterministic_on_cpu():
    a = train(tiny(), steps=400, final_eval=False)
    b = train(tiny(), steps=400, final_eval=False)
    c = train(tiny(seed=1), steps=400, final_eval=False)
    assert a.env_steps == 400 and a.updates > 0
    assert torch.equal(weights(a.qnet), weights(b.qnet))
    assert not torch.equal(weights(a.qnet), weights(c.qnet))
    assert a.metrics["curves"]["episode_return"] == b.metrics["curves"]["episode_return"]


def test_budget_in_steps_rounds_up_to_whole_batches():
    res = train(tiny(learning_starts=0, updates_per_step=0.5), steps=100, final_eval=False)
    assert res.env_steps == 112          # 7 batched steps of 16 canvases
    assert res.updates == 3              # half an update per batched step


def test_final_metrics_and_curves():
    res = train(tiny(eval_every=128, eval_images=20), steps=256)
    fin = res.metrics["final"]
    for key in ("test_mse", "mean_return", "blank_mse", "env_steps", "updates", "seconds"):
        assert key in fin
    assert 0.0 <= fin["test_mse"] <= 1.0
    assert res.metrics["eval"]["env_steps"] == [128, 256]
    assert len(res.metrics["curves"]["env_steps"]) == 4


@pytest.mark.parametrize("changes", [dict(target="hard", target_period=3), dict(target="none"),
                                     dict(replay=False), dict(qnet="mlp"), dict(double=False, dueling=True),
                                     dict(mode="pen"), dict(loss="mse", max_grad_norm=0.0)])
def test_variants_run(changes):
    res = train(tiny(**changes), steps=160, final_eval=False)
    assert res.updates > 0
    assert all(torch.isfinite(p).all() for p in res.qnet.parameters())


def test_target_updates():
    tr = Trainer(tiny(target="hard", target_period=2, learning_starts=10_000))
    tr.run_steps(2)                                                 # fill the buffer, no updates yet
    assert tr.updates == 0
    before = weights(tr.target_net).clone()
    tr.update()
    assert torch.equal(weights(tr.target_net), before)             # not yet
    tr.update()
    assert torch.equal(weights(tr.target_net), weights(tr.qnet))   # copied at the period
    soft = Trainer(tiny(target="soft", tau=0.5, learning_starts=0))
    t0, o0 = weights(soft.target_net).clone(), weights(soft.qnet).clone()
    soft.run_steps(1)
    expected = 0.5 * t0 + 0.5 * weights(soft.qnet)
    assert torch.allclose(weights(soft.target_net), expected, atol=1e-6)
    assert not torch.equal(weights(soft.qnet), o0)


def test_no_replay_buffer_keeps_only_the_newest_batch():
    tr = Trainer(tiny(replay=False))
    assert tr.buffer.capacity == 16


@pytest.mark.parametrize("mode, task, extra", [("pixel", "reconstruct", {}), ("pen", "reconstruct", {}),
                                               ("pen", "reconstruct", {"qnet": "pen", "pen_segment": True}),
                                               ("pixel", "generate", {}),
                                               ("pixel", "generate", {"task_options": {"reward": "adversarial"}})])
def test_loop_never_reads_device_values(mode, task, extra):
    tr = Trainer(tiny(mode=mode, task=task, learning_starts=0, **extra))
    tr.run_steps(8)                        # past the first optimizer steps (Adam creates its state lazily)
    with no_host_sync(tr.host_tensors()) as watch:
        tr.run_steps(3)
    assert watch.ops > 100
    with pytest.raises(HostSyncError):
        with no_host_sync(tr.host_tensors()):
            tr.run_steps(1)
            float(tr.sums["return"])


# -- checkpoints and resume -----------------------------------------------------------------------

def test_checkpoint_roundtrip(tmp_path):
    res = train(tiny(), steps=160, out=str(tmp_path), final_eval=False)
    ck = load_checkpoint(str(tmp_path))
    assert ck.cfg == res.cfg
    assert torch.equal(weights(ck.qnet), weights(res.qnet))
    assert ck.optimizer_state is not None and {"torch", "act", "replay"} <= set(ck.rng_state)
    assert ck.extra["env_steps"] == 160
    for name in ("checkpoint.pt", "metrics.json", "config.json"):
        assert (tmp_path / name).exists(), name
    assert [os.path.basename(p) for p in glob.glob(str(tmp_path / "resume-*.pt"))] == ["resume-000000000160.pt"]


def test_resume_gives_the_same_weights(tmp_path):
    full = train(tiny(), steps=320, final_eval=False)
    half = tmp_path / "run"
    train(tiny(), steps=160, out=str(half), final_eval=False)
    resumed = train(tiny(), steps=320, out=str(half), resume=str(half), final_eval=False)
    assert resumed.env_steps == 320 and resumed.updates == full.updates
    assert torch.equal(weights(resumed.qnet), weights(full.qnet))
    assert resumed.metrics["curves"]["episode_return"] == full.metrics["curves"]["episode_return"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_between_chunks_and_resumes_exactly(tmp_path, sig):
    handler, term_handler = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    full = train(tiny(), steps=384, final_eval=False)

    def interrupt_once(trainer, point):
        if trainer.env_steps == 128:
            os.kill(os.getpid(), sig)     # what Ctrl-C does (SIGINT), or a scheduler (SIGTERM)

    res = train(tiny(), steps=384, out=str(tmp_path), final_eval=False, callback=interrupt_once)
    assert res.metrics["final"]["interrupted"] and res.env_steps < 384
    assert load_checkpoint(str(tmp_path)).extra["env_steps"] == res.env_steps
    resumed = train(tiny(), steps=384, out=str(tmp_path), resume=str(tmp_path), final_eval=False)
    assert resumed.env_steps == 384
    assert torch.equal(weights(resumed.qnet), weights(full.qnet))
    assert signal.getsignal(signal.SIGINT) is handler          # the handlers are given back
    assert signal.getsignal(signal.SIGTERM) is term_handler


def test_bad_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(str(tmp_path / "nothing"))
    bad = tmp_path / "corrupt"
    bad.mkdir()
    (bad / "checkpoint.pt").write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match="not a readable dqngen checkpoint"):
        load_checkpoint(str(bad))
    other = tmp_path / "other"
    other.mkdir()
    torch.save({"weights": torch.zeros(3)}, other / "checkpoint.pt")
    with pytest.raises(ValueError, match="not a dqngen checkpoint"):
        load_checkpoint(str(other))
    # weights that do not fit the stored config
    cfg = tiny()
    env = make_env(cfg, 1)
    from dqngen_lib.nets import build_qnet

    wrong = build_qnet("conv", env.obs_shape, env.num_actions, channels=4, layers=1)
    save_checkpoint(str(tmp_path / "mismatch"), cfg, wrong)
    with pytest.raises(ValueError, match="do not match"):
        load_checkpoint(str(tmp_path / "mismatch"))


def test_resume_refuses_another_config(tmp_path):
    train(tiny(), steps=64, out=str(tmp_path), final_eval=False)
    with pytest.raises(ValueError, match="differs"):
        train(tiny(lr=0.5), steps=128, resume=str(tmp_path), final_eval=False)
    (resume_file,) = glob.glob(str(tmp_path / "resume-*.pt"))
    os.remove(resume_file)
    with pytest.raises(FileNotFoundError, match="resume state resume-000000000064.pt is missing"):
        train(tiny(), steps=128, resume=str(tmp_path), final_eval=False)


def test_a_mismatched_resume_state_is_refused(tmp_path):
    """A crash between the two writes: the checkpoint and the resume state are from different steps."""
    a, b = tmp_path / "a", tmp_path / "b"
    train(tiny(), steps=64, out=str(a), final_eval=False)
    train(tiny(), steps=128, out=str(b), final_eval=False)
    (fa,) = glob.glob(str(a / "resume-*.pt"))
    (fb,) = glob.glob(str(b / "resume-*.pt"))
    os.replace(fb, fa)              # the file the checkpoint names now holds another state
    with pytest.raises(ValueError, match="not the resume state that checkpoint.pt was saved with"):
        train(tiny(), steps=256, resume=str(a), final_eval=False)


def test_a_crash_between_the_writes_keeps_a_consistent_pair(tmp_path, monkeypatch):
    """The new resume file is written first; if the checkpoint write then fails, the old pair still resumes."""
    import dqngen_lib.checkpoint as C

    out = tmp_path / "run"
    train(tiny(), steps=64, out=str(out), final_eval=False)
    tr = Trainer(tiny())
    tr.restore(str(out))
    tr.run_steps(4)
    real = C.atomic_save

    def crash_on_checkpoint(obj, path):
        if path.endswith("checkpoint.pt"):
            raise OSError("disk full")
        real(obj, path)

    monkeypatch.setattr(C, "atomic_save", crash_on_checkpoint)
    with pytest.raises(OSError):
        tr.save(str(out))
    monkeypatch.setattr(C, "atomic_save", real)
    full = train(tiny(), steps=128, final_eval=False)
    resumed = train(tiny(), steps=128, out=str(out), resume=str(out), final_eval=False)
    assert torch.equal(weights(resumed.qnet), weights(full.qnet))


def test_an_existing_run_is_not_overwritten(tmp_path):
    out = tmp_path / "run"
    train(tiny(), steps=64, out=str(out), final_eval=False)
    before = (out / "checkpoint.pt").read_bytes()
    with pytest.raises(ValueError, match="already holds a run"):
        train(tiny(seed=1), steps=64, out=str(out), final_eval=False)
    other = tmp_path / "other"
    train(tiny(), steps=64, out=str(other), final_eval=False)
    with pytest.raises(ValueError, match="already holds a run"):
        train(tiny(), steps=128, out=str(other), resume=str(out), final_eval=False)
    assert (out / "checkpoint.pt").read_bytes() == before
    train(tiny(seed=1), steps=64, out=str(out), final_eval=False, force=True)
    assert load_checkpoint(str(out)).cfg.seed == 1


def test_budget_is_required():
    with pytest.raises(ValueError, match="budget"):
        train(tiny())
    with pytest.raises(ValueError, match="steps"):
        train(tiny(), steps=-5)
    for bad in (float("nan"), float("inf"), -1.0, 0):
        with pytest.raises(ValueError, match="seconds must be a positive finite number"):
            train(tiny(), seconds=bad)


# -- the benchmark against Stable-Baselines3 -----------------------------------------------------

@pytest.mark.parametrize("mode", ["pixel", "pen"])
def test_benchmark_against_sb3_runs(mode):
    from dqngen_lib import bench

    cfg = TrainConfig.preset("reconstruct", mode, **{k: v for k, v in TINY.items() if k not in ("channels", "layers")})
    rows = bench.bench_train(seconds=0.5, seed=0, agents=("ours", "sb3", "seed"), mode=mode, cfg=cfg)
    assert [r["agent"] for r in rows] == ["ours", "Stable-Baselines3 DQN", "seed agent"]
    assert all(r["env_steps"] > 0 and 0.0 <= r["test_mse"] <= 1.0 for r in rows)
    assert rows[0]["params"] == rows[1]["params"] and rows[0]["network"] == rows[1]["network"] == cfg.qnet
    assert "time_to_sb3" in rows[0] and rows[0]["curve"] and rows[1]["curve"]
    bars = quality_bars(mode)
    for r in rows[:2]:                                     # curves: (training seconds, env steps, test MSE)
        seconds = [c[0] for c in r["curve"]]
        assert seconds == sorted(seconds) and seconds[-1] == pytest.approx(r["seconds"])
        assert r["curve"][-1][2] == pytest.approx(r["test_mse"])
        assert set(r["time_to"]) == set(bars)
    assert set(rows[0]["speedup_to"]) == set(bars)
    assert bench.time_to_reach([(1.0, 10, 0.5), (2.0, 20, 0.01)], 0.014) == 2.0
    assert bench.time_to_reach([(1.0, 10, 0.5)], 0.014) is None
    table = bench.format_train_table(rows)
    assert table.count("\n") == 4 and "Stable-Baselines3" in table and "not measured" in table
    assert all(f"time to {b}" in table for b in bars)
    with pytest.raises(ValueError, match="unknown agent"):
        bench.bench_train(seconds=0.1, agents=("nope",))


def test_learning_rate_decays_with_the_step_count():
    tr = Trainer(tiny(lr=1e-2, lr_end=1e-3, lr_decay_steps=320, learning_starts=0))
    assert tr.lr == pytest.approx(1e-2)
    tr.run_steps(10)                                       # 160 env steps: half-way
    assert tr.lr == pytest.approx(5.5e-3) and tr.optimizer.param_groups[0]["lr"] == pytest.approx(5.5e-3)
    tr.run_steps(20)
    assert tr.lr == pytest.approx(1e-3) and tr.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert Trainer(tiny()).lr == tiny().lr                 # no decay by default


def test_files_a_run_would_overwrite_are_refused(tmp_path):
    """A folder holding a user's own metrics.json, config.json or learning_curve.png (no checkpoint) is refused."""
    for name in ("metrics.json", "config.json", "learning_curve.png"):
        out = tmp_path / name.split(".")[0]
        out.mkdir()
        (out / name).write_text("mine")
        with pytest.raises(ValueError, match=f"holds {name}, which a run would overwrite"):
            train(tiny(), steps=64, out=str(out), final_eval=False)
        assert (out / name).read_text() == "mine" and sorted(p.name for p in out.iterdir()) == [name]
        train(tiny(), steps=64, out=str(out), final_eval=False, force=True)       # on purpose
        assert (out / "checkpoint.pt").exists()


def test_one_writer_per_folder(tmp_path, capsys):
    import subprocess
    import sys

    from dqngen_lib.checkpoint import LOCK_FILE

    out = tmp_path / "run"
    out.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / LOCK_FILE).write_text(f"{other.pid}\n")                   # another run is writing here
        with pytest.raises(ValueError, match=f"being written by another run \\(pid {other.pid}\\)"):
            train(tiny(), steps=64, out=str(out), final_eval=False)
        assert not (out / "checkpoint.pt").exists()
    finally:
        other.kill()
        other.wait()
    train(tiny(), steps=64, out=str(out), final_eval=False)            # its process ended: a stale lock
    assert f"removed the lock of a run that ended without releasing it (pid {other.pid})" in capsys.readouterr().err
    assert (out / "checkpoint.pt").exists() and not (out / LOCK_FILE).exists()     # released at the end


def test_ctrl_c_twice_during_the_final_save_still_saves_the_run(tmp_path, monkeypatch, capsys):
    """Signals that arrive while the checkpoint is written wait for the write: the run is kept, loadable and
    resumable, instead of an empty folder."""
    import dqngen_lib.checkpoint as checkpoint_module

    real = checkpoint_module.atomic_save

    def interrupted_save(obj, path):
        os.kill(os.getpid(), signal.SIGINT)             # Ctrl-C ...
        os.kill(os.getpid(), signal.SIGTERM)            # ... and the terminal closing, in the middle of the save
        return real(obj, path)

    monkeypatch.setattr(checkpoint_module, "atomic_save", interrupted_save)
    res = train(tiny(), steps=192, out=str(tmp_path), final_eval=False)
    monkeypatch.undo()
    assert res.env_steps == 192 and "saving the run" in capsys.readouterr().err
    ck = load_checkpoint(str(tmp_path))
    assert ck.extra["env_steps"] == 192 and ck.extra["metrics"]["final"]["env_steps"] == 192
    more = train(tiny(), steps=256, out=str(tmp_path), resume=str(tmp_path), final_eval=False)
    assert more.env_steps == 256


def test_resuming_a_finished_run_with_a_budget_it_reached_is_refused(tmp_path):
    train(tiny(), steps=128, out=str(tmp_path), final_eval=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for budget in (dict(steps=128), dict(steps=64), dict(seconds=1e-3)):
        with pytest.raises(ValueError, match="already reached this budget .*nothing to continue"):
            train(tiny(), out=str(tmp_path), resume=str(tmp_path), final_eval=False, **budget)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before       # nothing rewritten


def test_many_updates_per_step_still_honour_the_seconds_budget():
    """--updates-per-step 100000: one batched step owes 100,000 updates; the budget is heard between them."""
    cfg = TrainConfig.preset("reconstruct", "pixel", device="cpu", num_envs=4, batch_size=8, learning_starts=8,
                             updates_per_step=100_000, eval_every=0, eval_images=20)
    res = train(cfg, seconds=1.0, final_eval=False)
    fin = res.metrics["final"]
    assert 0 < fin["updates"] < 100_000 and fin["env_steps"] <= 12, fin


def test_updates_stopped_inside_a_step_are_paid_first_on_the_next_call():
    """A stop inside a step's updates leaves the credit; run_steps pays it before stepping again: the same
    weights as a run never stopped."""
    cfg = TrainConfig.preset("reconstruct", "pixel", device="cpu", num_envs=4, batch_size=8, learning_starts=4,
                             updates_per_step=150.0)
    a, b = Trainer(cfg), Trainer(cfg)
    a.run_steps(3)
    calls = {"n": 0}

    def stop_once():
        calls["n"] += 1
        return calls["n"] == 1
    b.should_stop = stop_once
    b.run_steps(3)                       # stops after 64 updates of the first step
    assert b.updates == 64 and b.env_steps == 4
    b.should_stop = lambda: False
    b.run_steps(2)                       # pays the 86 updates owed, then two steps
    assert (a.updates, a.env_steps) == (b.updates, b.env_steps) == (450, 12)
    for p, q in zip(a.qnet.parameters(), b.qnet.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("mode", ["pixel", "pen"])
def test_the_gpu_scale_runs_shrunk_on_the_cpu_without_host_syncs(mode):
    """Lesson 08's GPU configuration (config.GPU_SCALE, its replay ratio and schedules) is never untested code:
    the same fields, shrunk by 64 in every size, train on the CPU, under the host-sync watcher."""
    from dqngen_lib.config import GPU_SCALE

    full = TrainConfig.preset("reconstruct", mode, device="cpu", **GPU_SCALE)
    assert full.updates_per_step * full.batch_size / full.num_envs == 4.0
    small = full.replace(num_envs=full.num_envs // 64, batch_size=full.batch_size // 64,
                         buffer_size=full.buffer_size // 64, learning_starts=full.learning_starts // 64,
                         eps_decay_steps=full.eps_decay_steps // 64, log_every=full.log_every // 64, eval_every=0)
    tr = Trainer(small)
    tr.run_steps(-(-small.learning_starts // small.num_envs) + 1)
    with no_host_sync(tr.host_tensors()):
        tr.run_steps(4)
    assert tr.updates >= 16 and tr.env_steps == small.num_envs * (-(-small.learning_starts // small.num_envs) + 5)
