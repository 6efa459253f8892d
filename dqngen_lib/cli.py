"""The ``dqngen`` command line (also ``python -m dqngen_lib``).

Every subcommand is wired here, from the fixed table ``COMMANDS``: ``info``, ``train``, ``gan``,
``evaluate``, ``reconstruct``, ``sample``, ``experiment`` and ``bench``. Each takes its options from
argparse, calls the library, and returns an exit code; a bad value is reported as one line naming it (exit 2).
``train`` starts from the preset of the lesson of its task and mode (``TrainConfig.preset``), so a
README command trains the same agent as its lesson.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import signal
import sys
import threading

import numpy as np
import torch

from . import _AS_SCRIPT, __version__
from .bench import AGENTS, bench_env, bench_train, format_env_table, format_train_table, machine_name
from .checkpoint import CHECKPOINT_FILE, check_out_dir, load_checkpoint, save_gan
from .config import TrainConfig
from .data import load_digits
from .evaluation import evaluate_checkpoint, evaluate_planner
from .experiments import EXPERIMENTS, run_experiment
from .gan import GanConfig, train_gan
from .generate import sample_checkpoint
from .metrics import num_distinct
from .rollout import reconstruct, reference_mse
from .results import quality_bars
from .train import train
from .utils import (atomic_write_json, check_out_file, describe_device, field_docs, get_device, machine_info,
                    nan_to_none, save_npz)
from .viz import plot_learning_curves

__all__ = ["main", "build_parser", "COMMANDS"]


# ---------------------------------------------------------------------------------------------
# Argument types: every bad value named
# ---------------------------------------------------------------------------------------------

def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {s!r}")
    return v


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}")
    return v


def _int_list(s: str) -> tuple[int, ...]:
    try:
        values = tuple(int(p) for p in s.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {s!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {s!r}")
    return values


def _seed_list(s: str) -> tuple[int, ...]:
    try:
        values = tuple(int(p) for p in s.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 0, got {s!r}") from None
    if not values or min(values) < 0 or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected distinct comma-separated integers >= 0, got {s!r}")
    return values


def _parse_bool(s: str) -> bool:
    v = s.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {s!r}")


def _device(s: str) -> str:
    try:
        get_device(s)  # a clear message for 'meta', 'gpu', 'cuda' without a GPU ...
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return s


# ---------------------------------------------------------------------------------------------
# dqngen info
# ---------------------------------------------------------------------------------------------

def _info(args) -> int:
    import gymnasium
    import sklearn
    import torch

    d = load_digits()
    info = {
        "dqngen": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gymnasium": gymnasium.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "device": str(get_device("auto")),
        "device_detail": describe_device(),
        "cuda_available": torch.cuda.is_available(),
        "data": {"name": d.name, "train": len(d.x_train), "test": len(d.x_test),
                 "size": d.size, "ink_levels": sorted(set(d.x_train.ravel().round(3).tolist()))},
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(f"{k:>14}: {v}")
    return 0


# ---------------------------------------------------------------------------------------------
# dqngen train | evaluate | reconstruct | sample
# ---------------------------------------------------------------------------------------------

def _field_type(f: dataclasses.Field):
    """The argparse type of a config dataclass's int, float or string field."""
    return {"int": int, "float": float}.get(f.type if isinstance(f.type, str) else f.type.__name__, str)


def _add_config_options(p: argparse.ArgumentParser) -> None:
    docs = TrainConfig.field_docs()
    g = p.add_argument_group("hyper-parameters (TrainConfig; defaults: the lesson's preset of --task and --mode)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        help_ = docs.get(f.name, "").replace("%", "%%")
        if f.name == "task_options":
            g.add_argument("--task-option", dest="task_options", action="append", metavar="KEY=VALUE",
                           default=None, help="a generate task option, repeatable (JSON values are parsed)")
        elif f.type in ("bool", bool):
            g.add_argument(flag, dest=f.name, type=_parse_bool, nargs="?", const=True, default=None,
                           metavar="BOOL", help=help_)
        else:
            g.add_argument(flag, dest=f.name, type=_field_type(f), default=None, help=help_)


def _given_options(args) -> dict:
    changes = {}
    for f in dataclasses.fields(TrainConfig):
        v = getattr(args, f.name, None)
        if v is None:
            continue
        if f.name == "task_options":
            opts = {}
            for item in v:
                if "=" not in item:
                    raise ValueError(f"--task-option expects KEY=VALUE, got {item!r}")
                key, val = item.split("=", 1)
                try:
                    opts[key] = json.loads(val)
                except json.JSONDecodeError:
                    opts[key] = val
            v = opts
        changes[f.name] = v
    return changes


def config_from_args(args) -> TrainConfig:
    """The config of ``dqngen train``: the preset of ``--task`` and ``--mode``, with the options given."""
    given = _given_options(args)
    return TrainConfig.preset(given.pop("task", "reconstruct"), given.pop("mode", "pixel"), **given)


def _cmd_train(args) -> int:
    # the budget and the output folder are train's to check (before any work); nothing is checked twice
    if args.resume:
        ck = load_checkpoint(args.resume, kind="dqn")
        cfg = ck.cfg
        given, old = _given_options(args), cfg.to_dict()
        new = TrainConfig.from_dict({**old, **given}).to_dict()
        changed = sorted(k for k in given if new[k] != old[k])
        if changed:
            raise ValueError(f"--resume continues the checkpoint's run; options {changed} differ from its config "
                             f"({', '.join(f'{k}={cfg.to_dict()[k]!r}' for k in changed)})")
        out = args.out or args.resume
    else:
        cfg = config_from_args(args)
        out = args.out
        if out is None:
            raise ValueError("give --out DIR, the folder for the checkpoint, metrics.json and the learning curve")
    # train checks the output folder before any work, and continues from the checkpoint loaded above; a Ctrl-C
    # that stops it at once reaches main, which says so in one line (exit 130)
    res = train(cfg, seconds=args.seconds, steps=args.steps, out=out, progress=not args.no_progress,
                resume=ck if args.resume else None, force=args.force)
    try:
        fig = plot_learning_curves(res.metrics, title=f"{cfg.task}, {cfg.mode} mode, {cfg.qnet} Q-network")
        fig.savefig(os.path.join(out, "learning_curve.png"), dpi=100)
        import matplotlib.pyplot as plt

        plt.close(fig)
    except KeyboardInterrupt:
        print(f"dqngen train: interrupted while drawing the learning curve; the run itself is saved in {out} "
              f"({CHECKPOINT_FILE}, metrics.json)", file=sys.stderr)
        return 130
    fin = res.metrics["final"]
    shown = {k: fin[k] for k in ("env_steps", "updates", "seconds", "test_mse", "mean_return") if k in fin}
    print(json.dumps(nan_to_none(shown)))
    print(f"wrote {os.path.join(out, CHECKPOINT_FILE)}, metrics.json and learning_curve.png", file=sys.stderr)
    return 130 if fin.get("interrupted") else 0


def _cmd_gan(args) -> int:
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(GanConfig) if getattr(args, f.name) is not None}
    cfg = GanConfig(**given)
    check_out_dir(args.out, force=args.force, resumable=False)     # makes nothing; train_gan checks the budget
    res = train_gan(cfg, seconds=args.seconds, steps=args.steps)
    fin = res.metrics["final"]
    save_gan(args.out, cfg, res.gan, res.optimizers, extra={"metrics": res.metrics, "updates": fin["updates"],
                                                             "elapsed": fin["seconds"]})
    atomic_write_json(nan_to_none(res.metrics), os.path.join(args.out, "metrics.json"))
    print(json.dumps({k: fin[k] for k in ("updates", "seconds", "interrupted")}))
    print(f"wrote {os.path.join(args.out, CHECKPOINT_FILE)} and metrics.json; measure it with: dqngen evaluate "
          f"--checkpoint {args.out}", file=sys.stderr)
    return 130 if fin["interrupted"] else 0


def _cmd_evaluate(args) -> int:
    if (args.checkpoint is None) == (args.planner is None):
        raise ValueError("give either --checkpoint DIR (a trained agent) or --planner SPEC (greedy, lookahead:K, beam:W)")
    if args.planner is not None:
        problem = {k: getattr(args, k) for k in ("horizon", "ink_levels", "pen_window", "data_path", "size")
                   if getattr(args, k) is not None}
        out = evaluate_planner(args.planner, args.mode or "pen", args.split, args.device, args.max_images, **problem)
    else:
        given = [f"--{k.replace('_', '-')}" for k in ("mode", "horizon", "ink_levels", "pen_window", "data_path",
                                                       "size", "max_images") if getattr(args, k) is not None]
        if given:
            raise ValueError(f"{', '.join(given)} describe the problem of a --planner; a checkpoint carries its own")
        out = evaluate_checkpoint(args.checkpoint, args.split, args.device)
    print(json.dumps(nan_to_none(out), indent=1))
    return 0


def _cmd_reconstruct(args) -> int:
    out = check_out_file(args.out, args.force, "--out", ".npz")
    ck = load_checkpoint(args.checkpoint, device=args.device, kind="dqn")
    images, targets, _ = reconstruct(ck.qnet, ck.cfg, split=args.split, max_images=args.max_images)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_npz(out, images=images.astype(np.float32), targets=targets.astype(np.float32))
    print(json.dumps({"out": out, "images": int(len(images)), "test_mse": float(np.mean((images - targets) ** 2))}))
    return 0


def _cmd_sample(args) -> int:
    out = check_out_file(args.out, args.force, "--out", ".npz")
    ck = load_checkpoint(args.checkpoint, device=args.device)
    s = sample_checkpoint(ck, per_class=args.per_class, seed=args.seed, temperature=args.temperature)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_npz(out, images=s["images"], labels=s["labels"], latent=s["latent"])
    print(json.dumps({"out": out, "images": int(len(s["images"])), "size": int(s["images"].shape[-1]),
                      "distinct": num_distinct(s["images"])}))
    return 0


# ---------------------------------------------------------------------------------------------
# dqngen bench
# ---------------------------------------------------------------------------------------------

def _cmd_bench_env(args) -> int:
    if args.json:
        check_out_file(args.json, args.force, "--json")
    rows = bench_env(sizes=args.sizes, seconds=args.seconds)
    print(f"Environment steps/s, machine: {machine_name()}")
    print(format_env_table(rows))
    if args.json:
        atomic_write_json({"machine": machine_name(), "rows": rows}, args.json)
    return 0


def _cmd_bench_train(args) -> int:
    agents = tuple(a.strip() for a in args.agents.split(",") if a.strip())
    if not agents:
        raise ValueError(f"--agents names no agent; expected a comma-separated subset of {', '.join(AGENTS)}")
    if args.json:
        check_out_file(args.json, args.force, "--json")
    rows = bench_train(args.seconds, args.seed, agents, mode=args.mode,
                       log=lambda m: print(m, file=sys.stderr, flush=True))
    cfg = TrainConfig.preset("reconstruct", args.mode)
    ref = reference_mse(cfg)
    print(f"Training for {args.seconds:g} s each, {args.mode} mode, T={cfg.horizon}, {cfg.ink_levels} inks; "
          f"machine: {machine_name()}")
    print(f"test MSE per pixel on 898 held-out digits: blank canvas {ref['blank_mse']:.4f}, "
          f"perfect pixel painter in {cfg.horizon} steps {ref['optimal_mse']:.4f}; quality bars "
          + ", ".join(f"{k} {v:.4f}" for k, v in quality_bars(args.mode).items()))
    print(format_train_table(rows))
    if args.json:
        command = (f"dqngen bench train --mode {args.mode} --seconds {args.seconds:g} --seed {args.seed} "
                   f"--agents {','.join(agents)}")
        atomic_write_json({"command": command, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"), "seconds": args.seconds, "mode": args.mode, "machine": machine_info(),
            "torch_threads": torch.get_num_threads(), "reference": ref, "bars": quality_bars(args.mode),
            "rows": rows}, args.json)
    return 0


def _cmd_bench_all(args) -> int:
    code = _cmd_bench_env(args)
    if code == 0:
        args.agents, args.seed, args.json, args.mode = ",".join(AGENTS), 0, None, "pixel"
        args.seconds = args.train_seconds
        code = _cmd_bench_train(args)
    return code


# ---------------------------------------------------------------------------------------------
# The parser
# ---------------------------------------------------------------------------------------------

def _add_info(sub) -> None:
    p = sub.add_parser("info", help="versions, the device found, the data set sizes")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_info)


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a DQN agent (lessons 05-09)",
                       description="Train a DQN agent for a budget, starting from the preset of the lesson of "
                                   "--task and --mode; writes the checkpoint, metrics.json and "
                                   "learning_curve.png into --out.")
    p.add_argument("--seconds", type=_positive_float, default=None,
                   help="training budget in seconds (total, resumed runs count)")
    p.add_argument("--steps", type=_positive_int, default=None,
                   help="training budget in environment steps (total, resumed runs count; deterministic on CPU)")
    p.add_argument("--out", default=None, help="output folder (default with --resume: the resumed folder)")
    p.add_argument("--resume", default=None, metavar="DIR", help="continue the run saved in DIR")
    p.add_argument("--force", action="store_true", help="start over in an --out folder that holds another run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_config_options(p)
    p.set_defaults(func=_cmd_train)


def _add_gan(sub) -> None:
    p = sub.add_parser("gan", help="train the GAN baseline of lesson 09",
                       description="Train the class-conditional GAN (two MLPs) that lesson 09 sets against the DQN "
                                   "painters, on the training digits; writes checkpoint.pt and metrics.json into "
                                   "--out. 'dqngen evaluate' and 'dqngen sample' take its folder.")
    p.add_argument("--seconds", type=_positive_float, default=None, help="training budget in seconds")
    p.add_argument("--steps", type=_positive_int, default=None,
                   help="training budget in updates (deterministic on CPU)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--force", action="store_true", help="overwrite a run already in --out")
    docs = field_docs(GanConfig)
    g = p.add_argument_group("hyper-parameters (GanConfig)")
    for f in dataclasses.fields(GanConfig):
        typ = _device if f.name == "device" else _field_type(f)
        g.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=typ, default=None,
                       help=docs.get(f.name, "").replace("%", "%%") + f" (default {f.default!r})")
    p.set_defaults(func=_cmd_gan)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="metrics of a checkpoint or of a planner, as JSON",
                       description="The held-out metrics of a trained agent (--checkpoint), or of a planner "
                                   "(--planner greedy | lookahead:K | beam:W) on the reconstruct task, the same "
                                   "metrics either way.")
    p.add_argument("--checkpoint", default=None, help="checkpoint folder (or its checkpoint.pt)")
    p.add_argument("--planner", default=None, help="a planner instead: greedy, lookahead:K or beam:W")
    p.add_argument("--split", default=None, choices=("train", "test"),
                   help="reconstruction: the digits to reconstruct (default test)")
    p.add_argument("--device", type=_device, default="auto", help="auto, cpu or cuda (default auto)")
    g = p.add_argument_group("the problem of a --planner (default: the reconstruct preset of --mode)")
    g.add_argument("--mode", default=None, choices=("pixel", "pen"), help="action mode (default pen)")
    g.add_argument("--horizon", type=_positive_int, default=None, help="steps per episode T")
    g.add_argument("--ink-levels", type=_positive_int, default=None, help="number of ink values")
    g.add_argument("--pen-window", type=_positive_int, default=None, help="pen window w")
    g.add_argument("--size", type=_positive_int, default=None, help="canvas side (28 needs --data-path)")
    g.add_argument("--data-path", default=None, help="an MNIST .npz or IDX folder (default: the 8x8 digits)")
    g.add_argument("--max-images", type=_positive_int, default=None, help="only the first N digits")
    p.set_defaults(func=_cmd_evaluate)


def _add_reconstruct(sub) -> None:
    p = sub.add_parser("reconstruct", help="reconstruct held-out digits with a trained agent")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder (or its checkpoint.pt)")
    p.add_argument("--split", default="test", choices=("train", "test"))
    p.add_argument("--out", required=True, help="output .npz with arrays images and targets (N, H, W)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--max-images", type=_positive_int, default=None, help="only the first N digits")
    p.add_argument("--device", type=_device, default="auto", help="auto, cpu or cuda (default auto)")
    p.set_defaults(func=_cmd_reconstruct)


def _add_sample(sub) -> None:
    p = sub.add_parser("sample", help="paint new digits with a generate checkpoint (lesson 09)",
                       description="Paint --per-class digits of every class with a checkpoint trained with "
                                   "--task generate (or the GAN baseline of 'dqngen gan'); writes an .npz with "
                                   "arrays images (N, H, W) in [0, 1], labels (N,) and latent (N, D).")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder (or its checkpoint.pt)")
    p.add_argument("--per-class", type=_positive_int, default=100, help="digits per class (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the latents (same seed, same file on CPU)")
    p.add_argument("--temperature", type=float, default=0.0,
                   help="0: greedy painting (default); > 0: Boltzmann sampling from the Q-values")
    p.add_argument("--out", required=True, help="output .npz file")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--device", type=_device, default="auto", help="auto, cpu or cuda (default auto)")
    p.set_defaults(func=_cmd_sample)


def _add_bench(sub) -> None:
    def env_options(q):
        q.add_argument("--seconds", type=_positive_float, default=1.0, help="seconds per env measurement (default 1)")
        q.add_argument("--sizes", type=_int_list, default=(1, 64, 1024, 8192),
                       help="batch sizes N for the env benchmark, e.g. 1,64,1024")
        q.add_argument("--json", default=None, help="also write the env rows to this JSON file")
        q.add_argument("--force", action="store_true", help="overwrite the --json file if it exists")

    p = sub.add_parser("bench", help="benchmarks: environment steps/s, trainer vs Stable-Baselines3")
    env_options(p)
    p.add_argument("--train-seconds", type=_positive_float, default=60.0,
                   help="seconds of training per agent (default 60)")
    p.set_defaults(func=_cmd_bench_all)
    bs = p.add_subparsers(dest="what", metavar="WHAT")
    pe = bs.add_parser("env", help="VecCanvasEnv vs the gymnasium loop, both modes")
    env_options(pe)
    pe.set_defaults(func=_cmd_bench_env)
    pt = bs.add_parser("train", help="our trainer vs Stable-Baselines3 DQN and the seed article's agent")
    pt.add_argument("--seconds", type=_positive_float, default=60.0, help="wall-clock budget of every agent (default 60)")
    pt.add_argument("--seed", type=int, default=0)
    pt.add_argument("--mode", default="pixel", choices=("pixel", "pen"), help="the task's action mode (default pixel)")
    pt.add_argument("--agents", default=",".join(AGENTS),
                    help="comma-separated subset of ours (the preset's Q-network), ours-mlp, sb3 (SB3 with the "
                         "same network), sb3-mlp, seed (the seed's agent)")
    pt.add_argument("--json", default=None, help="also write the rows to this JSON file")
    pt.add_argument("--force", action="store_true", help="overwrite the --json file if it exists")
    pt.set_defaults(func=_cmd_bench_train)


def _cmd_experiment(args) -> int:
    if args.list or args.name is None:
        for name, e in EXPERIMENTS.items():
            print(f"{name}: {e.description}")
        return 0
    if args.seeds is not None and not EXPERIMENTS[args.name].configs():
        raise ValueError(f"experiment {args.name} trains nothing over seeds (it measures fixed planners once); "
                         "drop --seeds")
    path = run_experiment(args.name, seeds=args.seeds or (0, 1, 2), out=args.out, quick=args.quick, force=args.force,
                          log=lambda m: print(m, file=sys.stderr, flush=True),
                          command="dqngen experiment " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["experiment"]
                          else None)
    print(json.dumps({"out": path}))
    return 0


def _add_experiment(sub) -> None:
    p = sub.add_parser("experiment", help="run a named multi-seed experiment into a result file (lessons 05-09)",
                       description="Train the configurations of a named experiment over seeds and write "
                                   "results/NAME.json (machine, date, command, configs, seeds, curves), the file "
                                   "the lessons load. --list shows the experiments.")
    p.add_argument("name", nargs="?", choices=sorted(EXPERIMENTS), help="the experiment")
    p.add_argument("--list", action="store_true", help="list the experiments")
    p.add_argument("--seeds", type=_seed_list, default=None, help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--out", default=None, help="result file (default results/NAME.json)")
    p.add_argument("--quick", action="store_true", help="a tiny budget, to check that it runs")
    p.add_argument("--force", action="store_true", help="overwrite an existing result file")
    p.set_defaults(func=_cmd_experiment)


# The subcommands, in the order ``dqngen --help`` lists them.
COMMANDS = (("info", _add_info), ("train", _add_train), ("gan", _add_gan), ("evaluate", _add_evaluate),
            ("reconstruct", _add_reconstruct), ("sample", _add_sample), ("experiment", _add_experiment),
            ("bench", _add_bench))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dqngen", description="dqngen: deep Q-learning that paints digits.")
    p.add_argument("--version", action="version", version=f"dqngen {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for _, add in COMMANDS:
        add(sub)
    return p


def _terminated(signum, frame):
    raise KeyboardInterrupt


def _attach_negative_numbers(argv: list[str]) -> list[str]:
    """``--lr -1e-3`` as ``--lr=-1e-3``: argparse takes a token like ``-1e-3`` for an option ("expected one
    argument"); joined to its option, the value reaches the option's own check, which names it."""
    out = []
    for tok in argv:
        prev = out[-1] if out else ""
        if tok.startswith("-") and prev.startswith("--") and "=" not in prev:
            try:
                float(tok)
            except ValueError:
                pass
            else:
                out[-1] = f"{prev}={tok}"
                continue
        out.append(tok)
    return out


def main(argv=None) -> int:
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        # Ctrl-C is KeyboardInterrupt again (see __init__), and SIGTERM too: setup stops the same way, its lock
        # released; training installs its own handler of both (train._CtrlC), which saves first
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _terminated)
    try:
        return _main(argv)
    finally:
        if main_thread:
            for s, h in old.items():
                # the `dqngen` script exits now, its work done and reported: a late Ctrl-C changes nothing (it
                # used to end the process with SIGINT's status and no word); a caller in Python gets its own back
                signal.signal(s, signal.SIG_IGN if _AS_SCRIPT else h if h is not None else signal.SIG_DFL)


def _main(argv) -> int:
    parser = build_parser()
    args = parser.parse_args(_attach_negative_numbers(sys.argv[1:] if argv is None else list(argv)))
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"dqngen {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dqngen {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
