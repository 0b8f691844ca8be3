"""The dashboard in a real headless Chromium: connect with a token, run a what-if through the form, read the result."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from importlib import resources

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("selenium")
if shutil.which("chromium") is None or shutil.which("chromedriver") is None:
    pytest.skip("needs Debian's chromium and chromium-driver (make install sets them up)", allow_module_level=True)

import httpx2  # noqa: E402
import uvicorn  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service as DriverService  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ready  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from ndtwin.service.app import create_app  # noqa: E402
from ndtwin.service.config import ServiceConfig  # noqa: E402
from ndtwin.service.tokens import TokenStore  # noqa: E402

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,2000",
)


@pytest.fixture
def server(tmp_path):
    """A real uvicorn server on a free loopback port (in a thread), with one Abilene scenario and a write token."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(ServiceConfig(tmp_path / "state", model="default"))
    token = TokenStore(tmp_path / "state").create("write")
    uvicorn_server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not uvicorn_server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    abilene = (resources.files("ndtwin") / "resources" / "Abilene.graphml").read_bytes()
    created = httpx2.post(
        f"{base}/scenarios",
        files={"file": ("Abilene.graphml", abilene)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201
    yield base, token
    uvicorn_server.should_exit = True
    thread.join(10)
    app.state.service.jobs.shutdown()


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()


def test_a_whatif_through_the_dashboard_form(server, browser, tmp_path) -> None:
    base, token = server
    wait = WebDriverWait(browser, 30)
    browser.get(base + "/")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "#token-form button").click()
    wait.until(ready.text_to_be_present_in_element((By.ID, "status"), "scenario s"))
    assert "Abilene" in browser.find_element(By.ID, "scenario").text
    loaded = browser.find_elements(By.CSS_SELECTOR, "#loaded-links tbody tr")
    assert len(loaded) == 10
    assert browser.find_elements(By.CSS_SELECTOR, "#map .main-svg")  # plotly drew the map

    browser.find_element(By.ID, "whatif-scale").send_keys("1.2")
    Select(browser.find_element(By.ID, "whatif-fail-link")).select_by_value("Chicago-Indianapolis")
    browser.find_element(By.ID, "budget").clear()
    browser.find_element(By.ID, "budget").send_keys("12")
    browser.find_element(By.ID, "whatif-run").click()
    wait.until(lambda driver: driver.find_element(By.ID, "whatif-summary").text not in ("", "predicting…"))

    summary = browser.find_element(By.ID, "whatif-summary").text
    assert "Chicago" in summary and "SLA violations before" in summary, summary
    assert "110 flows before, 110 after" in summary and "90 % intervals" in summary, summary
    rows = browser.find_elements(By.CSS_SELECTOR, "#whatif-worst tbody tr")
    assert len(rows) == 10
    first = [cell.text for cell in rows[0].find_elements(By.TAG_NAME, "td")]
    assert "[" in first[2] and float(first[3]) > 0, first  # an interval, and the largest delay increase
    assert len(first) == 6 and 0 <= float(first[5]) <= 100, first  # loss after, in %
    assert "flows lose ≥ 0.1 % after" in summary, summary
    assert browser.find_elements(By.CSS_SELECTOR, "#whatif-plot .main-svg")
    assert browser.find_element(By.ID, "map-note").text.startswith("after: traffic ×1.2")  # the map shows the change
    busiest = browser.find_element(By.CSS_SELECTOR, "#loaded-links tbody tr").find_elements(By.TAG_NAME, "td")
    assert float(busiest[1].text) > 0.7  # 20 % more traffic and a failed link: the busiest link beyond load 0.7
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched and all(url.startswith(base + "/") for url in fetched), fetched  # nothing from elsewhere
    screenshot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000
