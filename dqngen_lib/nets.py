"""Q-networks (lesson 03): the seed's MLP and a convolutional per-pixel Q-map, plus action selection.

Both map an observation batch (B, C, H, W) to Q-values (B, num_actions). The conv Q-map of pixel
mode returns one Q-value per (ink level, pixel) in the env's action order ``k * H * W + p``
(``qmap_to_q`` flattens the map, ``q_to_qmap`` unflattens it); in pen mode a small conv trunk
feeds a linear head with one Q-value per pen action. ``PenQMap`` (pen mode) reads its Q-values off the
pen's neighbourhood: a conv trunk's features are cropped around the pen, and a small conv head over
that (2w+1) x (2w+1) patch gives one Q-value per (ink level, move), so the move (dy, dx) is read
at the patch cell (dy, dx). ``dueling=True`` splits a head into a state value and advantages,
``Q = V + A - mean(A)``. ``greedy_actions`` and ``epsilon_greedy``
pick actions from Q-values without synchronising with the host.
"""
from __future__ import annotations

import torch
from torch import nn

from .envs import MODES, pen_transition
from .utils import is_int, is_number

__all__ = ["MLPQNet", "ConvQMap", "PenQMap", "CondMaps", "COND_DECODERS", "segment_masks", "build_qnet", "count_params",
           "QNET_KINDS", "qmap_to_q", "q_to_qmap", "dueling_combine", "greedy_actions", "epsilon_greedy",
           "boltzmann_actions"]

QNET_KINDS = ("mlp", "conv", "pen")
STOP_Q = ("zero", "learned")


def _check_obs(x: torch.Tensor, obs_shape: tuple[int, ...]) -> None:
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(obs_shape):
        raise ValueError(f"expected observations of shape (B, {', '.join(map(str, obs_shape))}), "
                         f"got {tuple(x.shape)}")


def qmap_to_q(qmap: torch.Tensor) -> torch.Tensor:
    """Per-pixel Q-map (B, L-1, H, W) -> Q-values (B, (L-1)*H*W) in the env's action order ``k*H*W + p``.

    Channel ``k`` of the map holds "paint with ink ``k + 1``"; ``p`` is the row-major pixel.
    """
    if qmap.ndim != 4:
        raise ValueError(f"expected a Q-map of shape (B, L-1, H, W), got {tuple(qmap.shape)}")
    return qmap.flatten(1)


def q_to_qmap(q: torch.Tensor, size: int) -> torch.Tensor:
    """Pixel-mode Q-values (B, A) or (A,) -> the map (B, A // size**2, size, size) (or without B)."""
    if q.ndim not in (1, 2) or q.shape[-1] % (size * size):
        raise ValueError(f"expected pixel-mode Q-values (B, k*{size}*{size}) or (k*{size}*{size},), "
                         f"got shape {tuple(q.shape)}")
    return q.reshape(*q.shape[:-1], q.shape[-1] // (size * size), size, size)


def dueling_combine(value: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    """Dueling head: ``Q = V + A - mean_a A`` from values (B, 1) and advantages (B, A)."""
    return value + adv - adv.mean(dim=1, keepdim=True)


def greedy_actions(q: torch.Tensor) -> torch.Tensor:
    """``argmax_a Q(s, a)`` of Q-values (B, A) -> int64 (B,) (lesson 03; ties go to the first action)."""
    if q.ndim != 2:
        raise ValueError(f"expected Q-values of shape (B, num_actions), got {tuple(q.shape)}")
    return q.argmax(dim=1)


def epsilon_greedy(q: torch.Tensor, eps, generator: torch.Generator | None = None) -> torch.Tensor:
    """ε-greedy actions from Q-values (B, A) -> int64 (B,) (lesson 03).

    Each row independently takes a uniformly random action (any of the A, the greedy one included)
    with probability ``eps`` (a float, or a tensor of one value per row), else the greedy action.
    The random numbers come from ``generator`` on ``q``'s device -- first the random actions, then
    the coin flips -- and ``torch.where`` picks, so nothing synchronises with the host.
    """
    if isinstance(eps, (int, float)) and not 0.0 <= float(eps) <= 1.0:
        raise ValueError(f"eps must lie in [0, 1], got {eps!r}")
    greedy = greedy_actions(q)
    n, a = q.shape
    rand = torch.randint(a, (n,), generator=generator, device=q.device)
    explore = torch.rand(n, generator=generator, device=q.device) < eps
    return torch.where(explore, rand, greedy)


def boltzmann_actions(q: torch.Tensor, temperature: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Actions sampled with ``P(a) ∝ exp(Q(s, a) / temperature)`` from Q-values (B, A) -> int64 (B,).

    ``temperature = 0`` is the greedy action. The draw comes from ``generator`` on ``q``'s device.
    """
    if not is_number(temperature, 0.0):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
    if temperature == 0:
        return greedy_actions(q)
    probs = torch.softmax(q / temperature, dim=1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


class MLPQNet(nn.Module):
    """The seed's Q-network (lesson 03): flatten the observation, two hidden ReLU layers, one output per action."""

    def __init__(self, obs_shape, num_actions: int, hidden: int = 128, dueling: bool = False):
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
        return dueling_combine(self.value(h), a)


COND_DECODERS = ("mlp", "bilinear")


class CondMaps(nn.Module):
    """Decode the conditioning of the generate task into pictures (lesson 09).

    In the generate task the class one-hot and the latent code fill constant planes of the
    observation (channels ``cond[0]:cond[1]``); a convolution sees the same value at every pixel and
    cannot tell *where* a class with this latent needs ink. ``CondMaps`` reads the conditioning
    vector (the planes' means) and decodes it into ``maps`` planes of H x W -- a learned picture per
    class and latent, like the decoder of a generator -- which the network appends to its input.

    ``decoder="mlp"``: one hidden layer of ``hidden`` units over the whole vector. ``"bilinear"``: for
    each class a linear map of the latent code, ``maps(c, z) = A_c + sum_i z_i B_ci`` -- the form of
    the style reward's sketches (a class mean plus latent-weighted directions), so the network can
    hold every sketch exactly; the first ``classes`` conditioning values are the class one-hot.
    """

    def __init__(self, cond: tuple[int, int], maps: int, size: int, hidden: int = 64, decoder: str = "mlp",
                 classes: int = 10):
        super().__init__()
        self.cond, self.maps, self.size = (int(cond[0]), int(cond[1])), int(maps), int(size)
        n = self.cond[1] - self.cond[0]
        if n < 1 or maps < 1:
            raise ValueError(f"CondMaps needs conditioning channels and maps >= 1, got {cond} and {maps}")
        if decoder not in COND_DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}; expected one of {', '.join(map(repr, COND_DECODERS))}")
        if decoder == "bilinear" and not 1 <= classes <= n:
            raise ValueError(f"the bilinear decoder needs 1 <= classes <= {n} conditioning channels, got {classes}")
        self.decoder, self.classes = decoder, int(classes)
        out = maps * size * size
        if decoder == "mlp":
            self.mlp = nn.Sequential(nn.Linear(n, hidden), nn.ReLU(), nn.Linear(hidden, out))
        else:
            self.linear = nn.Linear(self.classes * (1 + n - self.classes), out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x[:, self.cond[0]:self.cond[1]].mean(dim=(2, 3))
        if self.decoder == "mlp":
            planes = self.mlp(v)
        else:
            onehot, z = v[:, :self.classes], v[:, self.classes:]
            z1 = torch.cat([torch.ones_like(onehot[:, :1]), z], dim=1)
            planes = self.linear((onehot[:, :, None] * z1[:, None, :]).flatten(1))
        return torch.cat([x, planes.view(-1, self.maps, self.size, self.size)], dim=1)


def _with_cond(c: int, h: int, cond, cond_maps: int, decoder: str = "mlp"):
    """The conditioning decoder of a network (or None) and the trunk's input channels."""
    if not cond_maps:
        return None, c
    if cond is None:
        raise ValueError("cond_maps needs the conditioning channels (cond=(first, stop)) of a generate task")
    return CondMaps(cond, cond_maps, h, decoder=decoder), c + int(cond_maps)


class ConvQMap(nn.Module):
    """Convolutional Q-network (lesson 03): 3x3 convolutions plus a broadcast global feature.

    ``mode="pixel"``: a 1x1 convolution gives ``num_actions // (H*W)`` Q-values at every pixel,
    flattened channel-major so that index ``k * H * W + p`` is "paint pixel p with ink k+1".
    ``mode="pen"``: the trunk is flattened into a linear head with ``num_actions`` outputs.
    """

    def __init__(self, obs_shape, num_actions: int, mode: str = "pixel", channels: int = 64,
                 layers: int = 3, dueling: bool = False, cond=None, cond_maps: int = 0, cond_decoder: str = "mlp"):
        super().__init__()
        c, h, w = obs_shape
        self.obs_shape, self.num_actions, self.mode, self.dueling = tuple(obs_shape), int(num_actions), mode, dueling
        if mode == "pixel" and num_actions % (h * w):
            raise ValueError(f"pixel mode needs num_actions divisible by H*W={h * w}, got {num_actions}")
        if mode not in ("pixel", "pen"):
            raise ValueError(f"unknown mode {mode!r}; expected 'pixel' or 'pen'")
        self.cond_maps, c = _with_cond(c, h, cond, cond_maps, cond_decoder)
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
        f = self.trunk(x if self.cond_maps is None else self.cond_maps(x))
        g = torch.relu(self.glob(f.mean(dim=(2, 3))))
        f = torch.cat([f, g[:, :, None, None].expand_as(f)], dim=1)
        a = qmap_to_q(self.head(f)) if self.mode == "pixel" else self.head(f)
        if self.value is None:
            return a
        return dueling_combine(self.value(g), a)


def segment_masks(window: int) -> torch.Tensor:
    """(M, M) float: row ``m`` marks the cells of the (2w+1) x (2w+1) patch around the pen that move
    ``m`` paints, away from the border; computed by the env's own ``pen_transition``."""
    k = 2 * window + 1
    m = k * k
    canvas = torch.zeros(m, k, k)
    pen = torch.full((m, 2), window, dtype=torch.int64)
    painted, _, _ = pen_transition(canvas, pen, m + torch.arange(m), torch.tensor([0.0, 1.0]), window)
    return painted.reshape(m, m)


class PenQMap(nn.Module):
    """Pen-centred Q-map (pen mode): per-pixel conv features read off around the pen.

    A trunk of ``layers`` 3x3 convolutions (``channels`` wide) turns the observation into per-pixel
    features plus a global vector (mean-pooled, one linear layer). The features are padded by the
    pen window ``w`` with an extra "outside the canvas" flag plane, and the (2w+1) x (2w+1) patch
    centred on the pen (the argmax of the pen plane, channel ``C - 2``) is cropped. With the
    broadcast global vector and two fixed relative-coordinate planes, a head of ``head_layers``
    3x3 convolutions and a 1x1 convolution maps the patch to ``L`` Q-values per cell: cell (i, j)
    and output channel k are the action ``k * (2w+1)**2 + i * (2w+1) + j``, "move by
    (i - w, j - w) with ink level k" (level 0: pen up), the env's order. ``stop="zero"`` fixes
    Q(stop) = 0, its exact value (stopping ends the episode with no reward); ``"learned"`` reads
    it off the global vector. ``dueling`` splits the painting actions into V + A - mean(A).
    ``segment=True`` adds, at each move's cell, the sum of the patch features over the pixels that
    move paints (its segment from the pen, as ``envs.pen_transition`` rasterises it away from the
    border; the outside flag summed over it tells the head how much of the segment is clipped).
    """

    def __init__(self, obs_shape, num_actions: int, window: int = 2, channels: int = 32, layers: int = 3,
                 head_layers: int = 1, stop: str = "zero", dueling: bool = False, segment: bool = False,
                 cond=None, cond_maps: int = 0, cond_decoder: str = "mlp"):
        super().__init__()
        c, h, w = obs_shape
        m = (2 * window + 1) ** 2
        if window < 1 or (num_actions - 1) % m or num_actions <= m:
            raise ValueError(f"PenQMap needs pen-mode actions, L * (2w+1)**2 + 1 with w = {window}, "
                             f"got num_actions = {num_actions}")
        if stop not in STOP_Q:
            raise ValueError(f"unknown stop {stop!r}; expected one of {', '.join(map(repr, STOP_Q))}")
        if c < 3:
            raise ValueError(f"PenQMap needs pen-mode observations (a pen plane before the time plane), "
                             f"got {c} channels")
        self.obs_shape, self.num_actions, self.mode, self.dueling = tuple(obs_shape), int(num_actions), "pen", dueling
        self.window, self.levels, self.stop = int(window), (num_actions - 1) // m, stop
        self.cond_maps, ch = _with_cond(c, h, cond, cond_maps, cond_decoder)
        convs = []
        for _ in range(layers):
            convs += [nn.Conv2d(ch, channels, 3, padding=1), nn.ReLU()]
            ch = channels
        self.trunk = nn.Sequential(*convs)
        self.glob = nn.Linear(ch, channels)
        self.segment = bool(segment)
        head, hin = [], (ch + 1) * (2 if segment else 1) + channels + 2
        for _ in range(head_layers):
            head += [nn.Conv2d(hin, channels, 3, padding=1), nn.ReLU()]
            hin = channels
        head += [nn.Conv2d(hin, self.levels, 1)]
        self.head = nn.Sequential(*head)
        self.value = nn.Linear(channels, 1) if dueling else None
        self.stop_head = nn.Linear(channels, 1) if stop == "learned" else None
        k = 2 * window + 1
        r = torch.arange(k, dtype=torch.float32) / window - 1.0
        self.register_buffer("coords", torch.stack(torch.meshgrid(r, r, indexing="ij"))[None], persistent=False)
        wp = w + 2 * window
        off = torch.arange(k)
        self.register_buffer("offsets", (off[:, None] * wp + off[None, :]).reshape(-1), persistent=False)
        if self.segment:
            self.register_buffer("segments", segment_masks(window), persistent=False)

    def crop(self, f: torch.Tensor, pen_plane: torch.Tensor) -> torch.Tensor:
        """The (2w+1) x (2w+1) patch of features ``f`` (B, F, H, W) centred on the pen, plus an outside flag.

        Returns (B, F + 1, 2w+1, 2w+1); cells outside the canvas hold zeros and flag 1.
        """
        b, nf, h, w = f.shape
        k, p = 2 * self.window + 1, self.window
        outside = nn.functional.pad(torch.zeros(1, 1, h, w, device=f.device, dtype=f.dtype), (p, p, p, p), value=1.0)
        padded = torch.cat([nn.functional.pad(f, (p, p, p, p)), outside.expand(b, 1, h + 2 * p, w + 2 * p)], dim=1)
        pos = pen_plane.flatten(1).argmax(dim=1)                # the pen's pixel, row-major
        corner = (pos // w) * (w + 2 * p) + pos % w             # patch corner in the padded map
        idx = (corner[:, None] + self.offsets[None, :])[:, None, :].expand(b, nf + 1, k * k)
        return padded.flatten(2).gather(2, idx).view(b, nf + 1, k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_obs(x, self.obs_shape)
        f = self.trunk(x if self.cond_maps is None else self.cond_maps(x))
        g = torch.relu(self.glob(f.mean(dim=(2, 3))))
        patch = self.crop(f, x[:, -2])
        b, k = x.shape[0], 2 * self.window + 1
        parts = [patch]
        if self.segment:   # (B, F, cells) x (moves, cells) -> (B, F, moves), laid out as the patch
            parts.append(torch.matmul(patch.flatten(2), self.segments.t()).view_as(patch))
        z = torch.cat(parts + [g[:, :, None, None].expand(b, g.shape[1], k, k), self.coords.expand(b, 2, k, k)], dim=1)
        a = self.head(z).flatten(1)                              # (B, L * (2w+1)**2), level-major
        if self.value is not None:
            a = dueling_combine(self.value(g), a)
        stop = self.stop_head(g) if self.stop_head is not None else torch.zeros(b, 1, device=x.device, dtype=a.dtype)
        return torch.cat([a, stop], dim=1)


def build_qnet(kind: str, obs_shape, num_actions: int, mode: str = "pixel", dueling: bool = False,
               **kwargs) -> nn.Module:
    """Build a Q-network by name (lesson 03): ``"mlp"`` (the seed's), ``"conv"`` (the Q-map) or
    ``"pen"`` (the pen-centred Q-map, pen mode only).

    ``kwargs`` go to the class: ``hidden`` for the MLP, ``channels`` and ``layers`` for the conv net,
    also ``window``, ``head_layers`` and ``stop`` for the pen-centred net.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected 'pixel' or 'pen'")
    if len(tuple(obs_shape)) != 3:
        raise ValueError(f"obs_shape must be (C, H, W), got {tuple(obs_shape)}")
    if not is_int(num_actions, 1):
        raise ValueError(f"num_actions must be a positive integer, got {num_actions!r}")
    if kind == "mlp":
        return MLPQNet(obs_shape, num_actions, dueling=dueling, **kwargs)
    if kind == "conv":
        return ConvQMap(obs_shape, num_actions, mode=mode, dueling=dueling, **kwargs)
    if kind == "pen":
        if mode != "pen":
            raise ValueError(f"Q-network kind 'pen' is for pen mode, got mode {mode!r}")
        return PenQMap(obs_shape, num_actions, dueling=dueling, **kwargs)
    raise ValueError(f"unknown Q-network kind {kind!r}; expected one of {', '.join(map(repr, QNET_KINDS))}")


def count_params(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
