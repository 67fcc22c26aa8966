"""Chat: follow-ups made standalone, the dialogue set, Server-Sent Events and the OpenAI-compatible API."""

from __future__ import annotations

import json
import time

import pytest
import requests
from openai import OpenAI

from qa.answers.followups import Rewriter
from qa.config import ROOT
from qa.service import NO_FIELD, NO_TOPIC
from qa.storage.filters import NO_MATCH
from qa.eval import converse, judge, read_items

DIALOGUES = read_items(ROOT / "tests" / "fixtures" / "dialogues.jsonl")
LIANHU = ["莲湖街道拆除了多少平方米的棚亭杂屋？", "那“牛皮癣”清除了多少？"]


def history(*turns: str, replies: tuple[str, ...] = ()) -> list[dict]:
    messages = []
    for n, turn in enumerate(turns):
        messages.append({"role": "user", "content": turn})
        if n < len(replies):
            messages.append({"role": "assistant", "content": replies[n]})
    return messages


def post_chat(url, body, **kwargs):
    return requests.post(url + "/api/chat", json=body, timeout=60, **kwargs)


def read_events(reply: requests.Response) -> list[tuple[str, dict, float]]:
    """(event, data, seconds since the request) for each Server-Sent Event, as the client receives them."""
    started, events, name = time.perf_counter(), [], None
    for line in reply.iter_lines(decode_unicode=True):
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[len("data: "):]), time.perf_counter() - started))
    return events


@pytest.fixture(scope="module")
def chat(app):
    return app.extensions["qa.chat"]


@pytest.fixture(scope="module")
def dialogue_replies(chat):
    return {d["id"]: converse(chat, d["turns"]) for d in DIALOGUES}


def test_follow_ups_find_the_gold_passage(dialogue_replies):
    follow_ups = [d for d in DIALOGUES if d["kind"] != "standalone"]
    found = [d["id"] for d in follow_ups if judge(d, dialogue_replies[d["id"]])["hit5"]]
    assert len(follow_ups) >= 15
    assert len(found) >= 0.9 * len(follow_ups), sorted({d["id"] for d in follow_ups} - set(found))


def test_standalone_questions_are_left_unchanged(dialogue_replies):
    standalone = [d for d in DIALOGUES if d["kind"] == "standalone"]
    assert standalone
    for d in standalone:
        assert dialogue_replies[d["id"]]["standalone_question"] == d["turns"][-1]


@pytest.mark.parametrize("question, kept", [("那场活动是谁主持的？", "那场活动"), ("那年的会议在哪开的？", "那年"),
                                            ("那时候谁是书记？", "那时候")])
def test_a_bare_na_opens_a_follow_up_but_na_in_a_word_stays(tokenizer, question, kept):
    """"那" is an opener only as a word of its own ("那航海西路街道呢？"): 那场, 那年, 那时候 keep it."""
    rewrite = Rewriter(tokenizer).rewrite(question, "莲湖街道拆除了多少平方米的棚亭杂屋？")
    assert kept in rewrite.standalone
    assert not Rewriter(tokenizer).rewrite("那他是谁？", "会议由谁主持？").standalone.startswith("那")


@pytest.mark.parametrize("message", [NO_TOPIC, NO_MATCH, *NO_FIELD.values()])
def test_a_reply_without_an_answer_points_at_no_article(chat, message):
    """After "no such topic", "no byline printed" or "nothing passes the filters", as after a refusal, a follow-up is
    about the article of the previous question, not one whose words match the message."""
    snapshot = chat.service.snapshot
    follow_up = [*history(LIANHU[0]), {"role": "user", "content": "那篇报道是谁写的？"}]
    _, asked = chat.understand(follow_up, snapshot)
    answered = [*history(LIANHU[0], replies=(message,)), {"role": "user", "content": "那篇报道是谁写的？"}]
    _, after_message = chat.understand(answered, snapshot)
    assert after_message == asked and asked is not None


def test_follow_up_carries_the_place_over(api_server):
    first = post_chat(api_server, {"messages": history(LIANHU[0])}).json()
    assert first["standalone_question"] == LIANHU[0]
    body = post_chat(api_server, {"messages": history(*LIANHU, replies=(first["reply"],))}).json()
    assert "莲湖街道" in body["standalone_question"] and "牛皮癣" in body["standalone_question"]
    assert body["question"] == LIANHU[1]
    assert "2000多个" in body["answer"]["span_text"]
    assert body["answer"]["page"] == "004_ea33b374a10aa2cf.txt"


def test_omitted_subject_is_filled_in(api_server):
    body = post_chat(api_server, {"messages": history("南关街街道务虚会谋划的是哪一年的工作？", "办事处主任是谁？")}).json()
    assert body["standalone_question"].startswith("南关街街道")
    assert "丁朝昔" in body["answer"]["text"]


def test_reply_cites_with_markers(api_server):
    body = post_chat(api_server, {"messages": history("宣传活动一共制作了多少面展板？"), "top_k": 3}).json()
    assert len(body["passages"]) == 3
    # The short answer first when it is confident, else its sentence with the likeliest span in bold.
    first = body["answer"]["text"] + "[" if body["answer"]["span_confident"] else "原文[1]：“"
    assert body["reply"].startswith(first)
    assert body["answer"]["span_confident"] or f"**{body['answer']['span_text']}**" in body["reply"]
    for n in range(1, 4):
        assert f"[{n}]" in body["reply"], "every passage is cited"


@pytest.mark.parametrize(("body", "code"), [
    ({"messages": []}, "invalid_messages"),
    ({"messages": "莲湖街道"}, "invalid_messages"),
    ({"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "x"}]}, "invalid_messages"),
    ({"messages": history("a", "b", replies=("c",))[:2]}, "invalid_messages"),  # ends with the assistant
    ({"messages": [{"role": "user", "content": 5}]}, "invalid_messages"),
    ({"messages": [{"role": "user", "content": "  "}]}, "invalid_question"),
    ({"messages": [{"role": "user", "content": "问" * 1001}]}, "question_too_long"),
    ({"messages": history("a", "b", replies=("长" * 4001,))}, "message_too_long"),
    ({"messages": history(*["问"] * 11, replies=("答",) * 10)}, "too_many_messages"),
    ({"messages": history("a"), "stream": "yes"}, "invalid_stream"),
    ({"messages": history("a"), "top_k": 0}, "invalid_top_k"),
    ({"messages": history("a"), "session": 1}, "unknown_field"),
])
def test_bad_chat_bodies_get_clear_errors(api_server, body, code):
    reply = post_chat(api_server, body)
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == code


def test_stream_sends_passages_then_answer_then_done(api_server):
    with post_chat(api_server, {"messages": history(*LIANHU, replies=("拆除棚亭杂屋12间560平方米[1]",)),
                                 "stream": True}, stream=True) as reply:
        assert reply.status_code == 200
        assert reply.headers["Content-Type"].startswith("text/event-stream")
        events = read_events(reply)
    names = [name for name, _, _ in events]
    assert names[0] == "passages" and names[-1] == "done"
    assert set(names[1:-1]) == {"answer"}
    passages, done = events[0][1], events[-1][1]
    assert passages["standalone_question"] == done["standalone_question"]
    assert [p["citation"] for p in passages["passages"]] == [p["citation"] for p in done["passages"]]
    assert "".join(data["delta"] for name, data, _ in events if name == "answer") == done["reply"]
    assert "2000多个" in done["answer"]["span_text"]


def test_stream_of_a_bad_body_is_a_plain_json_error(live_server):
    reply = post_chat(live_server, {"messages": [], "stream": True})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_messages"


@pytest.fixture(scope="module")
def openai_client(live_server):
    return OpenAI(base_url=live_server + "/v1", api_key="unused", max_retries=0, timeout=60)


def test_openai_client_lists_the_model(openai_client, config):
    assert [m.id for m in openai_client.models.list()] == [config.model_name]


def test_openai_client_gets_an_answer_with_citations(openai_client, config):
    completion = openai_client.chat.completions.create(
        model=config.model_name,
        messages=[{"role": "system", "content": "你是一个助手。"},
                  *history(*LIANHU, replies=("拆除棚亭杂屋12间560平方米[1]",))],
    )
    content = completion.choices[0].message.content
    first = content.split("\n\n")[0]  # the answer (or, unsure, its sentence with the likeliest span in bold)
    assert "2000多个" in first and "[1]" in first
    citations = completion.model_extra["citations"]
    assert citations[0]["id"].endswith("-s02") and "2000多个" in citations[0]["quote"]
    assert {"index", "id", "title", "file", "start", "end", "quote"} <= set(citations[0])
    for c in citations:
        assert f"[{c['index']}]" in content


def test_openai_client_streams_with_citations_in_the_last_chunk(openai_client, config):
    stream = openai_client.chat.completions.create(model=config.model_name, messages=history("表彰大会由谁主持？"),
                                                   stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "刘利" in text
    assert chunks[-1].choices[0].finish_reason == "stop"
    citations = chunks[-1].model_extra["citations"]
    assert len(citations) == 5
    for c in citations:
        assert f"[{c['index']}]" in text


def test_openai_content_parts_must_be_text(live_server, config):
    parts = [{"type": "text", "text": ["表彰大会由谁主持？"]}]
    reply = requests.post(live_server + "/v1/chat/completions", timeout=30,
                          json={"model": config.model_name, "messages": [{"role": "user", "content": parts}]})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_messages"


def test_openai_unknown_model_is_refused(openai_client):
    from openai import NotFoundError

    with pytest.raises(NotFoundError) as error:
        openai_client.chat.completions.create(model="gpt-4o", messages=history("表彰大会由谁主持？"))
    assert error.value.body["code"] == "model_not_found"
