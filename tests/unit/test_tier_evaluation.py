"""The offline N-tier cascade (`evaluation.tiers`) on hand-made tiers whose frontiers are known
by hand, and `benchmarks/three_tiers.py` end to end on scripted tiers."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from confidence_router import CascadeRouter
from confidence_router.errors import InvalidInputError
from confidence_router.evaluation import EvalItem, ResultStore
from confidence_router.evaluation.job import evaluate as evaluate_run
from confidence_router.evaluation.job import run_config
from confidence_router.evaluation.tiers import (
    NEVER,
    Point,
    TierOutcomes,
    alone,
    candidates,
    compare,
    evaluate,
    format_point,
    frontier,
    merged,
    pair_frontiers,
    pareto,
)

from .helpers import ScriptedBackend, generation, load_script

ROOT = Path(__file__).resolve().parents[2]
IDS = ("a", "b", "c", "d", "e")


def outcomes(
    correct: list[list[float]], confidence: list[list[float]], cost: list[float]
) -> TierOutcomes:
    ids = IDS[: len(correct[0])]
    return TierOutcomes.from_maps(
        ["t0", "t1", "t2"],
        [dict(zip(ids, c, strict=True)) for c in correct],
        [dict(zip(ids, c, strict=True)) for c in confidence],
        [dict.fromkeys(ids, c) for c in cost],
    )


def helpful_middle() -> TierOutcomes:
    """t1 is right on c, d (where t0 is unsure and wrong) and sure there; e needs t2."""
    return outcomes(
        [[1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [1, 1, 1, 1, 1]],
        [[0.9, 0.9, 0.2, 0.2, 0.2], [0.1, 0.1, 0.8, 0.8, 0.3]],
        [1.0, 2.0, 10.0],
    )


def useless_middle() -> TierOutcomes:
    """t1 gives t0's answers at twice its cost, with no idea which are right."""
    return outcomes(
        [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]],
        [[0.9, 0.9, 0.2, 0.2], [0.5, 0.5, 0.5, 0.5]],
        [1.0, 2.0, 10.0],
    )


def costs(points: tuple[Point, ...]) -> list[tuple[float, float]]:
    return [(round(p.cost, 9), round(p.accuracy, 9)) for p in points]


def test_one_threshold_vector_sums_the_tiers_visited() -> None:
    o = helpful_middle()
    p = evaluate(o, [0.5, 0.5])  # a, b at t0 (1 each); c, d at t1 (1 + 2); e at t2 (1 + 2 + 10)
    assert p.cost == pytest.approx(21 / 5) and (p.accuracy, p.shares) == (1.0, (0.4, 0.4, 0.2))
    assert evaluate(o, [0.9, 0.8]).cost == pytest.approx(4.2)  # confidence >= threshold answers
    assert evaluate(o, [NEVER, NEVER]) == Point(
        ("t0", "t1", "t2"), (NEVER, NEVER), 13.0, 1.0, (0.0, 0.0, 1.0)
    )
    assert format_point(p) == "t0@0.500 > t1@0.500 > t2"
    assert alone(o, 1) == Point(("t1",), (), 2.0, 0.4, (1.0,))
    with pytest.raises(InvalidInputError):
        evaluate(o, [0.5])


def test_helpful_middle_tier_reaches_the_top_accuracy_cheaper_than_any_pair() -> None:
    o = helpful_middle()
    three = frontier(o)
    assert costs(three.points) == [(1.0, 0.4), (2.2, 0.8), (4.2, 1.0)]
    pairs = pair_frontiers(o)
    assert costs(pairs[(0, 1)].points) == [(1.0, 0.4), (2.2, 0.8)]
    assert costs(pairs[(0, 2)].points) == [(1.0, 0.4), (7.0, 1.0)]
    assert costs(pairs[(1, 2)].points) == [(2.0, 0.4), (6.0, 0.8), (8.0, 1.0)]
    assert pairs[(0, 2)].tiers == ("t0", "t2")
    for pair in pairs.values():
        assert compare(three, pair).dominates and compare(three, pair).max_shortfall == 0.0
    best = merged(list(pairs.values()))
    assert costs(best.points) == [(1.0, 0.4), (2.2, 0.8), (7.0, 1.0)]
    c = compare(three, best)  # at cost 4.2 the pairs reach 0.8, the three tiers 1.0
    assert c.dominates and c.max_gain == pytest.approx(0.2)
    (up,) = [g for g in c.gaps if g.gain > 0]
    assert [up.cost, up.baseline, up.front] == pytest.approx([4.2, 0.8, 1.0])
    assert compare(three, pairs[(0, 1)]).max_gain == pytest.approx(0.2)  # above the pair's top


def test_useless_middle_tier_does_not_beat_the_best_pair() -> None:
    o = useless_middle()
    three = frontier(o)  # to be always right it must pass c, d through t1: 1 + 2 + 10
    assert costs(three.points) == [(1.0, 0.5), (7.0, 1.0)]
    pairs = pair_frontiers(o)
    assert costs(pairs[(0, 2)].points) == [(1.0, 0.5), (6.0, 1.0)]
    c = compare(three, merged(list(pairs.values())))
    assert not c.dominates
    assert (c.max_shortfall, c.max_gain) == (0.5, 0.0)  # at cost 6 the pair is right on all
    assert not compare(three, pairs[(0, 2)]).dominates
    assert compare(three, pairs[(0, 1)]).dominates


def test_without_singles_the_top_tier_alone_is_not_a_point() -> None:
    o = useless_middle()
    assert costs(frontier(o.take([1, 2]), singles=False).points) == [(2.0, 0.5), (12.0, 1.0)]
    assert costs(frontier(o.take([1, 2])).points) == [(2.0, 0.5), (10.0, 1.0)]


def test_building_and_selecting() -> None:
    o = TierOutcomes.from_maps(
        ["small", "big"],
        [{"x": 1.0, "y": 0.0, "z": 1.0}, {"x": 1.0, "y": 1.0}],
        [{"x": 0.7, "y": 0.2, "z": 0.1}],
        [{"x": 1.0, "y": 1.0, "z": 1.0}, {"x": 3.0, "y": 5.0}],
    )
    assert o.ids == ("x", "y")  # z has no answer from the big tier
    assert o.select(["y"]).ids == ("y",) and o.select(["y"]).cost.tolist() == [[1.0], [5.0]]
    assert candidates(o.confidence[0], 3) == (0.2, 0.7, NEVER)
    with pytest.raises(InvalidInputError):
        TierOutcomes.from_maps(
            ["a", "b"], [{"x": 2.0}, {"x": 1.0}], [{"x": 0.5}], [{"x": 1.0}, {"x": 1.0}]
        )
    with pytest.raises(InvalidInputError):
        o.take([1, 0])
    p, q, r = (Point(("t",), (), c, a, (1.0,)) for c, a in [(2.0, 0.5), (1.0, 0.5), (1.0, 0.6)])
    assert pareto([p, q, r]) == (r,)
    assert frontier(o).accuracy_at(0.5) == 0.0  # below the cheapest point nothing is answered


# -- benchmarks/three_tiers.py on scripted tiers ---------------------------------------------


def load_benchmark(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_script(ROOT / "benchmarks" / "three_tiers.py", monkeypatch)


def test_benchmark_reads_the_run_generates_tier0_and_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = load_benchmark(monkeypatch)
    # tier 1 is right and sure on items 0-3, unsure and wrong on 4-5; tier 2 is always right;
    # items 6-7 have no stored answer yet
    items = [EvalItem(f"mmlu/test/x/{i}", "mmlu", (f"q{i}",), "A", 8) for i in range(8)]
    items.append(EvalItem("gsm8k/test/0", "gsm8k", ("g0",), "4", 16))
    stored = [*items[:6], items[8]]
    mid = ScriptedBackend(
        [generation([-0.01], [0.1], text="A") for _ in range(4)]
        + [generation([-2.0], [1.0], text="B") for _ in range(2)]
        + [generation([-0.01], [0.1], text="#### 4")],
        name="mid",
    )
    top = ScriptedBackend([generation([], text="A")] * 6 + [generation([], text="4")], name="top")
    router = CascadeRouter(mid, top, extra_estimators=["mean_token_entropy"])
    with ResultStore(tmp_path / "eval.sqlite") as store:
        run = store.run("fast", run_config(router))
        evaluate_run(run, stored, router, progress=False)
    config, tables = bench.read_run(tmp_path / "eval.sqlite", "fast")
    assert config["edge"] == "mid" and set(tables) >= {"edge", "cloud", "grade"}
    picked = bench.pick(items, tables, {"mmlu": 5, "gsm8k": 10})
    assert [i.id for i in picked] == [*(f"mmlu/test/x/{i}" for i in range(5)), "gsm8k/test/0"]
    # tier 0 is right and sure on items 0-1, unsure and wrong elsewhere
    answers = [("A", -0.01), ("A", -0.01), ("C", -3.0), ("C", -3.0), ("C", -3.0), ("1", -3.0)]
    small = ScriptedBackend([generation([lp], [-lp], text=t) for t, lp in answers], name="small")
    out = tmp_path / "three"
    t0 = bench.generate(out / "three_tiers.sqlite", picked, small, progress=False)
    assert [t0["grade"][i.id]["edge"] for i in picked] == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    again = bench.generate(out / "three_tiers.sqlite", picked, ScriptedBackend([], name="small"))
    assert again == t0  # resumed: nothing generated twice
    o = bench.tier_outcomes(
        picked, t0, tables, "max_sequence_probability", ("small", "mid", "top"), None
    )
    assert o.ids == tuple(i.id for i in picked) and o.correct[2].tolist() == [1.0] * 6
    assert (o.cost[2] == [tables["cloud"][i]["latency_s"] for i in o.ids]).all()
    prices = {"small": {"output_per_million": 1e6}, "mid": {}, "top": {"output_per_million": 2e6}}
    priced = bench.tier_outcomes(
        picked, t0, tables, "max_sequence_probability", ("small", "mid", "top"), prices
    )
    assert priced.cost[0].tolist() == [1.0] * 6 and priced.cost[1].tolist() == [0.0] * 6
    pytest.importorskip("matplotlib", exc_type=ImportError)
    text, lines = bench.report(o, picked, out, levels=5, note="test")
    assert "## all (6 items)" in text and (out / "report.md").exists()
    assert any(line.startswith("[all] three_tier_dominates_best_pair=") for line in lines)
    assert (out / "three_tiers_all.png").exists()
    _ = json.dumps(lines)
