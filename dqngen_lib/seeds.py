"""Comparisons over seeds (lessons 03-07): one configuration trained with several seeds, reported as
mean ± sd and drawn as a band.

A single run is one draw of a random process: two configurations compared on one seed each can
swap places on the next. ``run_seeds(cfg, seeds, ...)`` trains the same configuration once per
seed and returns a ``SeedRuns``; ``summary`` gives mean ± sd of a final metric, ``format_runs_table``
puts several ``SeedRuns`` side by side, ``plot_bands`` draws their evaluation curves as the mean
with a band from the lowest to the highest seed, and ``save_results``/``load_result`` keep them in
a JSON result file that records the machine, the date, the command, the config and the seeds (the
lessons load such files instead of training for minutes).
"""
from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass, field

import numpy as np

from .config import TrainConfig
from .gan import GAN_KIND, GanConfig
from .train import train
from .utils import atomic_write_json, machine_info

__all__ = ["SeedRuns", "run_seeds", "summary", "format_runs_table", "plot_bands", "save_results", "load_result",
           "RESULTS_DIR", "result_path"]

RESULTS_DIR = "results"


@dataclass
class SeedRuns:
    """One configuration trained with several seeds: ``runs[i]`` is the ``metrics`` dict of ``seeds[i]``
    (``curves``, ``eval``, ``final``, as ``train`` records them)."""

    label: str
    cfg: TrainConfig | GanConfig
    seeds: list[int]
    runs: list[dict]
    budget: dict = field(default_factory=dict)

    def values(self, metric: str = "test_mse") -> np.ndarray:
        """The final value of ``metric`` of every seed."""
        out = []
        for s, m in zip(self.seeds, self.runs):
            v = m.get("final", {}).get(metric)
            if v is None:
                raise ValueError(f"{self.label!r}, seed {s}: no final {metric!r} (it has {sorted(m.get('final', {}))})")
            out.append(float(v))
        return np.array(out)

    def summary(self, metric: str = "test_mse") -> tuple[float, float]:
        """``(mean, sd)`` of the final ``metric`` over the seeds (sd with ddof=1; 0 for one seed)."""
        return summary(self.values(metric))

    def to_dict(self) -> dict:
        return {"label": self.label, "config": self.cfg.to_dict(), "seeds": list(self.seeds), "budget": self.budget,
                "runs": self.runs}

    @classmethod
    def from_dict(cls, d: dict) -> "SeedRuns":
        conf = d["config"]
        cfg = GanConfig.from_dict(conf) if conf.get("kind") == GAN_KIND else TrainConfig.from_dict(conf)
        return cls(d["label"], cfg, list(d["seeds"]), list(d["runs"]), dict(d.get("budget", {})))


def summary(values) -> tuple[float, float]:
    """``(mean, sd)`` of a list of numbers (sample sd, ddof=1; 0.0 for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("no values to summarise")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def _check_seeds(seeds) -> list[int]:
    seeds = list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds!r}")
    return [int(s) for s in seeds]


def run_seeds(cfg: TrainConfig, seeds=(0, 1, 2), seconds: float | None = None, steps: int | None = None,
              label: str | None = None, log=None, out_dir: str | None = None, **train_kw) -> SeedRuns:
    """Train ``cfg`` once per seed (``cfg.seed`` replaced) for the same budget; returns a ``SeedRuns``.

    ``out_dir``: each run's folder is ``out_dir/seed<N>`` (checkpoints, metrics). ``log(message)``
    is called after each seed. Other keyword arguments go to ``train``.
    """
    seeds = _check_seeds(seeds)
    runs = []
    for s in seeds:
        out = None if out_dir is None else os.path.join(out_dir, f"seed{s}")
        res = train(cfg.replace(seed=s), seconds=seconds, steps=steps, out=out, **train_kw)
        runs.append(res.metrics)
        if log is not None:
            fin = res.metrics["final"]
            log(f"{label or 'run'} seed {s}: {res.env_steps:,} steps, test MSE "
                f"{fin.get('test_mse', float('nan')):.4f} in {fin['seconds']:.0f} s")
    return SeedRuns(label or "run", cfg, seeds, runs, {"seconds": seconds, "steps": steps})


def _as_list(results) -> list[SeedRuns]:
    if isinstance(results, SeedRuns):
        return [results]
    if isinstance(results, dict):
        return list(results.values())
    return list(results)


def format_runs_table(results, metric: str = "test_mse", digits: int = 4, extra: dict | None = None) -> str:
    """A Markdown table: one row per ``SeedRuns`` with mean ± sd of ``metric`` and each seed's value.

    ``extra``: more rows ``{label: value}`` (single numbers such as a planner's) printed below.
    """
    rows = ["| | seeds | mean ± sd | per seed |", "|---|---:|---:|---|"]
    for r in _as_list(results):
        m, sd = r.summary(metric)
        per = ", ".join(f"{v:.{digits}f}" for v in r.values(metric))
        rows.append(f"| {r.label} | {len(r.seeds)} | {m:.{digits}f} ± {sd:.{digits}f} | {per} |")
    for name, v in (extra or {}).items():
        rows.append(f"| {name} | - | {v:.{digits}f} | - |")
    return "\n".join(rows)


def _curve(run: dict, metric: str, x: str, source: str):
    ev = run.get(source, {})
    xs, ys = ev.get(x, []), ev.get(metric, [])
    pts = [(float(a), float(b)) for a, b in zip(xs, ys) if a is not None and b is not None]
    fin = run.get("final", {})
    if source == "eval" and fin.get(metric) is not None and fin.get(x) is not None:
        fx = float(fin[x])
        if not pts or fx > pts[-1][0]:
            pts.append((fx, float(fin[metric])))
    return np.array(pts).reshape(-1, 2)


def plot_bands(results, metric: str = "test_mse", x: str = "env_steps", ax=None, logy: bool = True,
               references: dict | None = None, title: str | None = None, source: str = "eval",
               ylabel: str | None = None):
    """Curves of several ``SeedRuns``: the mean over seeds as a line, the band from the lowest to the
    highest seed shaded (curves are interpolated onto a common grid). ``source`` is the record that
    holds the curve (``"eval"``: the held-out evaluations; ``"probes"``: what an experiment measured
    during training); the legend gives the final mean ± sd. ``references``: horizontal lines
    ``{label: value}`` (planners, the perfect painter). Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter

    if x not in ("env_steps", "seconds"):
        raise ValueError(f"x must be 'env_steps' or 'seconds', got {x!r}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
    else:
        fig = ax.figure
    for i, r in enumerate(_as_list(results)):
        curves = [c for c in (_curve(run, metric, x, source) for run in r.runs) if len(c)]
        if not curves:
            continue
        hi = min(c[-1, 0] for c in curves)
        grid = np.unique(np.concatenate([c[:, 0] for c in curves]))
        grid = grid[grid <= hi]
        ys = np.stack([np.interp(grid, c[:, 0], c[:, 1]) for c in curves])
        m, sd = summary([c[-1, 1] for c in curves])
        ax.plot(grid, ys.mean(0), color=f"C{i}", label=f"{r.label}: {m:.4g} ± {sd:.2g} ({len(curves)} seeds)")
        ax.fill_between(grid, ys.min(0), ys.max(0), color=f"C{i}", alpha=0.2, linewidth=0)
    for j, (name, v) in enumerate((references or {}).items()):
        ax.axhline(v, color="gray", ls=["--", ":", "-.", (0, (1, 3))][j % 4], lw=1, label=f"{name}: {v:.4g}")
    if logy:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g"))
    ax.set_xlabel("environment steps" if x == "env_steps" else "seconds of training")
    ax.set_ylabel(ylabel or {"test_mse": "held-out test MSE per pixel"}.get(metric, metric))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_results(path: str, results, name: str, command: str, notes: str = "", extra: dict | None = None) -> None:
    """Write ``results`` (``SeedRuns``, a list or a dict of them) to a JSON result file, with the machine,
    the date (UTC), the command that made it and ``extra`` data (planner numbers, say)."""
    data = {"name": name, "command": command, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), "machine": machine_info(), "notes": notes,
        "results": [r.to_dict() for r in _as_list(results)], "extra": extra or {}}
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    atomic_write_json(data, path)


def result_path(name: str) -> str:
    """Where the result file ``name`` is kept: ``results/NAME.json`` of the course repository (the folder
    above ``dqngen_lib``), whatever the working directory (a lesson runs in ``notebooks/``)."""
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"a result name is a plain name such as 'pen-dqn', got {name!r}")
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), RESULTS_DIR, f"{name}.json")


def load_result(name_or_path: str) -> dict:
    """Read a result file: ``{"name", "command", "date", "machine", "notes", "extra", "results":
    {label: SeedRuns}}``.

    ``name_or_path``: the name of one of the course's files (``"pen-dqn"`` reads ``result_path("pen-dqn")``;
    a missing one says the command that makes it) or the path of a ``.json`` file.
    """
    if isinstance(name_or_path, str) and (name_or_path.endswith(".json") or os.sep in name_or_path):
        path = name_or_path
        if not os.path.exists(path):
            raise FileNotFoundError(f"no result file at {path!r}")
    else:
        path = result_path(name_or_path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no result file {path}; make it with: dqngen experiment {name_or_path}")
    try:
        with open(path) as f:
            data = json.load(f)
        data["results"] = {r["label"]: SeedRuns.from_dict(r) for r in data["results"]}
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a dqngen result file ({type(exc).__name__}: {exc})") from None
    return data
