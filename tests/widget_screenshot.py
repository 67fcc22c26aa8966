"""docs/widget.png: the demo page with the chat widget in use, on a desktop and on a 360 px phone, side by side.

Usage: python tests/widget_screenshot.py [--url URL] [--out PATH]
(a running server, e.g. `python server.py`; default http://127.0.0.1:8000). Chinese text needs a CJK font
(Debian: `apt-get install fonts-noto-cjk`). The desktop shot asks a question and a follow-up; the phone
shot asks the question and opens the answer's source, its cited span highlighted.
"""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

from chromium import launch
from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["莲湖街道拆除了多少平方米的棚亭杂屋？", "那“牛皮癣”清除了多少？"]
WAIT_MS = 30_000


def ask(page: Page, question: str) -> None:
    done = page.locator("qa-chat-widget .msg.bot:not([aria-busy])").count()
    page.locator("qa-chat-widget textarea").fill(question)
    page.locator("qa-chat-widget textarea").press("Enter")
    expect(page.locator("qa-chat-widget .msg.bot:not([aria-busy])")).to_have_count(done + 1, timeout=WAIT_MS)


def shot(page: Page, url: str, questions: list[str], open_source: bool) -> bytes:
    page.goto(url + "/")
    page.locator("qa-chat-widget .launcher").click()
    for question in questions:
        ask(page, question)
    if open_source:
        page.locator("qa-chat-widget .msg.bot .source-title").first.click()
        expect(page.locator("qa-chat-widget .viewer mark").first).to_be_visible(timeout=WAIT_MS)
    page.locator("qa-chat-widget textarea").blur()
    return page.screenshot()


def side_by_side(page: Page, images: list[bytes]) -> bytes:
    """The shots next to each other on a plain background (laid out by the browser: no image library)."""
    tags = "".join(f'<img src="data:image/png;base64,{base64.b64encode(image).decode()}">' for image in images)
    page.set_content("<body style='margin:0;background:#e9ecef'><div id=all style='display:inline-flex;gap:24px;"
                     f"align-items:flex-start;padding:24px'>{tags}</div></body>")
    return page.locator("#all").screenshot()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "widget.png")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        desktop = browser.new_page(viewport={"width": 1100, "height": 760})
        phone = browser.new_page(viewport={"width": 360, "height": 760})
        images = [shot(desktop, args.url, QUESTIONS, open_source=False),
                  shot(phone, args.url, QUESTIONS[:1], open_source=True)]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(side_by_side(browser.new_page(), images))
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
