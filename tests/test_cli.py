import json
import subprocess
import sys

import pytest

from dqngen_lib import __version__
from dqngen_lib.bench import bench_env, format_env_table
from dqngen_lib.cli import main


def test_version_and_info(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"dqngen {__version__}"
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["data"]["train"] == 899 and info["data"]["test"] == 898 and info["data"]["size"] == 8
    assert info["device"] in ("cpu", "cuda")


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "dqngen_lib", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"dqngen {__version__}"


def test_console_script_is_installed():
    import shutil

    exe = shutil.which("dqngen") or str(__import__("pathlib").Path(sys.executable).with_name("dqngen"))
    out = subprocess.run([exe, "info"], capture_output=True, text=True)
    assert out.returncode == 0 and "sklearn-digits-8x8" in out.stdout


def test_bench_env_rows_and_table():
    rows = bench_env(sizes=(1, 16), modes=("pixel",), seconds=0.05)
    assert [(r["mode"], r["num_envs"]) for r in rows] == [("pixel", 1), ("pixel", 16)]
    for r in rows:
        assert r["vec_steps_per_s"] > 0 and r["gym_steps_per_s"] > 0
        assert r["ratio"] == pytest.approx(r["vec_steps_per_s"] / r["gym_steps_per_s"])
    table = format_env_table(rows)
    assert table.count("\n") == 3 and "| cpu | pixel | 16 |" in table


def test_bench_env_cli(capsys, tmp_path):
    out = tmp_path / "env.json"
    assert main(["bench", "env", "--seconds", "0.02", "--sizes", "1,4", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| cpu | pen | 4 |" in text and "machine:" in text
    assert len(json.loads(out.read_text())["rows"]) == 4


def test_bench_train_cli_passes_its_options(capsys, tmp_path):
    out = tmp_path / "train.json"
    assert main(["bench", "train", "--seconds", "0.3", "--agents", "ours", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Training for 0.3 s each" in text and "| ours | conv" in text
    rows = json.loads(out.read_text())["rows"]
    assert [r["agent"] for r in rows] == ["ours"] and rows[0]["env_steps"] > 0
    assert main(["bench", "train", "--seconds", "0.1", "--agents", "nope"]) == 2
    assert "unknown agent(s) ['nope']" in capsys.readouterr().err
