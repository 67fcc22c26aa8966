"""Short answers: the gap the question's interrogative leaves, aligned with the answering sentence."""

from __future__ import annotations

import pytest

from qa.extract import gap_span
from qa.tokenize import Tokenizer


@pytest.fixture(scope="module")
def tagged():
    return Tokenizer().tagged


@pytest.mark.parametrize(
    "question, sentence, answer",
    [
        ("宣传活动在什么地方拉开帷幕？", "由区政府办公室主办的宣传活动在商都遗址城墙下拉开帷幕。", "商都遗址城墙下"),
        ("会议在哪里举行？", "本次会议在区委党校大礼堂举行,共有80人参加。", "区委党校大礼堂"),
        ("表彰大会由谁主持？", "区委副书记刘利主持会议,区领导出席会议。", "区委副书记刘利"),
        ("观摩团回到辖区哪个社区的党群服务中心？", "观摩团随后赴辖区前进南社区党群服务中心,通过对比", "前进南社区"),
        ("一共有多少名同志参加了观摩？", "街道班子成员等30名同志参加观摩。", "30名同志"),
        ("活动是哪个部门主办的？", "8月14日下午,由区委宣传部主办的文化活动在新天地社区开幕。", "区委宣传部"),
    ],
)
def test_gap_is_the_answer(tagged, question, sentence, answer):
    span = gap_span(question, sentence, tagged)
    assert span is not None
    assert answer in sentence[span[0] : span[1]]
    assert len(sentence[span[0] : span[1]]) <= len(answer) + 8


def test_no_interrogative_no_gap(tagged):
    assert gap_span("介绍一下这次活动", "这次活动很成功。", tagged) is None


def test_traditional_question_is_answered(service):
    reply = service.ask("表彰大會由誰主持？", 5)
    assert reply["answer"] is not None
    assert "刘利" in reply["answer"]["text"]
