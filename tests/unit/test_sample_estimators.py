import math
from collections.abc import Sequence

import pytest

from confidence_router.errors import (
    BackendError,
    CapabilityError,
    ConfigurationError,
    InvalidInputError,
)
from confidence_router.generation import Answer, Generation
from confidence_router.messages import ChatMessage, ToolCall
from confidence_router.uncertainty import (
    LexicalSimilarity,
    NumSemanticSets,
    PTrue,
    RequestStatistics,
    Statistic,
    TokenProbabilityScorer,
    get_estimator,
)
from confidence_router.uncertainty.lexical_similarity import lcs_length, rouge_l, tokens
from confidence_router.uncertainty.sample_based import answer_text, question_of

from .sample_helpers import FirstLetter, sample_stats

# -- lexical similarity -----------------------------------------------------------------------


def test_tokens_and_lcs() -> None:
    assert tokens("The cat, THE hat!") == ["the", "cat", "the", "hat"]
    assert lcs_length(["a", "b", "c", "d"], ["a", "c", "d"]) == 3
    assert lcs_length(["x"], ["a", "b"]) == 0
    assert lcs_length([], ["a"]) == 0


def test_rouge_l_by_hand() -> None:
    # LCS("the cat sat on the mat", "the cat on the mat") = 5: P = 5/5, R = 5/6, F = 10/11
    assert rouge_l("the cat sat on the mat", "the cat on the mat") == pytest.approx(10 / 11)
    assert rouge_l("the cat on the mat", "the cat sat on the mat") == pytest.approx(10 / 11)
    assert rouge_l("Paris.", "paris") == 1.0
    assert rouge_l("Paris", "Lyon") == 0.0
    assert rouge_l("", "") == 1.0
    assert rouge_l("", "Paris") == 0.0


def test_lexical_similarity() -> None:
    est = LexicalSimilarity(num_samples=3)
    # pairs: (a b, a b) = 1, (a b, c) = 0, (a b, c) = 0: mean 1/3
    s = sample_stats(["a b", "A b.", "c"])
    assert est.similarity(s) == pytest.approx(1 / 3)
    assert est.uncertainty(s) == pytest.approx(2 / 3)
    assert est.confidence(s) == pytest.approx(1 / 3)
    assert LexicalSimilarity(num_samples=1).confidence(sample_stats(["anything"])) == 1.0
    assert LexicalSimilarity.requires == {Statistic.SAMPLES}
    assert isinstance(get_estimator("lexical_similarity"), LexicalSimilarity)
    with pytest.raises(ConfigurationError, match="num_samples"):
        LexicalSimilarity(num_samples=65)


def test_num_semantic_sets_basics() -> None:
    est = NumSemanticSets(FirstLetter(), num_samples=3)
    assert est.uncertainty(sample_stats(["a1", "b1", "a2"])) == 2.0
    assert est.confidence(sample_stats(["a1", "b1", "a2"])) == pytest.approx(0.5)
    assert "num_samples=3" in repr(est)


# -- shared helpers ---------------------------------------------------------------------------


def test_question_and_answer_text() -> None:
    messages = [
        ChatMessage(role="system", content="be brief"),
        ChatMessage(role="user", content="first"),
        ChatMessage(role="assistant", content="ok"),
        ChatMessage(role="user", content="second"),
    ]
    assert question_of(messages) == "second"
    assert question_of([ChatMessage(role="system", content="s")]) == ""
    call = Answer(text="", tool_calls=(ToolCall(id="1", name="f", arguments={"b": 1, "a": 2}),))
    assert answer_text(call) == '[{"arguments": {"a": 2, "b": 1}, "name": "f"}]'
    assert answer_text(Answer(text="plain")) == "plain"


# -- P(True) ----------------------------------------------------------------------------------


class FakeScorer:
    """Returns fixed probabilities per continuation and records the prompts."""

    def __init__(self, probabilities: dict[str, float]) -> None:
        self.probabilities = probabilities
        self.calls: list[tuple[str, str]] = []

    def probability_of(self, messages: Sequence[ChatMessage], continuation: str) -> float:
        self.calls.append((messages[-1].content, continuation))
        return self.probabilities[continuation]


def p_true_stats(greedy: str = "Paris", samples: Sequence[str] = ()) -> RequestStatistics:
    generation = Generation(
        greedy=Answer(text=greedy, token_ids=(1,)),
        samples=tuple(Answer(text=t) for t in samples),
    )
    return RequestStatistics([ChatMessage(role="user", content="Capital of France?")], generation)


def test_p_true_normalised_over_true_and_false() -> None:
    scorer = FakeScorer({"True": 0.6, "False": 0.2})
    est = PTrue(scorer)
    s = p_true_stats()
    assert isinstance(scorer, TokenProbabilityScorer)
    assert est.p_true(s) == pytest.approx(0.75)  # .6 / (.6 + .2)
    assert est.uncertainty(s) == pytest.approx(-math.log(0.75))
    assert est.confidence(s) == pytest.approx(0.75)
    assert [c for _, c in scorer.calls] == ["True", "False"]  # once per request
    prompt = scorer.calls[0][0]
    assert "Question: Capital of France?" in prompt
    assert "Proposed answer: Paris" in prompt
    assert "True or False" in prompt and "brainstormed" not in prompt
    assert est.requires == frozenset()


def test_p_true_raw_and_degenerate() -> None:
    assert PTrue(FakeScorer({"True": 0.6}), normalize=False).confidence(p_true_stats()) == 0.6
    zero = PTrue(FakeScorer({"True": 0.0, "False": 0.0}))
    assert zero.confidence(p_true_stats()) == pytest.approx(0.0, abs=1e-9)
    assert math.isfinite(zero.uncertainty(p_true_stats()))


def test_p_true_with_brainstormed_samples() -> None:
    scorer = FakeScorer({"True": 0.5, "False": 0.5})
    est = PTrue(scorer, num_samples=2)
    assert est.requires == {Statistic.SAMPLES}
    assert PTrue.requires == frozenset()
    est.confidence(p_true_stats(samples=["Paris", "Lyon", "Nice"]))
    prompt = scorer.calls[0][0]
    assert "Here are some brainstormed ideas:\nParis\nLyon\n" in prompt and "Nice" not in prompt


def test_p_true_errors() -> None:
    with pytest.raises(BackendError, match="scorer returned"):
        PTrue(FakeScorer({"True": 1.5, "False": 0.0})).confidence(p_true_stats())
    with pytest.raises(BackendError):
        PTrue(FakeScorer({"True": math.nan, "False": 0.0})).confidence(p_true_stats())
    with pytest.raises(InvalidInputError, match="empty"):
        PTrue(FakeScorer({"True": 0.5, "False": 0.5})).confidence(p_true_stats(greedy="  "))
    with pytest.raises(ConfigurationError, match="scorer"):
        PTrue(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="prompt"):
        PTrue(FakeScorer({}), prompt="{question} {answer}")
    with pytest.raises(ConfigurationError, match="num_samples"):
        PTrue(FakeScorer({}), num_samples=-1)
    unbound = get_estimator("p_true")  # registered; a router binds its edge as the scorer
    assert isinstance(unbound, PTrue) and unbound.scorer is None
    with pytest.raises(CapabilityError, match="no scorer"):
        unbound.confidence(p_true_stats())
