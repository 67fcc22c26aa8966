"""The Chinese word lists that several stages read, each defined once: interrogatives, jieba's name tags, and the
endings of place and organisation names.

The name endings are one shared core with what each use adds, not three unrelated lists: a kicker above a
headline names an issuing body (offices, associations: 所, 站, 协会, 党组); a place answer may be a square or a
park (馆, 广场, 公园); a chat follow-up names streets and compounds (路, 街, 小区, 号院). Each use keeps its own
additions because each was measured with them (the seeds' parse, the answer types the reader is scored with,
the dialogue set); BENCHMARKS.md's figures are those of these lists.
"""

from __future__ import annotations

# Interrogatives and question frames carry no content: they never appear in the answer passage.
QUESTION_WORDS = frozenset(
    "什么 什麽 甚么 哪 哪个 哪些 哪里 哪儿 哪天 哪年 哪一年 哪位 哪家 哪种 哪一 谁 几 几个 多少 多大 多久 多长 多高 多远 "
    "如何 怎么 怎样 怎么样 为什么 为何 何时 何地 何处 何人 吗 呢 请问 是否 有没有 是不是 叫 叫做 名字 是什么 "
    "什么样 时候 一共 共有 分别 主要".split()
)

# jieba's POS tags of person names, and of place and organisation names.
PERSON_TAGS = frozenset({"nr", "nrfg", "nrt"})
PLACE_TAGS = frozenset({"ns", "nt", "nsf", "nz"})

# Endings every use shares: administrative areas and the bodies named after them.
NAME_ENDINGS = ("街道", "社区", "村", "镇", "乡", "区", "县", "市", "局", "集团", "公司", "学校")
# An issuing body heading a headline line ("北下街街道: 挂图作战……"): qa/ingest/parse.py.
ISSUER_ENDINGS = NAME_ENDINGS + ("办事处", "委", "办", "厅", "部", "院", "所", "中心", "大学", "中学", "小学", "医院", "站",
                                 "队", "协会", "商会", "工会", "联合会", "委员会", "支部", "党委", "党组")
# A place answer's last word: qa/language/qtype.py.
PLACE_ENDINGS = NAME_ENDINGS + ("省", "部", "委", "院", "馆", "中心", "大学", "广场", "公园")
# A place or organisation named in a chat question ("汝河路街道", "姚庄村党支部"): qa/answers/followups.py. Its order
# is the pattern's (办事处 and 委员会 before the endings they hold).
CHAT_NAME_ENDINGS = ("办事处", "委员会", "居委会", "党工委", "党支部", "街道", "社区", "集团", "公司", "学院", "学校", "医院",
                     "党委", "支部", "小区", "号院", "大道", "村", "镇", "乡", "区", "县", "市", "省", "路", "街", "局")
