"""The API page at /docs, in Debian's headless Chromium against a real time-service.

The page must load from the service alone (Swagger UI from the pinned swagger-ui-bundle
package, nothing from a CDN), list the service's operations, and call GetTime from its
"Try it out" form. A machine without /usr/bin/chromium or /usr/bin/chromedriver fails
these tests: nothing here is skipped.
"""

from __future__ import annotations

import json
import signal
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from chrono.time.v1 import time_service_pb2
from chrono_server.http import docs
from tests.chrono_server.helpers import ServiceProcess

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Bounds on waiting for the page; a healthy page is there in a second or two.
WAIT_SECONDS = 30
ZONE = "Asia/Kathmandu"
OPERATION = "#operations-TimeService-GetTime"


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    """A time-service process with an HTTP/JSON port; its base URL. Drained on the way out."""
    with ServiceProcess(["-m", "time_service", "--port", "0", "--http-port", "0"]) as process:
        port = int(process.wait_for_line(r"HTTP/JSON on http://127\.0\.0\.1:(\d+)$").group(1))
        process.wait_for_port()
        yield f"http://127.0.0.1:{port}"
        process.process.send_signal(signal.SIGTERM)
        assert process.finish() == 0


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """Headless Chromium through Debian's chromedriver, with its network log on; quit after."""
    for binary, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(binary).is_file():
            pytest.fail(f"{binary} is missing: apt-get install {package}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        # The machine has no network: nothing may try to reach Google's services.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,2000",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def requested_urls(driver: webdriver.Chrome) -> set[str]:
    """Every URL the browser has asked for so far, from its network log."""
    urls: set[str] = set()
    # selenium leaves get_log untyped.
    for entry in driver.get_log("performance"):  # type: ignore[no-untyped-call]
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
    return urls


def shown(driver: WebDriver, selector: str) -> WebElement:
    """The element ``selector`` finds once it is visible, waiting a bounded time."""
    wait = WebDriverWait(driver, WAIT_SECONDS)
    found: WebElement = wait.until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, selector))
    )
    return found


def click(driver: WebDriver, selector: str) -> None:
    """Click ``selector`` once it can be clicked, waiting a bounded time."""
    wait = WebDriverWait(driver, WAIT_SECONDS)
    wait.until(expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, selector))).click()


def test_the_page_lists_every_operation_and_loads_nothing_from_elsewhere(
    service: str, browser: webdriver.Chrome
) -> None:
    """/docs shows each RPC of TimeService by name, and every request it made was to the service."""
    browser.get(f"{service}/docs")
    shown(browser, OPERATION)
    methods = time_service_pb2.DESCRIPTOR.services_by_name["TimeService"].methods
    for method in methods:
        summary = shown(browser, f"#operations-TimeService-{method.name} .opblock-summary")
        assert method.name in summary.text
    assert "chrono.time.v1.TimeService" in shown(browser, ".info .title").text
    web = {url for url in requested_urls(browser) if url.startswith(("http:", "https:", "ws"))}
    assert f"{service}/docs/swagger-ui-bundle.js" in web
    assert f"{service}/openapi.json" in web
    assert {url for url in web if not url.startswith(f"{service}/")} == set()


def test_try_it_out_calls_get_time(service: str, browser: WebDriver) -> None:
    """GetTime's "Try it out" with a zone answers 200 and the current time in that zone."""
    browser.get(f"{service}/docs")
    click(browser, f"{OPERATION} .opblock-summary")
    click(browser, f"{OPERATION} .try-out__btn")
    shown(browser, f"{OPERATION} input[placeholder='timeZone']").send_keys(ZONE)
    before = datetime.now(UTC)
    click(browser, f"{OPERATION} .execute")
    status = shown(browser, f"{OPERATION} .live-responses-table .response .response-col_status")
    body = shown(browser, f"{OPERATION} .live-responses-table .response-col_description pre")
    after = datetime.now(UTC)
    assert status.text.strip() == "200"
    answer = json.loads(body.text)
    instant = datetime.fromisoformat(answer["currentTime"].replace("Z", "+00:00"))
    assert before <= instant <= after
    assert answer["timeZone"] == ZONE
    assert answer["formatted"] == instant.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M:%S")
    url = shown(browser, f"{OPERATION} .request-url pre").text
    assert url == f"{service}/v1/time?timeZone=Asia%2FKathmandu"


def test_a_zone_path_parameter_is_sent_with_its_slashes(service: str, browser: WebDriver) -> None:
    """GetTimeZone from the page puts the zone's slashes in the path as they are, and works."""
    operation = "#operations-TimeService-GetTimeZone"
    browser.get(f"{service}/docs")
    click(browser, f"{operation} .opblock-summary")
    click(browser, f"{operation} .try-out__btn")
    shown(browser, f"{operation} input[placeholder='time_zone']").send_keys("Europe/Kiev")
    click(browser, f"{operation} .execute")
    status = shown(browser, f"{operation} .live-responses-table .response .response-col_status")
    body = shown(browser, f"{operation} .live-responses-table .response-col_description pre")
    assert status.text.strip() == "200"
    assert json.loads(body.text)["canonicalTimeZone"] == "Europe/Kyiv"
    assert shown(browser, f"{operation} .request-url pre").text == (
        f"{service}/v1/timezones/Europe/Kiev"
    )


class _Links(HTMLParser):
    """The ``src`` and ``href`` of every tag in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value for name, value in attrs if name in ("src", "href") and value]


def test_the_page_links_only_its_own_assets() -> None:
    """Every link of the page is one of the service's /docs assets, served with its type."""
    body, content_type = docs.asset("") or (b"", "")
    assert content_type == "text/html; charset=utf-8"
    parser = _Links()
    parser.feed(body.decode())
    assert parser.links
    types = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}
    for link in parser.links:
        assert link.startswith(docs.PREFIX), link
        found = docs.asset(link.removeprefix(docs.PREFIX))
        assert found is not None, link
        assert found[1].split(";")[0] == types[Path(link).suffix], link
        assert found[0]
    assert docs.SPEC_URL.encode() in (docs.asset("chrono-docs.js") or (b"", ""))[0]


@pytest.mark.parametrize(
    "path", ["nothing.js", "../openapi.py", "/etc/passwd", "swagger-ui.js.map", "vendor/index.html"]
)
def test_other_paths_are_not_assets(path: str) -> None:
    """Paths other than the page's own assets are not found."""
    assert docs.asset(path) is None


def test_the_service_serves_the_assets_with_their_types(service: str) -> None:
    """The service answers /docs and its assets with the bodies and types docs.asset gives."""
    for path in ("", "swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        expected = docs.asset(path)
        assert expected is not None
        with urllib.request.urlopen(f"{service}/docs/{path}", timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == expected[1]
            assert response.read() == expected[0]
