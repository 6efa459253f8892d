"""The GAN that the seed article says DQN generation beats on diversity (lesson 09): a small
class-conditional GAN, two MLPs, trained on the training digits only.

The seed article claims that DQN-based generation avoids the instability and mode collapse of GANs
and "greatly improves diversity", without showing a GAN. This module is that GAN, at the scale of
the course: a generator ``G(z, c)`` (a 16-d Gaussian code and the one-hot class, two hidden layers
of 256, a sigmoid over the pixels) against a discriminator ``D(x, c)`` (the pixels and the one-hot
class, two hidden layers of 256 with LeakyReLU), the non-saturating loss of Goodfellow et al.
(2014), Adam with ``betas = (0.5, 0.999)``. It learns from the real training digits at their
original grey levels; its samples are rounded to the painters' ink levels (``ink_levels``: 3 ->
0, 0.5, 1), so that a GAN and a painter are judged on the same kind of canvas.

``GanConfig`` holds its hyper-parameters; ``train_gan(cfg, seconds=..., steps=...)`` trains one
(same seed and step budget, same numbers on the same CPU and thread count); ``Gan.sample`` paints
digits of requested classes. ``checkpoint.save_gan`` / ``checkpoint.load_checkpoint`` keep it in
the course's checkpoint format, and ``dqngen gan`` trains one from the command line.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .budget import CLOCKS, check_budget, check_clock
from .data import load_data, quantize
from .utils import check_shared_fields, get_device

__all__ = ["GanConfig", "Gan", "GanResult", "train_gan", "GAN_KIND"]

GAN_KIND = "gan"


@dataclass
class GanConfig:
    """Every hyper-parameter of the GAN baseline (lesson 09). ``dqngen gan --help`` lists them."""

    latent_dim: int = 16
    """size of the Gaussian code z given to the generator"""
    hidden: int = 256
    """width of the two hidden layers of both MLPs"""
    lr: float = 2e-4
    """Adam learning rate of both networks"""
    batch_size: int = 64
    """real and fake digits per update"""
    ink_levels: int = 3
    """the painters' ink levels: samples are rounded to them (training digits are not)"""
    size: int = 8
    """canvas side length; 8 for the bundled digits, 28 for MNIST (needs data_path)"""
    data_path: str | None = None
    """None: scikit-learn's 8x8 digits; else an MNIST .npz file or folder of IDX files"""
    seed: int = 0
    """seed of both networks' weights and of every random draw of training"""
    device: str = "auto"
    """'auto' (CUDA when present), 'cpu' or 'cuda'"""
    log_every: int = 500
    """updates between two points of the learning curves"""

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        check_shared_fields(self, positive_ints=("latent_dim", "hidden", "batch_size", "size", "log_every"))

    def to_dict(self) -> dict:
        """A JSON-friendly dict of every field, tagged ``"kind": "gan"``."""
        return {"kind": GAN_KIND, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "GanConfig":
        """The inverse of ``to_dict``; unknown keys raise ``ValueError`` naming them."""
        if not isinstance(d, dict):
            raise ValueError(f"expected a dict of GanConfig fields, got {type(d).__name__}")
        kw = {k: v for k, v in d.items() if k != "kind"}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kw) - names)
        if unknown:
            raise ValueError(f"unknown GanConfig field(s) {unknown}; known fields: {sorted(names)}")
        if isinstance(kw.get("lr"), int) and not isinstance(kw.get("lr"), bool):
            kw["lr"] = float(kw["lr"])
        return cls(**kw)

    def replace(self, **changes) -> "GanConfig":
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)


def _mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inp, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, out))


class Gan(nn.Module):
    """The two networks: ``generator(z, c)`` -> pixels in (0, 1), ``discriminator(x, c)`` -> a logit of
    "a real digit of class c". ``sample`` draws digits of requested classes, rounded to the inks."""

    def __init__(self, cfg: GanConfig, num_classes: int = 10):
        super().__init__()
        self.cfg, self.num_classes = cfg, num_classes
        pixels = cfg.size * cfg.size
        self.generator = _mlp(cfg.latent_dim + num_classes, cfg.hidden, pixels)
        self.discriminator = _mlp(pixels + num_classes, cfg.hidden, 1)

    def _onehot(self, labels: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(labels, self.num_classes).to(torch.float32)

    def generate(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Generated digits (N, H, W) in (0, 1), not rounded (what the discriminator sees in training)."""
        x = torch.sigmoid(self.generator(torch.cat([z, self._onehot(labels)], 1)))
        return x.view(-1, self.cfg.size, self.cfg.size)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The discriminator's logits (N,) for images (N, H, W) of classes ``labels``."""
        return self.discriminator(torch.cat([images.flatten(1), self._onehot(labels)], 1)).squeeze(1)

    @torch.no_grad()
    def sample(self, labels, seed: int = 0) -> dict:
        """Digits of the classes ``labels`` (N,), rounded to the config's inks: ``images`` (N, H, W)
        float32, ``labels`` and ``latent`` (N, latent_dim) as NumPy arrays. The same seed gives the same
        digits on the CPU."""
        y = np.asarray(labels)
        if y.ndim != 1 or len(y) == 0 or y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= self.num_classes:
            raise ValueError(f"labels must be a non-empty 1-d array of classes in 0..{self.num_classes - 1}")
        device = next(self.parameters()).device
        gen = torch.Generator(device=device).manual_seed(int(seed))
        z = torch.randn(len(y), self.cfg.latent_dim, generator=gen, device=device)
        lab = torch.as_tensor(y, dtype=torch.int64, device=device)
        x = self.generate(z, lab).cpu().numpy()
        return {"images": quantize(x, self.cfg.ink_levels).astype(np.float32), "labels": y.astype(np.int64),
                "latent": z.cpu().numpy()}


@dataclass
class GanResult:
    """What ``train_gan`` returns: the trained GAN (eval mode), its config, the optimizers and the record."""

    gan: Gan
    cfg: GanConfig
    metrics: dict
    optimizers: tuple


def train_gan(cfg: GanConfig, seconds: float | None = None, steps: int | None = None, progress=None,
              clock: str = "wall") -> GanResult:
    """Train the GAN baseline for ``steps`` updates or ``seconds`` of wall-clock time (the first reached).

    Each update: one Adam step of the discriminator on ``batch_size`` real training digits and as
    many generated ones of the same classes, then one of the generator (non-saturating loss). The
    learning curves record both losses and the discriminator's mean probability on real and fake
    digits every ``log_every`` updates. ``progress(updates, seconds)`` is called at each point. A
    ``KeyboardInterrupt`` ends training early and keeps what was learnt (``final["interrupted"]``).
    ``clock``: what ``seconds`` counts, ``"wall"`` time or ``"cpu"`` seconds of this process.
    """
    cfg.validate()
    check_budget(seconds, steps)
    check_clock(clock)
    device = get_device(cfg.device)
    d = load_data(cfg.data_path, ink_levels=None)
    if d.size != cfg.size:
        raise ValueError(f"GanConfig.size = {cfg.size} does not match the data, which is {d.size}x{d.size}")
    x_train, y_train = d.split("train")
    real = torch.as_tensor(np.asarray(x_train), dtype=torch.float32, device=device)
    real_labels = torch.as_tensor(np.asarray(y_train), dtype=torch.int64, device=device)
    torch.manual_seed(cfg.seed)
    gan = Gan(cfg).to(device)
    betas = (0.5, 0.999)
    opt_g = torch.optim.Adam(gan.generator.parameters(), lr=cfg.lr, betas=betas)
    opt_d = torch.optim.Adam(gan.discriminator.parameters(), lr=cfg.lr, betas=betas)
    gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    acc = torch.zeros(4, device=device)       # D loss, G loss, D(real), D(fake): sums since the last point
    curves = {k: [] for k in ("updates", "seconds", "d_loss", "g_loss", "d_real", "d_fake")}
    updates, elapsed, interrupted = 0, 0.0, False
    now = CLOCKS[clock]
    start = now()
    b = cfg.batch_size
    ones, zeros = torch.ones(b, device=device), torch.zeros(b, device=device)
    try:
        while (steps is None or updates < steps) and (seconds is None or elapsed < seconds):
            idx = torch.randint(len(real), (b,), generator=gen, device=device)
            x, lab = real[idx], real_labels[idx]
            z = torch.randn(b, cfg.latent_dim, generator=gen, device=device)
            fake = gan.generate(z, lab)
            d_real, d_fake = gan.discriminate(x, lab), gan.discriminate(fake.detach(), lab)
            d_loss = bce(d_real, ones) + bce(d_fake, zeros)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            g_loss = bce(gan.discriminate(fake, lab), ones)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            with torch.no_grad():
                acc += torch.stack([d_loss, g_loss, torch.sigmoid(d_real).mean(), torch.sigmoid(d_fake).mean()])
            updates += 1
            elapsed = now() - start
            if updates % cfg.log_every == 0:
                a = (acc / cfg.log_every).tolist()
                acc.zero_()
                for k, v in zip(("updates", "seconds", "d_loss", "g_loss", "d_real", "d_fake"),
                                (updates, elapsed, *a)):
                    curves[k].append(v)
                if progress is not None:
                    progress(updates, elapsed)
    except KeyboardInterrupt:
        interrupted = True
    gan.eval()
    final = {"updates": updates, "seconds": now() - start, "clock": clock, "device": device.type,
             "interrupted": interrupted}
    return GanResult(gan, cfg, {"curves": curves, "final": final}, (opt_g, opt_d))
