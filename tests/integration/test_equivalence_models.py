"""Embedding equivalence on the real bundled all-MiniLM-L6-v2 (22M parameters, CPU)."""

from pathlib import Path

import numpy as np
import pytest

from confidence_router.embeddings import MiniLMEmbedder, default_embedder, minilm_path
from confidence_router.errors import ModelLoadError
from confidence_router.uncertainty import EmbeddingEquivalence, SemanticEntropy, cluster_answers

from ..unit.sample_helpers import sample_stats


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return default_embedder()


def test_minilm_embeddings_are_unit_vectors(embedder: MiniLMEmbedder) -> None:
    vectors = embedder(["The capital of France is Paris.", "Paris", ""])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    assert embedder([]).shape == (0, 384)
    assert (minilm_path() / "config.json").is_file()


def test_minilm_matches_batched_and_single(embedder: MiniLMEmbedder) -> None:
    texts = ["short", "a much longer sentence that needs padding in the batch"]
    together = embedder(texts)
    alone = np.stack([embedder([t])[0] for t in texts])
    assert together == pytest.approx(alone, abs=1e-5)


def test_paraphrases_cluster_and_different_facts_do_not(embedder: MiniLMEmbedder) -> None:
    equivalence = EmbeddingEquivalence(embedder)
    answers = [
        "The capital of France is Paris.",
        "Paris is the capital of France.",
        "The capital of France is Lyon.",
        "France's capital city is Paris.",
    ]
    ids = cluster_answers("What is the capital of France?", answers, equivalence)
    assert ids[0] == ids[1] and ids[2] != ids[0]
    assert equivalence.similarity(answers[0], answers[1]) > 0.9
    assert equivalence.similarity("Paris", "Lyon") < 0.9


def test_semantic_entropy_falls_back_to_embeddings(embedder: MiniLMEmbedder) -> None:
    est = SemanticEntropy(num_samples=3)  # no judge, free-text answers: MiniLM
    s = sample_stats(
        ["Shakespeare wrote Hamlet.", "Hamlet was written by Shakespeare.", "Marlowe wrote it."],
        question="Who wrote Hamlet?",
    )
    assert est.cluster_ids(s) == (0, 0, 1)
    assert 0.0 < est.confidence(s) < 1.0


def test_missing_model_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError):
        MiniLMEmbedder(tmp_path / "nope")(["x"])
