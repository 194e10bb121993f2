"""End to end in a real browser: Debian's chromium driven by Playwright opens the page served
by ``python app.py`` (tiny random-weight gallery), uses every tab once, waits for the images to
appear and saves a screenshot of each tab into test-artifacts/.

Never runs ``playwright install``: it launches /usr/bin/chromium (``apt-get install chromium``;
.ci/run installs it). Without it the test skips locally and fails in CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.app_server import PROJECT, gallery_env, running_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = PROJECT / "test-artifacts"
TIMEOUT_MS = 60_000

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing in CI (.ci/run installs it with apt-get)")
        pytest.skip("/usr/bin/chromium is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tiny_gallery):
    env = gallery_env(tiny_gallery)
    with running_app(env, ARTIFACTS / "app-browser.log") as srv:
        yield srv


def _image_loaded(page, selector: str) -> None:
    """Wait until an <img> under ``selector`` has decoded pixels (in view: Gradio's images load lazily)."""
    page.locator(selector).first.scroll_into_view_if_needed()
    page.wait_for_function(
        """sel => [...document.querySelectorAll(sel + ' img')].some(i => i.complete && i.naturalWidth > 0)""",
        arg=selector,
        timeout=TIMEOUT_MS,
    )


def _src(page, selector: str) -> str:
    return page.locator(f"{selector} img").first.get_attribute("src")


def _image_replaced(page, selector: str, old_src: str) -> None:
    """Wait until an <img> under ``selector`` has decoded pixels from another file than ``old_src``:
    the answer to a click, not the picture the tab opened with."""
    page.wait_for_function(
        """([sel, old]) => [...document.querySelectorAll(sel + ' img')]
            .some(i => i.complete && i.naturalWidth > 0 && i.getAttribute('src') !== old)""",
        arg=[selector, old_src],
        timeout=TIMEOUT_MS,
    )


def _field(page, label: str):
    """The field labelled ``label`` in the open tab (several tabs have a "Seed")."""
    return page.locator("[role=tabpanel]:visible").get_by_label(label, exact=True)


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"tab-{name}.png"), full_page=True)


def test_every_tab_in_chromium(browser, server):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        use_every_tab(page, server.url)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "tab-failure.png"), full_page=True)
        raise
    assert not errors, errors
    page.close()


def use_every_tab(page, url: str) -> None:
    page.goto(url, wait_until="networkidle")

    # 1. Gallery: a card per model with its picture
    page.get_by_text("tiny-digits").first.wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_text("Trained with:").count() == 6
    _image_loaded(page, ".pixelated")
    _shot(page, "1-gallery")

    # 2. Sample: opens on seed 0's grid and single images; another seed replaces them
    _tab(page, "Sample")
    _image_loaded(page, "#sample-grid")
    _image_loaded(page, "#sample-gallery")
    opened = _src(page, "#sample-grid")
    _field(page, "Seed").fill("5")
    page.get_by_role("button", name="Sample", exact=True).click()
    _image_replaced(page, "#sample-grid", opened)
    page.get_by_role("button", name="Same seed through every model of this data set").click()
    _image_loaded(page, "#compare-gallery")
    assert page.locator("#sample-gallery img").count() >= 16
    # all 8 columns in view: Gradio's 100 px minimum per column made the 8th overflow at this width
    fits = "g => { const c = g.querySelector('.grid-container'); return c.scrollWidth <= c.clientWidth; }"
    assert page.locator("#sample-gallery").evaluate(fits)
    _shot(page, "2-sample")

    # 3. Interpolate: opens on the path from seed 0 to seed 1, strip and GIF; another path replaces it
    _tab(page, "Interpolate")
    _image_loaded(page, "#interp-strip")
    _image_loaded(page, "#interp-gif")
    opened = _src(page, "#interp-strip"), _src(page, "#interp-gif")
    page.get_by_label("Seed B").fill("2")
    page.get_by_role("button", name="Interpolate", exact=True).click()
    _image_replaced(page, "#interp-strip", opened[0])
    _image_replaced(page, "#interp-gif", opened[1])
    _shot(page, "3-interpolate")

    # 4. Face swap: opens on seed 1's face under every identity; then another generated sample
    _tab(page, "Face swap")
    _image_loaded(page, "#swap-recon")
    _image_loaded(page, "#swap-gallery")
    _image_loaded(page, "#vary-gallery")
    opened = _src(page, "#swap-recon")
    _field(page, "Seed").fill("3")
    page.get_by_role("button", name="Use a generated sample").click()
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Swap identities").click()
    _image_replaced(page, "#swap-recon", opened)
    _shot(page, "4-face-swap")

    # 5. Edges -> photo: opens on the example drawn by code; an empty upload is refused plainly; a
    # stroke drawn on the sketchpad replaces the example
    _tab(page, "Edges → photo")
    _image_loaded(page, "#p2p-cond")
    _image_loaded(page, "#p2p-out")
    opened = _src(page, "#p2p-out")
    page.get_by_role("tab", name="Upload").click()
    page.get_by_role("button", name="Translate", exact=True).click()  # no image: a plain message
    toast = page.locator(".toast-body.error")
    toast.wait_for(timeout=TIMEOUT_MS)
    assert "upload an image first" in toast.inner_text() and "Traceback" not in toast.inner_text()
    page.locator(".toast-close").first.click()
    page.get_by_role("tab", name="Draw").click()
    page.locator("#p2p-sketch button[aria-label='Brush']").first.click()
    canvas = page.locator("#p2p-sketch canvas").first
    canvas.wait_for(timeout=TIMEOUT_MS)
    box = canvas.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(x0 + box["width"] * 0.04 * i, y0 + box["height"] * 0.03 * i, steps=2)
    page.mouse.up()
    page.get_by_role("button", name="Translate the drawing").click()
    _image_replaced(page, "#p2p-out", opened)
    _shot(page, "5-edges-to-photo")

    # 6. Mode collapse: opens on the end of the replay, the Jacobian's rank map and spectrum; then the
    # first snapshot, another seed's spectrum and a short live run
    _tab(page, "Mode collapse")
    snapshot = page.locator("#modes-step input[type=range]")
    assert snapshot.input_value() == snapshot.get_attribute("max") != "0"  # opens on the end of training
    for plot in ("#modes-plot", "#rank-plot", "#jacobian-plot"):
        _image_loaded(page, plot)
    opened = _src(page, "#modes-plot"), _src(page, "#jacobian-plot")
    snapshot.fill("0")
    page.get_by_role("button", name="Show", exact=True).click()
    _image_replaced(page, "#modes-plot", opened[0])
    page.get_by_role("button", name="Where the Jacobian loses rank").click()
    _field(page, "Seed").last.fill("4")
    page.get_by_role("button", name="Compute the spectrum").click()
    _image_replaced(page, "#jacobian-plot", opened[1])
    page.locator("#live-steps input[type=number]").fill("100")
    page.locator("#live-steps input[type=number]").press("Enter")
    page.get_by_role("button", name="Train live").click()
    _image_loaded(page, "#live-plot")
    page.wait_for_function(  # the run streamed to its last step
        """() => /"step"\\s*:\\s*100\\b/.test(document.querySelector('#live-counts').innerText)""", timeout=TIMEOUT_MS
    )
    _shot(page, "6-mode-collapse")

    assert page.locator(".toast-body.error").count() == 0


def test_a_phone_sized_page_stacks_cards_and_halves_thumbnail_columns(browser, server):
    page = browser.new_page(viewport={"width": 420, "height": 900})
    page.goto(server.url, wait_until="networkidle")
    page.get_by_text("tiny-digits").first.wait_for(timeout=TIMEOUT_MS)
    card = page.locator(".card-row").first
    text, picture = card.locator(".block.card").bounding_box(), card.locator(".block.pixelated").bounding_box()
    assert picture["y"] >= text["y"] + text["height"] - 1  # the picture under the card's text
    assert text["width"] > 300  # the text keeps the page's width
    _tab(page, "Sample")
    _image_loaded(page, "#sample-gallery")
    columns = "g => getComputedStyle(g.querySelector('.grid-container')).gridTemplateColumns.split(' ').length"
    assert page.locator("#sample-gallery").evaluate(columns) == 4  # 8 on a wide page
    page.close()


def test_a_shared_link_opens_its_result_and_the_address_follows_clicks_and_tabs(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server.url + "/?tab=sample&model=tiny-digits&seed=7&count=4&class=3", wait_until="networkidle")
    _image_loaded(page, "#sample-grid")
    assert page.get_by_role("tab", name="Sample").get_attribute("aria-selected") == "true"
    assert _field(page, "Seed").input_value() == "7" and _field(page, "Class").input_value() == "3"
    assert page.locator("#sample-gallery img").count() == 4  # the link's result, not the tab's defaults
    _field(page, "Seed").fill("9")
    page.get_by_role("button", name="Sample", exact=True).click()
    page.wait_for_function("() => location.search.includes('seed=9')", timeout=TIMEOUT_MS)
    assert "count=4" in page.url and "class=3" in page.url and "model=tiny-digits" in page.url
    _tab(page, "Mode collapse")  # the address follows the tab: its own link, or the tab's result's
    page.wait_for_function("() => location.search === '?tab=modes'", timeout=TIMEOUT_MS)
    _tab(page, "Gallery")
    page.wait_for_function("() => location.search === ''", timeout=TIMEOUT_MS)
    _tab(page, "Sample")
    page.wait_for_function("() => location.search.includes('seed=9')", timeout=TIMEOUT_MS)
    _field(page, "Model").click()  # the visitor's choice of a model without classes hides the class menu
    page.get_by_role("option", name="tiny-colour").click()
    _field(page, "Class").wait_for(state="hidden", timeout=TIMEOUT_MS)

    page.goto(server.url + "/?tab=swap&model=tiny-cvaegan&seed=4&identity=Bo&count=2", wait_until="networkidle")
    _image_loaded(page, "#vary-gallery")
    assert page.get_by_role("tab", name="Face swap").get_attribute("aria-selected") == "true"
    assert _field(page, "Seed").input_value() == "4" and _field(page, "The face's own identity").input_value() == "Bo"
    assert page.locator("#vary-gallery img").count() == 2  # the link's result, not the tab's defaults (8)
    assert "identity=Bo" in page.url and "seed=4" in page.url

    page.goto(server.url + "/?tab=pix2pix", wait_until="networkidle")  # a tab without settings: its defaults
    _image_loaded(page, "#p2p-out")
    assert page.get_by_role("tab", name="Edges → photo").get_attribute("aria-selected") == "true"

    page.goto(server.url + "/?tab=sample&seed=-1", wait_until="networkidle")  # refused: said, not raised
    warning = page.locator(".toast-body.warning")
    warning.wait_for(timeout=TIMEOUT_MS)
    assert "This link cannot be opened" in warning.inner_text() and "seed" in warning.inner_text()
    assert page.get_by_role("tab", name="Gallery").get_attribute("aria-selected") == "true"
    assert page.locator(".toast-body.error").count() == 0

    for link in ("/?tab=%3Cimg%20id%3Dinjected%20src%3Dx%3E", "/?tab=sample&model=%3Cimg%20id%3Dinjected%20src%3Dx%3E"):
        page.goto(server.url + link, wait_until="networkidle")  # a link's text is shown as text
        page.locator(".toast-body.warning").wait_for(timeout=TIMEOUT_MS)
        assert "<img id=injected" in page.locator(".toast-body.warning").inner_text()
        assert page.locator("#injected").count() == 0
    page.close()
