"""labkit.docs: every solution app's /docs and /redoc work with no internet: the pages reference only local
assets, and every one of them answers.

Apps are found, not listed: every ``solutions/labN/app.py`` whose module exposes ``app``. The pages are read
with Starlette's TestClient and no lifespan, so no model is loaded. What the pages make a real browser fetch
is checked in tests/meta/test_browser.py.
"""

from __future__ import annotations

import importlib
import re
import sys
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from starlette.testclient import TestClient

from workbook.paths import SOLUTIONS
from workbook.target import activate, is_lab_module

APP_FILES = sorted(SOLUTIONS.glob("lab*/app.py"), key=lambda path: int(path.parent.name[3:]))
# URLs in the pages' inline JavaScript: Swagger UI's `url: '/openapi.json'` and its OAuth2 redirect page.
SCRIPT_URLS = re.compile(r"""(?:\burl:\s*|window\.location\.origin\s*\+\s*)['"]([^'"]+)['"]""")


class References(HTMLParser):
    """Every URL a page makes the browser load: src/href attributes, ReDoc's spec-url, inline script URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in {"src", "href", "spec-url", "data-url"} and value:
                self.urls.append(value)
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.urls.extend(SCRIPT_URLS.findall(data))


def references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    return [url for url in parser.urls if not url.startswith(("#", "data:"))]


def is_external(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme or parts.netloc) or url.startswith("//")


@pytest.fixture(scope="module")
def solution_modules():
    """Import lab apps from solutions/, then forget them, so no other test sees these modules."""
    saved_path = list(sys.path)
    activate(SOLUTIONS)
    yield
    sys.path[:] = saved_path
    for name in [name for name in sys.modules if is_lab_module(name)]:
        del sys.modules[name]


def test_every_app_is_found():
    assert any(path.parent.name == "lab2" for path in APP_FILES), f"no solution apps found in {SOLUTIONS}"


@pytest.mark.parametrize("page", ["docs_url", "redoc_url"])
@pytest.mark.parametrize("app_file", APP_FILES, ids=lambda path: path.parent.name)
def test_doc_pages_load_only_local_assets(app_file, page, solution_modules):
    lab = app_file.parent.name
    module = importlib.import_module(f"{lab}.app")
    app = getattr(module, "app", None)
    if app is None:
        pytest.skip(f"{lab}/app.py exposes no `app`")
    url = getattr(app, page)
    assert url, f"{lab}'s app has no {page}: students need /docs and /redoc"
    client = TestClient(app)  # not entered: no lifespan, so no model is loaded
    response = client.get(url)
    assert response.status_code == 200, f"GET {url} of {lab} answered {response.status_code}: {response.text[:300]}"
    html = response.text
    refs = references(html)
    external = [ref for ref in refs if is_external(ref)]
    assert not external, f"{lab} {url} loads {external} from the internet: serve_docs_offline(app) serves them locally"
    assert not re.search(r"https?://", html), f"{lab} {url} still names an internet address:\n{html}"
    assert any(ref.endswith(".js") for ref in refs), f"{lab} {url} loads no script; references: {refs}"
    for ref in refs:
        asset = client.get(urljoin(url, ref))
        assert asset.status_code == 200 and asset.content, (
            f"{lab} {url} references {ref}, which answers {asset.status_code} ({len(asset.content)} bytes)"
        )
    spec = client.get(app.openapi_url)
    assert spec.status_code == 200 and "paths" in spec.json(), f"{lab}'s {app.openapi_url} is not an OpenAPI document"
