"""Drive lesson 10's Q-value explorer in JupyterLab with headless Chromium; save screenshots.

    .venv/bin/python tools/screenshots.py            # writes docs/img/explorer_step_00.png and _12.png

JupyterLab is started on 127.0.0.1 (a free port, a random token, no browser) in a temporary copy
of the course (the lesson and its images), so nothing in the repository is touched. Chromium
(Debian's ``chromium`` and ``chromium-driver``, driven by selenium) opens the lesson, runs every
cell from the Run menu, waits until all have run, clicks the explorer's "new episode" button,
moves its step slider with the arrow keys and takes screenshots of the widget.
``tests/test_browser.py`` uses the same functions.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
LESSON = "notebooks/10_q_value_explorer.ipynb"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1500,1100"]
# JupyterLab settings for a quiet, reproducible page: no autosave, no news, no update check
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                       "checkForUpdates": False},
    # every cell stays in the page (no virtual scrolling), so the widget's elements never go stale
    # and the notebook's kernel starts without asking, should the kernel list come late
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none",
                                                                  "autoStartDefaultKernel": True},
}


def find_browser() -> tuple[str, str] | None:
    """``(chromium, chromedriver)`` paths, or ``None`` when either is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or next(
        (p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if os.path.exists(p)), None)
    return (chromium, driver) if chromium and driver else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_course(dest: pathlib.Path) -> pathlib.Path:
    """Copy the lesson, without its outputs, and the images its Markdown shows into ``dest``.

    Returns the notebook's path. Without stored outputs, every execution count on the page comes
    from this run, so "all cells have run" can be read from the prompts.
    """
    import nbformat

    path = dest / LESSON
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(ROOT / LESSON, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    if (ROOT / "docs" / "img").is_dir():
        shutil.copytree(ROOT / "docs" / "img", dest / "docs" / "img", dirs_exist_ok=True)
    return path


class Lab:
    """A JupyterLab server on 127.0.0.1 serving ``root``; a context manager (stops the server on exit)."""

    def __init__(self, root: pathlib.Path, work: pathlib.Path, env: dict | None = None, timeout: float = 60.0):
        self.root, self.work, self.timeout = pathlib.Path(root), pathlib.Path(work), timeout
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ if env is None else env)
        self.proc = None

    def __enter__(self) -> "Lab":
        settings = self.work / "lab-settings"
        for name, value in LAB_SETTINGS.items():
            p = settings / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(value))
        env = dict(self.env)
        env.pop("MPLBACKEND", None)              # the kernel's inline backend draws the figures
        env.update(JUPYTER_CONFIG_DIR=str(self.work / "config"), JUPYTER_RUNTIME_DIR=str(self.work / "runtime"),
                   IPYTHONDIR=str(self.work / "ipython"), JUPYTER_DATA_DIR=str(self.work / "data"),
                   JUPYTER_PLATFORM_DIRS="1")
        jupyter = pathlib.Path(sys.executable).with_name("jupyter")
        cmd = [str(jupyter) if jupyter.exists() else "jupyter", "lab", "--no-browser",
               "--ServerApp.open_browser=False", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={self.root}", f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={self.work / 'workspaces'}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # containers and CI runners often run as root
        self.log = open(self.work / "lab.log", "w")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.proc.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.__exit__(None, None, None)
        raise TimeoutError(f"JupyterLab did not answer within {self.timeout:.0f} s:\n{self.log_text()}")

    def log_text(self) -> str:
        self.log.flush()
        return (self.work / "lab.log").read_text()[-4000:]

    def notebook_url(self, path: str) -> str:
        return f"{self.url}/lab/tree/{path}?token={self.token}&reset"

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def make_driver(profile: pathlib.Path, chromium: str, chromedriver: str):
    """Headless Chromium driven by selenium, with a fresh profile, no network beyond loopback."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts)
    driver.set_page_load_timeout(60)
    return driver


def _wait(driver, what: str, fn, timeout: float, poll: float = 0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn(driver)
        except Exception as exc:  # stale elements while the page re-renders
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def dialogs(driver) -> list[str]:
    """Texts of the JupyterLab dialogs open on the page."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.jp-Dialog')).map(e => e.innerText.slice(0, 500));")


def kernel_idle(driver) -> bool:
    """True when the notebook's kernel is connected and idle (the toolbar's kernel status)."""
    return bool(driver.execute_script(
        "const e = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');"
        "return e !== null && e.getAttribute('data-status') === 'idle';"))


def dismiss_dialogs(driver) -> list[str]:
    """Accept the JupyterLab dialogs open on the page ("Select Kernel", ...); returns their texts."""
    from selenium.webdriver.common.by import By

    texts = dialogs(driver)
    for dlg in driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog"):
        buttons = (dlg.find_elements(By.CSS_SELECTOR, "button.jp-mod-accept")
                   or dlg.find_elements(By.CSS_SELECTOR, "button"))
        if buttons:
            buttons[-1].click()
    return texts


def run_all_cells(driver, timeout: float = 120.0, url: str | None = None) -> int:
    """Run every cell from the Run menu and wait until none is queued or running and the kernel is idle.

    Returns how many clicks on Run > Run All Cells it took. A click that lands while the kernel is
    still connecting runs nothing, so it is repeated after 5 s of no cell starting; dialogs in the
    way are accepted, and after three clicks the page is loaded again (``url``) for three more.
    """
    from selenium.common.exceptions import ElementClickInterceptedException
    from selenium.webdriver.common.by import By

    def prompts(d):
        return d.execute_script(
            "return Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).map(e => e.textContent);")

    def started(d):
        return any("*" in p or any(ch.isdigit() for ch in p) for p in prompts(d))

    def finished(d):
        ps = prompts(d)
        return ps and all("*" not in p and any(ch.isdigit() for ch in p) for p in ps) and kernel_idle(d)

    clicks = 0
    for page_load in range(2 if url else 1):
        if page_load:
            driver.get(url)
        _wait(driver, "the kernel to start", lambda d: kernel_idle(d) or dismiss_dialogs(d) and False, timeout)
        for _ in range(3):
            time.sleep(0.5)
            dismiss_dialogs(driver)
            try:
                menu = _wait(driver, "the Run menu", lambda d: [e for e in d.find_elements(
                    By.CSS_SELECTOR, ".lm-MenuBar-itemLabel") if e.text.strip() == "Run"], 30)[0]
                menu.click()
                item = _wait(driver, "Run > Run All Cells",
                             lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, ".lm-Menu-item .lm-Menu-itemLabel")
                                        if e.text.strip() == "Run All Cells"], 10)[0]
                item.click()
            except ElementClickInterceptedException:  # a dialog opened in between: accept it, try again
                continue
            finally:
                clicks += 1
            try:
                _wait(driver, "the first cell to start", started, 5)
            except TimeoutError:
                continue
            _wait(driver, "all cells to run", finished, timeout, poll=0.5)
            return clicks
    raise TimeoutError(f"no cell started after {clicks} clicks on Run > Run All Cells; dialogs: {dialogs(driver)}")


def explorer(driver, timeout: float = 30.0):
    """The first explorer widget on the page, once its image has been drawn."""
    from selenium.webdriver.common.by import By

    def found(d):
        root = d.find_element(By.CSS_SELECTOR, ".dqngen-explorer")
        img = root.find_element(By.CSS_SELECTOR, "img.dqngen-view")
        return root if (img.get_attribute("src") or "").startswith(("blob:", "data:")) else None
    return _wait(driver, "the explorer widget", found, timeout)


def explorer_state(root) -> dict:
    """What the browser shows: the image's src, the side panel's text and the slider's readout."""
    from selenium.webdriver.common.by import By

    return {"src": root.find_element(By.CSS_SELECTOR, "img.dqngen-view").get_attribute("src"),
            "info": root.find_element(By.CSS_SELECTOR, ".dqngen-info").text,
            "step": root.find_element(By.CSS_SELECTOR, ".dqngen-step .widget-readout").text.strip()}


def error_outputs(driver) -> list[str]:
    """Texts of the error outputs on the page (a cell that raised)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.jp-OutputArea-output'))"
        ".filter(e => e.getAttribute('data-mime-type') === 'application/vnd.jupyter.stderr'"
        " && e.textContent.includes('Traceback')).map(e => e.textContent.slice(0, 2000));")


def _scroll_to(driver, element) -> None:
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    time.sleep(0.3)


def new_episode(driver, root, timeout: float = 30.0) -> dict:
    """Click the explorer's "new episode" button; returns the state once step 0 of a full episode is drawn."""
    from selenium.webdriver.common.by import By

    before = explorer_state(root)
    _scroll_to(driver, root)
    root.find_element(By.CSS_SELECTOR, "button.dqngen-new").click()

    def drawn(d):
        s = explorer_state(root)
        return s if s["step"] == "0" and "0 of 24" in s["info"] and s["src"] != before["src"] else None
    return _wait(driver, "a new episode at step 0", drawn, timeout)


def move_slider(driver, root, steps: int, timeout: float = 30.0) -> dict:
    """Press the right arrow ``steps`` times on the step slider's handle; returns the new state once drawn."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    before = explorer_state(root)
    handle = root.find_element(By.CSS_SELECTOR, ".dqngen-step .noUi-handle")
    _scroll_to(driver, root)
    handle.click()
    for _ in range(steps):
        handle.send_keys(Keys.ARROW_RIGHT)
    want = str(int(before["step"]) + steps)

    def drawn(d):
        s = explorer_state(root)
        return s if s["step"] == want and s["src"] != before["src"] and f"{want} of" in s["info"] else None
    _wait(driver, f"the explorer to show step {want}", drawn, timeout)
    _scroll_to(driver, root)  # and let the new image decode before a screenshot
    return explorer_state(root)


def drive_explorer(out_dir: pathlib.Path, steps=(0, 12), env: dict | None = None, timeout: float = 150.0,
                   full_page: bool = False) -> dict:
    """Open lesson 10 in JupyterLab, run it, show the explorer at each of ``steps``; screenshot each.

    The first explorer of the lesson is restarted with its "new episode" button (the lesson's code
    has played with it), then its step slider is moved with the arrow keys.
    Returns ``{"states": [...], "shots": [paths], "errors": [...], "seconds": {...}}``.
    """
    found = find_browser()
    if found is None:
        raise RuntimeError("chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver)")
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    times = {}
    with tempfile.TemporaryDirectory(prefix="dqngen-lab-") as tmp:
        tmp = pathlib.Path(tmp)
        course, work = tmp / "course", tmp / "work"
        work.mkdir()
        copy_course(course)
        with Lab(course, work, env=env) as lab:
            times["lab_started"] = time.monotonic() - t0
            driver = make_driver(tmp / "chromium-profile", *found)
            try:
                driver.get(lab.notebook_url(LESSON))
                clicks = run_all_cells(driver, timeout, url=lab.notebook_url(LESSON))
                times["cells_run"] = time.monotonic() - t0
                errors = error_outputs(driver)
                root = explorer(driver)
                states, shots = [], []
                for i, s in enumerate(sorted(steps)):
                    if i == 0 and s != 0:
                        raise ValueError("the first screenshot is taken at step 0")
                    if i == 0:
                        state = new_episode(driver, root)
                    else:
                        state = move_slider(driver, root, s - int(states[-1]["step"]))
                    states.append(state)
                    path = out_dir / f"explorer_step_{s:02d}.png"
                    if full_page:
                        driver.save_screenshot(str(path))
                    else:
                        root.screenshot(str(path))
                    shots.append(path)
            except Exception:
                try:
                    driver.save_screenshot(str(out_dir / "failure.png"))
                    print("dialogs on the page:", dialogs(driver), file=sys.stderr)
                finally:
                    print(lab.log_text(), file=sys.stderr)
                raise
            finally:
                driver.quit()
    times["total"] = time.monotonic() - t0
    return {"states": states, "shots": shots, "errors": errors, "seconds": times, "run_all_clicks": clicks}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "img"), help="folder for explorer_step_NN.png")
    p.add_argument("--steps", type=int, nargs="+", default=[0, 12], help="slider positions (the first is 0)")
    args = p.parse_args(argv)
    env = dict(os.environ, FAST="1")
    res = drive_explorer(pathlib.Path(args.out), steps=args.steps, env=env)
    for s in res["shots"]:
        print(f"wrote {s} ({s.stat().st_size // 1024} KiB)")
    print("seconds:", {k: round(v, 1) for k, v in res["seconds"].items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
