"""Result files of the multi-seed experiments (lessons 03-10): one configuration run with several
seeds, its mean ± sd, and the JSON files that keep them.

A single run is one draw of a random process: two configurations compared on one seed each can
swap places on the next. A ``SeedRuns`` holds one configuration's runs, one per seed; ``summary``
gives mean ± sd of a final metric and ``format_runs_table`` puts several side by side;
``save_results``/``load_result`` keep them in a JSON result file that records the machine, the
date, the command, the config and the seeds (the lessons load such files instead of training for
minutes). Running the seeds is ``replicates.run_seeds``; their curves as bands, ``viz.plot_bands``.
``quality_bars`` are the held-out test MSEs the benchmarks time an agent to (some read from a result file).
"""
from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass, field

import numpy as np

from .config import TrainConfig
from .gan import GAN_KIND, GanConfig
from .utils import atomic_write_json, machine_info

__all__ = ["SeedRuns", "summary", "as_runs_list", "format_runs_table", "save_results", "load_result", "RESULTS_DIR",
           "result_path", "BAR", "quality_bars"]

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


def as_runs_list(results) -> list[SeedRuns]:
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
    for r in as_runs_list(results):
        m, sd = r.summary(metric)
        per = ", ".join(f"{v:.{digits}f}" for v in r.values(metric))
        rows.append(f"| {r.label} | {len(r.seeds)} | {m:.{digits}f} ± {sd:.{digits}f} | {per} |")
    for name, v in (extra or {}).items():
        rows.append(f"| {name} | - | {v:.{digits}f} | - |")
    return "\n".join(rows)


def save_results(path: str, results, name: str, command: str, notes: str = "", extra: dict | None = None) -> None:
    """Write ``results`` (``SeedRuns``, a list or a dict of them) to a JSON result file, with the machine,
    the date (UTC), the command that made it and ``extra`` data (planner numbers, say)."""
    data = {"name": name, "command": command, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), "machine": machine_info(), "notes": notes,
        "results": [r.to_dict() for r in as_runs_list(results)], "extra": extra or {}}
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


BAR = 0.014
"""The course's quality bar for pixel-mode reconstruction: held-out test MSE per pixel (lesson 05)."""


def quality_bars(mode: str) -> dict[str, float]:
    """The held-out test MSEs an agent is timed to reach: pixel mode, the course's bar 0.014; pen mode,
    the greedy planner's and the two-step lookahead's numbers (``results/planners.json``)."""
    if mode == "pixel":
        return {"0.014": BAR}
    pen = load_result("planners")["extra"]["planners"]["pen"]
    return {"greedy": pen["greedy"]["test_mse"], "lookahead:2": pen["lookahead:2"]["test_mse"]}
