"""The persisted index: manifest, atomic writes, stable ids, staleness and refusal of other formats."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from qa.index import FORMAT_VERSION, Index, build_index, seed_checksums, stale_reason
from qa.errors import IndexMismatch, NotReady
from qa.service import load_or_build


def test_manifest_describes_the_index(config, service):
    manifest = json.loads((config.index_dir / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["model"] == {"name": "multilingual-e5-small", "dimension": 384} or manifest["model"]["dimension"] > 0
    assert manifest["settings"]["chunk_max_chars"] == config.chunk_max_chars
    assert manifest["seeds"] == seed_checksums(config.seeds_dir)
    counts = manifest["counts"]
    assert counts["pages"] == 5 and counts["articles"] >= 20
    assert counts["chunks"] == len(service.index.corpus.chunks)
    assert manifest["build_seconds"] > 0 and manifest["built_at"]
    leftovers = [p.name for p in config.index_dir.parent.iterdir() if p.name.startswith(".index")]
    assert leftovers == []


def test_rebuild_gives_the_same_ids_and_reuses_embeddings(config, service, tmp_path):
    other = replace(config, index_dir=tmp_path / "index")
    index = build_index(other, service.encoder, service.tokenizer, progress=False)
    assert [c.id for c in index.corpus.chunks] == [c.id for c in service.index.corpus.chunks]
    assert list(index.corpus.articles) == list(service.index.corpus.articles)
    assert index.manifest["encoded_chunks"] == 0, "unchanged chunks come from the embedding cache"
    loaded = Index.load(other.index_dir)
    assert [c.id for c in loaded.corpus.chunks] == [c.id for c in index.corpus.chunks]
    assert loaded.ann.size == len(loaded.corpus.chunks) == loaded.bm25.size


def test_changed_seed_makes_the_index_stale(config, tmp_path):
    seeds = tmp_path / "seeds"
    shutil.copytree(config.seeds_dir, seeds)
    other = replace(config, seeds_dir=seeds)
    assert stale_reason(other) is None
    page = next(seeds.glob("*.txt"))
    page.write_text(page.read_text(encoding="utf-8") + "\n补充一句。\n", encoding="utf-8")
    assert stale_reason(other) == "seed pages changed"
    assert stale_reason(replace(config, chunk_max_chars=config.chunk_max_chars + 1)) == "settings changed"


def test_index_of_another_format_is_refused(config, service, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(config.index_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatch, match="format version"):
        Index.load(copy)
    with pytest.raises(IndexMismatch, match="another format"):
        load_or_build(replace(config, index_dir=copy), service.encoder, service.tokenizer)


def test_missing_index_is_reported(tmp_path):
    with pytest.raises(NotReady):
        Index.load(tmp_path / "nothing")
