"""Q-networks and action selection of lesson 03 (dqngen_lib.nets)."""
import numpy as np
import pytest
import torch

from dqngen_lib.envs import VecCanvasEnv, num_actions
from dqngen_lib.nets import (QNET_KINDS, ConvQMap, MLPQNet, PenQMap, count_params, dueling_combine, epsilon_greedy,
                             greedy_actions, build_qnet, q_to_qmap, qmap_to_q)


@pytest.mark.parametrize("kind", QNET_KINDS)
@pytest.mark.parametrize("mode", ["pixel", "pen"])
@pytest.mark.parametrize("dueling", [False, True])
def test_every_net_maps_env_observations_to_one_q_per_action(kind, mode, dueling):
    if kind == "pen" and mode == "pixel":
        with pytest.raises(ValueError, match="pen mode"):
            build_qnet(kind, (3, 8, 8), 128, mode=mode)
        return
    env = VecCanvasEnv(3, mode=mode, seed=0)
    obs = env.reset()
    net = build_qnet(kind, env.obs_shape, env.num_actions, mode=mode, dueling=dueling)
    q = net(obs)
    assert q.shape == (3, env.num_actions) and q.dtype == torch.float32
    assert count_params(net) > 0


def test_mlp_parameter_count_is_the_seed_architecture():
    net = MLPQNet((3, 8, 8), 128)                      # the seed's: Linear(in, 128), Linear(128, 128), Linear(128, A)
    assert count_params(net) == (192 * 128 + 128) + (128 * 128 + 128) + (128 * 128 + 128)


def test_conv_qmap_does_not_grow_with_the_canvas_and_the_mlp_does():
    small, big = num_actions("pixel", 8, 3), num_actions("pixel", 28, 3)
    assert count_params(ConvQMap((3, 8, 8), small)) == count_params(ConvQMap((3, 28, 28), big))
    mlp_small, mlp_big = count_params(MLPQNet((3, 8, 8), small)), count_params(MLPQNet((3, 28, 28), big))
    assert mlp_big > 5 * mlp_small and mlp_big > 5 * count_params(ConvQMap((3, 28, 28), big))


def test_conv_qmap_uses_the_env_action_order():
    """Zeroing the trunk leaves the 1x1 head's bias: channel k of the map is ink level k+1 at every pixel."""
    net = ConvQMap((3, 4, 4), 2 * 16, channels=8)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.head[-1].bias.copy_(torch.tensor([1.0, 2.0]))
    q = net(torch.rand(2, 3, 4, 4))
    assert torch.equal(q[:, :16], torch.ones(2, 16)) and torch.equal(q[:, 16:], torch.full((2, 16), 2.0))


def test_qmap_round_trip_and_order():
    qmap = torch.arange(2 * 2 * 3 * 3, dtype=torch.float32).reshape(2, 2, 3, 3)
    q = qmap_to_q(qmap)
    assert q.shape == (2, 18)
    assert float(q[1, 9 + 5]) == float(qmap[1, 1, 1, 2])   # ink level 2, pixel (1, 2)
    assert torch.equal(q_to_qmap(q, 3), qmap)
    assert q_to_qmap(q[0], 3).shape == (2, 3, 3)
    with pytest.raises(ValueError, match="Q-map"):
        qmap_to_q(q)
    with pytest.raises(ValueError, match="pixel-mode Q-values"):
        q_to_qmap(torch.zeros(2, 10), 3)


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_dueling_head_averages_to_the_state_value(kind):
    torch.manual_seed(0)
    net = build_qnet(kind, (3, 5, 5), 50, dueling=True)
    x = torch.rand(4, 3, 5, 5)
    q = net(x)
    if kind == "mlp":
        v = net.value(net.body(x))
    else:
        f = net.trunk(x)
        v = net.value(torch.relu(net.glob(f.mean(dim=(2, 3)))))
    assert torch.allclose(q.mean(dim=1, keepdim=True), v, atol=1e-5)
    assert torch.allclose(dueling_combine(torch.zeros(1, 1), torch.tensor([[1.0, 3.0]])), torch.tensor([[-1.0, 1.0]]))


def test_bad_shapes_and_names_raise_value_errors():
    net = build_qnet("conv", (3, 8, 8), 128)
    with pytest.raises(ValueError, match=r"expected observations of shape \(B, 3, 8, 8\)"):
        net(torch.zeros(2, 2, 8, 8))
    with pytest.raises(ValueError, match=r"expected observations"):
        build_qnet("mlp", (3, 8, 8), 128)(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="unknown Q-network kind"):
        build_qnet("transformer", (3, 8, 8), 128)
    with pytest.raises(ValueError, match="unknown mode"):
        build_qnet("mlp", (3, 8, 8), 128, mode="brush")
    with pytest.raises(ValueError, match="divisible"):
        build_qnet("conv", (3, 8, 8), 100)
    with pytest.raises(ValueError, match="num_actions"):
        build_qnet("conv", (3, 8, 8), 0)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        build_qnet("conv", (8, 8), 128)


def test_nets_learn_a_regression_step():
    torch.manual_seed(0)
    for kind in ("mlp", "conv"):
        net = build_qnet(kind, (3, 3, 3), 9, channels=16) if kind == "conv" else build_qnet(kind, (3, 3, 3), 9)
        x, y = torch.rand(64, 3, 3, 3), torch.rand(64, 9)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        first = None
        for _ in range(30):
            loss = (net(x) - y).pow(2).mean()
            first = float(loss.detach()) if first is None else first
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert float(loss.detach()) < 0.5 * first


def test_greedy_and_epsilon_greedy():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(5000, 6, generator=g)
    assert torch.equal(greedy_actions(q), q.argmax(dim=1)) and greedy_actions(q).dtype == torch.int64
    assert torch.equal(epsilon_greedy(q, 0.0, g), q.argmax(dim=1))
    a = epsilon_greedy(q, 1.0, torch.Generator().manual_seed(1))
    freq = torch.bincount(a, minlength=6).float() / len(a)
    assert float((freq - 1 / 6).abs().max()) < 0.03
    a1 = epsilon_greedy(q, 0.5, torch.Generator().manual_seed(2))
    a2 = epsilon_greedy(q, 0.5, torch.Generator().manual_seed(2))
    assert torch.equal(a1, a2)
    assert abs(float((a1 != q.argmax(1)).float().mean()) - 0.5 * 5 / 6) < 0.03
    eps = torch.cat([torch.zeros(2500), torch.ones(2500)])  # one eps per row
    a3 = epsilon_greedy(q, eps, torch.Generator().manual_seed(3))
    assert torch.equal(a3[:2500], q[:2500].argmax(1)) and bool((a3[2500:] != q[2500:].argmax(1)).any())
    with pytest.raises(ValueError, match="eps"):
        epsilon_greedy(q, 1.5)
    with pytest.raises(ValueError, match="Q-values of shape"):
        greedy_actions(q[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_nets_and_action_selection_on_the_gpu():
    net = build_qnet("conv", (3, 8, 8), 128).cuda()
    q = net(torch.rand(4, 3, 8, 8, device="cuda"))
    a = epsilon_greedy(q, 0.5, torch.Generator(device="cuda").manual_seed(0))
    assert a.device.type == "cuda" and a.shape == (4,)


def test_q_heatmaps_draw_one_map_per_ink_and_mark_the_action():
    import matplotlib
    matplotlib.use("agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from dqngen_lib.viz import plot_q_heatmaps

    q = torch.zeros(2 * 9)
    q[9 + 5] = 1.0                                     # ink level 2, pixel (1, 2): the greedy action
    fig = plot_q_heatmaps(q, 3, ink_levels=3, canvas=torch.zeros(3, 3), target=torch.ones(3, 3))
    axes = fig.axes[:4]                                # canvas, target, two maps (then the colour bar)
    marked = [i for i, ax in enumerate(axes) if any(isinstance(p, Rectangle) and p.get_edgecolor()[0] > 0.9
                                                    for p in ax.patches)]
    assert marked == [3]
    rect = next(p for p in axes[3].patches if isinstance(p, Rectangle))
    assert rect.get_xy() == (2 - 0.5, 1 - 0.5)
    assert np.allclose(axes[3].images[0].get_array(), q_to_qmap(q, 3)[1].numpy())
    plt.close(fig)
    fig, axs = plt.subplots(1, 2)
    plot_q_heatmaps(q, 3, ink_levels=3, action=False, ax=axs)   # two maps only, nothing marked
    assert not any(isinstance(p, Rectangle) for ax in axs for p in ax.patches)
    plt.close(fig)
    with pytest.raises(ValueError, match="Q-values"):
        plot_q_heatmaps(q[:10], 3, ink_levels=3)
    with pytest.raises(ValueError, match="axes"):
        plot_q_heatmaps(q, 3, ink_levels=3, canvas=torch.zeros(3, 3), ax=axs)
    with pytest.raises(ValueError, match="action"):
        plot_q_heatmaps(q, 3, ink_levels=3, action=18)


# -- the pen-centred Q-map ---------------------------------------------------------------------------

def test_pen_qmap_crops_the_patch_around_the_pen_with_an_outside_flag():
    env = VecCanvasEnv(3, mode="pen", seed=0)
    env.reset()
    env.pen = torch.tensor([[0, 0], [3, 5], [7, 7]])
    obs = env.observation()
    net = PenQMap(env.obs_shape, env.num_actions, window=2)
    rows, cols = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    f = torch.stack([rows, cols])[None].expand(3, 2, 8, 8) + 1.0          # 1-based: 0 only in the padding
    patch = net.crop(f, obs[:, -2])
    assert patch.shape == (3, 3, 5, 5)
    for b, (py, px) in enumerate(env.pen.tolist()):
        for i in range(5):
            for j in range(5):
                y, x = py + i - 2, px + j - 2
                inside = 0 <= y < 8 and 0 <= x < 8
                assert patch[b, 2, i, j] == (0.0 if inside else 1.0)
                if inside:
                    assert patch[b, :2, i, j].tolist() == [y + 1.0, x + 1.0]
                else:
                    assert patch[b, :2, i, j].tolist() == [0.0, 0.0]


def test_pen_qmap_uses_the_env_action_order_and_a_zero_stop():
    """A head of one 1x1 layer, zero but its bias and its weights on the relative-coordinate planes."""
    env = VecCanvasEnv(2, mode="pen", seed=0)
    obs = env.reset()
    net = PenQMap(env.obs_shape, env.num_actions, head_layers=0)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.head[-1].bias.copy_(torch.tensor([1.0, 2.0, 3.0]))
        # the cell (i, j) of the patch is the move (dy, dx) = (i - 2, j - 2): give it 10 * dy + dx
        net.head[-1].weight[:, -2] = 10.0 * 2   # relative-coordinate planes: dy / 2 then dx / 2
        net.head[-1].weight[:, -1] = 1.0 * 2
    q = net(obs)
    assert q.shape == (2, 76) and torch.equal(q[:, -1], torch.zeros(2))
    from dqngen_lib.envs import pen_moves
    moves = pen_moves(2)
    for a in range(75):
        level, (dy, dx) = a // 25, moves[a % 25].tolist()
        assert float(q[0, a].detach()) == pytest.approx(level + 1 + 10 * dy + dx)


def test_pen_qmap_options_and_errors():
    env = VecCanvasEnv(2, mode="pen", seed=0)
    obs = env.reset()
    learned = PenQMap(env.obs_shape, env.num_actions, stop="learned", dueling=True, head_layers=2)
    assert learned(obs).shape == (2, 76)
    seg = PenQMap(env.obs_shape, env.num_actions, segment=True)
    assert seg(obs).shape == (2, 76)
    with pytest.raises(ValueError, match="unknown stop"):
        PenQMap(env.obs_shape, env.num_actions, stop="never")
    with pytest.raises(ValueError, match="pen-mode actions"):
        PenQMap(env.obs_shape, 128)
    with pytest.raises(ValueError, match="pen mode"):
        build_qnet("pen", (3, 8, 8), 128, mode="pixel")


def test_segment_masks_are_the_pixels_each_move_paints():
    from dqngen_lib.nets import segment_masks

    m = segment_masks(2).view(25, 5, 5)
    assert m[12].sum() == 1 and m[12, 2, 2] == 1                     # move (0, 0): the pen's pixel
    assert m[0].diagonal().tolist() == [1, 1, 1, 0, 0] and m[0].sum() == 3     # (-2, -2): the diagonal
    assert m[14, 2].tolist() == [0, 0, 1, 1, 1] and m[14].sum() == 3            # (0, +2): three to the right
    assert (m[:, 2, 2] == 1).all()                                    # every move paints its start
