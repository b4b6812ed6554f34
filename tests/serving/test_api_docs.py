"""GET /docs: Swagger UI served from the app's own files; in Chromium it lists /predict and
"Try it out" with an example image gets a 200, with no request leaving 127.0.0.1."""
import json
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

import config
from flask_deploy import create_app
from helpers.local_server import free_port, start_server, stop_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def client(predictor):
    return create_app(predictor).test_client()


def test_the_page_loads_only_local_assets(client):
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert urls and all(url.startswith("/docs/assets/") for url in urls), urls
    assert "http://" not in page and "https://" not in page
    assert '"/openapi.json"' in page
    types = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript"}
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.data) > 0, url
        name = url.rsplit("/", 1)[1]
        if name in types:
            assert asset.mimetype == types[name]


def test_unknown_assets_are_a_json_404(client):
    response = client.get("/docs/assets/no-such-file.js")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


@pytest.mark.process
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_try_it_out_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright  # requirements-dev.txt

    port = free_port()
    with open(tmp_path / "server.log", "w") as log:
        proc = start_server(["flask_deploy.py", "--port", port], port, env={"MODEL_BACKEND": "litert"}, log=log)
    requested = []
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            context.on("request", lambda request: requested.append(request.url))
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(f"http://127.0.0.1:{port}/docs")
            operation = page.locator(".opblock-post").filter(
                has=page.locator('.opblock-summary-path[data-path="/predict"]'))
            operation.locator(".opblock-summary").click()
            operation.get_by_role("button", name="Try it out").click()
            operation.locator('input[type="file"]').set_input_files(str(config.EXAMPLES_DIR / "mnist_7.png"))
            operation.get_by_role("button", name="Execute").click()
            answer = operation.locator(".live-responses-table tbody tr.response")
            answer.locator(".response-col_status").filter(has_text=re.compile(r"^\s*200\s*$")).wait_for()
            assert json.loads(answer.locator(".response-col_description pre").first.inner_text())["prediction"] == 7
            context.close()
    finally:
        stop_server(proc)
    assert any(urlparse(url).path == "/predict" for url in requested)
    outside = sorted({url for url in requested if urlparse(url).scheme not in ("data", "blob")
                      and urlparse(url).hostname != "127.0.0.1"})
    assert not outside, f"the page reached beyond 127.0.0.1: {outside}"
