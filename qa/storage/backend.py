"""What a store does besides searching: build, update, load and follow an index. Each store module exposes one
`BACKEND`; `qa.storage.open(config)` returns the configured one."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # annotations only: a store module imports these itself
    from qa.config import Config
    from qa.language.tokenize import Tokenizer
    from qa.models.dense import Encoder
    from qa.storage.index import Index
    from qa.storage.library import Library


class Follower(Protocol):
    """Keeps a server on the newest index that other processes wrote (a shared store), off the request path."""

    def start(self, served: Callable[[], Index], swap: Callable[[Index], None]) -> None: ...

    def stop(self) -> None: ...


class Backend(ABC):
    """The operations of one store (QA_STORE); its `Store` subclass does the searching."""

    name = "abstract"

    def check_early(self, config: Config) -> None:
        """Refuse what cannot be served before the slow model load (an index of another format)."""

    @abstractmethod
    def build(self, config: Config, encoder: Encoder, tokenizer: Tokenizer,
              changes: dict[str, bytes | None] | None = None, progress: bool = True) -> Index:
        """A full build from the archive's pages, or (with `changes`: page name -> new bytes, None when removed)
        an update, after the library wrote them."""

    @abstractmethod
    def load_or_build(self, config: Config, encoder: Encoder, tokenizer: Tokenizer, progress: bool = True) -> Index:
        """The index to serve: loaded, or built when there is none (or it is stale, where the store can tell)."""

    @abstractmethod
    def library(self, config: Config, build: Callable[..., Index],
                publish: Callable[[Index], None]) -> Library:
        """The archive's pages as updates change them (qa.storage.library)."""

    def follower(self, config: Config, index: Index, fingerprint: str) -> Follower | None:
        """What keeps a server on the newest index other processes write; None for a store only this process
        writes."""
        return None
