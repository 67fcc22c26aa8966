"""From page files to passages: reading a page's bytes (pages), splitting an OCR'd page into articles (parse,
byline), offset-keeping normalisation (normalize), sentence-aware chunking (chunk), and the records every
later stage passes around (documents: Article, Chunk, Hit).

In: raw page files (UTF-8, UTF-16, GB18030). Out: `Article`s with raw offsets of their body, headline, date and
bylines, and `Chunk`s whose text maps back to the page. A new page format goes here.
"""
