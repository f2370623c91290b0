"""`TransformersModel`'s default dtype: bfloat16 where the device computes it natively, else
float32 (measured by benchmarks/edge_runtime.py); an explicit dtype always wins."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from confidence_router.models.transformers import TransformersModel, loading
from confidence_router.models.transformers.loading import default_dtype, native_bf16

from .tiny_model import build_tiny_model


@pytest.mark.parametrize(("native", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_the_default_follows_native_bfloat16_support(
    monkeypatch: pytest.MonkeyPatch, native: bool, expected: str
) -> None:
    monkeypatch.setattr(loading, "native_bf16", lambda device="cpu": native)
    assert default_dtype("cpu") == expected


def test_an_unknown_device_is_not_assumed_to_compute_bfloat16() -> None:
    assert native_bf16("mps:7") is False
    if not torch.cuda.is_available():
        assert native_bf16("cuda") is False


@pytest.mark.parametrize(
    ("avx512_bf16", "amx", "expected"),
    [(True, False, True), (False, True, True), (False, False, False)],
)
def test_a_cpu_computes_bfloat16_natively_only_with_avx512_bf16_or_amx(
    monkeypatch: pytest.MonkeyPatch, avx512_bf16: bool, amx: bool, expected: bool
) -> None:
    """oneDNN's own check says yes on any AVX-512 CPU, which only emulates bfloat16."""
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert native_bf16("cpu") is expected


@pytest.mark.parametrize("native", [True, False])
def test_the_model_loads_in_the_default_dtype_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    monkeypatch.setattr(loading, "native_bf16", lambda device="cpu": native)
    folder = build_tiny_model(tmp_path / "tiny")
    model = TransformersModel(folder)
    expected = torch.bfloat16 if native else torch.float32
    assert model.dtype == default_dtype("cpu")
    assert next(model.model.parameters()).dtype == expected
    told = TransformersModel(folder, dtype="float32")
    assert told.dtype == "float32" and next(told.model.parameters()).dtype == torch.float32
