"""`MiniLMEmbedding`: LlamaIndex embeddings from the bundled all-MiniLM-L6-v2, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import PrivateAttr

from confidence_router.embeddings import MiniLMEmbedder


class MiniLMEmbedding(BaseEmbedding):
    """The core's `MiniLMEmbedder` as a LlamaIndex `BaseEmbedding` (384 dimensions, unit length),
    so `VectorStoreIndex.from_documents(docs, embed_model=MiniLMEmbedding())` needs no network.
    `path`: another local sentence-transformers folder."""

    model_name: str = "all-MiniLM-L6-v2"
    path: str | None = None
    _embedder: MiniLMEmbedder = PrivateAttr()

    def __init__(self, path: str | Path | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = str(path) if path is not None else None
        self._embedder = MiniLMEmbedder(path)

    @classmethod
    def class_name(cls) -> str:
        return "MiniLMEmbedding"

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return [[float(x) for x in row] for row in self._embedder(texts)]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._get_text_embedding(query)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return self._get_query_embedding(query)

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embedding(text)
