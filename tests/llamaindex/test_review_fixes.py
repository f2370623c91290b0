"""Review fix in the LlamaIndex adapter, on scripted tiers: an image goes to the cloud with its
blocks, as OpenAI content parts, instead of being refused or flattened."""

from __future__ import annotations

import math

from llama_index.core.base.llms.types import ChatMessage, ImageBlock, MessageRole, TextBlock

from confidence_router import CascadeRouter, Reason
from llamaindex_confidence_router import ConfidenceRouterLLM
from llamaindex_confidence_router.messages import from_core_messages
from tests.unit.helpers import ScriptedBackend, generation

SURE = generation([math.log(0.95)] * 3, text="edge sure")
CLOUD = generation([], text="cloud answer")
PNG = b"\x89PNG\r\n\x1a\n"


def test_an_image_goes_to_the_cloud_with_its_blocks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    edge = ScriptedBackend([SURE], name="edge-model")
    cloud = ScriptedBackend([CLOUD, CLOUD, CLOUD], name="cloud-model")
    llm = ConfidenceRouterLLM(router=CascadeRouter(edge, cloud, threshold=0.5))
    picture = tmp_path / "p.png"
    picture.write_bytes(PNG)
    for block, url in (
        (ImageBlock(url="https://example.com/cat.png"), "https://example.com/cat.png"),
        (ImageBlock(image=PNG, image_mimetype="image/png"), "data:image/png;base64,iVBORw0KGgo="),
        (
            ImageBlock(path=picture, image_mimetype="image/png"),
            "data:image/png;base64,iVBORw0KGgo=",
        ),
    ):
        message = ChatMessage(role=MessageRole.USER, blocks=[TextBlock(text="What is it?"), block])
        response = llm.chat([message])
        routing = response.raw["routing"]  # type: ignore[index]
        assert routing["route"] == "cloud"
        assert routing["reason"] == Reason.UNSUPPORTED_CONTENT.value
        sent = cloud.calls[-1][0][-1]
        assert sent.content == "What is it?"
        assert sent.to_openai()["content"][1] == {"type": "image_url", "image_url": {"url": url}}
        back = from_core_messages([sent])[0]
        assert isinstance(back.blocks[1], ImageBlock)
    assert edge.calls == []
