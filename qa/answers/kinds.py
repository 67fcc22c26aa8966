"""The answer kind a question asks for, read from its structure over jieba's tokens: what the question word
asks about and which verb it goes with, never a word that merely appears in the question. Rules, not a trained
classifier: benchmarks/kinds.py counts their misfires on the public QA sets (all facts) and their hits on the
archive-question sets written without reading them (BENCHMARKS.md)."""

from __future__ import annotations

from dataclasses import dataclass

from qa.ingest.normalize import normalise
from qa.language.tokenize import Tokenizer

FACT, BYLINE, DATE, PAGE, LIST = "fact", "byline", "date", "page", "list"
KINDS = (FACT, BYLINE, DATE, PAGE, LIST)

Token = tuple[str, str]  # (word, POS flag), as Tokenizer.tagged gives them

# Word classes. Each is a set of whole jieba tokens, so a word inside a longer one never counts ("和平路" holds
# no "和", "新闻媒体" is not "新闻", "与会" is not "与").
REPORTS = frozenset("报道 报导 文章 篇文章 新闻 稿件 稿子 稿 消息 新闻稿 通讯稿 一文 该文 此文 本文 简讯 短讯 报道稿".split())
POINTERS = frozenset("这 那 该 此 这一 那一 本 同 这篇 那篇 该篇 此篇 这条 那条 该条 这则 那则 这位 那位 这个 那个 这些 那些"
                     .split())
TIME_POINTERS = frozenset("那天 这天 当天 同一天 那时 这时 当时 那年 这年 那几天 这几天 近日 最近".split())
MEASURES = frozenset("期 版 篇 条 则 位 个 些 天 周 月 年 次 段 组 批 份 页".split())  # "这期", "那段"
QUOTES = frozenset("“”\"'‘’《》「」")
REPORT_CLASSIFIERS = frozenset("篇 条 则 组 稿".split())  # "那篇", "这条", "那组" stand for a report
PAPERS = frozenset("报纸 报上 本报 本版 版面 版 这版 本期 这期 当期 整版 报 档案 资料库 库".split())  # where reports are
NEWS_ROLES = frozenset("记者 通讯员 署名 落款 摄影记者 实习生".split())  # a report's people, asked alone
ROLES = NEWS_ROLES | frozenset("作者 撰稿人 撰稿 摄影 执笔 执笔人 执笔者 笔者".split())  # books have authors too
DATE_FIELDS = frozenset("日期 刊发日期 发表日期 见报日期 出版日期 发稿日期 刊登日期".split())
TITLE_FIELDS = frozenset("标题 题目 大标题 眉题 引题 肩题 副标题 主标题".split())
ORGS = frozenset("单位 部门 街道 机构 组织 乡镇 社区 乡 镇".split())  # "那篇报道是哪个街道的" asks the kicker
PRESS = frozenset("登 登在 登出 登载 刊登 刊发 刊载 刊出 刊 见报 印 印在 排 报上".split())  # a newspaper's verbs
PUBLISH = frozenset("发表 发布 发 发出 载 收录 出现".split())  # said of anything: count only with a report
NEWS_WRITE = frozenset("报道 报导 采写 跑 供稿 署 署名 撰稿".split())  # whose report, asked alone
# Asked of books, films and photos too: these count only with a report named (or a photo: "谁拍的这组照片").
WRITE = frozenset("写 撰写 编写 执笔 写作 所写 写成 写下 出自 采访 拍 拍摄 摄".split())
PHOTOS = frozenset("照片 图片 组图 图".split())
KIND_OF = frozenset("类型 种类 类 哪类 样 什么样 形式".split())  # "什么类型的新闻" asks a kind, not which reports
# What a list question's reports may do after their noun: "哪些报道提到了…", "哪些稿子出自…".
LISTING = frozenset("提到 提及 提 讲 讲到 讲述 说 说到 谈 谈到 写 写到 涉及 出现 报道 关于 有关 相关 出自 介绍 记录 收 收了 "
                    "反映 聚焦 署名 参与 登 刊登 发表 刊发 是 有 里 中 上 都 分别 一共 共".split())
LIST_VERBS = frozenset("列出 列出来 列一下 列举 列 罗列".split())  # "列出…的报道" asks a list without a question word
BYLINE_TAILS = frozenset("名 名字 手 之手 手笔 稿".split())  # "署的是谁的名", "出自谁之手"
# Books, films and the like are "written", "published" and have "editions" too: a question about one is a fact.
OTHER_WORKS = frozenset("书 本书 这本书 书籍 论文 小说 诗 诗歌 歌 歌曲 电影 影片 期刊 杂志 教材 专辑 剧 作品 著作 词典 字典".split())
# Words that only tie a clause together, skipped when finding a phrase's head.
FUNCTION = frozenset("的 了 过 着 吗 呢 啊 呀 吧 是 有 在 为 于 由 都 也 还 又 分别 一共 共 总共 到底 究竟 叫 能 可以 "
                     "之 所 被 把 将 给 请问 请 上 里 中 内 “ ” \" ' ‘ ’ 《 》 「 」 ( ) （ ） · 、".split())
COPULAS = frozenset("是 有 在 为 于 由 叫 都 分别 一共 共 总共 到底 究竟 也 还".split())
CLAUSE_ENDS = frozenset(",，。.?？!！;；:：")
# Everything that frames an archive question rather than naming its topic.
FRAME_WORDS = (REPORTS | PAPERS | ROLES | DATE_FIELDS | TITLE_FIELDS | PRESS | PUBLISH | NEWS_WRITE | WRITE | LISTING
               | LIST_VERBS | BYLINE_TAILS | TIME_POINTERS
               | frozenset("时间 事 事情 内容 所有 全部 一下 帮 我 找 找找 给 关于 跟 和 与 同 及 方面 之类 相关 有关 涉及 参加 "
                           "有没有 列出来 之 手 到".split()))

PERSON, TIME, EDITION, WHICH, COUNT, PLACE = "person", "time", "edition", "which", "count", "place"
NUMBER = "number"  # "几分钟", "多少人": a quantity of something, always a fact
SLOT = "slot"  # "标的日期是？": the clause ends where the answer would be
FIELD = "field"  # "莲湖街道 党建红引领生态绿 作者": a search-box query that ends with the field it wants
_QUESTION_WORDS: dict[str, str] = {
    **dict.fromkeys("谁 哪位 哪几位 几位 何人 哪个人 哪些人".split(), PERSON),
    **dict.fromkeys("哪天 哪一天 何时 几号 几月 几日 哪日 什么时候 啥时候 哪年 哪一年 几时 何日".split(), TIME),
    **dict.fromkeys("第几版 哪一版 哪版 几版 哪页 哪一页 第几页".split(), EDITION),
    **dict.fromkeys("几篇 哪几篇 多少篇 几条 哪几条 多少条 几则 篇数".split(), COUNT),
    **dict.fromkeys("哪些 什么 哪个 哪家 哪几个 哪几 啥 哪种 哪 哪一 有没有 是否有".split(), WHICH),
    **dict.fromkeys("哪儿 哪里 什么地方 何处".split(), PLACE),
}
# Two-token question words: (first, second) -> type ("什么 时候", "哪 几篇", "第几 版").
_PAIRS: dict[tuple[str, str], str] = {
    **{(a, b): TIME for a in ("什么", "啥") for b in ("时候", "时间", "日子")},
    **{(a, b): PERSON for a in ("什么", "哪个", "哪些", "哪几个", "哪几", "哪") for b in ("人", "人员")},
    **{(a, "名字"): PERSON for a in ("什么", "啥")},
    **{(a, b): EDITION for a in ("第几", "哪一", "哪个", "哪", "几") for b in ("版", "版面", "页", "一版", "一页", "个版")},
    **{(a, b): COUNT for a in ("哪", "多少") for b in ("几篇", "篇", "几条", "条")},
    **{("哪", b): TIME for b in ("天", "一天")},
    **{("哪", b): PERSON for b in ("位", "几位")},
}


@dataclass(frozen=True)
class _Clause:
    """The clause a question word is in: what comes before it, its type, what comes after it."""

    left: list[Token]
    asks: str
    right: list[Token]
    before: list[Token]  # the clauses before this one (they may name what it asks about)
    word: str = ""  # the question word itself

    @property
    def right_is_empty(self) -> bool:
        return not _content(self.right)


def question_kind(question: str, tokenizer: Tokenizer) -> str:
    """The answer kind a question asks for (one of KINDS); a question that asks nothing of the records is a fact."""
    tokens = _tokens(question, tokenizer)
    clauses = _clauses(tokens)
    for n in range(len(clauses) - 1, -1, -1):
        asked = _asked(clauses[n], [t for c in clauses[:n] for t in c])
        if asked is not None:
            return _kind(asked)
    if any(w in LIST_VERBS for w, _ in tokens) and _head(tokens) in REPORTS:
        return LIST  # "列出和“红色物业”相关的稿子。"
    return FACT


def topic_phrases(question: str, tokenizer: Tokenizer) -> list[str]:
    """What an archive question is about: its runs of words outside the frame (question words, report, role and
    field words, publishing and listing verbs, pointers, function words), quotes aside. Whole tokens only:
    "和平路街道有哪些报道？" -> ["和平路街道"], "有几篇文章讲到了“古都新生”？" -> ["古都新生"]."""
    tokens = _tokens(question, tokenizer)
    phrases, run = [], []
    skip = False
    for i, (word, _) in enumerate(tokens):
        if word in QUOTES:
            continue
        pair = (tokens[i - 1][0], word) in _PAIRS if i else False
        framing = skip or pair or _framing(word) or (i + 1 < len(tokens) and (word, tokens[i + 1][0]) in _PAIRS)
        # A pointer takes its measure word with it: "这几天", "那一期", "这位记者".
        skip = word in POINTERS and i + 1 < len(tokens) and (tokens[i + 1][1][:1] in ("m", "q", "t")
                                                              or tokens[i + 1][0][:1] in MEASURES)
        if framing:
            phrases.append("".join(run))
            run = []
        else:
            run.append(word)
    return [p for p in [*phrases, "".join(run)] if p]


def _tokens(question: str, tokenizer: Tokenizer) -> list[Token]:
    return [(w, f) for w, f in tokenizer.tagged(tokenizer.simplified(normalise(question))) if w.strip()]


def _clauses(tokens: list[Token]) -> list[list[Token]]:
    clauses: list[list[Token]] = [[]]
    for token in tokens:
        if token[0] in CLAUSE_ENDS:
            clauses.append([])
        else:
            clauses[-1].append(token)
    return [c for c in clauses if c]


def _asked(clause: list[Token], before: list[Token]) -> _Clause | None:
    """The clause split at its first question word; a clause ending in "是" asks too ("标的日期是？"), and so does a
    search-box query ending with a field ("…作者"). A pointer's number is no question ("那几篇报道中")."""
    for i, (word, flag) in enumerate(clause):
        following = clause[i + 1][0] if i + 1 < len(clause) else None
        if i and clause[i - 1][0] in POINTERS and word.startswith("几"):
            continue
        if (word, following) in _PAIRS:
            return _Clause(clause[:i], _PAIRS[(word, following)], clause[i + 2:], before, word + following)
        if word in _QUESTION_WORDS:
            return _Clause(clause[:i], _QUESTION_WORDS[word], clause[i + 1:], before, word)
        if flag == "m" and word.startswith(("几", "多少")):
            return _Clause(clause[:i], NUMBER, clause[i + 1:], before)
    if clause[-1][0] in ("是", "为", "叫") and len(clause) > 1:
        return _Clause(clause[:-1], SLOT, [], before)
    questioning = any(w.startswith(("哪", "什么", "为什么", "为何", "怎", "谁", "几", "多少", "何")) for w, _ in clause)
    if clause[-1][0] in ROLES | DATE_FIELDS | TITLE_FIELDS and len(clause) > 1 and not questioning:
        return _Clause(clause, FIELD, [], before)
    return None


def _nominal(word: str, flag: str) -> bool:
    return (flag[:1] in ("n", "t", "j") or flag in ("vn", "rz") or word in REPORTS or word in ROLES
            or word in PAPERS or word in DATE_FIELDS or word in TITLE_FIELDS or word in OTHER_WORKS)


def _head(tokens: list[Token]) -> str | None:
    """The head of a noun phrase: its last noun ("报道里说的表彰大会" -> "表彰大会"); a pointer with a report's
    classifier and no noun ("那篇") stands for a report."""
    for i in range(len(tokens) - 1, -1, -1):
        word, flag = tokens[i]
        if word in POINTERS and word.endswith(tuple(REPORT_CLASSIFIERS)):
            return "报道"
        if word in REPORT_CLASSIFIERS and i and tokens[i - 1][0] in POINTERS:
            return "报道"
        if word in REPORTS and flag.startswith("v") and i + 1 < len(tokens) and tokens[i + 1][0] in ("了", "过", "着"):
            continue  # "央视报道了…": the verb, not the noun
        if word not in FUNCTION and _nominal(word, flag) and word not in COPULAS:
            return word
    return None


def _governed(right: list[Token]) -> str | None:
    """The noun a question word modifies ("哪些新闻媒体参加了" -> "新闻媒体", "有哪些讲…的报道" -> "报道",
    "哪首赞美诗" -> "赞美诗"): the phrase after it runs to the first verb that no "的" follows."""
    end = len(right)
    for i, (word, flag) in enumerate(right):
        if flag.startswith("v") and flag != "vn" and word not in REPORTS and "的" not in (w for w, _ in right[i:]):
            end = i
            break
    phrase = right[:end]
    return _head(phrase) or next((w for w, f in reversed(phrase) if w not in FUNCTION and f not in ("m", "q")), None)


def _verb(tokens: list[Token]) -> tuple[str, list[Token]] | tuple[None, list]:
    """The first content verb (not a copula, not a noun use) and what follows it."""
    for i, (word, flag) in enumerate(tokens):
        if word in COPULAS or word in FUNCTION:
            continue
        if ((flag.startswith("v") and flag != "vn") or word in PRESS or word in PUBLISH or word in WRITE
                or word in NEWS_WRITE or (flag == "d" and len(word) == 2)):  # jieba tags some verbs "d" ("到场")
            return word, tokens[i + 1:]
    return None, []


def _content(tokens: list[Token]) -> list[str]:
    return [w for w, _ in tokens if w not in FUNCTION]


def _framing(word: str) -> bool:
    """A word that only frames an archive question (it names no topic)."""
    return (word in FUNCTION or word in FRAME_WORDS or word in POINTERS or word in REPORT_CLASSIFIERS
            or word in _QUESTION_WORDS or word in CLAUSE_ENDS)


def _kind(c: _Clause) -> str:
    left_words = {w for w, _ in c.left}
    everything = [*c.before, *c.left, *c.right]
    if any(w in OTHER_WORKS for w, _ in everything):
        return FACT  # a book's author, a film's release date, a textbook's edition
    subject = _head(c.left) or _head(c.before)  # "…的那条新闻，是哪位记者跑的？"
    # Nothing but the frame ("发表时间是哪天？", "刊发于哪一天？"): the question is about the report itself.
    bare = all(_framing(w) for w, _ in [*c.before, *c.left])
    report_named = any(_head([t]) == "报道" or t[0] in REPORTS for t in everything) or _pointed_report(everything)
    reported = subject in REPORTS or bare
    press = bool(left_words & PRESS) or (bool(left_words & PUBLISH) and (report_named or bare))
    verb, after_verb = _verb(c.right)
    governed = _governed(c.right)
    if c.asks == NUMBER:
        return FACT
    if c.asks == FIELD:
        return BYLINE if subject in ROLES else DATE if subject in DATE_FIELDS else PAGE
    if c.asks == PERSON:
        return BYLINE if _asks_author(c, subject, governed, verb, after_verb, report_named) else FACT
    if c.asks == TIME or (c.asks == SLOT and subject in DATE_FIELDS | {"时间"}):
        if governed in REPORTS:
            return DATE  # "是哪天的新闻？"
        if verb is not None:  # "是哪天召开的" asks about an event; "是哪天登的" about the report
            publishes = verb in PRESS or (verb in PUBLISH and (report_named or bare))
            return DATE if publishes and reported and not _content(after_verb) else FACT
        if subject in DATE_FIELDS or subject == "时间":
            return DATE if report_named or press or bare else FACT  # "编制日期" is no report's
        return DATE if reported and (report_named or press) else FACT
    if c.asks == SLOT:
        if subject in NEWS_ROLES or (subject in ROLES and report_named):
            return BYLINE
        return PAGE if subject in TITLE_FIELDS and report_named else FACT
    if c.asks == EDITION:
        return PAGE  # a newspaper's page ("这本书是第几版" left above)
    if c.asks == PLACE or (c.word == "哪" and c.right_is_empty and press):  # "登在哪儿了", "这篇报道登在哪？"
        return PAGE if press and reported else FACT
    # Which, what, how many.
    if any(w in KIND_OF for w, _ in c.right):
        return FACT  # "报道什么类型的新闻" asks a kind of thing
    listing = _listing_verb(c.left)
    if governed in REPORTS:  # "哪些报道提到了…", "中原区有什么新闻？"
        tail_verb, _ = _verb(_after(c.right, governed))
        return LIST if listing and (tail_verb is None or tail_verb in LISTING | PRESS | NEWS_WRITE | WRITE) else FACT
    if c.asks == COUNT:  # "分别是哪几篇？": 篇 counts articles; "有几条？" counts reports only when asked of them
        if governed is None and (reported or report_named or _paper(c.left) or press):
            return LIST
        return FACT
    if subject in TITLE_FIELDS or governed in TITLE_FIELDS:
        return PAGE if report_named else FACT  # "那篇文章的标题是什么？"
    if governed in ORGS and subject in REPORTS and _content(c.right)[-1:] == [governed]:
        return PAGE  # "这篇报道是哪个街道的？" asks the kicker
    if governed is None or governed in ("事", "事情", "内容", "东西"):
        if _paper(c.left) and _last_content(c.left) in (LISTING | PRESS | NEWS_WRITE | WRITE) - {"是", "有"}:
            return LIST  # "这个版面都登了什么？", "本版讲了哪些事？"
        if (governed is None and subject in REPORTS and verb is None and listing and not _pointed_report(c.left)
                and (_last_content(c.left) in ("有", "是") or c.word in ("哪些", "哪几"))):
            return LIST  # "提到观摩的报道有哪些？"; not "那篇报道讲了什么？" (one report's content: a fact)
        if _person_wrote(c.left):
            return LIST  # "韩娟都报道过什么？"
    return FACT


def _asks_author(c: _Clause, subject: str | None, governed: str | None, verb: str | None,
                 after_verb: list[Token], report_named: bool) -> bool:
    """Whether a who-question asks who wrote a report: "是谁采写的", "记者是谁", "署的是谁的名"; not "由谁主持",
    "记者有几位到场", "《某书》的作者是谁"."""
    if verb is not None:
        rest = [w for w in _content(after_verb) if not _framing(w) and w not in ("照片", "图片", "线")]
        if rest:  # "谁拍摄了多季的广告"
            return False
        photo = any(w in PHOTOS for w, _ in [*c.left, *c.right])
        return verb in NEWS_WRITE or (verb in WRITE and (report_named or photo))
    role = governed if governed in ROLES else subject
    rest = [w for w in _content(c.right) if w not in ROLES]
    if rest and not set(rest) <= BYLINE_TAILS:
        return False
    if role in NEWS_ROLES or (role in ROLES and report_named):
        return True
    writing = {w for w, _ in c.left} & (NEWS_WRITE | WRITE | {"署"})
    return bool(rest) and bool(writing) and (report_named or not writing <= WRITE)  # "署的是谁的名", "出自谁之手"


def _pointed_report(tokens: list[Token]) -> bool:
    """"那篇", "这条": a pointer with a report's classifier."""
    return any(w in REPORT_CLASSIFIERS and i and tokens[i - 1][0] in POINTERS for i, (w, _) in enumerate(tokens)) \
        or any(w in POINTERS and w.endswith(tuple(REPORT_CLASSIFIERS)) for w, _ in tokens)


def _after(tokens: list[Token], word: str) -> list[Token]:
    words = [w for w, _ in tokens]
    return tokens[words.index(word) + 1:] if word in words else []


def _listing_verb(left: list[Token]) -> bool:
    """What comes right before a which-word lets it list reports: nothing, "有", "是", or a verb of reporting
    ("登了哪几篇"); not a preposition or another verb ("根据哪两篇文章", "得知什么消息")."""
    for word, flag in reversed(left):
        if word in ("了", "过", "都", "也", "还", "又", "一共", "共", "分别", "所有", "全部", "在", "“", "”"):
            continue
        return (word in LISTING or word in PRESS or word in PUBLISH or word in NEWS_WRITE or word in WRITE
                or word in LIST_VERBS or not (flag.startswith("v") or flag == "p"))
    return True


def _paper(left: list[Token]) -> bool:
    """The clause is about the paper itself: "这期报纸", "本版", "这一版", "档案里" (a bare "版" is an edition only
    after a pointer: "电视剧版" is no page)."""
    head = _head(left)
    if head not in PAPERS:
        return False
    words = [w for w, _ in left]
    at = len(words) - 1 - words[::-1].index(head)
    return head not in ("版", "报") or (at > 0 and words[at - 1] in POINTERS | {"这个", "那个", "同一"})


def _last_content(left: list[Token]) -> str | None:
    return next((w for w, _ in reversed(left) if w not in ("了", "过", "都", "也", "还", "又")), None)


def _person_wrote(left: list[Token]) -> bool:
    """"韩娟都报道过什么？", "这位记者写了什么？": a person (a name or a role) and then only a verb of writing."""
    words = [(w, f) for w, f in left if w not in ("都", "也", "还", "又", "了", "过", "一共")]
    if len(words) < 2 or words[-1][0] not in NEWS_WRITE | WRITE:
        return False
    return all(f.startswith("nr") or w in ROLES or w in POINTERS for w, f in words[:-1])
