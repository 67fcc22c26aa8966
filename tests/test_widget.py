"""The chat widget in a real headless Chromium (Debian's, under Playwright) against real server processes:
the streamed answer and its sources, the cited span, an unsure answer's likeliest span, follow-ups, keyboard,
a 360 px screen, hostile text, a server that is down, other origins; and the pages and CORS headers the server
gives."""

from __future__ import annotations

import json
import re
import socket
import threading
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from chromium import launch
from playwright.sync_api import Browser, Page, expect, sync_playwright

from qa.config import Config
from qa.ingest.normalize import normalise
from qa.web import create_app

QUESTION = "莲湖街道拆除了多少平方米的棚亭杂屋？"
FOLLOW_UP = "那“牛皮癣”清除了多少？"
XSS = "<img src=x onerror=alert(1)>"
WAIT_MS = 30_000  # one reply, however busy the machine; every wait is bounded
UNSURE = "（不确定，已标出最可能的答案）"  # the widget's note under a reply unsure of its short answer

# A page that styles everything it can reach: none of it may change the widget.
HOSTILE_CSS = "* { font-size: 40px !important; color: red !important; margin: 30px !important; line-height: 3 !important; }"
# A seed page whose headline and text carry markup, for a server of its own.
HOSTILE_PAGE = f"""{XSS}社区新闻

本报讯 12月1日,{XSS}街道召开居民议事会,共收集居民意见36条。会议由街道办事处主任王明主持,居民代表踊跃发言。

会后,街道将36条意见逐条分解到各社区,限期办结并公示结果。
"""


@dataclass
class Tab:
    """A browser page and what it saw: dialogs, script errors, every URL it requested."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def widget(self, selector: str):
        """An element inside the widget's shadow root (Playwright's CSS selectors pierce open shadow roots)."""
        return self.page.locator(f"qa-chat-widget {selector}")

    def active(self) -> str:
        """The class (or tag) of the element focused inside the widget, '' when the focus is elsewhere."""
        return self.page.evaluate("""() => {
            const host = document.activeElement;
            const inner = host && host.shadowRoot && host.shadowRoot.activeElement;
            return inner ? (inner.className || inner.tagName.toLowerCase()) : "";
        }""")

    def ask(self, question: str) -> None:
        """Type a question, send it with Enter, wait until its reply is complete."""
        done = self.widget(".msg.bot:not([aria-busy])").count()
        self.widget("textarea").fill(question)
        self.widget("textarea").press("Enter")
        expect(self.widget(".msg.bot:not([aria-busy])")).to_have_count(done + 1, timeout=WAIT_MS)


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture()
def open_tab(browser: Browser):
    """Open a URL at a viewport size and the widget's panel in it."""
    contexts = []

    def open_(url: str, width: int = 1280, height: int = 800) -> Tab:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        tab = Tab(page)
        page.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: tab.errors.append(str(error)))
        page.on("request", lambda request: tab.urls.append(request.url))
        page.goto(url)
        tab.widget(".launcher").click()
        return tab

    yield open_
    for context in contexts:
        context.close()


class Site:
    """A site owner's pages on another origin (another loopback port): hostile CSS and the one tag."""

    def __init__(self):
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = pages.get(self.path, "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"

    def page(self, name: str, script: str, api: str | None = None) -> str:
        """Publish a page embedding the widget from `script` (talking to `api`, default the script's origin)."""
        data_api = f' data-api="{api}"' if api else ""
        self.pages[f"/{name}"] = (
            f"<!doctype html><html lang=zh><head><meta charset=utf-8><style>{HOSTILE_CSS}</style></head>"
            f"<body><p>别人的网站</p><script src=\"{script}\" data-title=\"本站问答\"{data_api}></script></body></html>")
        return f"{self.origin}/{name}"


@pytest.fixture(scope="module")
def site():
    site = Site()
    thread = threading.Thread(target=site.server.serve_forever, daemon=True)
    thread.start()
    yield site
    site.server.shutdown()
    thread.join(timeout=10)
    site.server.server_close()


def chat(url: str, messages: list[dict]) -> dict:
    """The non-streamed reply to the same messages, to compare with what the widget shows."""
    reply = requests.post(url + "/api/chat", json={"messages": messages}, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def shown(reply: dict) -> str:
    """The text of a reply's bubble: the reply without Markdown's `**` (the span they bold is a <mark>), then the
    note when the short answer is unsure."""
    unsure = reply["answer"] is not None and not reply["answer"]["span_confident"]
    return reply["reply"].replace("**", "") + (UNSURE if unsure else "")


def chip_of(tab: Tab, n: int, passage: dict):
    return tab.page.get_by_role("button", name=f"查看来源 {n}：{passage['article']['title']}", exact=True)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


# --- the pages and headers ------------------------------------------------------------------------------------


def test_demo_page_and_widget_script_are_served(live_server):
    page = requests.get(live_server + "/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<script src="/widget.js" data-title="新闻问答"></script>' in page.text
    script = requests.get(live_server + "/widget.js", timeout=10)
    assert script.status_code == 200 and script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    # No HTML parsing of any string: text goes in as text nodes only.
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function", script.text)


@pytest.fixture(scope="module")
def cors_client(config, service):
    return create_app(replace(config, cors_origins="https://news.example.com, http://127.0.0.1:9000"), service).test_client()


@pytest.mark.parametrize("path", ["/api/health", "/api/articles"])
def test_cors_allows_listed_origins_only(cors_client, client, path):
    allowed = cors_client.get(path, headers={"Origin": "https://news.example.com"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://news.example.com"
    assert "Access-Control-Allow-Origin" not in cors_client.get(path, headers={"Origin": "https://evil.example"}).headers
    assert "Access-Control-Allow-Origin" not in cors_client.get(path).headers  # no Origin: no CORS header at all
    # The default (no QA_CORS_ORIGINS): no other origin at all.
    assert "Access-Control-Allow-Origin" not in client.get(path, headers={"Origin": "https://news.example.com"}).headers


@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions"])
def test_cors_preflight_of_a_json_post(cors_client, path):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    allowed = cors_client.options(path, headers={"Origin": "http://127.0.0.1:9000", **preflight})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:9000"
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert "content-type" in allowed.headers["Access-Control-Allow-Headers"].lower()
    foreign = cors_client.options(path, headers={"Origin": "https://evil.example", **preflight})
    assert "Access-Control-Allow-Origin" not in foreign.headers


@pytest.mark.parametrize("origins", ["*", "https://news.example.com/", "news.example.com", "https://a.com,https://b.*"])
def test_cors_origins_must_be_plain_origins(origins):
    with pytest.raises(ValueError, match="cors origin"):
        Config.from_env({"QA_CORS_ORIGINS": origins})


# --- the widget in the browser --------------------------------------------------------------------------------


def test_streamed_answer_with_sources_and_cited_span(open_tab, live_server):
    tab = open_tab(live_server + "/")
    assert tab.active() == "textarea", "opening the panel moves the focus into it"
    with tab.page.expect_response(lambda r: r.url == live_server + "/api/chat") as sent:
        tab.ask(QUESTION)
    response = sent.value
    assert json.loads(response.request.post_data) == {"messages": [{"role": "user", "content": QUESTION}], "stream": True}
    assert response.headers["content-type"].startswith("text/event-stream")

    expected = chat(live_server, [{"role": "user", "content": QUESTION}])
    bubble = tab.widget(".msg.bot .bubble")
    expect(bubble).to_have_text(shown(expected))
    assert "560" in bubble.inner_text()
    # One chip per passage, numbered as the reply's markers, in one row per article under its title.
    expect(tab.widget(".msg.bot .chip")).to_have_count(len(expected["passages"]))
    chips = [chip_of(tab, n, passage) for n, passage in enumerate(expected["passages"], 1)]
    for n, chip in enumerate(chips, 1):
        expect(chip).to_have_text(str(n))
    titles = list(dict.fromkeys(p["article"]["title"] for p in expected["passages"]))
    assert tab.widget(".msg.bot .source-title").all_inner_texts() == titles

    # The chip of the passage that gave the answer opens the answer's sentence, the answer marked inside it.
    answer = expected["answer"]
    n = next(i for i, p in enumerate(expected["passages"], 1) if answer["citation"].startswith(p["citation"] + "-s"))
    chips[n - 1].click()
    viewer = tab.widget(".viewer")
    expect(viewer.locator("mark.answer")).to_have_count(1)
    assert tab.active() == "back"
    citation = requests.get(f"{live_server}/api/citations/{answer['citation']}", timeout=10).json()
    base = citation["paragraph"]["source"]["start"]
    span = citation["paragraph"]["text"][citation["span"]["start"] - base : citation["span"]["end"] - base]
    assert squeeze("".join(viewer.locator("mark").all_inner_texts())) == squeeze(span)
    assert squeeze(viewer.locator("mark.answer").inner_text()) == squeeze(answer["span_text"])
    assert squeeze(viewer.locator(".viewer-text").inner_text()) == squeeze(citation["paragraph"]["text"])
    expect(viewer.locator("h3")).to_have_text(citation["article"]["title"])

    # Esc closes the source (focus back on its chip), Esc again the panel (focus back on the button).
    tab.page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    assert "chip" in tab.active()
    tab.page.keyboard.press("Escape")
    expect(tab.widget(".panel")).to_be_hidden()
    assert tab.active() == "launcher"
    assert tab.widget(".launcher").get_attribute("aria-expanded") == "false"
    assert all(url.startswith(live_server + "/") for url in tab.urls), "no request but to the API's server"
    assert tab.errors == [] and tab.dialogs == []


def test_list_answer_renders_cited_items(open_tab, live_server):
    """A list answer: the count, then one button per article (its title and page) opening the printed headline;
    the titles are not shown a second time as the reply's numbered lines."""
    question = "冉红政写了哪些报道？"
    tab = open_tab(live_server + "/")
    tab.ask(question)
    answer = requests.post(live_server + "/api/ask", json={"question": question}, timeout=60).json()["answer"]
    assert answer["kind"] == "list" and answer["items"]
    bubble = tab.widget(".msg.bot .bubble")
    items = bubble.locator("ol.items > li")
    expect(items).to_have_count(len(answer["items"]))
    assert bubble.inner_text().startswith(f"共{answer['total']}篇报道：")
    assert "1. 《" not in bubble.inner_text(), "the reply's numbered lines are the <ol>, not text too"
    for li, item in zip(items.all(), answer["items"]):
        assert item["title"] in li.inner_text() and item["article"]["page"] in li.inner_text()
    expect(bubble.locator(".note")).to_have_count(0)  # a list has no short answer to be unsure of

    items.first.locator("button").click()
    viewer = tab.widget(".viewer")
    expect(viewer.locator("mark")).not_to_have_count(0, timeout=WAIT_MS)
    marked = "".join(viewer.locator("mark").all_inner_texts())
    assert squeeze(normalise(marked)) == squeeze(answer["items"][0]["title"])
    assert tab.active() == "back"
    tab.page.keyboard.press("Escape")
    assert "item" in tab.active(), "closing the viewer gives the focus back to the item"
    assert tab.errors == [] and tab.dialogs == []


def test_a_long_list_comes_a_page_at_a_time_with_more(open_tab, live_server):
    """A list longer than a page: the first page, and "更多…" appends the next pages until the whole list is shown."""
    question = "这期报纸讲了哪些事？"
    tab = open_tab(live_server + "/")
    tab.ask(question)
    first = requests.post(live_server + "/api/ask", json={"question": question}, timeout=60).json()["answer"]
    assert first["next_offset"] == first["limit"] < first["total"]
    items = tab.widget(".msg.bot .bubble ol.items > li")
    expect(items).to_have_count(first["limit"])
    for _ in range(first["total"]):  # bounded: one click a page
        more = tab.widget(".msg.bot .bubble button.more")
        if not more.count():
            break
        shown_before = items.count()
        more.click()
        expect(items).not_to_have_count(shown_before, timeout=WAIT_MS)
    expect(items).to_have_count(first["total"])
    every = requests.get(live_server + "/api/articles", params={"limit": 100}, timeout=10).json()["articles"]
    assert first["total"] == len(every) == len({li.inner_text() for li in items.all()}), "every article, once each"
    assert tab.errors == [] and tab.dialogs == []


def test_byline_answer_opens_the_printed_byline(open_tab, live_server):
    """Who wrote it: the reply's [n] marker opens the article's printed byline, the names marked, not a passage."""
    question = "管城区推进办事服务公开标准化的报道是谁写的？"
    tab = open_tab(live_server + "/")
    tab.ask(question)
    expected = chat(live_server, [{"role": "user", "content": question}])
    answer = expected["answer"]
    assert answer["kind"] == "byline" and answer["citation"] == answer["article"]["id"] + "-byline"
    bubble = tab.widget(".msg.bot .bubble")
    expect(bubble).to_contain_text("柴琳琳")
    n = next(i for i, p in enumerate(expected["passages"], 1) if p["article"]["id"] == answer["article"]["id"])
    bubble.get_by_role("button", name=f"来源 {n}", exact=True).click()
    viewer = tab.widget(".viewer")
    expect(viewer.locator("mark")).not_to_have_count(0, timeout=WAIT_MS)
    assert any("柴琳琳" in squeeze(text) for text in viewer.locator("mark").all_inner_texts())
    assert tab.errors == [] and tab.dialogs == []


def test_unsure_answer_marks_the_likeliest_span(open_tab, live_server):
    """Unsure of the short answer, the reply quotes its sentence with the likeliest span in Markdown bold: the
    bubble marks that span and says so, and never shows `**`; sure of it, the bubble starts with the short answer."""
    tab = open_tab(live_server + "/")
    tab.ask(QUESTION)
    answer = chat(live_server, [{"role": "user", "content": QUESTION}])["answer"]
    bubble = tab.widget(".msg.bot .bubble")
    assert "**" not in bubble.inner_text()
    if answer["span_confident"]:
        assert bubble.inner_text().startswith(answer["span_text"])
        expect(bubble.locator("mark.likely, .note")).to_have_count(0)
    else:
        expect(bubble.locator("mark.likely")).to_have_text(answer["span_text"])
        expect(bubble.locator(".note")).to_have_text(UNSURE)
    assert tab.errors == []


def test_follow_up_sends_the_history_and_shows_what_was_searched(open_tab, live_server):
    tab = open_tab(live_server + "/")
    tab.ask(QUESTION)
    # The history holds the reply as the server wrote it (its `**` too), not as the bubble shows it.
    first = chat(live_server, [{"role": "user", "content": QUESTION}])["reply"]
    with tab.page.expect_request(lambda r: r.url == live_server + "/api/chat") as sent:
        tab.ask(FOLLOW_UP)
    history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": first},
               {"role": "user", "content": FOLLOW_UP}]
    assert json.loads(sent.value.post_data)["messages"] == history

    expected = chat(live_server, history)
    assert expected["standalone_question"] != FOLLOW_UP
    last = tab.widget(".msg.bot").last
    expect(last.locator(".bubble")).to_have_text(shown(expected))
    assert "2000" in expected["reply"]
    expect(last.locator(".searched")).to_be_visible()
    assert expected["standalone_question"] in last.locator(".searched").inner_text()
    assert tab.errors == []


def test_keyboard_enter_sends_and_shift_enter_breaks_the_line(open_tab, live_server):
    tab = open_tab(live_server + "/")
    textarea = tab.widget("textarea")
    textarea.type("第一行")
    textarea.press("Shift+Enter")
    textarea.type("第二行")
    assert textarea.input_value() == "第一行\n第二行"
    expect(tab.widget(".msg")).to_have_count(0)
    assert tab.widget(".panel").get_attribute("role") == "dialog"
    for selector in (".launcher", ".icon-button", "textarea"):
        assert tab.widget(selector).get_attribute("aria-label")


def test_narrow_screen_panel_fits(open_tab, live_server):
    tab = open_tab(live_server + "/", width=360, height=740)
    tab.ask(QUESTION)
    box = tab.widget(".panel").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360 and box["y"] >= 0 and box["y"] + box["height"] <= 740
    assert tab.page.evaluate("document.documentElement.scrollWidth") <= 360
    log = tab.widget(".log")
    assert log.evaluate("e => e.scrollWidth <= e.clientWidth"), "no horizontal scrolling in the conversation"
    for source in tab.widget(".source, .chip").all():
        source_box = source.bounding_box()
        assert source_box["x"] >= 0 and source_box["x"] + source_box["width"] <= 360
    send = tab.widget(".send").bounding_box()
    assert send["x"] + send["width"] <= 360 and send["y"] + send["height"] <= 740
    expect(tab.widget(".launcher")).to_be_hidden()  # the full-screen panel has its own close button
    tab.widget(".icon-button").click()
    expect(tab.widget(".launcher")).to_be_visible()
    assert tab.active() == "launcher"


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory, start_server, site):
    """A server over one page whose headline and text carry markup, that lets the site's pages call it."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "seeds").mkdir()
    (root / "seeds" / "hostile.txt").write_text(HOSTILE_PAGE, encoding="utf-8")
    settings = {"QA_SEEDS_DIR": str(root / "seeds"), "QA_INDEX_DIR": str(root / "index"), "QA_CORS_ORIGINS": site.origin}
    with start_server(settings, root / "server.log") as url:
        yield url


def test_hostile_text_renders_as_text(open_tab, hostile_server, site):
    tab = open_tab(site.page("hostile.html", f"{hostile_server}/widget.js"))
    question = f"居民议事会收集了多少条意见？{XSS}"
    tab.ask(question)
    expect(tab.widget(".msg.user .bubble")).to_have_text(question)
    expect(tab.widget(".msg.bot .bubble")).not_to_have_class(re.compile("error"))
    assert XSS in tab.widget(".msg.bot .source-title").first.inner_text(), "the headline with markup is a source"
    tab.widget(".msg.bot .source-title").first.click()
    expect(tab.widget(".viewer mark")).not_to_have_count(0)
    assert XSS in tab.widget(".viewer-text").inner_text()
    assert XSS in tab.widget(".viewer h3").inner_text()
    assert tab.page.evaluate("document.querySelector('qa-chat-widget').shadowRoot.querySelectorAll('img').length") == 0
    assert tab.page.evaluate("document.querySelectorAll('img').length") == 0
    assert tab.dialogs == [] and tab.errors == []
    # The page's CSS did not reach into the widget.
    assert tab.widget(".launcher").bounding_box()["width"] == 56
    assert tab.widget(".msg.user .bubble").evaluate("e => getComputedStyle(e).fontSize") == "15px"


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released, at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_down_shows_an_error(open_tab, live_server, site):
    down = f"http://127.0.0.1:{_closed_port()}"
    tab = open_tab(site.page("down.html", f"{live_server}/widget.js", api=down))
    tab.ask(QUESTION)
    error = tab.widget(".msg.bot .bubble.error")
    expect(error).to_have_text("无法连接到问答服务，请稍后再试。")
    assert error.get_attribute("role") == "alert"
    expect(tab.widget(".retry")).to_be_visible()
    assert tab.widget("textarea").is_enabled() and tab.widget(".send").is_enabled()


def test_an_origin_not_allowed_cannot_call(open_tab, live_server, site):
    """The default CORS allowlist is empty: the widget on another site's page gets no answer."""
    tab = open_tab(site.page("other.html", f"{live_server}/widget.js"))
    tab.ask(QUESTION)
    expect(tab.widget(".msg.bot .bubble.error")).to_be_visible()


def test_a_refused_request_shows_the_servers_message(open_tab, live_server):
    tab = open_tab(live_server + "/")
    tab.widget("textarea").evaluate("t => t.removeAttribute('maxlength')")  # the browser's limit, not the server's
    tab.ask("问" * 1001)
    error = tab.widget(".msg.bot .bubble.error")
    expect(error).to_contain_text("问答服务出错（400）")
    expect(tab.widget(".msg.bot .chip")).to_have_count(0)
