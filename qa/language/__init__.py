"""Chinese text, the lowest stage: word lists (lexicon), word tokens (tokenize: opencc, jieba), answer types
(qtype) and the facts the re-ranker and the reader compare (analysis).

In: text (questions, headlines, sentences). Out: tokens, POS tags, answer-type spans, `Question` and `Passage`
facts. A new tokeniser goes here (a splitter passed to `Tokenizer`).
"""
