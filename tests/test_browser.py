"""Lesson 10 in a real browser: JupyterLab on loopback, headless Chromium driven by selenium.

The test starts JupyterLab on 127.0.0.1 (free port, random token, no browser of its own) in a
temporary copy of the lesson, opens it in headless Chromium, runs every cell from the Run menu,
clicks the explorer's "new episode" button, moves its step slider with the arrow keys and takes
screenshots. It checks that the widget rendered (slider, image, side panel in the page) and that
the picture and the panel changed with the slider. The driving code lives in tools/screenshots.py,
which also makes the lesson's screenshots (docs/img/explorer_step_*.png).
"""
import importlib.util
import os
import pathlib
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("dqngen_screenshots", ROOT / "tools" / "screenshots.py")
shots = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shots)

pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[test]')")
pytestmark = pytest.mark.skipif(
    shots.find_browser() is None,
    reason="chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver; "
           "'make test' installs them on CI)")


def test_explorer_renders_and_follows_the_slider_in_jupyterlab(tmp_path):
    import matplotlib.image

    t0 = time.monotonic()
    res = shots.drive_explorer(tmp_path, steps=(0, 12), env=dict(os.environ, FAST="1"), timeout=120)
    first, later = res["states"]
    print("browser test seconds:", {k: round(v, 1) for k, v in res["seconds"].items()},
          f"(wall {time.monotonic() - t0:.1f}; Run All clicks: {res['run_all_clicks']})")
    assert res["errors"] == [], "a cell of lesson 10 raised in JupyterLab:\n" + "\n".join(res["errors"])
    # rendered: the image is a blob from the widget's PNG bytes, the slider and the side panel show step 0
    assert first["src"].startswith("blob:"), first
    assert first["step"] == "0" and "0 of 24" in first["info"] and "return so far" in first["info"]
    # changed: after twelve presses of the right arrow the slider, picture and panel show step 12
    assert later["step"] == "12" and "12 of 24" in later["info"]
    assert later["src"] != first["src"] and later["info"] != first["info"]
    for path in res["shots"]:
        img = matplotlib.image.imread(path)
        assert img.shape[0] > 200 and img.shape[1] > 600, (path, img.shape)
        assert img[..., :3].std() > 0.05, f"{path} is blank"
