"""Small helpers used everywhere: the FAST switch, device choice, seeding (lesson 00), and files
written atomically (a crash never leaves half a file behind)."""
from __future__ import annotations

import ast
import functools
import inspect
import json
import math
import os
import platform
import random
import zipfile

import numpy as np
import torch

__all__ = ["is_int", "is_number", "fast", "get_device", "seed_everything", "describe_device", "check_device_name",
           "atomic_save", "atomic_write_json", "save_npz", "nan_to_none", "machine_info", "check_writable",
           "check_out_file", "field_docs", "pid_alive", "remove_stale_temporaries", "field_error",
           "check_shared_fields", "available_memory", "check_memory"]


def is_int(v, lo: int | None = None, hi: int | None = None) -> bool:
    """True for an integer (Python or NumPy; a bool is not one) with ``lo <= v <= hi`` (a bound of None: none).

    The validators of the library say ``if not is_int(v, 1): raise ValueError(...)`` and write their
    own message, naming the bad value and what was expected."""
    return (isinstance(v, (int, np.integer)) and not isinstance(v, bool)
            and (lo is None or v >= lo) and (hi is None or v <= hi))


def is_number(v, lo: float | None = None, hi: float | None = None, above: float | None = None) -> bool:
    """True for a finite real number (int or float, Python or NumPy; not a bool) with ``lo <= v <= hi``
    and ``v > above`` (a bound of None: none)."""
    return (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            and math.isfinite(v) and (lo is None or v >= lo) and (hi is None or v <= hi)
            and (above is None or v > above))


def field_error(cfg, name: str, expected: str) -> ValueError:
    """The error of a config's bad field: ``TrainConfig.lr = -1 is invalid; expected a positive number``."""
    return ValueError(f"{type(cfg).__name__}.{name} = {getattr(cfg, name)!r} is invalid; expected {expected}")


def check_shared_fields(cfg, positive_ints=(), natural_ints=()) -> None:
    """The checks every config of the course shares (``TrainConfig``, ``GanConfig``): ``positive_ints`` and
    ``natural_ints`` (>= 0) name integer fields; then the digits (``size`` 8 unless ``data_path`` names
    MNIST, ``ink_levels`` >= 2), ``lr`` a positive number, ``seed`` an integer torch and NumPy accept
    (``[0, 2**32 - 1]``) and ``device`` a device name. Raises ``field_error`` on the first bad field."""
    for name in positive_ints:
        if not is_int(getattr(cfg, name), 1):
            raise field_error(cfg, name, "a positive integer")
    for name in natural_ints:
        if not is_int(getattr(cfg, name), 0):
            raise field_error(cfg, name, "an integer >= 0")
    if not is_int(cfg.ink_levels, 2):
        raise field_error(cfg, "ink_levels", "an integer >= 2")
    if cfg.data_path is not None and not isinstance(cfg.data_path, str):
        raise field_error(cfg, "data_path", "None or a path")
    if cfg.data_path is None and cfg.size != 8:
        raise field_error(cfg, "size", "8 for the bundled 8x8 digits (set data_path to train on 28x28 MNIST)")
    if not is_number(cfg.lr, above=0.0):
        raise field_error(cfg, "lr", "a positive number")
    if not is_int(cfg.seed, 0, 2**32 - 1):
        raise field_error(cfg, "seed", "an integer in [0, 2**32 - 1]")
    if not isinstance(cfg.device, str):
        raise field_error(cfg, "device", "'auto', 'cpu' or 'cuda[:N]'")
    try:
        check_device_name(cfg.device)
    except ValueError as exc:
        raise ValueError(f"{type(cfg).__name__}.device = {cfg.device!r} is invalid: {exc}") from None


def available_memory(device) -> tuple[int | None, str]:
    """``(bytes free, where)`` on ``device``: a CUDA GPU's free memory, or the host's available memory
    (``MemAvailable``, within a container's cgroup limit); ``(None, ...)`` where it cannot be read."""
    dev = torch.device(device)
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return int(free), f"free on {dev} ({torch.cuda.get_device_name(dev)})"
    free = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
    except OSError:
        try:
            free = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None, "the host's memory (unknown)"
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                limit = f.read().strip()
        except OSError:
            continue
        if limit.isdigit() and free is not None and int(limit) < free:
            return int(limit), "the container's memory limit"
    return free, "available on the host"


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def check_memory(parts: dict[str, int], device, hint: str = "", fraction: float = 0.9) -> int:
    """``ValueError`` when the bytes of ``parts`` (``{what: bytes}``) exceed ``fraction`` of what ``device``
    has free, naming the total, the largest part, the limit and ``hint`` (what to lower); the total."""
    total = int(sum(parts.values()))
    free, where = available_memory(device)
    if free is not None and total > fraction * free:
        big = max(parts, key=parts.get)
        raise ValueError(f"this needs about {_gb(total)} ({big}: {_gb(parts[big])}), more than the {_gb(free)} "
                         f"{where}" + (f"; {hint}" if hint else ""))
    return total


def fast() -> bool:
    """True when the environment variable ``FAST`` is set to a true value.

    The test suite sets ``FAST=1`` so that every lesson trains for seconds instead of minutes.
    With it off (the default), lessons train to the quality their text claims.
    """
    return os.environ.get("FAST", "").strip().lower() in {"1", "true", "yes", "on"}


def check_device_name(device: str | torch.device) -> torch.device | None:
    """``ValueError`` unless ``device`` names a device the course runs on ('auto', 'cpu', 'cuda', 'cuda:N');
    whether it is present is ``get_device``'s question (a config written on a GPU machine loads anywhere)."""
    if device == "auto":
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r}; expected 'auto', 'cpu' or 'cuda[:N]'") from exc
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device {str(device)!r} is not supported; expected 'auto', 'cpu' or 'cuda[:N]'")
    return dev


def get_device(device: str | torch.device | None = "auto") -> torch.device:
    """Resolve ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    ``"auto"`` is the course's one default everywhere (library, command line, lessons).
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = check_device_name(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was asked for, but torch finds no CUDA GPU; use 'cpu' or 'auto'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {str(device)!r}: there are only {torch.cuda.device_count()} CUDA GPU(s)")
    return dev


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) in one place; return a CPU ``torch.Generator``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def describe_device(device: torch.device | None = None) -> str:
    """One line naming the device: the GPU's name, or the CPU and its thread count."""
    device = get_device("auto") if device is None else torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def atomic_save(obj, path: str) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it: all or nothing."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_json(obj, path: str, indent: int = 1) -> None:
    """Write ``obj`` as JSON (NaN and infinities as ``null``) atomically."""
    tmp = f"{path}.tmp{os.getpid()}"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        with open(tmp, "w") as f:
            json.dump(nan_to_none(obj), f, indent=indent)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` may still run: False only when the system says there is no such process
    (another user's process, which we may not signal, counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_temporaries(folder: str) -> list[str]:
    """Remove the temporary files (``NAME.tmp<pid>``) that ``atomic_save`` and ``atomic_write_json`` of a process
    no longer running left in ``folder`` when they were interrupted; returns the names removed. Those of a
    live process (another run writing now) are kept."""
    removed = []
    if not os.path.isdir(folder):
        return removed
    for name in sorted(os.listdir(folder)):
        head, sep, pid = name.rpartition(".tmp")
        if not (head and sep and pid.isdigit()):
            continue
        if pid_alive(int(pid)):
            continue                     # that process still runs (or is another user's: not ours to judge)
        os.remove(os.path.join(folder, name))
        removed.append(name)
    return removed


def save_npz(path: str, **arrays) -> None:
    """``np.savez_compressed`` with fixed timestamps in the zip, so the same arrays give the same bytes;
    written atomically."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, a in arrays.items():
                info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with zf.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def nan_to_none(x):
    """A copy of nested dicts/lists with NaN and infinite floats replaced by ``None`` (valid JSON)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: nan_to_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [nan_to_none(v) for v in x]
    return x


def machine_info() -> dict:
    """The machine a measurement comes from: CPU model, cores, torch threads, GPU, versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch": torch.__version__, "python": platform.python_version()}


def check_writable(path: str, what: str = "--out") -> None:
    """``ValueError`` unless ``path`` can be created: its nearest existing parent is a folder we may write."""
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"{what} {path!r} lies under {parent!r}, which is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path!r}: cannot write into {parent!r} (permission denied)")


def check_out_file(path: str, force: bool = False, what: str = "--out", suffix: str = ".json") -> str:
    """``ValueError`` unless ``path`` may be written now, before any work: a ``suffix`` file name, not a
    folder, not an existing file unless ``force``, under a folder we may write (missing folders are
    made when the file is written). Returns ``path``."""
    if not isinstance(path, str):
        raise ValueError(f"{what} must name a {suffix} file, got {path!r}")
    full = os.path.abspath(path)
    if os.path.isdir(full):
        raise ValueError(f"{what} {path!r} is a folder; give a {suffix} file name")
    if not path.endswith(suffix):
        raise ValueError(f"{what} must name a {suffix} file, got {path!r}")
    if os.path.exists(full) and not force:
        raise ValueError(f"{what} {path!r} exists; add --force to overwrite it or choose another name")
    check_writable(path, what)
    return path


@functools.lru_cache(maxsize=None)
def field_docs(cls) -> dict[str, str]:
    """``{field name: its docstring}`` of a dataclass whose fields carry docstrings (CleanRL style): the
    help of the command-line options made from ``TrainConfig`` and ``GanConfig``."""
    try:
        tree = ast.parse(inspect.getsource(cls).lstrip())
    except (OSError, TypeError):
        return {}
    docs, body = {}, tree.body[0].body
    for a, b in zip(body, body[1:]):
        if isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name) and isinstance(b, ast.Expr) \
                and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str):
            docs[a.target.id] = b.value.value.strip()
    return docs
