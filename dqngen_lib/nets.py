"""Q-networks (lesson 03): the seed's MLP and a convolutional per-pixel Q-map.

Both map an observation batch (B, C, H, W) to Q-values (B, num_actions). The conv Q-map of pixel
mode returns one Q-value per (ink level, pixel) in the env's action order ``k * H * W + p``; in
pen mode a small conv trunk feeds a linear head with one Q-value per pen action. ``dueling=True``
splits either head into a state value and advantages, ``Q = V + A - mean(A)``.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["MLPQNet", "ConvQMap", "make_qnet", "count_params", "QNET_KINDS"]

QNET_KINDS = ("mlp", "conv")


def _check_obs(x: torch.Tensor, obs_shape: tuple[int, ...]) -> None:
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(obs_shape):
        raise ValueError(f"expected observations of shape (B, {', '.join(map(str, obs_shape))}), "
                         f"got {tuple(x.shape)}")


class MLPQNet(nn.Module):
    """The seed's Q-network: flatten the observation, two hidden ReLU layers, one output per action."""

    def __init__(self, obs_shape, num_actions: int, hidden: int = 256, dueling: bool = False):
        super().__init__()
        self.obs_shape, self.num_actions, self.dueling = tuple(obs_shape), int(num_actions), dueling
        n_in = 1
        for d in self.obs_shape:
            n_in *= d
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(n_in, hidden), nn.ReLU(),
                                  nn.Linear(hidden, hidden), nn.ReLU())
        self.adv = nn.Linear(hidden, num_actions)
        self.value = nn.Linear(hidden, 1) if dueling else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_obs(x, self.obs_shape)
        h = self.body(x)
        a = self.adv(h)
        if self.value is None:
            return a
        return self.value(h) + a - a.mean(dim=1, keepdim=True)


class ConvQMap(nn.Module):
    """Convolutional Q-network: 3x3 convolutions plus a broadcast global feature.

    ``mode="pixel"``: a 1x1 convolution gives ``num_actions // (H*W)`` Q-values at every pixel,
    flattened channel-major so that index ``k * H * W + p`` is "paint pixel p with ink k+1".
    ``mode="pen"``: the trunk is flattened into a linear head with ``num_actions`` outputs.
    """

    def __init__(self, obs_shape, num_actions: int, mode: str = "pixel", channels: int = 64,
                 layers: int = 3, dueling: bool = False):
        super().__init__()
        c, h, w = obs_shape
        self.obs_shape, self.num_actions, self.mode, self.dueling = tuple(obs_shape), int(num_actions), mode, dueling
        if mode == "pixel" and num_actions % (h * w):
            raise ValueError(f"pixel mode needs num_actions divisible by H*W={h * w}, got {num_actions}")
        if mode not in ("pixel", "pen"):
            raise ValueError(f"unknown mode {mode!r}; expected 'pixel' or 'pen'")
        convs, ch = [], c
        for _ in range(layers):
            convs += [nn.Conv2d(ch, channels, 3, padding=1), nn.ReLU()]
            ch = channels
        self.trunk = nn.Sequential(*convs)
        self.glob = nn.Linear(channels, channels)
        if mode == "pixel":
            self.head = nn.Sequential(nn.Conv2d(2 * channels, channels, 1), nn.ReLU(),
                                      nn.Conv2d(channels, num_actions // (h * w), 1))
            self.value = nn.Linear(channels, 1) if dueling else None
        else:
            self.head = nn.Sequential(nn.Conv2d(2 * channels, 16, 1), nn.ReLU(), nn.Flatten(),
                                      nn.Linear(16 * h * w, 256), nn.ReLU(), nn.Linear(256, num_actions))
            self.value = nn.Linear(channels, 1) if dueling else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_obs(x, self.obs_shape)
        f = self.trunk(x)
        g = torch.relu(self.glob(f.mean(dim=(2, 3))))
        f = torch.cat([f, g[:, :, None, None].expand_as(f)], dim=1)
        a = self.head(f).flatten(1)
        if self.value is None:
            return a
        return self.value(g) + a - a.mean(dim=1, keepdim=True)


def make_qnet(kind: str, obs_shape, num_actions: int, mode: str = "pixel", dueling: bool = False,
              **kwargs) -> nn.Module:
    """Build a Q-network by name: ``"mlp"`` (the seed's) or ``"conv"`` (the Q-map)."""
    if kind == "mlp":
        return MLPQNet(obs_shape, num_actions, dueling=dueling, **kwargs)
    if kind == "conv":
        return ConvQMap(obs_shape, num_actions, mode=mode, dueling=dueling, **kwargs)
    raise ValueError(f"unknown Q-network kind {kind!r}; expected one of {', '.join(map(repr, QNET_KINDS))}")


def count_params(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
