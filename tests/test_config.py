"""dqngen_lib.config: TrainConfig (round trip, field docs, bad values), the presets, the factories."""
import dataclasses

import pytest

from dqngen_lib.config import PRESETS, TrainConfig, make_env, obs_shape

TINY = dict(channels=8, layers=1, hidden=16, num_envs=16, batch_size=32, buffer_size=2000, learning_starts=64,
            log_every=64, eval_every=0, eps_decay_steps=500, device="cpu", checkpoint_every=0.0)


def tiny(**kw):
    return TrainConfig(**{**TINY, **kw})


def test_config_roundtrip_and_docs():
    cfg = tiny(mode="pen", lr=3e-4, task="generate", task_options={"alpha": 2.0})
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    docs = TrainConfig.field_docs()
    missing = [f.name for f in dataclasses.fields(TrainConfig) if not docs.get(f.name)]
    assert not missing, f"fields without a docstring: {missing}"


@pytest.mark.parametrize("field, value", [
    ("task", "paint"), ("mode", "brush"), ("qnet", "rnn"), ("num_envs", 0), ("lr", -1.0), ("gamma", 1.5),
    ("eps_end", -0.1), ("target", "sometimes"), ("batch_size", 2.5), ("size", 28), ("ink_levels", 1),
    ("double", "yes"), ("updates_per_step", 0), ("loss", "l1"), ("horizon", 0),
])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=f"TrainConfig.{field}"):
        TrainConfig(**{field: value})


def test_presets_build_and_match_their_envs():
    for (task, mode), changes in PRESETS.items():
        cfg = TrainConfig.preset(task, mode)
        assert (cfg.task, cfg.mode) == (task, mode)
        assert all(getattr(cfg, k) == v for k, v in changes.items())
        assert make_env(cfg, 2).obs_shape == obs_shape(cfg)
    assert TrainConfig.preset("reconstruct", "pixel") == TrainConfig()
    assert TrainConfig.preset("generate", "pixel", seed=3).seed == 3
    with pytest.raises(ValueError, match="unknown task 'paint'"):
        TrainConfig.preset("paint", "pixel")


def test_task_options_are_checked():
    with pytest.raises(ValueError, match="reconstruct task, which has no options"):
        TrainConfig(task_options={"reward": "style"})
    with pytest.raises(ValueError, match="unknown generate task option"):
        TrainConfig(task="generate", task_options={"colour": 1})
    with pytest.raises(ValueError, match="unknown reward 'gan'"):
        TrainConfig(task="generate", task_options={"reward": "gan"})


def test_config_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0.1})


# -- environments ---------------------------------------------------------------------------------

def test_make_env_uses_the_split():
    cfg = TrainConfig()
    tr, te = make_env(cfg, 4, "train"), make_env(cfg, 4, "test")
    assert len(tr.images) == 899 and len(te.images) == 898
    assert tr.obs_shape == (3, 8, 8) and tr.num_actions == 128
    with pytest.raises(ValueError, match="split"):
        make_env(cfg, 4, "valid")


@pytest.mark.parametrize("changes, match", [
    (dict(device="bogus"), "device"), (dict(device="meta"), "device"), (dict(seed=2**32), "seed"),
    (dict(seed=-1), "seed"), (dict(latent_dim=4), "latent_dim"), (dict(eps_start=0.1, eps_end=0.5), "eps_end"),
])
def test_config_refuses_what_used_to_fail_late_or_never(changes, match):
    """Values accepted without a word before: refused at once, naming the field."""
    with pytest.raises(ValueError, match=f"TrainConfig.{match} = "):
        tiny(**changes)
    tiny(device="cuda:1")          # a GPU named on a machine without one: checked when a run starts, not here


def test_a_budget_below_learning_starts_is_announced(capsys):
    from dqngen_lib.train import train

    train(tiny(learning_starts=1000), steps=64, final_eval=False)
    assert "makes no update" in capsys.readouterr().err
    train(tiny(), steps=128, final_eval=False)
    assert "makes no update" not in capsys.readouterr().err


def test_the_memory_estimate_grows_with_each_size_and_presets_fit_a_laptop():
    from dqngen_lib.config import memory_estimate

    for task, mode in PRESETS:
        cfg = TrainConfig.preset(task, mode)
        base = sum(memory_estimate(cfg).values())
        assert base < 2**30, (task, mode, base)                  # under 1 GiB: every preset runs on a laptop
        for field in ("buffer_size", "num_envs", "batch_size", "ink_levels"):
            bigger = cfg.replace(**{field: getattr(cfg, field) * 4})
            assert sum(memory_estimate(bigger).values()) > base, field
