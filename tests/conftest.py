"""Shared test settings (never reach a model hub) and the real-model fixtures."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import importlib.util

import pytest

from tests.conftest_models import (  # noqa: F401
    big_cloud,
    cloud,
    cloud_server,
    edge,
    qwen_edge,
    small_edge,
    transformers_edge,
)

_REAL = {
    "edge",
    "cloud",
    "cloud_server",
    "qwen_edge",
    "big_cloud",
    "transformers_edge",
    "small_edge",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on real models and servers are `integration`, wherever they live. Tests marked `ray`
    (they start a local Ray instance) run only with Ray installed and
    `CONFIDENCE_ROUTER_RAY_TESTS=1`."""
    ray_ready = (
        os.environ.get("CONFIDENCE_ROUTER_RAY_TESTS") == "1"
        and importlib.util.find_spec("ray") is not None
    )
    skip_ray = pytest.mark.skip(reason="needs the [ray] extra and CONFIDENCE_ROUTER_RAY_TESTS=1")
    for item in items:
        if "/integration/" in str(item.path) or _REAL & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
        if not ray_ready and item.get_closest_marker("ray") is not None:
            item.add_marker(skip_ray)
