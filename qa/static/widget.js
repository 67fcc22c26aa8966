/* The chat widget: `<script src="https://host/widget.js" data-title="…" data-api="https://host"></script>`
 * adds a chat button and panel to any page. Vanilla JS, no build step, no request but to the API.
 * Everything lives in a Shadow DOM (the page's CSS cannot reach in, ours cannot leak out). Every text that
 * comes from the server or the user is inserted as text (textContent, text nodes), never parsed as HTML.
 */
(() => {
  "use strict";

  const script = document.currentScript;
  if (!script || document.querySelector("qa-chat-widget")) return; // a second copy of the tag adds nothing

  const TITLE = script.dataset.title || "新闻问答";
  const API = (script.dataset.api || new URL(script.src, location.href).origin).replace(/\/+$/, "");
  const MAX_QUESTION = 1000; // the API's limit on one question
  const MAX_HISTORY = 8; // earlier messages (four turns) sent with a question: context enough for follow-ups

  const STYLE = `
    :host { all: initial !important; display: block !important; }
    *, *::before, *::after { box-sizing: border-box; }
    [hidden] { display: none !important; }
    .root { font: 15px/1.6 system-ui, -apple-system, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif;
            color: #1f2328; -webkit-text-size-adjust: 100%; }
    button, textarea { font: inherit; color: inherit; }
    button { cursor: pointer; }
    :focus-visible { outline: 2px solid #1a56db; outline-offset: 2px; }
    .launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; width: 56px; height: 56px;
                border: 0; border-radius: 50%; background: #1a56db; color: #fff; display: grid; place-items: center;
                box-shadow: 0 4px 14px rgba(0, 0, 0, .25); padding: 0; }
    .launcher:hover { background: #1646b8; }
    .launcher svg { width: 28px; height: 28px; fill: currentColor; }
    .panel { position: fixed; right: 20px; bottom: 88px; z-index: 2147483000; width: 400px; max-width: calc(100% - 40px);
             height: 600px; max-height: calc(100% - 108px); display: flex; flex-direction: column; overflow: hidden;
             background: #fff; border: 1px solid #d0d7de; border-radius: 12px; box-shadow: 0 8px 30px rgba(0, 0, 0, .2); }
    .head { display: flex; align-items: center; gap: 8px; padding: 10px 10px 10px 16px; background: #1a56db; color: #fff; }
    .head h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 600; overflow: hidden; text-overflow: ellipsis;
               white-space: nowrap; }
    .icon-button { border: 0; background: transparent; color: inherit; width: 32px; height: 32px; border-radius: 6px;
                   font-size: 22px; line-height: 1; padding: 0; }
    .icon-button:hover { background: rgba(255, 255, 255, .18); }
    .log { flex: 1; overflow-y: auto; overflow-x: hidden; padding: 12px; background: #f6f8fa; }
    .intro { margin: 0 0 12px; color: #57606a; font-size: 14px; }
    .msg { display: flex; flex-direction: column; margin: 0 0 14px; }
    .msg.user { align-items: flex-end; }
    .msg.bot { align-items: flex-start; }
    .bubble { margin: 0; max-width: 88%; padding: 8px 12px; border-radius: 12px; white-space: pre-wrap;
              overflow-wrap: anywhere; }
    .user .bubble { background: #1a56db; color: #fff; border-bottom-right-radius: 4px; }
    .bot .bubble { background: #fff; border: 1px solid #d0d7de; border-bottom-left-radius: 4px; }
    .bot .bubble.pending { color: #57606a; }
    .bot .bubble.refusal { color: #57606a; }
    .bot .bubble.error { background: #fff1f0; border-color: #f5a09a; color: #a4000f; }
    .note { display: block; margin-top: 4px; font-size: 12px; color: #57606a; }
    .searched { margin: 0 0 4px; max-width: 88%; font-size: 12px; color: #57606a; overflow-wrap: anywhere; }
    .ref { border: 0; background: none; padding: 0 1px; color: #1a56db; font-size: 12px; vertical-align: super;
           line-height: 1; }
    .ref:hover { text-decoration: underline; }
    .sources { width: 88%; margin-top: 6px; }
    .sources-label { margin: 0 0 4px; font-size: 12px; color: #57606a; }
    .source-list { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 4px; }
    .source { display: flex; align-items: center; gap: 4px; min-width: 0; padding: 3px 4px 3px 10px; background: #fff;
              border: 1px solid #d0d7de; border-radius: 8px; }
    .source-title { flex: 1; min-width: 0; padding: 0; border: 0; background: none; text-align: left; font-size: 13px;
                    overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .source-title:hover { color: #1a56db; text-decoration: underline; }
    .chip { flex: none; min-width: 26px; height: 22px; padding: 0 6px; border-radius: 999px; border: 1px solid #c8d3ea;
            background: #eef3ff; color: #1a56db; font-size: 12px; line-height: 20px; }
    .chip:hover { border-color: #1a56db; }
    .chip.cited { background: #1a56db; border-color: #1a56db; color: #fff; }
    .retry { margin-top: 6px; border: 1px solid #d0d7de; background: #fff; border-radius: 6px; padding: 2px 10px;
             font-size: 13px; }
    .composer { display: flex; gap: 8px; align-items: flex-end; padding: 10px 12px; border-top: 1px solid #d0d7de;
                background: #fff; }
    .composer textarea { flex: 1; min-width: 0; resize: none; height: 40px; max-height: 120px; padding: 7px 10px;
                         border: 1px solid #d0d7de; border-radius: 8px; background: #fff; font-size: 16px;
                         line-height: 1.5; } /* 16 px: phones do not zoom into the field */
    .send { flex: none; height: 40px; padding: 0 16px; border: 0; border-radius: 8px; background: #1a56db; color: #fff; }
    .send:disabled { background: #8fa9e0; cursor: default; }
    .hint { margin: 0; padding: 0 12px 8px; background: #fff; font-size: 12px; color: #6e7781; }
    .viewer { flex: 1; overflow-y: auto; padding: 12px 16px; background: #fff; }
    .back { border: 1px solid #d0d7de; background: #fff; border-radius: 6px; padding: 2px 10px; font-size: 13px; }
    .viewer h3 { margin: 12px 0 2px; font-size: 16px; }
    .viewer-meta { margin: 0 0 10px; font-size: 12px; color: #57606a; overflow-wrap: anywhere; }
    .viewer-text { margin: 0; padding: 10px 12px; border-left: 3px solid #d0d7de; background: #f6f8fa;
                   overflow-wrap: anywhere; }
    .viewer-text.error { color: #a4000f; border-left-color: #f5a09a; background: #fff1f0; }
    mark { background: #fff3b0; color: inherit; padding: 1px 0; }
    mark.answer { background: #ffd33d; font-weight: 600; }
    mark.likely { font-weight: 600; }
    .items { margin: 6px 0 0; padding-left: 1.8em; white-space: normal; }
    .items li { margin: 0 0 4px; }
    .more { margin: 2px 0 0 1.8em; padding: 2px 8px; border: 1px solid #1a56db; border-radius: 4px; background: #fff;
            color: #1a56db; font: inherit; cursor: pointer; }
    .item { padding: 0; border: 0; background: none; color: #1a56db; text-align: left; white-space: normal;
            overflow-wrap: anywhere; }
    .item:hover .item-title { text-decoration: underline; }
    .item-page { margin-left: 4px; font-size: 12px; color: #57606a; }
    .others { display: block; margin-top: 8px; }
    @media (max-width: 480px) {
      .panel { inset: 0; width: 100%; max-width: 100%; height: 100%; max-height: 100%; border: 0; border-radius: 0; }
      .open .launcher { display: none; }
    }
  `;

  const TEXT = {
    open: `打开${TITLE}`,
    close: "关闭",
    intro: "你好！请就本站报道提问，回答摘自资料库原文并注明出处。",
    input: "输入问题",
    placeholder: "输入问题…",
    send: "发送",
    hint: "Enter 发送，Shift+Enter 换行，Esc 关闭",
    pending: "正在查找资料…",
    searched: (q) => `已按「${q}」检索`,
    sources: "来源",
    related: "相关资料",
    chip: (n, title) => `查看来源 ${n}：${title}`,
    item: (title, page) => `查看原文：《${title}》${page ? `，${page}` : ""}`,
    ref: (n) => `来源 ${n}`,
    untitled: "（无标题）",
    more: (shown, total) => `更多…（已显示 ${shown} / ${total} 篇）`,
    down: "无法连接到问答服务，请稍后再试。",
    failed: (status, message) => `问答服务出错（${status}）：${message}`,
    broken: "回答中断了，请重试。",
    unsure: "（不确定，已标出最可能的答案）",
    retry: "重试",
    back: "← 返回对话",
    source: "引用原文",
    loading: "正在加载原文…",
    noSource: (message) => `无法加载原文：${message}`,
    meta: (file, start, end) => `${file} · 第 ${start}–${end} 字`,
  };

  // --- DOM helpers: every string goes in through textContent or append(), which make text nodes ----------------

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (value === true) node.setAttribute(name, "");
      else if (value !== false && value != null) node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  }

  function chatIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6v2h2V9H7zm4 0v2h2V9h-2zm4 0v2h2V9h-2z");
    svg.append(path);
    return svg;
  }

  // --- Server-Sent Events over fetch --------------------------------------------------------------------------
  // EventSource can only GET, and the chat is a POST with a JSON body, so the stream is read from fetch's
  // ReadableStream and cut into events here (the event-stream format: `field: value` lines, a blank line ends
  // an event); a library would mean a build step or a second script.

  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let name = "";
    let data = [];
    const take = (line) => {
      if (line === "") {
        if (data.length) onEvent(name || "message", JSON.parse(data.join("\n")));
        name = "";
        data = [];
        return;
      }
      if (line.startsWith(":")) return; // a comment (keep-alive)
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    };
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      // A "\r" at the end may be the first half of "\r\n": keep it for the next chunk.
      const cut = !done && buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
      const lines = buffer.slice(0, cut).split(/\r\n|\r|\n/);
      buffer = lines.pop() + buffer.slice(cut);
      lines.forEach(take);
      if (done) {
        if (buffer) take(buffer);
        take("");
        return;
      }
    }
  }

  class ServerError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function errorOf(response) {
    try {
      const body = await response.json();
      return new ServerError(response.status, (body.error && body.error.message) || response.statusText);
    } catch {
      return new ServerError(response.status, response.statusText || "error");
    }
  }

  // --- The widget ---------------------------------------------------------------------------------------------

  const host = document.createElement("qa-chat-widget");
  const shadow = host.attachShadow({ mode: "open" });
  const history = []; // the finished turns, sent with every question: the server keeps no state
  let busy = false;
  let viewerOpener = null; // the button that opened the citation viewer gets the focus back

  const launcher = el("button", {
    class: "launcher", type: "button", "aria-label": TEXT.open, "aria-expanded": "false",
    "aria-controls": "qa-panel", "aria-haspopup": "dialog", onclick: () => (panel.hidden ? openPanel() : closePanel()),
  }, chatIcon());
  const log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": TITLE },
    el("p", { class: "intro", text: TEXT.intro }));
  const textarea = el("textarea", {
    "aria-label": TEXT.input, placeholder: TEXT.placeholder, rows: "1", maxlength: String(MAX_QUESTION),
    onkeydown: onComposerKey, oninput: fitTextarea,
  });
  const send = el("button", { class: "send", type: "submit", text: TEXT.send });
  const composer = el("form", { class: "composer", onsubmit: (event) => { event.preventDefault(); submit(); } },
    textarea, send);
  const hint = el("p", { class: "hint", text: TEXT.hint });
  const viewer = el("section", { class: "viewer", "aria-label": TEXT.source, hidden: true });
  const panel = el("section", {
    class: "panel", id: "qa-panel", role: "dialog", "aria-labelledby": "qa-title", hidden: true,
  },
  el("div", { class: "head" },
    el("h2", { id: "qa-title", text: TITLE }),
    el("button", { class: "icon-button", type: "button", "aria-label": TEXT.close, text: "×", onclick: closePanel })),
  log, viewer, composer, hint);
  const root = el("div", { class: "root", onkeydown: onEscape }, panel, launcher);
  shadow.append(el("style", { text: STYLE }), root);

  function openPanel() {
    panel.hidden = false;
    root.classList.add("open");
    launcher.setAttribute("aria-expanded", "true");
    textarea.focus();
  }

  function closePanel() {
    panel.hidden = true;
    root.classList.remove("open");
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  function onEscape(event) {
    if (event.key !== "Escape" || panel.hidden) return;
    event.preventDefault();
    if (!viewer.hidden) closeViewer();
    else closePanel();
  }

  function onComposerKey(event) {
    // Enter sends; Shift+Enter is a new line; an Enter that confirms an IME candidate (pinyin) is neither.
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    submit();
  }

  function fitTextarea() {
    textarea.style.height = "";
    textarea.style.height = `${Math.min(textarea.scrollHeight + 2, 120)}px`;
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function submit() {
    const question = textarea.value.trim();
    if (!question || busy) return;
    textarea.value = "";
    fitTextarea();
    log.append(el("div", { class: "msg user" }, el("p", { class: "bubble", text: question })));
    ask(question);
  }

  // One exchange: the question with the history, the streamed reply, the sources, or the error.
  async function ask(question) {
    const turn = newTurn(question);
    busy = true;
    send.disabled = true;
    const messages = [...history.slice(-MAX_HISTORY), { role: "user", content: question }];
    try {
      const response = await fetch(`${API}/api/chat`, {
        method: "POST", credentials: "omit",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify({ messages, stream: true }),
      });
      if (!response.ok) throw await errorOf(response);
      const finished = (response.headers.get("Content-Type") || "").includes("text/event-stream")
        ? await streamInto(turn, response) : finish(turn, await response.json());
      if (!finished) throw new ServerError(0, TEXT.broken);
      history.push({ role: "user", content: question }, { role: "assistant", content: turn.text });
    } catch (error) {
      fail(turn, error, question);
    } finally {
      busy = false;
      send.disabled = false;
      turn.node.removeAttribute("aria-busy");
    }
  }

  async function streamInto(turn, response) {
    let finished = null;
    await readEvents(response, (name, data) => {
      if (name === "passages") showPassages(turn, data);
      else if (name === "answer") showReply(turn, turn.text + (data.delta || ""));
      else if (name === "done") finished = finish(turn, data);
      else if (name === "error") throw new ServerError(500, (data.error && data.error.message) || name);
    });
    return finished;
  }

  function newTurn(question) {
    // A <div>, not a <p>: a list answer puts an <ol> in it.
    const bubble = el("div", { class: "bubble pending", text: TEXT.pending });
    const searched = el("p", { class: "searched", hidden: true });
    const sources = el("div", { class: "sources", hidden: true });
    const node = el("div", { class: "msg bot", "aria-busy": "true" }, searched, bubble, sources);
    log.append(node);
    scrollToEnd();
    return { question, node, bubble, searched, sources, text: "", passages: [], answer: null, refused: false };
  }

  function showPassages(turn, data) {
    turn.passages = data.passages || [];
    const standalone = (data.standalone_question || "").trim();
    if (standalone && standalone !== turn.question.trim()) {
      turn.searched.textContent = TEXT.searched(standalone);
      turn.searched.hidden = false;
    }
    showSources(turn);
  }

  // The whole reply (the stream's last event, or a plain JSON body): the final text, then the sources.
  function finish(turn, body) {
    turn.answer = body.answer || null;
    turn.refused = !turn.answer;
    turn.standalone = body.standalone_question || turn.question;
    turn.passages = body.passages || [];
    const text = body.reply || body.message || "";
    if (turn.answer && turn.answer.kind === "list") showList(turn, text);
    else showReply(turn, text);
    // Unsure of the short answer, the reply quotes its whole sentence with the likeliest answer marked: say so.
    // (A list has no short answer to be unsure of.)
    if (turn.answer && turn.answer.kind !== "list" && !turn.answer.span_confident) {
      turn.bubble.append(el("span", { class: "note", text: TEXT.unsure }));
    }
    turn.bubble.classList.toggle("refusal", turn.refused);
    showPassages(turn, body);
    return body;
  }

  // The reply's text. Unsure of the short answer, the server quotes its sentence with the likeliest answer in
  // Markdown bold (`**…**`): shown as a <mark class="likely">, never as `**`. Split at `**`, the odd pieces are the
  // marked ones; a `**` not closed yet (mid-stream) marks up to the end of what has arrived.
  function showReply(turn, text) {
    turn.text = text;
    turn.bubble.classList.remove("pending");
    turn.bubble.replaceChildren(...text.split("**").flatMap((piece, i) =>
      (i % 2 ? el("mark", { class: "likely" }, ...withRefs(turn, piece)) : withRefs(turn, piece))));
    scrollToEnd();
  }

  // A list answer: its reply's numbered lines of titles become an <ol> of buttons, each opening the article's
  // printed headline; the reply's other paragraphs (the count, the other sources) stay text, shown once each.
  // turn.text keeps the reply as the server wrote it: the history sends it back as is.
  function showList(turn, text) {
    const numbered = (paragraph) => paragraph.split("\n").every((line) => /^\d+\. 《/.test(line));
    const [head, ...rest] = text.split("\n\n").filter((paragraph) => !numbered(paragraph));
    turn.text = text;
    turn.bubble.classList.remove("pending");
    const list = el("ol", { class: "items" }, ...turn.answer.items.map(listItem));
    turn.bubble.replaceChildren(...withRefs(turn, head || ""), list, moreButton(turn, turn.answer, list),
      ...rest.map((paragraph) => el("span", { class: "others" }, ...withRefs(turn, paragraph))));
    scrollToEnd();
  }

  function listItem(item) {
    const title = item.title || TEXT.untitled;
    const page = (item.article && item.article.page) || "";
    return el("li", {}, el("button", {
      class: "item", type: "button", "aria-label": TEXT.item(title, page),
      onclick: (event) => openItem(item, event.currentTarget),
    }, el("span", { class: "item-title", text: `《${title}》` }),
    page ? el("span", { class: "item-page", text: page }) : ""));
  }

  // A long list comes a page at a time: "更多…" asks /api/ask for the next page of the same (standalone) question
  // and appends its items; it goes away at the last page.
  function moreButton(turn, page, list) {
    if (page.next_offset == null) return "";
    const button = el("button", { class: "more", type: "button",
      text: TEXT.more(page.offset + page.items.length, page.total) });
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const response = await fetch(`${API}/api/ask`, {
          method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ question: turn.standalone, offset: page.next_offset, limit: page.limit }),
        });
        if (!response.ok) throw await errorOf(response);
        const next = (await response.json()).answer;
        if (!next || next.kind !== "list") throw new ServerError(0, TEXT.broken);
        list.append(...next.items.map(listItem));
        button.replaceWith(moreButton(turn, next, list));
      } catch (error) {
        button.disabled = false;
        button.title = error.message || TEXT.broken;
      }
    });
    return button;
  }

  // A piece of the reply as text, each [n] marker that names a passage turned into a button opening that source.
  function withRefs(turn, text) {
    const nodes = [];
    let last = 0;
    for (const match of text.matchAll(/\[(\d+)\]/g)) {
      const n = Number(match[1]);
      if (n < 1 || n > turn.passages.length) continue;
      nodes.push(text.slice(last, match.index),
        el("button", { class: "ref", type: "button", "aria-label": TEXT.ref(n), text: `[${n}]`,
          onclick: (event) => openSource(turn, n, event.currentTarget) }));
      last = match.index + match[0].length;
    }
    nodes.push(text.slice(last));
    return nodes;
  }

  // The sources, one row per article (the top passages often share one): its title, then a chip per passage,
  // numbered as the reply's [n] markers; the chips the reply cites are filled.
  function showSources(turn) {
    if (!turn.passages.length) return;
    const cited = new Set([...turn.text.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1])));
    const articles = new Map(); // article id -> its passages' numbers, in the order of the reply's passages
    turn.passages.forEach((passage, i) => {
      const key = (passage.article && passage.article.id) || passage.citation;
      articles.set(key, [...(articles.get(key) || []), i + 1]);
    });
    const open = (n) => (event) => openSource(turn, n, event.currentTarget);
    const rows = [...articles.values()].map((numbers) => {
      const title = titleOf(turn.passages[numbers[0] - 1]);
      const first = numbers.find((n) => sourceOf(turn, n).answer) || numbers[0];
      // The title is a mouse target only (tabindex -1): keyboards and screen readers use the numbered chips.
      return el("li", { class: "source" },
        el("button", { class: "source-title", type: "button", tabindex: "-1", title, text: title, onclick: open(first) }),
        ...numbers.map((n) => el("button", {
          class: cited.has(n) ? "chip cited" : "chip", type: "button", "aria-label": TEXT.chip(n, title), text: String(n),
          onclick: open(n),
        })));
    });
    const label = turn.refused ? TEXT.related : TEXT.sources;
    turn.sources.replaceChildren(el("p", { class: "sources-label", text: label }),
      el("ul", { class: "source-list" }, ...rows));
    turn.sources.hidden = false;
    scrollToEnd();
  }

  // TypeError is fetch's "no connection" (and a stream cut off); anything else is a reply we could not read.
  function fail(turn, error, question) {
    const message = error instanceof ServerError
      ? (error.status ? TEXT.failed(error.status, error.message) : error.message)
      : error instanceof TypeError ? TEXT.down : TEXT.broken;
    turn.bubble.className = "bubble error";
    turn.bubble.setAttribute("role", "alert");
    turn.bubble.textContent = message;
    const retry = el("button", { class: "retry", type: "button", text: TEXT.retry, onclick: () => {
      if (busy) return;
      turn.node.remove();
      ask(question);
    } });
    turn.node.append(retry);
    scrollToEnd();
  }

  function titleOf(passage) {
    return (passage.article && passage.article.title) || TEXT.untitled;
  }

  // --- The citation viewer: the paragraph around the cited text, the cited span (and answer) highlighted ------

  const RECORD_KINDS = new Set(["byline", "date", "page"]); // answers read from the article record, not a sentence

  // The passage that gave the answer opens at the answer's sentence, with the answer's words marked in it. An
  // answer from the article record (who wrote it, when, which page) cites the printed byline, date or headline:
  // the article's first passage (the one the reply's [n] names) opens that, the record's words marked; the
  // article's other passages still open themselves.
  function sourceOf(turn, n) {
    const passage = turn.passages[n - 1];
    const answer = turn.answer;
    if (answer && answer.citation && answer.citation.startsWith(`${passage.citation}-s`)) {
      return { id: answer.citation, answer: answer.span };
    }
    if (answer && answer.citation && RECORD_KINDS.has(answer.kind) && answer.article
        && firstOfArticle(turn, answer.article.id) === n) {
      return { id: answer.citation, answer: answer.span };
    }
    return { id: passage.citation, answer: null };
  }

  function firstOfArticle(turn, articleId) {
    return turn.passages.findIndex((passage) => passage.article && passage.article.id === articleId) + 1;
  }

  function openSource(turn, n, opener) {
    const { id, answer } = sourceOf(turn, n);
    openViewer(id, answer, titleOf(turn.passages[n - 1]), opener);
  }

  // A list item cites its article's printed headline: the citation's span marks it.
  function openItem(item, opener) {
    openViewer(item.citation, null, item.title || TEXT.untitled, opener);
  }

  async function openViewer(id, answer, title, opener) {
    viewerOpener = opener;
    const text = el("blockquote", { class: "viewer-text", text: TEXT.loading });
    const back = el("button", { class: "back", type: "button", text: TEXT.back, onclick: closeViewer });
    const heading = el("h3", { text: title });
    const meta = el("p", { class: "viewer-meta" });
    viewer.replaceChildren(el("div", {}, back), heading, meta, text);
    log.hidden = composer.hidden = hint.hidden = true;
    viewer.hidden = false;
    back.focus();
    try {
      const response = await fetch(`${API}/api/citations/${encodeURIComponent(id)}`, { credentials: "omit" });
      if (!response.ok) throw await errorOf(response);
      const citation = await response.json();
      heading.textContent = citation.article.title || TEXT.untitled;
      meta.textContent = TEXT.meta(citation.paragraph.source.file, citation.span.start, citation.span.end);
      text.replaceChildren(...marked(citation.paragraph, citation.span, answer));
      const mark = text.querySelector("mark");
      if (mark) mark.scrollIntoView({ block: "center" });
    } catch (error) {
      text.className = "viewer-text error";
      text.textContent = TEXT.noSource(error instanceof ServerError ? error.message : TEXT.down);
    }
  }

  function closeViewer() {
    viewer.hidden = true;
    viewer.replaceChildren();
    log.hidden = composer.hidden = hint.hidden = false;
    if (viewerOpener && viewerOpener.isConnected) viewerOpener.focus();
    else textarea.focus();
  }

  // The raw paragraph as text nodes and <mark>s. Offsets are the server's (Python) code-point offsets in the page
  // file, so the text is indexed by code points, not UTF-16 units. OCR line breaks inside Chinese text are dropped.
  function marked(paragraph, span, answer) {
    const chars = Array.from(paragraph.text);
    const base = paragraph.source.start;
    const inside = (range, i) => range && i >= range.start - base && i < range.end - base;
    const pieces = [];
    chars.forEach((ch, i) => {
      const kind = inside(answer, i) ? "answer" : inside(span, i) ? "span" : "";
      const shown = ch === "\n" ? lineBreak(chars[i - 1], chars[i + 1]) : ch;
      const top = pieces[pieces.length - 1];
      if (top && top.kind === kind) top.text += shown;
      else pieces.push({ kind, text: shown });
    });
    return pieces.map(({ kind, text }) => (kind ? el("mark", { class: kind, text }) : document.createTextNode(text)));
  }

  function lineBreak(before, after) {
    const wide = (ch) => ch !== undefined && ch.codePointAt(0) > 0x2e7f; // CJK and full-width forms
    return wide(before) && wide(after) ? "" : " ";
  }

  function mount() {
    document.body.append(host);
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
