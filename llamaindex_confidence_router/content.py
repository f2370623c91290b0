"""LlamaIndex content blocks beyond text as OpenAI content parts (images, audio, documents), so
a request with them reaches a tier that can read them with nothing dropped."""

from __future__ import annotations

import base64
from typing import Any

from llama_index.core.base.llms.types import AudioBlock, DocumentBlock, ImageBlock

from confidence_router import InvalidInputError

MEDIA_BLOCKS = (ImageBlock, AudioBlock, DocumentBlock)


def _b64(stream: Any) -> str:
    data = stream.read()
    return data.decode("ascii") if isinstance(data, bytes) else str(data)


def media_part(block: Any, where: str) -> dict[str, Any]:
    """One image, audio or document block as an OpenAI content part."""
    try:
        if isinstance(block, ImageBlock):
            if block.url is not None and block.image is None and block.path is None:
                url = str(block.url)
            else:
                mime = block.image_mimetype or "image/png"
                url = f"data:{mime};base64,{_b64(block.resolve_image(as_base64=True))}"
            image: dict[str, Any] = {"url": url}
            if block.detail:
                image["detail"] = block.detail
            return {"type": "image_url", "image_url": image}
        if isinstance(block, AudioBlock):
            data = _b64(block.resolve_audio(as_base64=True))
            return {"type": "input_audio", "input_audio": {"data": data, "format": block.format}}
        if isinstance(block, DocumentBlock):
            raw = block.resolve_document().read()
            data = base64.b64encode(raw if isinstance(raw, bytes) else str(raw).encode()).decode()
            mime = block.document_mimetype or "application/pdf"
            file = {"file_data": f"data:{mime};base64,{data}", "filename": block.title}
            return {"type": "file", "file": file}
    except (OSError, ValueError) as exc:
        raise InvalidInputError(
            f"{where}: could not read the {type(block).__name__}: {exc}"
        ) from exc
    raise InvalidInputError(f"{where}: {type(block).__name__} content is not supported")


def media_block(part: dict[str, Any]) -> Any | None:
    """An OpenAI image part back as an `ImageBlock` (a LlamaIndex LLM as a tier); None for
    parts without a LlamaIndex block here."""
    if part.get("type") == "image_url":
        url = (part.get("image_url") or {}).get("url", "")
        if url.startswith("data:") and ";base64," in url:
            head, data = url.split(";base64,", 1)
            return ImageBlock(image=data.encode("ascii"), image_mimetype=head[len("data:") :])
        return ImageBlock(url=url)
    return None
