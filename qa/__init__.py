"""Question answering with exact citations over Chinese newspaper pages."""

__version__ = "0.1.0"
