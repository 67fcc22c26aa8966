"""Question answering with exact citations over Chinese newspaper pages.

The stages, bottom to top (README, "How the code is laid out"): language, ingest, models, storage, search,
answers; then the service, the conversation, the CLI and the web layer.
"""

__version__ = "0.1.0"
