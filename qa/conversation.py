"""A conversation's last question answered over the service: the follow-up made standalone (qa/answers/followups.py),
searched favouring the previous answer's article, the reply streamed clause by clause."""

from __future__ import annotations

import re
from collections.abc import Iterator

from qa.answers.followups import Rewrite, Rewriter, user_turns
from qa.answers.replies import reply_text
from qa.service import NO_ANSWER, REFUSAL, QAService, Search, Snapshot
from qa.storage.filters import Filters, Paging
from qa.storage.index import Index

_MARKER = re.compile(r"\[\d{1,3}\]")  # "[1]" citation markers of a reply
_CLAUSE_END = re.compile(r"(?<=[，。；！？\n])")  # a reply is streamed clause by clause


class Chat:
    """Answers the last user turn of a conversation; the earlier turns are its context (stateless)."""

    def __init__(self, service: QAService):
        self.service = service
        self._rewriter: tuple[object, Rewriter] | None = None  # (the index it knows the names of, the rewriter)

    def rewriter(self, index: Index) -> Rewriter:
        """A rewriter that knows the names the parser found in the index's articles (made once per index)."""
        if self._rewriter is None or self._rewriter[0] is not index:
            self._rewriter = (index, Rewriter(self.service.tokenizer, index.records.names()))
        return self._rewriter[1]

    def understand(self, messages: list[dict], snapshot: Snapshot) -> tuple[Rewrite, str | None]:
        """The last question made standalone, and the article the previous answer came from."""
        turns = list(user_turns(messages))
        rewriter = self.rewriter(snapshot.index)
        previous = previous_answer = None
        for question, reply in turns[:-1]:
            previous = rewriter.rewrite(question, previous, previous_answer).standalone
            previous_answer = reply
        rewrite = rewriter.rewrite(turns[-1][0], previous, previous_answer)
        return rewrite, self._source_article(snapshot, previous_answer, previous) if rewrite.follow_up else None

    def _source_article(self, snapshot: Snapshot, reply: str | None, question: str | None) -> str | None:
        """The article whose passage best matches the previous reply (it quotes its sentence), or the
        previous question when the client sent no reply or the reply gave no answer (a refusal, no such topic, no
        byline printed, nothing passing the filters): such a reply names no article."""
        text = question if not reply or reply.startswith(NO_ANSWER) else _MARKER.sub("", reply.split("\n\n相关报道")[0])
        return self.service.source_article(text, snapshot)

    def search(self, messages: list[dict], top_k: int, filters: Filters = Filters(),
               paging: Paging = Paging(), started: float | None = None) -> tuple[Rewrite, Search]:
        """Search the standalone question. A question that only lacks names (no pointer, no "那…") may
        stand alone after all: it is searched as asked too, and kept as asked when its best passage is
        elsewhere and matches it better than the rewrite's best passage matches the rewrite."""
        snapshot = self.service.snapshot  # read once: the whole request works on one index
        rewrite, article = self.understand(messages, snapshot)
        found = self.service.search(rewrite.standalone, top_k, article, snapshot, filters, paging, started)
        if rewrite.follow_up and not rewrite.explicit and found.hits:
            alone = self.service.search(rewrite.question, top_k, snapshot=snapshot, filters=filters, paging=paging,
                                        started=found.started)
            if self.service.better_elsewhere(alone, found):
                return Rewrite(rewrite.question, rewrite.question, False, False), alone
        return rewrite, found

    def reply(self, messages: list[dict], top_k: int = 5, filters: Filters = Filters(),
              paging: Paging = Paging(), started: float | None = None) -> dict:
        """The whole reply at once: the /api/ask body plus `standalone_question` and the `reply` text."""
        body = {}
        for event, data in self.events(messages, top_k, filters, paging, started):
            body |= data if event != "answer" else {}
        return body

    def events(self, messages: list[dict], top_k: int = 5, filters: Filters = Filters(),
               paging: Paging = Paging(), started: float | None = None) -> Iterator[tuple[str, dict]]:
        """("passages", …) as soon as retrieval is done, then ("answer", {"delta"}) pieces of the reply
        text, then ("done", the whole reply body); its timings count from `started` (the request's start)."""
        rewrite, found = self.search(messages, top_k, filters, paging, started)
        passages = self.service.passages_json(found)
        yield "passages", {"question": rewrite.question, "standalone_question": rewrite.standalone,
                           "passages": passages}
        body = self.service.answer(found, passages)
        text = reply_text(body["answer"], passages, body.get("message", REFUSAL))
        for piece in filter(None, _CLAUSE_END.split(text)):
            yield "answer", {"delta": piece}
        body |= {"question": rewrite.question, "standalone_question": rewrite.standalone, "reply": text}
        yield "done", body
