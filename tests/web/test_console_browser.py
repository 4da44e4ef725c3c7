"""The plugin console in a real browser: Debian's headless Chromium driven by Selenium.

Skipped only when Chromium or its driver is missing outside CI; in CI (``CI`` set) a missing
browser fails. ``VBWD_TEST_SCREENSHOTS=1`` rewrites the screenshots in
``docs/_static/console/`` that ``docs/operating.md`` shows.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web._console_host import (
    NEW_SECRET,
    SECRET,
    TOKEN,
    ConsoleHost,
    console_host,
    shop_config,
)
from vbwd_plugins.config._schema import MASK

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "_static" / "console"


def _binary(name: str, *candidates: str) -> str | None:
    for candidate in (os.environ.get(name), *candidates):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (``/usr/bin/chromium``) through ``/usr/bin/chromedriver``."""
    chromium = _binary("VBWD_TEST_CHROMIUM", "/usr/bin/chromium", "/usr/bin/chromium-browser")
    driver_path = _binary("VBWD_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
    if chromium is None or driver_path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium and chromedriver are needed in CI: .ci/run installs them")
        pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver)")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not try to download anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def shoot(driver: Any, name: str) -> None:
    """Save a full-page screenshot under docs/ when VBWD_TEST_SCREENSHOTS=1."""
    if os.environ.get("VBWD_TEST_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1280, max(600, min(height + 20, 2400)))
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    driver.set_window_size(1280, 900)


def click(driver: Any, css: str) -> None:
    """Click the element and wait for the next page to load."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    element = driver.find_element(By.CSS_SELECTOR, css)
    element.click()
    WebDriverWait(driver, 20).until(expected_conditions.staleness_of(element))


def text(driver: Any, css: str) -> str:
    """The visible text of the first element matching ``css``."""
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def assert_no_secret(driver: Any) -> None:
    """Neither the stored secrets nor the mask are anywhere in the page's source."""
    source = driver.page_source
    for value in (SECRET, SECRET + "_wh", NEW_SECRET, MASK, TOKEN):
        assert value not in source


def csp_violations(driver: Any) -> list[str]:
    """Browser console messages reporting a Content-Security-Policy violation."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]


@pytest.fixture
def console(tmp_path: Path) -> Iterator[ConsoleHost]:
    """The console on the ASGI app (as ``serve`` runs it), signed in with a bearer token."""
    with console_host("asgi", tmp_path) as served:
        yield served


def sign_in(driver: Any, console: ConsoleHost) -> None:
    """Open the console: it sends the browser to the login form; sign in with the token."""
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(console.page(""))
    assert driver.current_url.endswith("/admin/console/login")
    shoot(driver, "login")
    driver.find_element(By.ID, "token").send_keys(TOKEN)
    click(driver, "#login-form button[type=submit]")
    assert driver.current_url.rstrip("/").endswith("/admin/console")


def test_enable_with_dependency_configure_and_retry_in_a_browser(
    browser: Any, console: ConsoleHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Log in, enable a plugin with its dependency, submit a bad then a good configuration,
    never see a secret, retry a dead delivery; no CSP violation on the way."""
    from selenium.webdriver.common.by import By

    monkeypatch.setenv("VBWD_SHOP_REGION", "us")  # a field the deployment pins
    driver = browser
    sign_in(driver, console)
    assert driver.find_element(By.ID, "plugin-child").get_attribute("data-status") != "enabled"

    # enable child: it needs base, so the console asks first
    click(driver, "#plugin-child button[value=enable]")
    assert [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#cascade li")] == ["base"]
    shoot(driver, "confirm")
    click(driver, "#confirm-button")
    assert text(driver, "#flash") == "Enabled base, child."
    for name in ("base", "child"):
        row = driver.find_element(By.ID, f"plugin-{name}")
        assert row.get_attribute("data-status") == "enabled"
    shoot(driver, "plugins")

    # the configuration form: a value out of range is refused next to its field
    driver.get(console.page("plugins/shop"))
    assert_no_secret(driver)
    for secret in ("field-api_key", "field-webhook_secret"):
        assert driver.find_element(By.ID, secret).get_attribute("value") == ""
    assert "api_key" in text(driver, "#field-api_base-row .trusted")
    region = driver.find_element(By.ID, "field-region")
    assert (region.get_attribute("value"), region.get_attribute("disabled")) == ("us", "true")
    assert "VBWD_SHOP_REGION" in text(driver, "#field-region-row")
    shoot(driver, "plugin")
    retries = driver.find_element(By.ID, "field-retries")
    retries.clear()
    retries.send_keys("9")
    click(driver, "#save")
    assert "less than or equal to 5" in text(driver, "#field-retries-error")
    assert driver.find_element(By.ID, "field-retries").get_attribute("value") == "9"
    assert console.manager.get_public_config("shop")["retries"] == 1
    shoot(driver, "plugin-invalid")

    # a good value, and a new secret typed in: saved, and still never shown
    retries = driver.find_element(By.ID, "field-retries")
    retries.clear()
    retries.send_keys("3")
    driver.find_element(By.ID, "field-api_key").send_keys(NEW_SECRET)
    click(driver, "#save")
    assert text(driver, "#flash").startswith("Saved shop's configuration")
    assert driver.find_element(By.ID, "field-retries").get_attribute("value") == "3"
    config = shop_config(console)
    assert config.retries == 3
    assert config.api_key.get_secret_value() == NEW_SECRET
    assert_no_secret(driver)

    # the dead delivery: fix the listener, retry it from the list
    driver.get(console.page("deliveries?status=dead"))
    (dead,) = driver.find_elements(By.CSS_SELECTOR, "#deliveries tr[data-status=dead]")
    assert "warehouse API unavailable" in dead.text
    shoot(driver, "deliveries")
    console.host.fixed = True
    click(driver, "#deliveries tr[data-status=dead] button")
    assert "succeeded" in text(driver, "#flash")
    (flaky,) = console.store.deliveries_list(listener_id="flaky")
    assert flaky.status.value == "succeeded"

    driver.get(console.page("webhooks"))
    assert len(driver.find_elements(By.CSS_SELECTOR, "#webhooks tbody tr[data-status]")) == 2
    shoot(driver, "webhooks")
    assert_no_secret(driver)
    assert csp_violations(driver) == []


def test_disable_with_dependents_asks_for_the_cascade_in_a_browser(
    browser: Any, console: ConsoleHost
) -> None:
    """Disabling a plugin others depend on lists them; confirming disables them all."""
    from selenium.webdriver.common.by import By

    console.manager.enable_plugins(["base", "child"])
    sign_in(driver := browser, console)
    click(driver, "#plugin-base button[value=disable]")
    assert [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#cascade li")] == ["child"]
    click(driver, "#confirm-button")
    assert text(driver, "#flash") in ("Disabled child, base.", "Disabled base, child.")
    assert not console.manager.get_enabled_plugins()


def test_signing_out_ends_the_session_in_a_browser(browser: Any, console: ConsoleHost) -> None:
    """After signing out, the console sends the browser back to the login form."""
    sign_in(driver := browser, console)
    click(driver, "header form button")
    assert driver.current_url.endswith("/admin/console/login")
    driver.get(console.page("deliveries"))
    assert driver.current_url.endswith("/admin/console/login")


def test_chromium_is_found_where_ci_installs_it() -> None:
    """CI installs Debian's chromium and chromium-driver; the browser tests need both."""
    if not os.environ.get("CI"):
        pytest.skip("only checked in CI")
    assert shutil.which("chromium") or Path("/usr/bin/chromium").is_file()
    assert shutil.which("chromedriver") or Path("/usr/bin/chromedriver").is_file()
