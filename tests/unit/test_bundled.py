import hashlib
from pathlib import Path

import pytest

from confidence_router.errors import ModelLoadError
from confidence_router.models.bundled import BUNDLED, join_parts, resolve_model_path


def parts(tmp_path: Path, chunks: list[bytes]) -> list[Path]:
    out = []
    for i, chunk in enumerate(chunks, 1):
        p = tmp_path / f"part{i:02d}.bin"
        p.write_bytes(chunk)
        out.append(p)
    return out


def test_join_checks_and_writes(tmp_path: Path) -> None:
    data = [b"GGUF" + b"a" * 10, b"b" * 7]
    digest = hashlib.sha256(b"".join(data)).hexdigest()
    target = join_parts(parts(tmp_path, data), tmp_path / "cache" / "m.gguf", 21, digest)
    assert target.read_bytes() == b"".join(data)
    assert (tmp_path / "cache" / "m.gguf.sha256").read_text().strip() == digest


def test_join_refuses_wrong_hash_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "m.gguf"
    with pytest.raises(ModelLoadError, match="SHA-256"):
        join_parts(parts(tmp_path, [b"GGUF", b"x"]), target, 5, "0" * 64)
    assert not target.exists() and not list(target.parent.glob("*.partial"))


def test_join_refuses_bad_magic_and_size(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="GGUF"):
        join_parts(parts(tmp_path, [b"NOPE"]), tmp_path / "m.gguf", 4, "0" * 64)
    with pytest.raises(ModelLoadError, match="expected 99"):
        join_parts(parts(tmp_path, [b"GGUF"]), tmp_path / "m.gguf", 99, "0" * 64)


def test_unknown_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="nothing is downloaded"):
        resolve_model_path(tmp_path / "missing")
    with pytest.raises(ModelLoadError, match="neither a bundled"):
        resolve_model_path("org/some-hub-model")


def test_pinned_hashes() -> None:
    assert {m.name for m in BUNDLED.values()} >= {
        "smollm2-135m-instruct",
        "qwen2.5-coder-1.5b-instruct",
    }
    assert all(len(m.sha256) == 64 for m in BUNDLED.values())
