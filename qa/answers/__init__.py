"""From ranked passages to what a reader reads: the reader's span and its calibrated confidences (answer,
confidence), answers read from the article records (archive: byline, date, page, list), and chat's rewriting
of follow-ups and its reply text (chat).

In: a question and its `Hit`s. Out: an `Answer` or a record answer, and the reply text with [n] markers. A new
answer kind goes in archive.py (a kind, its phrasings, its reading) and the service's reply.
"""
