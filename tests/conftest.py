"""Shared test settings (never reach a model hub) and the real-model fixtures."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

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
    """Tests on real models and servers are `integration`, wherever they live."""
    for item in items:
        if "/integration/" in str(item.path) or _REAL & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
