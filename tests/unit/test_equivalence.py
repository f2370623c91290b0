import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from confidence_router.errors import ConfigurationError, InvalidInputError, ModelLoadError
from confidence_router.generation import Answer, Generation, GenerationOptions
from confidence_router.messages import ChatMessage
from confidence_router.models.base import Capabilities, ChatBackend
from confidence_router.uncertainty import (
    AnswerEquivalence,
    AutoEquivalence,
    EmbeddingEquivalence,
    LLMEntailment,
    NLIEntailment,
    SemanticEntropy,
    cluster_answers,
)
from confidence_router.uncertainty.equivalence.answer import extract_choice, extract_number
from confidence_router.uncertainty.equivalence.base import BoundedCache
from confidence_router.uncertainty.equivalence.llm import parse_verdict
from confidence_router.uncertainty.equivalence.nli import entailment_label_id

from .sample_helpers import sample_stats

# -- final answers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Natalia sold 48 + 24 = 72 clips.\n#### 72", "72"),
        ("#### 1,234", "1234"),
        ("The answer is 1,234.", "1234"),
        ("It costs $42.00 in total.", "42"),
        ("42.0", "42"),
        ("The answer is: **18** dollars", "18"),
        ("So the result is \\boxed{3/4}.", "3/4"),
        ("0.5", "1/2"),
        ("It is -5 degrees", "-5"),
        ("5-3 = 2", "2"),
        ("He had 3 apples, ate 1, so 2 remain", "2"),
        ("Answer: 12 (not 13)", "12"),
        ("The answer to question 3 is 42", "42"),  # "answer" not followed by the number
        ("I am not sure.", None),
        ("", None),
    ],
)
def test_extract_number(text: str, expected: str | None) -> None:
    assert extract_number(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(B)", "B"),
        ("Answer: B", "B"),
        ("B.", "B"),
        ("B) Paris", "B"),
        ("**D**", "D"),
        ("c", "C"),
        ("The correct option is b", "B"),
        ("Option C is correct.", "C"),
        ("The answer is (a) because ...", "A"),
        ("Let me check (A) and (C). The answer is D.", "D"),
        ("The answer is a number", None),  # the article, not an option
        ("The answer is Berlin", None),
        ("I think so", None),
    ],
)
def test_extract_choice(text: str, expected: str | None) -> None:
    assert extract_choice(text) == expected


def test_answer_equivalence_by_kind() -> None:
    number, choice, auto = (AnswerEquivalence(k) for k in ("number", "choice", "auto"))
    assert number.equivalent("q", "#### 1,234", "The answer is 1234.0")
    assert not number.equivalent("q", "#### 12", "#### 13")
    assert choice.equivalent("q", "(B)", "The correct option is b")
    assert not choice.equivalent("q", "(B)", "(C)")
    assert auto.extract("Answer: B") == "B"
    assert auto.extract("The answer is 42.") == "42"
    assert auto.extract("(C) Paris") == "C"
    assert number.key == "answer:number" and auto.key == "answer:auto"
    with pytest.raises(ConfigurationError, match="kind"):
        AnswerEquivalence("text")  # type: ignore[arg-type]


def test_unextractable_answers_match_nothing_not_even_themselves() -> None:
    equivalence = AnswerEquivalence("number")
    assert not equivalence.equivalent("q", "no idea", "no idea")
    assert not equivalence.equivalent("q", "no idea", "#### 4")
    assert cluster_answers("q", ["no idea", "no idea", "#### 4", "4"], equivalence) == (0, 1, 2, 2)


def test_detect_kind() -> None:
    math_q = "Tom has 3 apples and buys 4 more. How many apples does he have?"
    assert AnswerEquivalence.detect_kind(math_q, ["7", "He has 7.", "no idea"]) == "number"
    assert AnswerEquivalence.detect_kind(math_q, ["no", "no idea", "7"]) is None
    # explicit final answers make it a number task whatever the question
    assert AnswerEquivalence.detect_kind("Solve it.", ["#### 7", "#### 8"]) == "number"
    mc = "What is the capital of France?\n(A) Paris\n(B) Lyon\n(C) Nice"
    assert AnswerEquivalence.detect_kind(mc, ["(A)", "A. Paris", "Paris"]) == "choice"
    assert AnswerEquivalence.detect_kind("Who wrote Hamlet?", ["Shakespeare"] * 3) is None
    # a free-text question whose answers mention a number is not a number task
    who = "Who was the first man on the moon?"
    assert AnswerEquivalence.detect_kind(who, ["Neil Armstrong in 1969"] * 3) is None
    assert AnswerEquivalence.applicable(mc, ["(A)"] * 3)
    assert not AnswerEquivalence.applicable("q", [])


# -- the LLM judge ----------------------------------------------------------------------------

_PAIR = re.compile(r"Possible Answer 1: (.*)\nPossible Answer 2: (.*)\n")


class FakeJudge(ChatBackend):
    """Replies with a scripted verdict for each (premise, hypothesis) found in the prompt."""

    def __init__(self, verdicts: dict[tuple[str, str], str], default: str = "neutral") -> None:
        self.verdicts = verdicts
        self.default = default
        self.calls: list[tuple[str, GenerationOptions]] = []

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities()

    @property
    def model_name(self) -> str:
        return "fake-judge"

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        prompt = messages[-1].content
        self.calls.append((prompt, options or GenerationOptions()))
        match = _PAIR.search(prompt)
        assert match is not None
        reply = self.verdicts.get((match.group(1), match.group(2)), self.default)
        return Generation(greedy=Answer(text=reply))


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("entailment", True),
        ("Entailment.", True),
        ("**Entailment**", True),
        ("Yes, it does.", True),
        ("Answer: entailment", True),
        ("neutral", False),
        ("Contradiction", False),
        ("No.", False),
        ("Not entailed", False),
        ("I think it does", None),
        ("", None),
        ("42", None),
    ],
)
def test_parse_verdict(reply: str, verdict: bool | None) -> None:
    assert parse_verdict(reply) is verdict


def test_llm_entailment_asks_both_directions_greedily() -> None:
    judge = FakeJudge(
        {("Paris", "It is Paris."): "entailment", ("It is Paris.", "Paris"): "Entailment"}
    )
    equivalence = LLMEntailment(judge, max_new_tokens=4)
    assert equivalence.equivalent("Capital of France?", "Paris", "It is Paris.")
    assert len(judge.calls) == 2
    prompt, options = judge.calls[0]
    assert 'question "Capital of France?"' in prompt
    assert options.max_new_tokens == 4 and options.num_samples == 0 and not options.logprobs


def test_llm_entailment_one_way_or_unparseable_is_not_equivalent() -> None:
    judge = FakeJudge({("a", "b"): "entailment", ("b", "a"): "neutral", ("c", "a"): "Hmm, hard"})
    equivalence = LLMEntailment(judge)
    assert not equivalence.equivalent("q", "a", "b")
    assert not equivalence.entails("q", "c", "a")
    assert equivalence.unparsed == 1
    # a failed first direction is not followed by the second
    judge.calls.clear()
    assert not equivalence.equivalent("q", "b", "c")
    assert len(judge.calls) == 1


def test_llm_entailment_caches_verdicts_per_question_and_pair() -> None:
    judge = FakeJudge({("a", "b"): "yes", ("b", "a"): "yes"})
    equivalence = LLMEntailment(judge)
    assert equivalence.equivalent("q", "a", "b")
    assert equivalence.equivalent("q", "b", "a")
    assert len(judge.calls) == 2
    equivalence.entails("another question", "a", "b")
    assert len(judge.calls) == 3


def test_llm_entailment_clusters_samples_for_semantic_entropy() -> None:
    same = {("Paris", "It is Paris."), ("It is Paris.", "Paris")}
    judge = FakeJudge({pair: "entailment" for pair in same})
    est = SemanticEntropy(judge=judge, num_samples=3)
    s = sample_stats(["Paris", "It is Paris.", "Lyon"], question="What is the capital of France?")
    assert est.cluster_ids(s) == (0, 0, 1)
    assert len(judge.calls) == 3  # (It is Paris., Paris), (Paris, It is Paris.), (Lyon, Paris)


def test_llm_entailment_settings() -> None:
    with pytest.raises(ConfigurationError, match="prompt"):
        LLMEntailment(FakeJudge({}), prompt="Does {premise} entail {hypothesis}?")
    with pytest.raises(ConfigurationError, match="max_new_tokens"):
        LLMEntailment(FakeJudge({}), max_new_tokens=0)


# -- embeddings (a fake embedder; the real MiniLM is in tests/integration) ---------------------


class FakeEmbedder:
    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        self.calls.append(list(texts))
        return np.array([self.vectors[t] for t in texts], dtype=np.float64)


def test_embedding_equivalence_threshold_and_batching() -> None:
    # cos(a, b) = .96 / 1 = .96 ("a", "b" unit vectors); cos(a, c) = 0
    embedder = FakeEmbedder({"a": [1.0, 0.0], "b": [0.96, 0.28], "c": [0.0, 5.0]})
    equivalence = EmbeddingEquivalence(embedder)
    assert cluster_answers("q", ["a", "b", "c", "a"], equivalence) == (0, 0, 1, 0)
    assert embedder.calls == [["a", "b", "c"]]  # one batch, each text once
    assert equivalence.similarity("a", "b") == pytest.approx(0.96)
    assert equivalence.similarity("a", "c") == pytest.approx(0.0)
    assert len(embedder.calls) == 1  # cached
    assert cluster_answers("q", ["a", "b"], EmbeddingEquivalence(embedder, threshold=0.97)) == (
        0,
        1,
    )


def test_embedding_equivalence_checks() -> None:
    with pytest.raises(ConfigurationError, match="threshold"):
        EmbeddingEquivalence(threshold=1.5)
    bad = EmbeddingEquivalence(lambda texts: np.zeros(3))
    with pytest.raises(InvalidInputError, match="shape"):
        bad.similarity("a", "b")


def test_bounded_cache_evicts_least_recently_used() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and len(cache) == 2


# -- the per-request default ------------------------------------------------------------------


def test_auto_equivalence_choice() -> None:
    auto = AutoEquivalence()
    chosen = auto.choose("How many legs does a spider have?", ["8", "#### 8", "eight"])
    assert isinstance(chosen, AnswerEquivalence) and chosen.kind == "number"
    mc = auto.choose("Pick one: (A) red (B) blue", ["(A)", "A", "B."])
    assert isinstance(mc, AnswerEquivalence) and mc.kind == "choice"
    free = auto.choose("Who wrote Hamlet?", ["Shakespeare", "Marlowe"])
    assert isinstance(free, EmbeddingEquivalence)  # no judge: embeddings (not loaded yet)
    assert auto.choose("Who?", ["x"]) is free
    judged = AutoEquivalence(judge=FakeJudge({})).choose("Who wrote Hamlet?", ["Shakespeare"])
    assert isinstance(judged, LLMEntailment)


# -- NLI wiring with a tiny random BERT built here (no download) ------------------------------

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "capital", "is", "paris", "lyon"]


def tiny_nli(folder: Path, labels: dict[int, str], favour: int) -> Path:
    """A 1-layer BERT classifier whose bias makes class `favour` win for every input."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    config = BertConfig(
        vocab_size=len(WORDS),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.fill_(-5.0)
        model.classifier.bias[favour] = 5.0
    model.save_pretrained(folder)
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    return folder


MNLI = {0: "contradiction", 1: "neutral", 2: "entailment"}


def test_nli_entailment_wiring(tmp_path: Path) -> None:
    agree = NLIEntailment(tiny_nli(tmp_path / "agree", MNLI, favour=2), batch_size=2)
    disagree = NLIEntailment(tiny_nli(tmp_path / "disagree", MNLI, favour=0))
    answers = ["the capital is paris", "paris", "lyon"]
    assert cluster_answers("the capital", answers, agree) == (0, 0, 0)
    assert cluster_answers("the capital", answers, disagree) == (0, 1, 2)

    seen: list[tuple[list[str], list[str]]] = []
    calls: list[int] = []
    tokenizer, model = agree._tokenizer, agree._model

    def spy_tokenizer(first: list[str], second: list[str], **kwargs: Any) -> Any:
        seen.append((first, second))
        return tokenizer(first, second, **kwargs)

    def spy_model(**inputs: Any) -> Any:
        calls.append(int(inputs["input_ids"].shape[0]))
        return model(**inputs)

    agree._tokenizer, agree._model = spy_tokenizer, spy_model
    verdicts = agree.entails_batch(
        "the capital", [("paris", "lyon"), ("lyon", "paris"), ("a", "b")]
    )
    assert verdicts == [True, True, True]
    assert calls == [2, 1]  # batches of batch_size = 2
    assert seen[0] == (
        ["the capital paris", "the capital lyon"],
        ["the capital lyon", "the capital paris"],
    )
    assert agree.key != disagree.key


def test_nli_entailment_label_checks(tmp_path: Path) -> None:
    assert entailment_label_id({0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}) == 0
    assert entailment_label_id({"0": "not_entailment", "1": "entailment"}) == 1
    with pytest.raises(ConfigurationError, match="entailment"):
        entailment_label_id({0: "LABEL_0", 1: "LABEL_1"})
    no_labels = NLIEntailment(tiny_nli(tmp_path / "plain", {0: "LABEL_0", 1: "LABEL_1"}, 0))
    with pytest.raises(ConfigurationError, match="entailment"):
        no_labels.entails("q", "a", "b")
    with pytest.raises(ModelLoadError):
        NLIEntailment(tmp_path / "missing").entails("q", "a", "b")
    with pytest.raises(ConfigurationError, match="batch_size"):
        NLIEntailment(tmp_path, batch_size=0)
