"""A LlamaIndex query engine over the notes in `examples/docs/`, answered through the router,
offline: local MiniLM embeddings, SmolLM2 edge in-process, Qwen2.5-Coder-1.5B cloud behind the
local llama.cpp server. Each answer's route is printed.

    pip install torch==2.13.0 && pip install -e ".[local,llamaindex]"
    python examples/llamaindex_query_engine.py
"""

from pathlib import Path
from typing import Any

from llama_index.core import Settings, SimpleDirectoryReader, VectorStoreIndex
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent

from confidence_router import LlamaCppModel, OpenAIChatModel
from confidence_router.server import LlamaCppServer
from llamaindex_confidence_router import ConfidenceRouterLLM, MiniLMEmbedding, RoutingDecisionEvent

QUESTIONS = [
    "How many beds does the Lindenhütte have?",
    "How long does the trail from the Feldberg railway station take?",
    "How much does a private room cost, and can I pay by card?",
]


class PrintRoutes(BaseEventHandler):
    """Prints each routing decision as LlamaIndex's instrumentation emits it."""

    @classmethod
    def class_name(cls) -> str:
        return "PrintRoutes"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, RoutingDecisionEvent):
            d = event.decision
            confidence = "n/a" if d["confidence"] is None else f"{d['confidence']:.3f}"
            print(f"  route={d['route']} reason={d['reason']} confidence={confidence}")


get_dispatcher().add_event_handler(PrintRoutes())
docs = SimpleDirectoryReader(
    str(Path(__file__).parent / "docs"), required_exts=[".md"], exclude=["README.md"]
).load_data()
Settings.embed_model = MiniLMEmbedding()  # no network: the bundled all-MiniLM-L6-v2
index = VectorStoreIndex.from_documents(docs)

with LlamaCppServer("qwen2.5-coder-1.5b-instruct") as server:
    cloud = OpenAIChatModel(
        server.model_alias, base_url=server.base_url, timeout=300, context_window=server.n_ctx
    )
    llm = ConfidenceRouterLLM(edge=LlamaCppModel(), cloud=cloud, threshold=0.6, max_new_tokens=64)
    engine = index.as_query_engine(llm=llm, similarity_top_k=2)
    for question in QUESTIONS:
        print(f"Q: {question}")
        answer = engine.query(question)
        print(f"A: {str(answer).strip()}\n")
