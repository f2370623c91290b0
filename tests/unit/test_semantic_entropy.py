import math

import pytest

from confidence_router.errors import CapabilityError, ConfigurationError, InvalidInputError
from confidence_router.uncertainty import (
    AnswerEquivalence,
    NumSemanticSets,
    SemanticEntropy,
    Statistic,
    cluster_answers,
    get_estimator,
)
from confidence_router.uncertainty.clustering import cluster_sizes
from confidence_router.uncertainty.semantic_entropy import (
    cluster_log_probs,
    eq2_entropy,
    rao_entropy,
)

from .sample_helpers import (
    BatchedFirstLetter,
    FirstLetter,
    Relation,
    SymmetricFirstLetter,
    sample_stats,
)

LN = math.log

# -- clustering -------------------------------------------------------------------------------


def test_clusters_by_bidirectional_entailment_in_order() -> None:
    ids = cluster_answers("q", ["a1", "a2", "b1", "c1", "a3"], FirstLetter())
    assert ids == (0, 0, 1, 2, 0)
    assert cluster_sizes(ids) == [3, 1, 1]


def test_one_direction_is_not_enough() -> None:
    # "x" entails "y" but not the reverse: two meanings.
    assert cluster_answers("q", ["x", "y"], Relation({("x", "y")})) == (0, 1)
    assert cluster_answers("q", ["x", "y"], Relation({("x", "y"), ("y", "x")})) == (0, 0)


def test_greedy_compares_with_representatives_only() -> None:
    # a~b and b~c but not a~c: the order decides, as in the greedy algorithm.
    links = {("a", "b"), ("b", "a"), ("b", "c"), ("c", "b")}
    assert cluster_answers("q", ["a", "b", "c"], Relation(links)) == (0, 0, 1)
    assert cluster_answers("q", ["b", "a", "c"], Relation(links)) == (0, 0, 0)


def test_joins_the_first_matching_cluster() -> None:
    # "m" is equivalent to both representatives "a" and "b": it joins the first cluster.
    links = {("m", "a"), ("a", "m"), ("m", "b"), ("b", "m")}
    assert cluster_answers("q", ["a", "b", "m"], Relation(links)) == (0, 1, 0)


def test_each_ordered_pair_is_asked_once() -> None:
    equivalence = FirstLetter()
    assert cluster_answers("q", ["a", "a", "b", "b"], equivalence) == (0, 0, 1, 1)
    # ("a","a") once; the second "b" reuses the failed ("b","a") and asks ("b","b") once.
    assert equivalence.asked == [("a", "a"), ("b", "a"), ("b", "b")]
    assert len(equivalence.asked) == len(set(equivalence.asked))


def test_symmetric_equivalence_is_asked_one_direction() -> None:
    equivalence = SymmetricFirstLetter()
    assert cluster_answers("q", ["a1", "b1", "a2"], equivalence) == (0, 1, 0)
    assert equivalence.asked == [("b1", "a1"), ("a2", "a1")]


def test_batched_equivalence_gets_one_batch_per_answer() -> None:
    equivalence = BatchedFirstLetter()
    assert cluster_answers("q", ["a1", "b1", "a2"], equivalence) == (0, 1, 0)
    assert equivalence.batches == [
        [("b1", "a1"), ("a1", "b1")],
        [("a2", "a1"), ("a1", "a2"), ("a2", "b1"), ("b1", "a2")],
    ]


def test_clustering_edge_cases() -> None:
    assert cluster_answers("q", [], FirstLetter()) == ()
    assert cluster_answers("q", ["only"], FirstLetter()) == (0,)


# -- entropy formulas (hand-computed) ---------------------------------------------------------


def test_discrete_entropy_by_hand() -> None:
    # sizes 3, 1, 1 of N = 5: p = .6, .2, .2
    # SE = -(.6 ln .6 + 2 · .2 ln .2) = .306495 + .643775 = .950271
    log_probs = cluster_log_probs([0, 0, 1, 2, 0])
    assert [math.exp(lp) for lp in log_probs] == pytest.approx([0.6, 0.2, 0.2])
    assert rao_entropy(log_probs) == pytest.approx(0.950271, abs=1e-6)
    # Eq. 2: -(ln .6 + ln .2 + ln .2) / 3 = (.510826 + 3.218876) / 3 = 1.243234
    assert eq2_entropy(log_probs) == pytest.approx(1.243234, abs=1e-6)


def test_weighted_entropy_by_hand() -> None:
    # ℓ = ln .5, ln .5, ln .2; clusters {0, 1}, {2}: p = (.5 + .5) / 1.2 = 5/6 and .2 / 1.2 = 1/6
    # SE = -(5/6 ln 5/6 + 1/6 ln 1/6) = .151934 + .298627 = .450561
    log_probs = cluster_log_probs([0, 0, 1], [LN(0.5), LN(0.5), LN(0.2)])
    assert [math.exp(lp) for lp in log_probs] == pytest.approx([5 / 6, 1 / 6])
    assert rao_entropy(log_probs) == pytest.approx(0.450561, abs=1e-6)
    # Eq. 2: -(ln 5/6 + ln 1/6) / 2 = (.182322 + 1.791759) / 2 = .987041
    assert eq2_entropy(log_probs) == pytest.approx(0.987041, abs=1e-6)


def test_formula_endpoints() -> None:
    assert rao_entropy(cluster_log_probs([0, 0, 0])) == 0.0
    assert eq2_entropy(cluster_log_probs([0, 0, 0])) == 0.0
    assert rao_entropy(cluster_log_probs([0, 1, 2, 3])) == pytest.approx(LN(4))
    assert eq2_entropy(cluster_log_probs([0, 1, 2, 3])) == pytest.approx(LN(4))
    with pytest.raises(InvalidInputError):
        cluster_log_probs([])
    with pytest.raises(InvalidInputError):
        cluster_log_probs([0, 1], [0.0])


# -- the estimator ----------------------------------------------------------------------------


def test_semantic_entropy_discrete() -> None:
    est = SemanticEntropy(FirstLetter(), num_samples=5)
    s = sample_stats(["a1", "a2", "b1", "c1", "a3"])
    assert est.uncertainty(s) == pytest.approx(0.950271, abs=1e-6)
    # confidence = 1 - .950271 / ln 5 = 1 - .590437 = .409563
    assert est.confidence(s) == pytest.approx(0.409563, abs=1e-6)
    assert est.eq2(s) == pytest.approx(1.243234, abs=1e-6)
    assert SemanticEntropy(FirstLetter(), formula="eq2").uncertainty(s) == est.eq2(s)


def test_semantic_entropy_weighted_uses_mean_token_logprob() -> None:
    # per-sample means: ln .5 (two tokens), ln .5 (one), ln .2 (three): as in the hand example
    texts = ["a1", "a2", "b1"]
    logprobs = [[LN(0.5), LN(0.5)], [LN(0.5)], [LN(0.2)] * 3]
    est = SemanticEntropy(FirstLetter(), num_samples=3, form="weighted")
    s = sample_stats(texts, logprobs)
    assert est.uncertainty(s) == pytest.approx(0.450561, abs=1e-6)
    # confidence = 1 - .450561 / ln 3 = 1 - .410119 = .589881
    assert est.confidence(s) == pytest.approx(0.589881, abs=1e-6)
    assert est.eq2(s) == pytest.approx(0.987041, abs=1e-6)
    # the discrete form of the same clusters (2/3, 1/3) ignores the likelihoods
    discrete = SemanticEntropy(FirstLetter(), num_samples=3)
    assert discrete.uncertainty(s) == pytest.approx(-(2 / 3 * LN(2 / 3) + 1 / 3 * LN(1 / 3)))


def test_one_meaning_is_confident_and_all_distinct_is_not() -> None:
    flat = [[-1.0]] * 4
    same, distinct = sample_stats(["a1", "a2", "a3", "a4"], flat), sample_stats(list("abcd"), flat)
    for form in ("discrete", "weighted"):
        for formula in ("entropy", "eq2"):
            est = SemanticEntropy(FirstLetter(), num_samples=4, form=form, formula=formula)
            assert est.uncertainty(same) == 0.0
            assert est.confidence(same) == 1.0
            assert est.uncertainty(distinct) == pytest.approx(LN(4))
            assert est.confidence(distinct) == pytest.approx(0.0)


def test_single_sample_is_fully_confident() -> None:
    est = SemanticEntropy(FirstLetter(), num_samples=1)
    assert est.uncertainty(sample_stats(["x"])) == 0.0
    assert est.confidence(sample_stats(["x"])) == 1.0
    assert NumSemanticSets(FirstLetter(), num_samples=1).confidence(sample_stats(["x"])) == 1.0


def test_uses_only_the_first_num_samples() -> None:
    s = sample_stats(["a1", "a2", "b1", "c1"])
    assert SemanticEntropy(FirstLetter(), num_samples=2).uncertainty(s) == 0.0


def test_missing_samples_and_logprobs() -> None:
    with pytest.raises(CapabilityError, match="5 sampled answers"):
        SemanticEntropy(FirstLetter()).confidence(sample_stats(["a", "b"]))
    weighted = SemanticEntropy(FirstLetter(), num_samples=2, form="weighted")
    with pytest.raises(InvalidInputError, match="log-probs"):
        weighted.confidence(sample_stats(["a", "b"]))


def test_requirements_depend_on_the_form() -> None:
    assert SemanticEntropy().requires == {Statistic.SAMPLES}
    assert SemanticEntropy(form="weighted").requires == {
        Statistic.SAMPLES,
        Statistic.SAMPLE_LOGPROBS,
    }
    assert SemanticEntropy.requires == {Statistic.SAMPLES}  # the class is untouched
    assert SemanticEntropy().num_samples == 5


def test_settings_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="form"):
        SemanticEntropy(form="nope")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="formula"):
        SemanticEntropy(formula="nope")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="num_samples"):
        SemanticEntropy(num_samples=0)
    with pytest.raises(ConfigurationError, match="judge"):
        SemanticEntropy(FirstLetter(), embedder=lambda texts: [])  # type: ignore[arg-type,return-value]


def test_num_semantic_sets() -> None:
    est = NumSemanticSets(FirstLetter())
    s = sample_stats(["a1", "a2", "b1", "c1", "a3"])
    assert est.uncertainty(s) == 3.0
    assert est.confidence(s) == pytest.approx(1 - 2 / 4)
    assert est.confidence(sample_stats(["a"] * 5)) == 1.0
    assert est.confidence(sample_stats(list("abcde"))) == 0.0


# -- sharing the clusters through the request statistics --------------------------------------


def test_clusters_are_computed_once_for_estimators_sharing_an_equivalence() -> None:
    equivalence = FirstLetter()
    s = sample_stats(["a1", "a2", "b1", "c1", "a3"])
    SemanticEntropy(equivalence).confidence(s)
    asked = len(equivalence.asked)
    assert asked > 0
    NumSemanticSets(equivalence).confidence(s)
    SemanticEntropy(equivalence, form="weighted", formula="eq2").cluster_ids(s)
    assert len(equivalence.asked) == asked
    assert [k for k in s.computed if k.startswith("semantic_ids")] == [
        f"semantic_ids:{equivalence.key}:n=5"
    ]


def test_other_equivalences_or_sample_counts_cluster_separately() -> None:
    s = sample_stats(["a1", "a2", "b1", "c1", "a3"])
    first, second = FirstLetter(), FirstLetter()
    SemanticEntropy(first).confidence(s)
    NumSemanticSets(second).confidence(s)
    NumSemanticSets(first, num_samples=3).confidence(s)
    assert len([k for k in s.computed if k.startswith("semantic_ids")]) == 3
    assert second.asked


def test_default_equivalence_extracts_final_answers_and_is_shared() -> None:
    question = "Tom has 3 apples and buys 4 more. How many apples does he have?"
    texts = ["#### 7", "He has 7 apples.", "The answer is 7.0", "3 + 4 = 8", "I think 7"]
    s = sample_stats(texts, question=question)
    se, sets = SemanticEntropy(), NumSemanticSets()
    assert se.cluster_ids(s) == (0, 0, 0, 1, 0)
    assert sets.uncertainty(s) == 2.0
    assert [k for k in s.computed if k.startswith("semantic_ids")] == [
        f"semantic_ids:{AnswerEquivalence('number').key}:n=5"
    ]
    # p = .8, .2: SE = -(.8 ln .8 + .2 ln .2) = .178515 + .321888 = .500402
    assert se.uncertainty(s) == pytest.approx(0.500402, abs=1e-6)


def test_registry_builds_the_sample_estimators() -> None:
    assert isinstance(get_estimator("semantic_entropy"), SemanticEntropy)
    assert isinstance(get_estimator("num_semantic_sets"), NumSemanticSets)
