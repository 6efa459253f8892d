"""`make lab` starts JupyterLab where learners run it: as root in a container, on a machine with no display."""
import os
import pathlib
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "jupyter").exists(), reason="make lab uses the course's .venv")
def test_make_lab_starts_headless_and_prints_the_url(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MAKEFLAGS", "MFLAGS")}
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    port = free_port()
    log = tmp_path / "lab.log"
    with open(log, "w") as f:
        proc = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS=--port={port} --ServerApp.token=dqngen-test"],
                                cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, url = time.time() + 120, None
        while time.time() < deadline and url is None:
            if proc.poll() is not None:
                break
            m = re.search(rf"http://(?:127\.0\.0\.1|localhost):{port}/\S*", log.read_text())
            url = m.group(0) if m else None
            time.sleep(0.5)
        text = log.read_text()
        assert url is not None, f"no URL printed; make lab said:\n{text}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token=dqngen-test", timeout=10) as r:
            assert r.status == 200
        assert "open the http://127.0.0.1" in text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
