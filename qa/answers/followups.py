"""A chat's follow-ups without an LLM: rewritten into standalone questions from the names and topics of the
turns before (the conversation over the service: qa/conversation.py; its reply text: qa/answers/replies.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from qa.language.lexicon import CHAT_NAME_ENDINGS, PERSON_TAGS
from qa.language.tokenize import Tokenizer

# Words that open a follow-up ("那…", "还有…") or point back at something named before ("他", "该", "这次").
_OPENER = re.compile(r"^(?:那么|还有|另外|再问一下|再问|那请问)[,，、:：\s]*")
# A bare "那" opens a follow-up only as a word of its own: jieba keeps "那场", "那年", "那些" whole, and "那 时候" is
# a time ("那时候谁是书记？"), not an opener.
_OPENING_NA = re.compile(r"^那[,，、:：\s]*")
_NOT_AFTER_NA = frozenset({"时候", "时", "会儿", "阵子", "阵", "一刻"})
# Words that open a new topic: the question is taken as it stands.
_SWITCH = re.compile(r"^(?:换个话题|说回|再问个别的|我再问个别的|另外问一下|问个别的)")
_POINTER = re.compile(r"(?<!其)他们|她们|(?<!其)他(?!们)|她(?!们)|它|该|此|其(?!他|中|实)|这个|这些|这次|这位|这里|那个|那些|"
                      r"那次|那位|那里|那儿|当天|当时|上述|同一天|呢[，,]")
# "他", "这位部长": the person the previous answer named.
_PERSON_POINTER = re.compile(r"(?:这位|那位|该)[\u4e00-\u9fff]{1,3}?(?=[是在给对为讲说提从去的])|(?<!其)他(?!们)|她(?!们)")
# "那航海西路街道呢？": the same question about another entity.
_ASPECT = re.compile(r"^(?:那么|那|还有)?(?P<topic>[^，,。？?]+?)(?:的情况|怎么样|如何)?呢[?？。!！\s]*$")
# Names of places and organisations end with one or more of these words ("汝河路街道", "姚庄村党支部");
# what comes before is two to five characters that are not function words. jieba's POS tags alone
# miss most of them ("城开社区", "航海/西路/街道"), so a pattern finds them.
_NAME_ENDS = CHAT_NAME_ENDINGS
_FUNCTION_CHARS = "的了在和与是个哪这那去到给对从向把被将及或各该本全其此每几多少什么谁又也都还就要会"
_PLACE = re.compile(rf"[^\W\d{_FUNCTION_CHARS}]{{2,5}}?(?:{'|'.join(_NAME_ENDS)})+")
_TIME_WORDS = re.compile(r"^(?:同一天|当天|当时|今年|去年|明年|目前|现在|最近)")  # not part of a name before it
_GENERIC = frozenset({"辖区", "城区", "片区", "全区", "全市", "当地", "本地", "所在"})
_QUOTED = re.compile(r"[“\"「《]([^”\"」》]{2,20})[”\"」》]")
_NAME_FLAGS = PERSON_TAGS | {"ns"}  # jieba's tags for names ("nt" is mostly generic: "党组织", "党工委")
_NOUN_FLAGS = frozenset({"n", "ng", "nl", "nz", "j", "vn", "an", "x"}) | _NAME_FLAGS  # "x": quotes inside a topic
_QUOTES = "“”\"'‘’《》「」"


@dataclass(frozen=True)
class Rewrite:
    """A question as asked and as searched; `follow_up` says whether context was carried over."""

    question: str
    standalone: str
    follow_up: bool
    explicit: bool  # it says so itself (an opener, a pronoun, "…呢"): the rewrite is not second-guessed


class Rewriter:
    """Turns a follow-up into a standalone question by carrying over what the earlier turns named."""

    def __init__(self, tokenizer: Tokenizer, names: frozenset[str] = frozenset()):
        self.tokenizer = tokenizer
        self.names = names  # people and organisations the parser found in the articles

    def entities(self, text: str) -> list[str]:
        """Names of places, organisations, people and quoted things in a short text, in order of appearance."""
        places = ((m.start(), _TIME_WORDS.sub("", m.group())) for m in _PLACE.finditer(text))
        found = [(start, name) for start, name in places if _is_place(name)]
        found += [(m.start(1), m.group(1)) for m in _QUOTED.finditer(text)]
        pos = 0
        for word, flag in self.tokenizer.tagged(text):
            # jieba tags generic bodies ("党工委", "民政局") as names too: those must pass as places.
            if flag in _NAME_FLAGS and len(word) >= 2 and (not word.endswith(_NAME_ENDS) or _is_place(word)):
                found.append((pos, word))
            pos += len(word)
        found += [(text.index(name), name) for name in self.names if name in text]
        names = [name for _, name in sorted(found)]
        # A name inside a longer one found too ("西路" inside "航海西路街道") is not listed twice.
        return [e for e in dict.fromkeys(names) if not any(e != other and e in other for other in names)]

    def topic(self, text: str) -> str:
        """The longest noun phrase of a question ("管城回族区“两优一先”表彰大会"): what it is about."""
        runs, run = [], []
        for word, flag in self.tokenizer.tagged(text):
            if flag in _NOUN_FLAGS and (flag != "x" or word in _QUOTES):
                run.append(word)
            else:
                runs.append(run)
                run = []
        phrases = ["".join(r).strip(_QUOTES) for r in [*runs, run]]
        return max(phrases, key=len, default="")

    def rewrite(self, question: str, previous: str | None, previous_answer: str | None = None) -> Rewrite:
        """`previous` is the last turn's standalone question; `previous_answer` the assistant's reply to it."""
        if not previous:
            return Rewrite(question, question, False, False)
        own = self.entities(question)
        aspect = _ASPECT.match(question)
        body = self._without_opener(question)
        explicit = bool(body != question or _POINTER.search(question) or aspect)
        if _SWITCH.match(question) or own and not explicit:
            return Rewrite(question, question, False, False)
        before = self.entities(previous)
        if aspect and own:  # the previous question, asked of another entity
            same_kind = [b for b in before if _name_end(b) == _name_end(own[0])] or before
            standalone = previous.replace(same_kind[0], own[0], 1) if same_kind else own[0] + previous
            return Rewrite(question, standalone, True, True)
        # Pointers may mean what the previous answer named ("他": the person it gave, "那里": its place).
        answered = self.entities(_first_line(previous_answer))
        person = next((e for e in answered + before if self._is_person(e)), None)
        if person and _PERSON_POINTER.search(body):
            body = _PERSON_POINTER.sub(person, body, count=1)
        pointed = _pointed_name(body, [*answered, *before, self.topic(previous)])
        if pointed:  # "这个社区" after a question about 港湾社区: that name, and nothing else carried
            return Rewrite(question, body.replace(pointed[0], pointed[1], 1), True, True)
        carried = [t for t in dict.fromkeys(before or [self.topic(previous)]) if t and t not in body]
        # A name already inside the carried topic is not repeated.
        carried = [t for t in carried if not any(t != other and t in other for other in carried)]
        if not carried:
            return Rewrite(question, question, False, explicit)
        return Rewrite(question, "".join(carried) + body, True, explicit)

    def _without_opener(self, question: str) -> str:
        """The question without the word that opens a follow-up ("那么", "还有", a bare "那")."""
        if _OPENER.match(question):
            return _OPENER.sub("", question)
        tokens = [w for w, _ in self.tokenizer.tagged(question) if w.strip()]
        if tokens and tokens[0] == "那" and (len(tokens) == 1 or tokens[1] not in _NOT_AFTER_NA):
            return _OPENING_NA.sub("", question)
        if tokens and tokens[0][:1] == "那" and tokens[0][1:] in ("他", "她", "它", "他们", "她们"):
            return question[1:]  # jieba glues "那他"
        return question

    def _is_person(self, name: str) -> bool:
        if name.endswith(_NAME_ENDS):
            return False
        return name in self.names or any(flag in PERSON_TAGS for _, flag in self.tokenizer.tagged(name))


def _is_place(name: str) -> bool:
    """A name with at least two characters of its own before its name-ending words ("汝河路街道": "汝河");
    not "逐社区" or "街道党工委"."""
    while end := _name_end(name):
        name = name[: -len(end)]
    return len(name) >= 2 and name not in _GENERIC


def _name_end(name: str) -> str | None:
    return next((end for end in _NAME_ENDS if name.endswith(end)), None)


def _pointed_name(body: str, names: list[str]) -> tuple[str, str] | None:
    """("这个社区", "港湾社区") when the question points at a kind of thing an earlier turn named."""
    for m in re.finditer(r"(?:这个|那个|这次|那次|此次|该|此|这|那)([\u4e00-\u9fff]{2})", body):
        name = next((n for n in names if n.endswith(m.group(1)) and n != m.group(1)), None)
        if name:
            return m.group(), name
    there = re.search(r"那里|那儿|这里|该地", body)
    place = next((n for n in names if _name_end(n)), None)
    return (there.group(), place) if there and place else None


def _first_line(text: str | None) -> str:
    return (text or "").split("\n", 1)[0]


def user_turns(messages: list[dict]) -> Iterator[tuple[str, str | None]]:
    """(user message, the assistant reply that follows it or None) for each user turn, in order."""
    for i, message in enumerate(messages):
        if message["role"] == "user":
            following = messages[i + 1] if i + 1 < len(messages) else None
            yield message["content"], following["content"] if following and following["role"] == "assistant" else None
