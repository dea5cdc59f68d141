"""The web page in a real browser: Debian's chromium, driven through chromium-driver by
selenium. Opens /, searches, follows a story to its sources."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from feedserver import FeedServer
from servekit import LiveServer, fill_store

from storage.sqlite import SQLiteStore

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="Debian's chromium and chromium-driver are not installed (`make browser`)",
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1000",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(str(DRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_open_search_and_follow_a_story_to_its_sources(
    browser: object, tmp_path: Path, feed_server: FeedServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    db = fill_store(tmp_path / "ingest.db", feed_server)
    with LiveServer(db) as live:
        browser.get(live.base_url + "/")
        assert browser.title == "ingest"
        stories = browser.find_elements(By.CSS_SELECTOR, "#stories ol.stories > li")
        assert len(stories) == len(SQLiteStore(db).stories(limit=30))
        assert any(li.find_element(By.CLASS_NAME, "badge").text == "3" for li in stories)
        rows = browser.find_elements(By.CSS_SELECTOR, "#feeds tbody tr")
        assert len(rows) == 7
        assert [r.find_element(By.CLASS_NAME, "status").text for r in rows].count("error ×1") == 1
        if os.environ.get("INGEST_SCREENSHOTS"):
            browser.save_screenshot(os.path.join(os.environ["INGEST_SCREENSHOTS"], "home.png"))

        box = browser.find_element(By.NAME, "q")
        box.send_keys("gale ports")
        box.submit()
        heading = browser.find_element(By.CSS_SELECTOR, "#results h2").text
        assert heading.endswith("matching “gale ports”"), heading
        matches = browser.find_elements(By.CSS_SELECTOR, "#results ul.matches > li a")
        assert matches
        if os.environ.get("INGEST_SCREENSHOTS"):
            browser.save_screenshot(os.path.join(os.environ["INGEST_SCREENSHOTS"], "search.png"))

        matches[0].click()
        assert "/story/" in browser.current_url
        sources = browser.find_elements(By.CSS_SELECTOR, "#sources tr.source")
        outlets = {row.find_element(By.TAG_NAME, "td").text for row in sources}
        assert outlets == {"Coast Daily", "Harbor Herald", "Valley Times"}
        links = [row.find_element(By.CSS_SELECTOR, "td.url a") for row in sources]
        assert all(a.get_attribute("href").startswith("https://") for a in links)
        if os.environ.get("INGEST_SCREENSHOTS"):
            browser.save_screenshot(os.path.join(os.environ["INGEST_SCREENSHOTS"], "story.png"))

        browser.find_element(By.LINK_TEXT, "← all stories").click()
        assert browser.find_elements(By.CSS_SELECTOR, "#stories ol.stories > li")
