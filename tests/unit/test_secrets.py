"""API keys stay out of reprs, records and errors; nothing the project loads is unpickled."""

from __future__ import annotations

import re
import traceback
from pathlib import Path

import pytest
from pydantic import SecretStr

from confidence_router import (
    BackendError,
    CascadeRouter,
    ConfigurationError,
    FailurePolicy,
    OpenAIChatModel,
)
from confidence_router.secrets import MASK, redact, secret_values

from .helpers import ScriptedBackend, generation

KEY = "sk-unit-9f8e7d6c5b4a3210"
ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "shared/confidence_router",
    "langchain_confidence_router",
    "llamaindex_confidence_router",
)


class Holder:
    def __init__(self) -> None:
        self.api_key = SecretStr(KEY)
        self.session_token = "tok-abcdefgh"
        self.name = "not a secret at all"
        self.password = "x"  # too short to be a key: a placeholder


def test_secret_values_and_redact() -> None:
    assert sorted(secret_values(Holder())) == sorted([KEY, "tok-abcdefgh"])
    assert redact(f"bad key {KEY}!", [KEY]) == f"bad key {MASK}!"
    assert redact("none", ["none"]) == "none"  # placeholders are not masked


def test_openai_backend_keeps_its_key_secret() -> None:
    model = OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1", api_key=KEY)
    assert isinstance(model.api_key, SecretStr)
    assert KEY not in repr(model) and KEY not in str(model.api_key)
    assert model.secret_values() == [KEY]


def test_a_leaking_foreign_error_is_masked_and_not_chained() -> None:
    class KeyedCloud(ScriptedBackend):
        def __init__(self) -> None:
            super().__init__([RuntimeError(f"401 Incorrect API key provided: {KEY}")])
            self.api_key = SecretStr(KEY)

    edge = ScriptedBackend([generation([-2.0, -2.0], text="edge")])
    router = CascadeRouter(edge, KeyedCloud(), failure_policy=FailurePolicy(fallback="raise"))
    with pytest.raises(BackendError) as info:
        router.route("q")
    printed = "".join(traceback.format_exception(info.value))
    assert KEY not in printed and MASK in printed
    assert info.value.edge_answer is not None
    assert KEY not in info.value.edge_answer.model_dump_json()


def test_configuration_errors_name_the_field() -> None:
    with pytest.raises(ConfigurationError) as info:
        OpenAIChatModel("m", timeout=0)
    assert info.value.field == "timeout"


def test_nothing_is_unpickled() -> None:
    """Router artifacts, stores and models are read as JSON, SQLite, safetensors or GGUF:
    no module imports pickle (or a pickle-based loader)."""
    forbidden = re.compile(
        r"^\s*(import|from)\s+(pickle|cPickle|dill|joblib|cloudpickle|shelve)\b"
        r"|torch\.load\(|allow_pickle\s*=\s*True|pd\.read_pickle",
        re.M,
    )
    offenders = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if forbidden.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
