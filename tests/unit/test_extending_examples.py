"""`examples/extending/`: each example runs offline, and its one decorator is all it takes for
the library (and the CLI) to know the extension by name."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import pytest

from confidence_router.cli import _parser
from confidence_router.routers import ROUTERS
from confidence_router.uncertainty import EQUIVALENCES, ESTIMATORS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "extending"

pytestmark = pytest.mark.usefixtures("clean_registries")


def load(name: str) -> ModuleType:
    """The example module, imported from its file (its registration undone after the test)."""
    spec = importlib.util.spec_from_file_location(f"extending_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_new_estimator(capsys: pytest.CaptureFixture[str]) -> None:
    example = load("estimator")
    assert ESTIMATORS["min_token_probability"] is example.MinTokenProbability
    out = example.main()
    sure, _, sure_route = out["Capital of France?"]
    shaky, shaky_msp, shaky_route = out["When did it happen?"]
    assert sure > 0.9 and sure_route == "edge"
    assert shaky == pytest.approx(math.exp(-2.3)) and shaky_route == "cloud"
    assert shaky_msp > 0.5  # the mean would have kept the guessed digit at the edge
    assert "min token p" in capsys.readouterr().out
    args = ["calibrate", "--prompts", "p.txt", "--target-cloud-share", "0.3"]
    assert _parser().parse_args([*args, "--estimator", "min_token_probability"])


def test_new_equivalence() -> None:
    example = load("equivalence")
    assert EQUIVALENCES["same_keywords"] is example.SameKeywords
    out = example.main()
    assert out["clusters"] == (0, 0, 1, 2, 0)  # "Paris" alone lacks "capital"
    assert out["num_semantic_sets"] == pytest.approx(0.5)  # 3 meanings among 5 samples
    entropy = -(0.6 * math.log(0.6) + 2 * 0.2 * math.log(0.2))
    assert out["semantic_entropy"] == pytest.approx(1 - entropy / math.log(5))
    eval_args = ["eval", "--data", "x.jsonl", "--equivalence", "same_keywords"]
    assert _parser().parse_args(eval_args).equivalence == "same_keywords"


def test_new_router() -> None:
    example = load("router")
    assert ROUTERS["centroid"] is example.CentroidRouter
    assert example.main() > 0.85
    args = ["train", "--battles", "b.csv", "--out", "r", "--router", "centroid"]
    assert _parser().parse_args(args).router == "centroid"
