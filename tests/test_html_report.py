"""--format html: one self-contained file, opened in a real headless browser (Debian's
chromium, driven by selenium): no console error, every layer row shown, sorting works."""

import re
import shutil
from pathlib import Path

import pytest
from cli_helpers import invoke

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="no chromium/chromedriver on this machine: apt-get install -y chromium "
           "chromium-driver (CI installs them)")


LAYERS = 30
DEEP = f"""
from torch import nn
from spikingjelly.activation_based import neuron

SIZES = [(7 * i) % 23 + 2 for i in range({LAYERS + 1})]


class Deep(nn.Module):
    \"\"\"{LAYERS} linear layers of varying widths, each followed by an IF neuron.\"\"\"

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(*[m for a, b in zip(SIZES, SIZES[1:])
                                      for m in (nn.Linear(a, b), neuron.IFNode())])

    def forward(self, x):
        return self.layers(x)
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    """The HTML report of a 30-layer model of the user's own on their own data file."""
    import numpy as np

    folder = tmp_path_factory.mktemp("html")
    (folder / "deep.py").write_text(DEEP)
    rng = np.random.default_rng(0)
    np.save(folder / "spikes.npy", (rng.random((4, 2)) < 0.5).astype("float32"))
    path = folder / "deep.html"
    result = invoke("profile", f"{folder / 'deep.py'}:Deep", "--dataset",
                    folder / "spikes.npy", "--format", "html", "--output", path)
    assert result.exit_code == 0, result.stderr
    return path


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(DRIVER), options=options)
    yield driver
    driver.quit()


def test_the_file_needs_nothing_from_the_network(page):
    text = page.read_text()
    # no external script, style sheet, image or font: every figure is inline SVG
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', text)
    assert "<link" not in text and "@import" not in text and "<img" not in text
    assert text.count("<svg") == 1


def test_opens_without_console_errors_and_shows_every_layer(page, browser):
    from selenium.webdriver.common.by import By

    browser.get(page.as_uri())
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    rows = browser.find_elements(By.CSS_SELECTOR, "#layers-0 tbody tr")
    assert len(rows) == LAYERS
    assert all(row.is_displayed() for row in rows)
    assert browser.find_element(By.CSS_SELECTOR, "#totals").is_displayed()


def test_clicking_a_header_sorts_the_rows(page, browser):
    from selenium.webdriver.common.by import By

    browser.get(page.as_uri())
    headers = browser.find_elements(By.CSS_SELECTOR, "#layers-0 th")
    column = [h.text for h in headers].index("SyOPs (M)")

    def values() -> list[float]:
        cells = browser.find_elements(By.CSS_SELECTOR,
                                      f"#layers-0 tbody tr td:nth-child({column + 1})")
        return [float(c.get_attribute("data-value")) for c in cells]

    before = values()
    assert before != sorted(before)  # the network's order is not already sorted
    headers[column].click()
    assert values() == sorted(before)
    headers[column].click()
    assert values() == sorted(before, reverse=True)
    names = [h.text for h in headers].index("name")
    headers[names].click()
    shown = [c.text for c in browser.find_elements(By.CSS_SELECTOR,
                                                   "#layers-0 tbody tr td:nth-child(1)")]
    assert shown == sorted(shown)
