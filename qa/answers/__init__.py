"""From ranked passages to what a reader reads: the kind of question (kinds), the reader's span and its
calibrated confidences (answer, confidence), a record question's topic and the articles a list names (topics),
answers read from the article records (archive: byline, date, page, list), the JSON of replies and citations
and a chat reply's text (replies), and a chat's follow-ups made standalone (followups).

In: a question and its `Hit`s. Out: an `Answer` or a record answer, their JSON, and the reply text with [n]
markers. A new answer kind goes in kinds.py (how it is asked), archive.py (its reading) and the service's
`_from_records` (its reply).
"""
