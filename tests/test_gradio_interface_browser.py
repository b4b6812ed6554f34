"""A real browser on the Gradio page: Debian's Chromium, driven by Playwright,
draws digits with mouse strokes and reads the answer from the page.

Needs /usr/bin/chromium (`apt-get install chromium`); Playwright never
downloads a browser here. The page with a drawn 7 is saved as a screenshot in
the test's tmp_path; run with UPDATE_SCREENSHOTS=1 to refresh the committed
reports/gradio_screenshot.png instead (so a plain run leaves `git status` clean).
"""
import math
import os
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
from PIL import Image

import config
import gradio_interface

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"),
]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
WAIT_MS = 60_000  # a busy 2-core CI machine can take a while to answer

# Strokes as polylines in canvas fractions (0..1): a 7 (top bar, then the
# diagonal, in one stroke) and a 0 (an upright ellipse of 12 segments). The
# brush joins consecutive points with a straight stroke, so few points are
# needed, and few are wanted: each mouse move costs the software-rendered
# WebGL canvas a redraw (up to a second on a busy machine).
SEVEN = [[(0.28, 0.22), (0.72, 0.22), (0.45, 0.82)]]
# "42": a 4 in two strokes (its open top and the crossbar, then the stem) on the
# left, a 2 in one stroke on the right, a fifth of the canvas apart.
FORTY_TWO = [[(0.14, 0.22), (0.08, 0.6), (0.38, 0.6)], [(0.30, 0.3), (0.30, 0.82)],
             [(0.58, 0.35), (0.66, 0.24), (0.8, 0.24), (0.86, 0.36), (0.6, 0.8), (0.92, 0.8)]]
ZERO = [[(0.5 + 0.2 * math.sin(a), 0.5 - 0.3 * math.cos(a))
         for a in (2 * math.pi * i / 12 for i in range(13))]]


@pytest.fixture(scope="module")
def browser_page(app_url, tmp_path_factory):
    """The page open in a fresh headless Chromium profile; -> (page, every URL it requested).

    One page load for the whole module: on a busy 2-core machine, loading the
    app's scripts and starting its WebGL canvas is the slow part."""
    from playwright.sync_api import sync_playwright  # requirements-dev.txt: CI must have it

    requested = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM),
            headless=True, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 1000})
        context.on("request", lambda request: requested.append(request.url))
        page = context.new_page()
        page.on("websocket", lambda socket: requested.append(socket.url))
        page.set_default_timeout(WAIT_MS)
        page.goto(app_url)
        page.locator("#sketchpad canvas").first.wait_for()
        yield page, requested
        context.close()


def draw(page, strokes):
    """Drag the mouse along each polyline over the sketchpad's drawing area."""
    box = page.locator("#sketchpad canvas").first.bounding_box()
    # The square canvas sits centred in the component; stay well inside it.
    side = 0.8 * min(box["width"], box["height"])
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    to_screen = lambda x, y: (cx + (x - 0.5) * side, cy + (y - 0.5) * side)  # noqa: E731
    for stroke in strokes:
        page.mouse.move(*to_screen(*stroke[0]))
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*to_screen(*point))
        page.mouse.up()


def clear(page):
    """Press Clear; wait until the answer is gone and the brush is picked again."""
    page.locator("#clear").click()
    page.locator('#prediction [data-testid="label-output-value"]').wait_for(state="detached")
    page.locator('#sketchpad button[aria-label="Brush"].highlight').wait_for()
    page.wait_for_timeout(500)  # let the canvas finish resetting


def predicted(page, expected):
    """Wait until the page's label shows `expected`; -> {digit: confidence} of the top 3."""
    value = page.locator('#prediction [data-testid="label-output-value"]')
    try:
        value.filter(has_text=re.compile(rf"^{expected}$")).wait_for()
    except Exception:
        shown = value.all_inner_texts() or ["(nothing)"]
        pytest.fail(f"the page answered {shown[0]!r}, expected {expected!r}")
    meters = page.locator("#prediction meter")
    return {m.get_attribute("aria-label"): float(m.get_attribute("value")) for m in meters.all()}


def screenshot_path(tmp_path):
    """Where the page's screenshot goes: tmp_path, or the committed one with UPDATE_SCREENSHOTS=1."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        config.REPORTS_DIR.mkdir(exist_ok=True)
        return config.REPORTS_DIR / "gradio_screenshot.png"
    return tmp_path / "gradio_screenshot.png"


def test_drawing_a_digit_shows_the_prediction(browser_page, tmp_path):
    page, _ = browser_page
    page.get_by_role("tab", name="Draw").click()
    page.locator('#sketchpad button[aria-label="Brush"].highlight').wait_for()  # picked on load

    draw(page, SEVEN)
    top3 = predicted(page, "7")
    print(f"drew a 7 -> the page answered {top3}")
    assert len(top3) == config.TOP_K and max(top3, key=top3.get) == "7"
    # What the model saw: a 28x28 picture, enlarged.
    seen = page.locator("#model-view img")
    seen.wait_for()
    assert seen.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [280, 280]

    shot = screenshot_path(tmp_path)
    page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Clear empties the answer and the canvas, and the brush is picked again: draw a 0.
    clear(page)
    draw(page, ZERO)
    top3 = predicted(page, "0")
    print(f"drew a 0 -> the page answered {top3}")


def test_drawing_a_number_reads_it_with_each_digits_box_and_view(browser_page):
    page, _ = browser_page
    page.get_by_role("tab", name="Draw").click()
    clear(page)     # a second Clear in a row must empty the canvas too
    draw(page, FORTY_TWO)
    answer = predicted(page, "42")
    print(f"drew 42 -> the page answered {answer}")
    page.locator("#number-boxes img").wait_for()            # the picture with the digits' boxes
    views = page.locator("#digit-views img")
    views.nth(1).wait_for()
    assert views.count() == 2                                # the 28x28 view of each digit
    # One digit again: the number's parts go away.
    page.locator("#clear").click()
    page.locator("#number-boxes img").wait_for(state="detached")


def test_blank_upload_gets_a_note_not_a_guess(browser_page, tmp_path):
    page, _ = browser_page
    page.get_by_role("tab", name="Upload").click()
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 160), "white").save(blank)
    page.locator("#upload input[type=file]").set_input_files(str(blank))
    page.locator("#note").filter(has_text="No digit found").wait_for()
    assert page.locator('#prediction [data-testid="label-output-value"]').count() == 0


def test_an_example_is_one_click_away(browser_page):
    page, _ = browser_page
    files = [Path(path) for path in gradio_interface.example_files()]  # in the page's order
    photo = next(path for path in files if path.name.startswith("photo_"))
    page.locator("#examples img").nth(files.index(photo)).click()
    top3 = predicted(page, photo.stem.split("_")[-1])
    print(f"clicked example {photo.name} -> the page answered {top3}")
    assert page.get_by_role("tab", name="Upload").get_attribute("aria-selected") == "true"

    # The preprocessing switch re-answers the same picture, showing the new model input.
    before = page.locator("#model-view img").get_attribute("src")
    page.get_by_label("basic").check()
    # While Gradio swaps the answer in, the image can be missing for a frame: wait through that.
    page.wait_for_function("src => (document.querySelector('#model-view img')?.src ?? src) !== src", arg=before)
    answer = page.locator('#prediction [data-testid="label-output-value"]').inner_text()
    print(f"same picture, basic preprocessing -> the page answered {answer!r}")
    page.get_by_label("enhanced").check()


def test_nothing_leaves_the_machine(browser_page):
    """Every request the page made, loading and in the tests before, went to the local server."""
    _, requested = browser_page
    assert any(urlparse(url).path.endswith(".js") for url in requested), "no page scripts were seen"
    outside = sorted({url for url in requested
                      if urlparse(url).scheme not in ("data", "blob")
                      and urlparse(url).hostname not in LOCAL_HOSTS})
    assert not outside, f"the page reached beyond 127.0.0.1: {outside}"
