"""Questions about the archive itself: recognised by kind, answered from the article records with citations of
the printed byline, date or headline, lists complete; the eval set of such questions over the seeds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import requests

from qa.answers import archive, kinds
from qa.conversation import Chat
from qa.eval import archive_summary, evaluate, read_items
from qa.ingest import citations
from qa.ingest.normalize import normalise
from qa.storage.filters import Paging, day_key
from qa.validate import parse_filters

FIXTURES = Path(__file__).parent / "fixtures"
ARCHIVE_SET = read_items(FIXTURES / "archive_qa.jsonl")

# Questions written for this test (none is in an eval set): the kind each asks for.
KINDS = [
    ("这篇关于垃圾分类的报道是谁写的？", kinds.BYLINE),
    ("那条消息的记者是谁", kinds.BYLINE),
    ("谁拍的这组照片？", kinds.BYLINE),  # a photo credit
    ("哪位记者跑的这条线？", kinds.BYLINE),
    ("表彰大会由谁主持？", kinds.FACT),
    ("区委书记是谁？", kinds.FACT),
    ("这篇新闻是哪天的？", kinds.DATE),
    ("关于老旧小区改造的报道什么时候刊登的？", kinds.DATE),
    ("活动是哪天举行的？", kinds.FACT),
    ("街道的报道登在第几版？", kinds.PAGE),
    ("那篇文章的标题是什么？", kinds.PAGE),
    ("垃圾分类的稿子登在哪儿了？", kinds.PAGE),
    ("郑州有哪些新闻？", kinds.LIST),
    ("列出所有关于疫情防控的文章", kinds.LIST),
    ("这一版讲了什么？", kinds.LIST),
    ("有没有讲养老服务的报道？", kinds.LIST),
    ("书记在会上讲了什么？", kinds.FACT),
    ("宣传活动一共制作了多少面展板？", kinds.FACT),
]


# Each misroute a reading of the word-matching rules found (issue 22): a fact question that mentions the report, a
# metadata question phrased without the expected words, and a list topic cut inside a word.
MISROUTES = [
    ("新闻发布会是什么时候召开的？", kinds.FACT),
    ("文章中提到的活动是哪天举行的？", kinds.FACT),
    ("报道里说的表彰大会是哪一天？", kinds.FACT),
    ("央视报道了哪些内容？", kinds.FACT),
    ("有哪些新闻媒体参加了？", kinds.FACT),
    ("记者有几位到场？", kinds.FACT),
    ("这本书是第几版？", kinds.FACT),
    ("韩娟都报道过什么？", kinds.LIST),
    ("关于南关街的新闻有几条？", kinds.LIST),
    ("发表时间是哪天？", kinds.DATE),
    ("刊发于哪一天？", kinds.DATE),
    ("这篇报道是哪天登的？", kinds.DATE),
    ("那篇报道讲了什么？", kinds.FACT),  # one report's content, not a list of reports
    ("文章主要讲什么？", kinds.FACT),
    ("报道中提到了几个社区？", kinds.FACT),  # a count, not the kicker ("是哪个社区的")
    ("这篇报道登在哪？", kinds.PAGE),
]
PUBLIC_FACTS = [  # from the public QA sets, whose questions are all facts: a book's author, a product's date
    "《九命奇冤》的作者是谁？", "狂热节拍发布于哪一年？", "世界上第一张以Times命名的报纸是哪一家？",
    "霁虹桥的命名是根据哪两篇文章？", "林越峰从事写作的目的是什么？", "PC版游戏的正式日文标题是什么？",
]


@pytest.mark.parametrize("question, kind", KINDS + MISROUTES + [(q, kinds.FACT) for q in PUBLIC_FACTS])
def test_question_kinds(question, kind, tokenizer):
    assert kinds.question_kind(question, tokenizer) == kind


@pytest.mark.parametrize("path", ["kinds_heldout.jsonl", "kinds_blind.jsonl"])
def test_the_held_out_kinds_sets_are_recognised(path, tokenizer):
    """Questions over the seeds written without reading the rules (facts that name the report, metadata and lists
    in a reader's own words): each is taken for its kind."""
    wrong = [i["id"] for i in read_items(FIXTURES / path) if kinds.question_kind(i["question"], tokenizer) != i["kind"]]
    assert not wrong


@pytest.mark.parametrize("question, topic", [
    ("和平路街道有哪些报道？", ["和平路街道"]), ("与会人员有哪些新闻？", ["与会人员"]), ("事故的报道有哪些？", ["事故"]),
    ("首都相关的新闻", ["首都"]), ("了解民情的报道有哪些？", ["了解民情"]),
    ("12月15日那天的事，报上登了哪几篇？", ["12月15日"]), ("哪些文章说到了“古都新生”？", ["古都新生"]),
])
def test_a_list_topic_keeps_whole_words(question, topic, service):
    """The list frame is cut on jieba's tokens: "和" of 和平路, "与" of 与会, "了" of 了解 stay in the topic."""
    assert service.snapshot.topics.topic(question) == topic


def test_list_topics_drop_the_question_frame(service):
    topics = service.snapshot.topics
    assert topics.topic("中原区有什么新闻？") == ["中原区"]
    assert topics.topic("这期报纸讲了哪些事？") == []
    assert topics.topic("有哪些关于疫情防控的报道") == ["疫情防控"]
    assert topics.topic("同心社区有哪些报道？") == ["同心社区"], "a name starting 同/本/那 is a topic, not a pointer"
    assert topics.topic("这位记者写了哪些报道？") == [] and topics.topic("本期有哪些新闻？") == []
    assert topics.topic("列出——的报道") == [], "punctuation is no topic"


def test_byline_answers_cite_the_printed_byline_never_the_body(service):
    for item in (i for i in ARCHIVE_SET if i["kind"] == "byline" and i.get("answer")):
        reply = service.ask(item["question"], 5)
        answer = reply["answer"]
        assert reply["kind"] == "byline" and answer, item["id"]
        article = service.index.records.corpus.articles[answer["article"]["id"]]
        raw = service.index.records.corpus.pages[article.page]
        assert answer["citation"] == f"{article.id}-byline"
        assert normalise(raw[answer["span"]["start"] : answer["span"]["end"]]) == answer["span_text"]
        assert any(a <= answer["span"]["start"] < b for a, b in article.byline_spans), "the printed byline, not the body"
        assert all(name in answer["text"] for name in (*article.reporters, *article.correspondents))


def test_a_byline_printed_in_two_places_is_cited_whole(service):
    """A byline line and a credit further on (here: one placed 300 characters after it): the citation runs from the
    first to the last and its text holds both as printed, not only the first and its neighbours."""
    article = next(a for a in service.index.records.corpus.articles.values() if len(a.byline_spans) == 2)
    raw = service.index.records.corpus.pages[article.page]
    far = (article.byline_spans[-1][1] + 300, article.byline_spans[-1][1] + 306)
    credited = dataclasses.replace(article, byline_spans=(*article.byline_spans, far))
    cited = archive.field(credited, "byline", raw)
    assert (cited.start, cited.end) == (article.byline_spans[0][0], far[1])
    assert cited.text == normalise(raw[article.byline_spans[0][0]:article.byline_spans[1][1]]) + " … " + normalise(
        raw[far[0]:far[1]])
    whole = archive.field(article, "byline", raw)
    assert whole.text == normalise(raw[whole.start:whole.end]), "adjacent bylines: one piece, as printed"


def test_a_date_printed_in_chinese_numerals_is_matched_in_arabic_too():
    """A list topic "12月20日" (the question's "十二月二十日" is read so) finds an article that prints 十二月二十日."""
    from qa.ingest.parse import parse_page
    from qa.ingest.pages import read_page
    from qa.storage.records import matchable

    path = FIXTURES / "pages" / "chinese_dates.txt"
    article = parse_page(path.name, read_page(path))[0]
    assert article.date == "十二月二十日" and "12月20日" in matchable(article, str)[1]


def test_a_list_by_a_date_in_chinese_numerals(service):
    by_digits = service.ask("12月20日有哪些报道？")["answer"]["items"]
    assert service.ask("十二月二十日有哪些报道？")["answer"]["items"] == by_digits and by_digits


def test_record_fields_are_cited_by_raw_offsets(api_server, service):
    for article in list(service.index.records.corpus.articles.values())[:8]:
        for name in citations.FIELDS:
            reply = requests.get(f"{api_server}/api/citations/{article.id}-{name}", timeout=10)
            field = archive.field(article, name, service.index.records.corpus.pages[article.page])
            if field is None:
                assert reply.status_code == 404 and reply.json()["error"]["code"] == "not_found"
                continue
            body = reply.json()
            raw = service.index.records.corpus.pages[article.page]
            assert body["span"]["raw"] == raw[body["span"]["start"] : body["span"]["end"]]
            assert normalise(body["span"]["raw"]) == body["span"]["text"] == field.text
            assert body["article"]["id"] == article.id and body["passage"]["id"].startswith(article.id + "-c")


def test_list_answers_are_every_matching_article_each_cited(api_server, service):
    body = requests.post(api_server + "/api/ask", json={"question": "冉红政写了哪些报道？"}, timeout=60).json()
    assert body["kind"] == "list"
    want = {a.id for a in service.index.records.corpus.articles.values() if "冉红政" in a.reporters + a.correspondents}
    assert want and {item["article"]["id"] for item in body["answer"]["items"]} == want
    for item in body["answer"]["items"]:
        raw = service.index.records.corpus.pages[item["article"]["page"]]
        assert normalise(raw[item["span"]["start"] : item["span"]["end"]]) == item["title"]
        assert item["citation"] == item["article"]["id"] + "-headline"


def test_overview_lists_the_newest_a_page_at_a_time_or_the_filtered_page(service):
    """No topic and no filter: the count and the newest articles first (a page of them, not the whole archive);
    the pages together are the archive, each article once."""
    articles = service.index.records.corpus.articles
    first = service.ask("这期报纸讲了哪些事？")["answer"]
    assert first["total"] == len(articles) and len(first["items"]) == first["limit"] == 20 < len(articles)
    assert first["text"].startswith(f"共{len(articles)}篇，第1–20篇：")
    listed = [i["article"]["id"] for i in first["items"]]
    rest = service.ask("这期报纸讲了哪些事？", paging=Paging(20, first["next_offset"]))["answer"]
    assert rest["next_offset"] is None and len(rest["items"]) == len(articles) - 20
    listed += [i["article"]["id"] for i in rest["items"]]
    assert sorted(listed) == sorted(articles)
    keys = [day_key(articles[a]) for a in listed]
    assert keys == sorted(keys, reverse=True), "newest first"
    past = service.ask("这期报纸讲了哪些事？", paging=Paging(20, 100))["answer"]
    assert past["items"] == [] and past["total"] == len(articles) and past["next_offset"] is None
    page = "002_d1b9c29a276e9447.txt"
    reply = service.ask("这一版有哪些报道？", filters=parse_filters({"page": page}))
    assert {i["article"]["page"] for i in reply["answer"]["items"]} == {page}


def test_an_unknown_topic_is_refused_not_listed(service):
    reply = service.ask("有哪些关于火星探测的报道？")
    assert reply["kind"] == "list" and reply["answer"] is None and reply["message"]


def test_a_byline_question_about_an_absent_article_is_refused(service):
    reply = service.ask("上海迪士尼乐园开园的报道是谁写的？")
    assert reply["kind"] == "byline" and reply["answer"] is None


def test_chat_follow_up_asks_about_the_previous_answers_article(service):
    chat = Chat(service)
    first = chat.reply([{"role": "user", "content": "宣传活动一共制作了多少面展板？"}])
    article = first["answer"]["citation"].rsplit("-c", 1)[0]
    messages = [{"role": "user", "content": "宣传活动一共制作了多少面展板？"},
                {"role": "assistant", "content": first["reply"]},
                {"role": "user", "content": "这篇报道是谁写的？"}]
    reply = chat.reply(messages)
    assert reply["kind"] == "byline" and reply["answer"]["article"]["id"] == article
    assert "柴琳琳" in reply["reply"]


# The goal is every question; the floor is what was measured (46/47: one page question's retrieval picks a
# sibling article of the same page, so the page is right and the headline cited is not). BENCHMARKS.md.
ARCHIVE_FLOOR = 46


def test_the_archive_eval_set_is_answered_with_the_right_citations(service):
    """tests/fixtures/archive_qa.jsonl: answer, citation and complete lists right, at least the measured floor."""
    results = evaluate(service, ARCHIVE_SET)
    assert sum(r["right"] for r in results) >= ARCHIVE_FLOOR, archive_summary(results)
    assert all(r["right"] for r in results if r["kind"] in ("byline", "list")), archive_summary(results)
