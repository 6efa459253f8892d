"""Checkpoints (lesson 05): the one file format of a trained agent, the resume state bound to it, and
the pretrained agents that ship with the course.

A run folder holds ``checkpoint.pt`` -- light: the config, the Q-network's weights, the optimizer
and the random generators, the training record -- and, for runs that can be continued, a resume
state ``resume-<env steps>.pt`` with what an exact continuation needs besides (the environments'
state, the replay buffer, the target network, counters). The checkpoint names its resume file
and records the file's SHA-256 and step count, and the resume file records the step count too, so
a mismatched pair is refused. The resume file is written first under a new name and the old one
removed only after the new checkpoint is in place: a crash at any moment leaves a consistent
pair. Every file is written atomically (a temporary file, then a rename).

The GAN baseline of lesson 09 (``dqngen_lib.gan``) is kept in the same format, tagged
``"kind": "gan"``: its config, both networks' weights, the optimizers and the training record
(``save_gan``); ``load_checkpoint`` returns a ``GanCheckpoint`` for it.
"""
from __future__ import annotations

import glob
import hashlib
import os
import sys
from dataclasses import dataclass
from typing import Any

import torch

from .config import TrainConfig, make_qnet
from .gan import GAN_KIND, Gan, GanConfig
from .utils import atomic_save, check_writable, get_device, nan_to_none, pid_alive

__all__ = ["Checkpoint", "GanCheckpoint", "save_gan", "save_checkpoint", "load_checkpoint", "load_resume_state",
           "check_out_dir", "run_exists", "CHECKPOINT_FILE", "PRETRAINED", "pretrained_path", "load_pretrained",
           "FORMAT", "FORMAT_VERSION", "KINDS", "RunLock", "RUN_FILES"]

CHECKPOINT_FILE = "checkpoint.pt"
RUN_FILES = (CHECKPOINT_FILE, "metrics.json", "config.json", "learning_curve.png")
"""The files a run writes into its folder (beside its resume-*.pt); an --out folder holding one is refused
unless the run resumes there or --force."""
LOCK_FILE = ".dqngen.lock"
FORMAT = "dqngen-checkpoint"
FORMAT_VERSION = 2
RESUME_FORMAT = "dqngen-resume"


@dataclass
class Checkpoint:
    """A loaded checkpoint: the config, the Q-network (eval mode), optimizer and RNG state, extras."""

    cfg: TrainConfig
    qnet: torch.nn.Module
    optimizer_state: dict | None
    rng_state: dict | None
    extra: dict
    path: str
    obs_shape: tuple
    num_actions: int
    resume: dict | None = None

    @property
    def metrics(self) -> dict:
        """The training record (``curves``, ``eval``, ``final``) saved with the checkpoint."""
        return self.extra.get("metrics", {})


@dataclass
class GanCheckpoint:
    """A loaded GAN checkpoint (lesson 09): the config, the GAN (eval mode), the optimizers' state, extras."""

    cfg: GanConfig
    gan: Gan
    optimizer_state: dict | None
    extra: dict
    path: str

    @property
    def metrics(self) -> dict:
        """The training record (``curves``, ``final``) saved with the checkpoint."""
        return self.extra.get("metrics", {})


def save_gan(out_dir: str, cfg: GanConfig, gan: Gan, optimizers=(), extra: dict | None = None) -> str:
    """Write the GAN baseline to ``out_dir/checkpoint.pt`` (the course's checkpoint format, kind
    ``"gan"``); returns its path. ``optimizers``: the generator's and the discriminator's."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, CHECKPOINT_FILE)
    state = {"format": FORMAT, "version": FORMAT_VERSION, "kind": GAN_KIND, "cfg": cfg.to_dict(),
             "gan": {k: v.detach().cpu() for k, v in gan.state_dict().items()},
             "optimizer": [o.state_dict() for o in optimizers] or None, "extra": nan_to_none(extra or {})}
    atomic_save(state, path)
    return path


def _load_gan(st: dict, file: str, device) -> GanCheckpoint:
    try:
        cfg = GanConfig.from_dict(st["cfg"])
        gan = Gan(cfg)
        gan.load_state_dict(st["gan"])
    except (ValueError, TypeError, RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()
        raise ValueError(f"{file}: not a loadable GAN checkpoint ({' '.join(first[:3])})") from None
    gan.to(device).eval()
    return GanCheckpoint(cfg=cfg, gan=gan, optimizer_state=st.get("optimizer"), extra=st.get("extra") or {},
                         path=os.path.dirname(os.path.abspath(file)))


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _safe_load(path: str) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt zip, truncated file, unpickling refusal
        first = (str(exc).strip().splitlines() or [""])[0]          # torch's refusals run to 5-9 lines
        first = first if len(first) <= 120 else first[:117] + "..."
        raise ValueError(f"{path} is not a readable dqngen checkpoint (a corrupt file, or one another program "
                         f"wrote: {type(exc).__name__}: {first})") from None


def run_exists(out_dir: str) -> bool:
    """Whether ``out_dir`` already holds a run (a checkpoint or a resume state)."""
    return os.path.exists(os.path.join(out_dir, CHECKPOINT_FILE)) or bool(glob.glob(os.path.join(out_dir, "resume-*.pt")))


def check_out_dir(out_dir: str, resume: str | None = None, force: bool = False, resumable: bool = True) -> None:
    """Refuse an output folder that would lose something: a file, a folder we cannot write, or a run.

    An existing run is continued only when ``resume`` names the same folder; ``force=True``
    overwrites it on purpose. ``resumable=False`` (the GAN baseline, which has no resume): the
    message does not offer ``--resume``. Nothing is written here.
    """
    out = os.path.abspath(out_dir)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"--out {out_dir!r} is a file, not a folder; give a folder for the run")
    check_writable(os.path.join(out, CHECKPOINT_FILE))
    same = resume is not None and os.path.abspath(resume) == out
    if run_exists(out) and not same and not force:
        hint = f"to continue it use --resume {out_dir}, " if resumable else ""
        raise ValueError(f"{out_dir!r} already holds a run (checkpoint.pt); {hint}to start over in it on purpose "
                         "add --force, or choose another --out folder")
    held = [f for f in RUN_FILES if os.path.exists(os.path.join(out, f))]
    if held and not same and not force:
        raise ValueError(f"{out_dir!r} holds {', '.join(held)}, which a run would overwrite; add --force to "
                         "overwrite them on purpose, or choose another --out folder")


class RunLock:
    """One writer per run folder: ``with RunLock(out_dir):`` holds ``out_dir/.dqngen.lock`` (the owner's pid).

    A lock of a live process is refused with its pid; a lock whose process has ended (a run killed
    before it could release it) is reported and taken over. The lock is removed on exit, and the folder
    too when the lock made it and nothing else was written (a run that failed before its first save).
    """

    def __init__(self, out_dir: str, log=None):
        self.out_dir, self.path = out_dir, os.path.join(out_dir, LOCK_FILE)
        self.log = log if log is not None else (lambda m: print(m, file=sys.stderr))

    def __enter__(self) -> "RunLock":
        self.made = not os.path.exists(self.out_dir)
        os.makedirs(self.out_dir, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid = self._owner()
                if pid is not None and pid != os.getpid() and pid_alive(pid):
                    raise ValueError(f"{self.out_dir!r} is being written by another run (pid {pid}); wait for it to "
                                     "end, or choose another --out folder") from None
                self.log(f"removed the lock of a run that ended without releasing it (pid {pid}) in {self.out_dir}")
                try:
                    os.remove(self.path)
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            return self
        raise ValueError(f"{self.out_dir!r}: could not take its lock {LOCK_FILE}; another run may be starting there")

    def _owner(self) -> int | None:
        try:
            with open(self.path) as f:
                text = f.read().strip()
            return int(text) if text.isdigit() else None
        except OSError:
            return None

    def __exit__(self, *exc) -> bool:
        if self._owner() == os.getpid():
            os.remove(self.path)
            if self.made and not os.listdir(self.out_dir):
                os.rmdir(self.out_dir)
        return False


def save_checkpoint(out_dir: str, cfg: TrainConfig, qnet: torch.nn.Module, optimizer=None,
                    rng_state: dict | None = None, extra: dict | None = None, resume_state: dict | None = None) -> str:
    """Write ``out_dir/checkpoint.pt`` (and, with ``resume_state``, its resume file); returns its path.

    ``resume_state`` must hold ``env_steps``; it is written first as ``resume-<env_steps>.pt`` and the
    checkpoint records its name, SHA-256 and step count. Without ``resume_state`` the checkpoint
    keeps pointing at the resume file it pointed at before, if that file holds the same step count
    (the end of a run adds its final metrics without rewriting the replay buffer).
    """
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, CHECKPOINT_FILE)
    resume = None
    if resume_state is not None:
        steps = int(resume_state["env_steps"])
        name = f"resume-{steps:012d}.pt"
        atomic_save({"format": RESUME_FORMAT, "version": FORMAT_VERSION, **resume_state}, os.path.join(out_dir, name))
        resume = {"file": name, "sha256": _sha256(os.path.join(out_dir, name)), "env_steps": steps}
    elif os.path.exists(path) and extra is not None:
        try:
            old = _safe_load(path).get("resume")
        except (ValueError, AttributeError):
            old = None
        if old and old.get("env_steps") == extra.get("env_steps") and os.path.exists(os.path.join(out_dir, old["file"])):
            resume = old
    state = {
        "format": FORMAT, "version": FORMAT_VERSION, "cfg": cfg.to_dict(),
        "obs_shape": list(getattr(qnet, "obs_shape", ())), "num_actions": int(getattr(qnet, "num_actions", -1)),
        "qnet": {k: v.detach().cpu() for k, v in qnet.state_dict().items()},
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "rng_state": rng_state if rng_state is not None else {"torch": torch.get_rng_state()},
        "extra": nan_to_none(extra or {}),
        "resume": resume,
    }
    atomic_save(state, path)
    keep = None if resume is None else resume["file"]
    for stale in glob.glob(os.path.join(out_dir, "resume-*.pt")):
        if os.path.basename(stale) != keep:
            os.remove(stale)
    return path


KINDS = ("dqn", GAN_KIND)


def load_checkpoint(path: str, device="auto", kind: str | None = None) -> Checkpoint | GanCheckpoint:
    """Load a checkpoint folder (or its ``checkpoint.pt``); the Q-network is rebuilt from the config
    (a GAN checkpoint of ``save_gan`` gives a ``GanCheckpoint``). ``kind``: ``"dqn"`` or ``"gan"``
    refuses the other kind with a ``ValueError`` (None: either).

    A missing file raises ``FileNotFoundError``; a corrupt file, another format, or weights that
    do not fit the config raise ``ValueError`` saying what is wrong. ``device``: where the
    Q-network goes (``"auto"``: CUDA when there is one).
    """
    path = os.fspath(path)
    file = os.path.join(path, CHECKPOINT_FILE) if os.path.isdir(path) else path
    if not os.path.exists(file):
        raise FileNotFoundError(f"no checkpoint at {file!r} (expected a folder written by 'dqngen train')")
    device = get_device(device)
    st = _safe_load(file)
    if not isinstance(st, dict) or st.get("format") != FORMAT:
        raise ValueError(f"{file} is not a dqngen checkpoint (no '{FORMAT}' format tag)")
    if st.get("version") != FORMAT_VERSION:
        raise ValueError(f"{file}: checkpoint format version {st.get('version')!r}, this dqngen reads "
                         f"{FORMAT_VERSION}; retrain it with this version")
    found = st.get("kind", "dqn")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown checkpoint kind {kind!r}; expected one of {KINDS}")
    if kind is not None and found != kind:
        what = {"dqn": "a DQN agent's (dqngen train)", GAN_KIND: "the GAN baseline's (dqngen gan)"}
        raise ValueError(f"{file} is {what.get(found, repr(found))} checkpoint; this needs {what[kind]}")
    if found == GAN_KIND:
        return _load_gan(st, file, device)
    try:
        cfg = TrainConfig.from_dict(st["cfg"])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{file}: the stored config is invalid: {exc}") from None
    obs_shape, num_actions = tuple(st["obs_shape"]), int(st["num_actions"])
    try:
        qnet = make_qnet(cfg, obs_shape, num_actions)
        qnet.load_state_dict(st["qnet"])
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()
        raise ValueError(f"{file}: the weights do not match a {cfg.qnet!r} Q-network for observations {obs_shape} "
                         f"and {num_actions} actions ({' '.join(first[:3])})") from None
    qnet.to(device).eval()
    return Checkpoint(cfg=cfg, qnet=qnet, optimizer_state=st.get("optimizer"), rng_state=st.get("rng_state"),
                      extra=st.get("extra") or {}, path=os.path.dirname(os.path.abspath(file)),
                      obs_shape=obs_shape, num_actions=num_actions, resume=st.get("resume"))


def load_resume_state(ck: Checkpoint) -> dict:
    """The resume state bound to a checkpoint, checked against it (``ValueError`` on a mismatch)."""
    if not ck.resume:
        raise FileNotFoundError(f"cannot resume from {ck.path}: its checkpoint has no resume state (a pretrained "
                                "or final-only checkpoint); train a new run instead")
    file = os.path.join(ck.path, ck.resume["file"])
    if not os.path.exists(file):
        raise FileNotFoundError(f"cannot resume from {ck.path}: its resume state {ck.resume['file']} is missing")
    if _sha256(file) != ck.resume["sha256"]:
        raise ValueError(f"cannot resume from {ck.path}: {ck.resume['file']} is not the resume state that "
                         f"checkpoint.pt was saved with (its content hash differs)")
    st = _safe_load(file)
    if not isinstance(st, dict) or st.get("format") != RESUME_FORMAT:
        raise ValueError(f"{file} is not a dqngen resume state")
    steps = (ck.resume.get("env_steps"), st.get("env_steps"), ck.extra.get("env_steps"))
    if len(set(steps)) != 1:
        raise ValueError(f"cannot resume from {ck.path}: the checkpoint and its resume state are at different "
                         f"steps {steps}")
    return st


# ---------------------------------------------------------------------------------------------
# The checkpoints that ship with the course (lesson 10)
# ---------------------------------------------------------------------------------------------

PRETRAINED = {"pixel": "pixel_reconstruct.pt", "pen": "pen_reconstruct.pt", "pen_generate": "pen_generate.pt"}


def pretrained_path(name: str = "pixel") -> str:
    """Path of a checkpoint that ships with the course (``dqngen_lib/assets``; lesson 10).

    ``tools/make_assets.py`` makes them with the preset of each mode (``TrainConfig.preset``),
    seed 0, on the CPU, saved without optimizer or resume state; the config and the training
    record are inside the file (``dqngen evaluate --checkpoint PATH`` prints them).
    """
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained checkpoint {name!r}; expected one of {sorted(PRETRAINED)}")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", PRETRAINED[name])
    if not os.path.exists(path):
        raise FileNotFoundError(f"the pretrained checkpoint {path} is missing; reinstall dqngen")
    return path


def load_pretrained(name: str = "pixel", device="auto") -> Checkpoint:
    """Load a checkpoint that ships with the course (see ``pretrained_path``)."""
    return load_checkpoint(pretrained_path(name), device=device)
