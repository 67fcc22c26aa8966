"""The persisted index: manifest, atomic writes, stable ids, staleness and refusal of other formats."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import replace

import pytest

from qa.config import ROOT
from qa.errors import IndexMismatch, NotReady
from qa.indexing.corpus import seed_checksums
from qa.indexing.manifest import FORMAT_VERSION
from qa.models.dense import EmbeddingCache
from qa.storage.ann import FaissFlat
from qa.storage.embedded import build_index, load_index, load_or_build, stale_reason


def test_manifest_describes_the_index(config, service):
    manifest = json.loads((config.index_dir / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["model"] == {"name": "multilingual-e5-small", "dimension": 384} or manifest["model"]["dimension"] > 0
    assert manifest["settings"]["chunk_max_chars"] == config.chunk_max_chars
    assert manifest["seeds"] == seed_checksums(config.seeds_dir)
    counts = manifest["counts"]
    assert counts["pages"] == 5 and counts["articles"] >= 20
    assert counts["chunks"] == len(service.index.records.corpus.chunks)
    assert manifest["build_seconds"] > 0 and manifest["built_at"]
    leftovers = [p.name for p in config.index_dir.parent.iterdir() if p.name.startswith(".index")]
    assert leftovers == []


def test_rebuild_gives_the_same_ids_and_reuses_embeddings(config, service, tmp_path):
    other = replace(config, index_dir=tmp_path / "index")
    index = build_index(other, service.encoder, service.tokenizer, progress=False)
    assert [c.id for c in index.records.corpus.chunks] == [c.id for c in service.index.records.corpus.chunks]
    assert list(index.records.corpus.articles) == list(service.index.records.corpus.articles)
    assert index.manifest["encoded_chunks"] == 0, "unchanged chunks come from the embedding cache"
    loaded = load_index(other.index_dir)
    assert [c.id for c in loaded.records.corpus.chunks] == [c.id for c in index.records.corpus.chunks]
    assert loaded.store.ann.size == len(loaded.records.corpus.chunks) == loaded.store.bm25.size


def test_changed_seed_makes_the_index_stale(config, service, tmp_path):  # service: the index built
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
        load_index(copy)
    with pytest.raises(IndexMismatch, match="another format"):
        load_or_build(replace(config, index_dir=copy), service.encoder, service.tokenizer)


def test_missing_index_is_reported(tmp_path):
    with pytest.raises(NotReady):
        load_index(tmp_path / "nothing")


@pytest.fixture()
def index_copy(config, service, tmp_path):
    """A private copy of the session's index, with the config that points at it."""
    shutil.copytree(config.index_dir, tmp_path / "index")
    return replace(config, index_dir=tmp_path / "index")


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(folder):
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}."))


def test_crash_midway_through_writing_keeps_the_previous_index(index_copy, service, monkeypatch):
    before = _snapshot(index_copy.index_dir)

    def crash(self, folder):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(FaissFlat, "_save", crash)  # pages, articles, chunks and BM25 are written by then
    with pytest.raises(OSError, match="simulated"):
        build_index(index_copy, service.encoder, service.tokenizer, progress=False)
    assert _snapshot(index_copy.index_dir) == before
    assert _leftovers(index_copy.index_dir) == []


def test_bad_seeds_folder_fails_before_touching_the_index(index_copy, service, tmp_path):
    before = _snapshot(index_copy.index_dir)
    for seeds in (tmp_path / "missing", tmp_path):  # no folder; a folder without pages
        bad = replace(index_copy, seeds_dir=seeds)
        with pytest.raises(NotReady, match="no readable page files"):
            load_or_build(bad, service.encoder, service.tokenizer, progress=False)
    assert _snapshot(index_copy.index_dir) == before
    assert _leftovers(index_copy.index_dir) == []


def test_a_folder_of_other_files_is_never_replaced(config, service, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(NotReady, match="refusing to replace"):
        build_index(replace(config, index_dir=folder), service.encoder, service.tokenizer, progress=False)
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]


def test_load_or_build_builds_loads_and_rebuilds(config, service, tmp_path):
    seeds = tmp_path / "seeds"
    shutil.copytree(config.seeds_dir, seeds)
    other = replace(config, seeds_dir=seeds, index_dir=tmp_path / "index")
    built = load_or_build(other, service.encoder, service.tokenizer, progress=False)  # missing: built
    assert (other.index_dir / "manifest.json").exists()
    loaded = load_or_build(other, service.encoder, service.tokenizer, progress=False)  # current: loaded
    assert loaded.manifest == built.manifest
    page = sorted(seeds.glob("*.txt"))[-1]
    page.unlink()
    rebuilt = load_or_build(other, service.encoder, service.tokenizer, progress=False)  # stale: rebuilt
    assert rebuilt.manifest["counts"]["pages"] == built.manifest["counts"]["pages"] - 1
    assert page.name not in rebuilt.records.corpus.pages
    assert stale_reason(other) is None


def test_damaged_index_is_reported_and_rebuilt(index_copy, service):
    (index_copy.index_dir / "chunks.jsonl").unlink()
    with pytest.raises(IndexMismatch, match="damaged") as caught:
        load_index(index_copy.index_dir)
    assert caught.value.code == "index_damaged"
    index = load_or_build(index_copy, service.encoder, service.tokenizer, progress=False)
    assert load_index(index_copy.index_dir).manifest["counts"] == index.manifest["counts"]


def test_unreadable_manifest_is_rebuilt(index_copy, service):
    (index_copy.index_dir / "manifest.json").write_text("{half a manifest")
    assert "is unreadable" in stale_reason(index_copy)
    load_or_build(index_copy, service.encoder, service.tokenizer, progress=False)
    assert stale_reason(index_copy) is None


def test_leftovers_of_a_killed_build_are_removed(index_copy, service):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = index_copy.index_dir.with_name(f".index.tmp-{dead.stdout.strip()}")
    leftover.mkdir()
    (leftover / "pages.jsonl").write_text("")
    build_index(index_copy, service.encoder, service.tokenizer, progress=False)
    assert _leftovers(index_copy.index_dir) == []


def test_server_refuses_an_index_of_another_format(index_copy, server_command):
    manifest_path = index_copy.index_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    manifest_path.write_text(json.dumps(manifest))
    env = os.environ | {"QA_INDEX_DIR": str(index_copy.index_dir), "QA_SEEDS_DIR": str(index_copy.seeds_dir),
                        "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(server_command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert f"has another format (format version {FORMAT_VERSION + 1}" in result.stderr
    assert "python -m qa build" in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(manifest_path.read_text()) == manifest, "the index is left as it was"


def test_unreadable_and_binary_pages_are_skipped_and_reported(config, service, tmp_path):
    seeds = tmp_path / "seeds"
    shutil.copytree(config.seeds_dir, seeds)
    (seeds / "zz_binary.txt").write_bytes(b"\x00\x01\x02binary\x00" * 50)
    (seeds / "zz_folder.txt").mkdir()
    (seeds / "zz_gbk.txt").write_bytes("本报讯 区委宣传部举办读书会。\n".encode("gbk"))
    other = replace(config, seeds_dir=seeds, index_dir=tmp_path / "index")
    index = build_index(other, service.encoder, service.tokenizer, progress=False)
    assert set(index.manifest["skipped"]) == {"zz_binary.txt", "zz_folder.txt"}
    assert "zz_gbk.txt" in index.records.corpus.pages
    assert index.manifest["counts"]["pages"] == 6


def test_index_lost_between_the_swap_renames_is_restored(config, service, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(config.index_dir, tmp_path / ".index.old-999999999")  # a build killed mid-swap
    built_at = json.loads((config.index_dir / "manifest.json").read_text())["built_at"]
    index = load_or_build(replace(config, index_dir=index_dir), service.encoder, service.tokenizer, progress=False)
    assert index.manifest["built_at"] == built_at, "the previous index is back, not rebuilt"
    assert index_dir.exists() and not (tmp_path / ".index.old-999999999").exists()


def test_a_changed_page_embeds_only_its_changed_passages(config, service, tmp_path):
    """Incremental build: with every other passage's vector in the embedding cache, a rebuild after one
    page changed embeds exactly the passages whose text changed, all of them on that page."""
    shared = EmbeddingCache(config.cache_dir / "embeddings", service.encoder.fingerprint).path
    private = replace(config, cache_dir=tmp_path / "cache", model_path=config.resolved_model_path,
                      seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index")
    (private.cache_dir / "embeddings").mkdir(parents=True)
    shutil.copy(shared, private.cache_dir / "embeddings" / shared.name)  # this session's vectors, not later ones
    shutil.copytree(config.seeds_dir, private.seeds_dir)
    page = sorted(private.seeds_dir.glob("*.txt"))[2]
    marker = f"记号{uuid.uuid4().hex[:8]}"  # a text no cache has seen (and that normalising keeps)
    page.write_text(page.read_text(encoding="utf-8").replace("。", marker + "。", 1), encoding="utf-8")
    index = build_index(private, service.encoder, service.tokenizer, progress=False)
    before = {c.indexed_text(service.index.records.corpus.headline(c)) for c in service.index.records.corpus.chunks}
    changed = [c for c in index.records.corpus.chunks if c.indexed_text(index.records.corpus.headline(c)) not in before]
    assert changed and all(marker in c.text or marker in index.records.corpus.headline(c) for c in changed)
    assert {c.page for c in changed} == {page.name}
    assert index.manifest["encoded_chunks"] == len(changed) < len(index.records.corpus.chunks) // 10


def test_bm25_of_pages_without_words_is_a_clear_error():
    from qa.errors import EmptyPage
    from qa.storage.sparse import BM25Index

    with pytest.raises(EmptyPage):
        BM25Index().build([[], []])
