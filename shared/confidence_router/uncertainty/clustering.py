"""Greedy bidirectional-entailment clustering of sampled answers (Kuhn et al. 2023)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from confidence_router.uncertainty.equivalence.base import Equivalence


def cluster_answers(
    question: str, answers: Sequence[str], equivalence: Equivalence
) -> tuple[int, ...]:
    """Cluster ids (0, 1, ... in order of first appearance), one per answer.

    Answers are visited in order; each joins the first existing cluster whose representative (its
    first member) it entails and that entails it, otherwise it opens a new cluster: the algorithm
    of Kuhn et al. 2023 and of the paper. (The code of Farquhar et al. 2024 differs in one corner:
    a later representative can take over an answer already placed; here the first match keeps it.)

    Each ordered pair of texts is asked at most once (one direction only for a `symmetric`
    equivalence; identical texts reuse verdicts). A `batched` equivalence gets all of an answer's
    pairs with the current representatives in one `entails_batch` call; any other is asked pair by
    pair, stopping at the first match, to spend as few (possibly costly) judgements as possible.
    """
    equivalence.prepare(question, answers)
    verdicts: dict[tuple[str, str], bool] = {}

    def known(premise: str, hypothesis: str) -> bool | None:
        verdict = verdicts.get((premise, hypothesis))
        if verdict is None and equivalence.symmetric:
            verdict = verdicts.get((hypothesis, premise))
        return verdict

    def ask(pairs: Sequence[tuple[str, str]]) -> None:
        todo = list(dict.fromkeys(pair for pair in pairs if known(*pair) is None))
        if todo:
            verdicts.update(zip(todo, equivalence.entails_batch(question, todo), strict=True))

    def both(a: str, b: str) -> bool:
        return bool(known(a, b)) and bool(known(b, a))

    representatives: list[str] = []
    ids: list[int] = []
    for answer in answers:
        chosen: int | None = None
        if equivalence.batched:
            ask([pair for rep in representatives for pair in ((answer, rep), (rep, answer))])
            chosen = next((k for k, rep in enumerate(representatives) if both(answer, rep)), None)
        else:
            for k, rep in enumerate(representatives):
                ask([(answer, rep)])
                if not known(answer, rep):
                    continue
                ask([(rep, answer)])
                if known(rep, answer):
                    chosen = k
                    break
        if chosen is None:
            representatives.append(answer)
            chosen = len(representatives) - 1
        ids.append(chosen)
    return tuple(ids)


def cluster_sizes(ids: Sequence[int]) -> list[int]:
    """Members per cluster, in cluster-id order."""
    counts = Counter(ids)
    return [counts[k] for k in sorted(counts)]
