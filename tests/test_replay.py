"""The replay memories of lesson 04 (dqngen_lib.replay)."""
import pytest
import torch

from dqngen_lib.replay import Batch, DequeReplay, PrioritizedReplay, ReplayBuffer

SHAPE = (3, 4, 4)


def transitions(first, count, device="cpu"):
    ids = torch.arange(first, first + count, device=device)
    obs = ids.float()[:, None, None, None].expand(count, *SHAPE).clone()
    return obs, ids, ids.float(), obs + 0.5, ids % 2 == 0


def held(buf):
    return buf.obs[:, 0, 0, 0].round().long()


def test_add_wraps_around_and_keeps_pos_and_size():
    buf = ReplayBuffer(10, SHAPE)
    buf.add(*transitions(1, 6))
    assert (buf.pos, buf.size, len(buf)) == (6, 6, 6)
    buf.add(*transitions(7, 4))          # exactly to the end
    assert (buf.pos, buf.size) == (0, 10)
    buf.add(*transitions(11, 7))         # 7 more: slots 0-6 overwritten
    assert (buf.pos, buf.size) == (7, 10)
    assert held(buf).tolist() == [11, 12, 13, 14, 15, 16, 17, 8, 9, 10]
    assert buf.actions.tolist() == held(buf).tolist()
    assert torch.equal(buf.next_obs[:, 0, 0, 0], buf.obs[:, 0, 0, 0] + 0.5)
    assert buf.terminated.dtype == torch.float32 and buf.terminated.tolist() == [float(i % 2 == 0) for i in held(buf)]


def test_a_batch_as_large_as_the_capacity_replaces_everything():
    buf = ReplayBuffer(5, SHAPE)
    buf.add(*transitions(1, 3))
    buf.add(*transitions(4, 5))
    assert sorted(held(buf).tolist()) == [4, 5, 6, 7, 8] and buf.pos == 3


def test_sample_draws_only_written_slots_uniformly_and_reproducibly():
    buf = ReplayBuffer(100, SHAPE)
    buf.add(*transitions(1, 20))
    b = buf.sample(4000, torch.Generator().manual_seed(0))
    assert isinstance(b, Batch)
    ids = b.obs[:, 0, 0, 0].round().long()
    assert int(ids.min()) >= 1 and int(ids.max()) <= 20
    counts = torch.bincount(ids, minlength=21)[1:]
    assert int(counts.min()) > 100 and int(counts.max()) < 300
    assert torch.equal(b.actions, ids) and torch.equal(b.rewards.long(), ids)
    assert b.obs.shape == (4000, *SHAPE) and b.actions.dtype == torch.int64 and b.rewards.dtype == torch.float32
    again = buf.sample(4000, torch.Generator().manual_seed(0))
    assert torch.equal(again.obs, b.obs)


def test_half_precision_storage_samples_float32():
    buf = ReplayBuffer(8, SHAPE, obs_dtype=torch.float16)
    buf.add(*transitions(1, 8))
    assert buf.obs.dtype == torch.float16
    b = buf.sample(5, torch.Generator().manual_seed(0))
    assert b.obs.dtype == torch.float32 and b.next_obs.dtype == torch.float32


def test_add_converts_dtypes():
    buf = ReplayBuffer(4, SHAPE)
    obs, ids, r, nxt, term = transitions(1, 3)
    buf.add(obs.double(), ids.int(), r.double(), nxt.double(), term)
    assert buf.actions.tolist()[:3] == [1, 2, 3] and buf.actions.dtype == torch.int64


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(0, SHAPE)
    with pytest.raises(ValueError, match="obs_dtype"):
        ReplayBuffer(4, SHAPE, obs_dtype=torch.uint8)
    buf = ReplayBuffer(4, SHAPE)
    with pytest.raises(ValueError, match="empty"):
        buf.sample(2)
    obs, ids, r, nxt, term = transitions(1, 3)
    with pytest.raises(ValueError, match=r"expected obs and next_obs of shape \(B, 3, 4, 4\)"):
        buf.add(obs[:, :2], ids, r, nxt[:, :2], term)
    with pytest.raises(ValueError, match=r"expected rewards of shape \(3,\)"):
        buf.add(obs, ids, r[:2], nxt, term)
    with pytest.raises(ValueError, match="exceeds the capacity"):
        buf.add(*transitions(1, 5))
    buf.add(obs, ids, r, nxt, term)
    with pytest.raises(ValueError, match="batch_size"):
        buf.sample(0)


def test_deque_replay_samples_stacked_tensors():
    mem = DequeReplay(5, seed=0)
    for i in range(8):
        mem.add(torch.full(SHAPE, float(i)), i, float(i), torch.full(SHAPE, i + 0.5), False)
    assert len(mem) == 5
    b = mem.sample(3)
    assert b.obs.shape == (3, *SHAPE) and b.actions.dtype == torch.int64
    assert set(b.actions.tolist()) <= {3, 4, 5, 6, 7} and len(set(b.actions.tolist())) == 3


def test_prioritized_replay_prefers_large_td_errors():
    buf = PrioritizedReplay(50, SHAPE, alpha=1.0)
    buf.add(*transitions(1, 40))
    assert torch.equal(buf.priorities[:40], torch.ones(40)) and float(buf.priorities[45]) == 0
    g = torch.Generator().manual_seed(0)
    batch, idx, w = buf.sample(2000, g)
    assert int(idx.max()) < 40 and float(w.max()) == pytest.approx(1.0)
    td = torch.zeros(40)
    td[7] = 10.0
    buf.update_priorities(torch.arange(40), td)
    batch, idx, w = buf.sample(2000, g)
    share = float((idx == 7).float().mean())
    assert share > 0.9   # 10 / (10 + 39 * 0.001)
    assert float(w[idx == 7].max()) < float(w[idx != 7].max())  # rarely drawn slots weigh more
    buf.add(*transitions(41, 2))
    assert float(buf.priorities[40]) == pytest.approx(10.001)  # new ones get the largest priority so far
    with pytest.raises(ValueError, match="same shape"):
        buf.update_priorities(idx, td)
    with pytest.raises(ValueError, match="alpha"):
        PrioritizedReplay(5, SHAPE, alpha=2.0)


def test_prioritized_replay_with_alpha_zero_is_uniform():
    buf = PrioritizedReplay(30, SHAPE, alpha=0.0)
    buf.add(*transitions(1, 30))
    buf.update_priorities(torch.arange(30), torch.linspace(0, 5, 30))
    _, idx, w = buf.sample(6000, torch.Generator().manual_seed(1))
    counts = torch.bincount(idx, minlength=30)
    assert int(counts.min()) > 120 and torch.allclose(w, torch.ones_like(w))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_buffer_lives_on_the_gpu():
    buf = ReplayBuffer(10, SHAPE, device="cuda")
    buf.add(*transitions(1, 14, device="cuda"))
    b = buf.sample(6, torch.Generator(device="cuda").manual_seed(0))
    assert all(t.device.type == "cuda" for t in b)
    assert held(buf).tolist() == [11, 12, 13, 14, 5, 6, 7, 8, 9, 10]
    buf.add(*transitions(15, 2, device="cpu"))  # host tensors are moved to the buffer's device
    assert held(buf).tolist()[4:6] == [15, 16]


def _batch(b=4, c=2):
    return (torch.rand(b, c, 3, 3), torch.arange(b), torch.rand(b), torch.rand(b, c, 3, 3), torch.zeros(b))


def test_add_accepts_numpy_and_refuses_impossible_values():
    import numpy as np

    buf = ReplayBuffer(16, (2, 3, 3))
    obs, a, r, nxt, term = _batch()
    buf.add(obs.numpy(), a.numpy(), r.numpy(), nxt.numpy(), term.numpy())
    assert len(buf) == 4 and buf.actions[:4].tolist() == [0, 1, 2, 3]
    cases = [
        (dict(actions=torch.tensor([0.0, 2.7, 1.0, 1.0])), "actions must be integers"),
        (dict(actions=torch.tensor([0, -5, 1, 1])), "actions must be >= 0, got -5"),
        (dict(rewards=torch.tensor([0.0, float("nan"), 0.0, 0.0])), "rewards must be finite"),
        (dict(terminated=torch.tensor([0.0, 2.0, 0.0, 0.0])), "terminated must be 0 or 1"),
        (dict(obs=np.array([[[["x"]]]] * 4, dtype=object)), "obs must be numeric"),
    ]
    for change, match in cases:
        args = dict(zip(("obs", "actions", "rewards", "next_obs", "terminated"), _batch()))
        args.update(change)
        with pytest.raises(ValueError, match=match):
            buf.add(**args)
    assert len(buf) == 4                                   # nothing was written by the refused adds


@pytest.mark.parametrize("cls", [ReplayBuffer, PrioritizedReplay])
def test_state_dict_round_trip(cls):
    buf = cls(8, (2, 3, 3))
    for _ in range(3):
        buf.add(*_batch())
    other = cls(8, (2, 3, 3))
    other.load_state_dict(buf.state_dict())
    assert (other.pos, other.size) == (buf.pos, buf.size)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    a, b = buf.sample(5, g1), other.sample(5, g2)
    first = a if cls is ReplayBuffer else a[0]
    second = b if cls is ReplayBuffer else b[0]
    assert all(torch.equal(x, y) for x, y in zip(first, second))
    with pytest.raises(ValueError, match="saved replay buffer"):
        cls(16, (2, 3, 3)).load_state_dict(buf.state_dict())


@pytest.mark.parametrize("eps", [float("nan"), float("inf"), 0.0, -1.0, "0.1"])
def test_prioritized_replay_refuses_an_eps_that_is_not_a_positive_number(eps):
    from dqngen_lib.replay import PrioritizedReplay

    with pytest.raises(ValueError, match="eps must be positive"):
        PrioritizedReplay(10, (2, 8, 8), eps=eps)
