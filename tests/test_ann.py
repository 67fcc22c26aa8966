"""Vector search backends: exact and approximate FAISS indexes, saved and loaded, chosen by corpus size."""

from __future__ import annotations

import json
import os

import faiss
import numpy as np
import pytest

from qa.config import Config
from qa.errors import IndexMismatch
from qa.models.dense import EmbeddingCache
from qa.storage.ann import ANN, BACKENDS, FaissFlat, FaissIVF, Rows, for_size
from qa.storage.embedded import index_corpus, load_index, save_index


def clustered(n: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Unit vectors around 20 centres: neighbourhoods like real passage vectors', not uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim))
    x = centres[rng.integers(20, size=n)] + rng.normal(scale=0.3, size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_each_backend_finds_the_exact_neighbours_and_survives_a_save(kind, tmp_path):
    vectors, queries = clustered(3000), clustered(50, seed=1)
    exact = FaissFlat()
    exact.build(vectors)
    truth = exact.search(queries, 10)[1]
    ann = BACKENDS[kind]()
    ann.build(vectors)
    found = ann.search(queries, 10)[1]
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    assert recall >= 0.95, recall
    np.testing.assert_array_equal(ann.vectors(np.array([0, 7, 2999])), vectors[[0, 7, 2999]])
    ann.save(tmp_path / "ann")
    saved = json.loads((tmp_path / "ann" / "ann.json").read_text())
    assert saved["kind"] == kind and saved["size"] == 3000 and saved["params"] == ann.params()
    loaded = ANN.load(tmp_path / "ann")
    assert type(loaded) is type(ann) and loaded.params() == ann.params()
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], found)
    np.testing.assert_array_equal(loaded.vectors(np.array([5])), vectors[[5]])
    loaded.save(tmp_path / "again")  # a loaded index saves again (IVF: its rows copied from the file in blocks)
    np.testing.assert_array_equal(ANN.load(tmp_path / "again").vectors(np.arange(3000)), vectors)


def test_size_chooses_the_backend():
    assert type(for_size(49_999, 50_000)) is FaissFlat
    assert type(for_size(50_000, 50_000)) is FaissIVF
    assert type(for_size(10, 0)) is FaissIVF
    with pytest.raises(ValueError, match="ann_exact_below"):
        Config.from_env({"QA_ANN_EXACT_BELOW": "-1"})
    assert Config.from_env({"QA_ANN_EXACT_BELOW": "1000"}).ann_exact_below == 1000


def test_one_query_runs_on_one_thread_and_leaves_the_setting_as_it_was():
    ann = FaissFlat()
    ann.build(clustered(500))
    before = faiss.omp_get_max_threads()
    scores, ids = ann.search(clustered(1, seed=2), 5)
    assert ids.shape == (1, 5) and scores[0][0] >= scores[0][-1]
    assert faiss.omp_get_max_threads() == before


def test_a_build_over_the_threshold_serves_from_ivf(service, tmp_path):
    """The seeds indexed with the threshold below their size: an IVF index that finds every passage."""
    corpus, encoder = service.index.records.corpus, service.encoder
    cache = EmbeddingCache(service.config.cache_dir / "embeddings", encoder.fingerprint)
    index = index_corpus(corpus, encoder, service.tokenizer, cache=cache, progress=False, ann_exact_below=10)
    assert index.store.ann.kind == FaissIVF.kind and cache.last_encoded == 0
    save_index(index, tmp_path / "index")
    loaded = load_index(tmp_path / "index")
    assert loaded.store.ann.kind == FaissIVF.kind and loaded.store.ann.size == len(corpus.chunks)
    assert isinstance(loaded.store.ann.exact, Rows), "the float32 vectors are read from the file when asked for"
    vectors = loaded.store.ann.vectors(np.arange(loaded.store.ann.size))
    np.testing.assert_allclose(vectors, service.index.store.ann.vectors(np.arange(loaded.store.ann.size)), atol=1e-6)
    _, ids = loaded.store.ann.search(vectors, 1)
    found = loaded.store.ann.vectors(ids[:, 0])
    assert np.einsum("ij,ij->i", found, vectors).min() > 0.9999  # every passage is its own nearest (or its twin)


def test_a_vector_index_of_an_earlier_kind_is_refused_with_what_to_do(tmp_path):
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "ann.json").write_text(json.dumps({"format": 1, "kind": "faiss-ivf", "size": 3, "params": {}}))
    with pytest.raises(IndexMismatch, match="rebuild it with `python -m qa build`"):
        ANN.load(tmp_path / "ann")


def test_rows_read_what_was_saved_in_any_order_even_once_the_file_is_gone(tmp_path):
    vectors = clustered(500, dim=8)
    np.save(tmp_path / "vectors.npy", vectors)
    rows = Rows(tmp_path / "vectors.npy")
    (tmp_path / "vectors.npy").unlink()  # an update removed the generation this index was loaded from
    for ids in ([3, 1, 2, 2, 499, 0], [], [7], list(range(500))):
        np.testing.assert_array_equal(rows[np.array(ids, dtype=np.int64)], vectors[ids].reshape(len(ids), 8))
    with pytest.raises(IndexError):
        rows[np.array([500])]


def test_rows_of_a_file_cut_short_are_an_error_not_garbage(tmp_path):
    np.save(tmp_path / "vectors.npy", clustered(100, dim=8))
    rows = Rows(tmp_path / "vectors.npy")
    os.truncate(tmp_path / "vectors.npy", (tmp_path / "vectors.npy").stat().st_size - 8 * 4 * 10)
    np.testing.assert_array_equal(rows[np.array([0, 89])].shape, (2, 8))
    with pytest.raises(OSError, match="rows 95..95"):
        rows[np.array([95])]
