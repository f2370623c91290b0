"""The paper's pipeline in miniature, offline: SE labels -> a trained router -> a HybridRouter
behind LangChain.

1. Phase 1: 5 samples from the edge and from the cloud for each training question; each tier's
   semantic entropy, stored in a resumable SQLite store (`router_demo/phase1.sqlite`).
2. Phase 2: SE preference labels (tau = 0.1), written as RouteLLM battles (`battles.csv`).
3. Phase 3: an SW-ranking router on MiniLM embeddings of the questions, saved as safetensors +
   JSON and loaded back (a router trained on another embedding model would be refused).
4. A `HybridRouter`: clear cases go straight to one tier, the uncertain middle through the
   cascade, as a LangChain chat model.

With SmolLM2-135M as the edge every label went to the cloud in our run (at T = 1 the tiny model's
samples rarely agree, even on "Repeat exactly: blue"), so the router learns to send these
questions to the cloud; a stronger edge gives mixed labels. A real router wants hundreds of
training prompts (`benchmarks/paper_table1.py` part 2 uses 360).

    pip install torch==2.13.0 && pip install -e ".[local,langchain]"
    python examples/predictive_router.py
"""

from pathlib import Path

from confidence_router import HybridRouter, LlamaCppModel, OpenAIChatModel
from confidence_router.embeddings import MiniLMEmbedder
from confidence_router.evaluation import EvalItem, ResultStore
from confidence_router.routers import load_router
from confidence_router.server import LlamaCppServer
from confidence_router.training import write_battles
from confidence_router.training.phase1 import collect_se, se_battles
from confidence_router.training.train import train_router
from langchain_confidence_router import ChatConfidenceRouter

TRAIN = [
    "What is 2 + 3?",
    "What is 10 - 4?",
    "How many legs does a cat have?",
    "What is 6 times 7?",
    "What is 37 * 43?",
    "What is 1234 + 5678?",
    "A train travels 60 km per hour for 2.5 hours. How many km does it travel?",
    "What is 15% of 240?",
    "Repeat exactly: blue",
    "Repeat exactly: apple",
    "Say the word yes.",
    "Reply with the single word: hello",
]
OUT = Path("router_demo")

OUT.mkdir(exist_ok=True)
edge = LlamaCppModel()  # Qwen2.5-Coder-0.5B-Instruct on llama.cpp
embed = MiniLMEmbedder()
with LlamaCppServer("qwen2.5-coder-1.5b-instruct") as server:
    cloud = OpenAIChatModel(server.model_alias, base_url=server.base_url, timeout=300)
    items = [EvalItem(f"q{i}", "own", (q,), max_new_tokens=48) for i, q in enumerate(TRAIN)]
    with ResultStore(OUT / "phase1.sqlite") as store:  # rerun: nothing is sampled twice
        run = store.run("demo", {"edge": edge.model_name, "cloud": cloud.model_name})
        collect_se(run, items, edge, cloud)
        battles = se_battles(
            run, items, edge_model=edge.model_name, cloud_model=cloud.model_name, tau=0.1
        )
    write_battles(battles, OUT / "battles.csv")
    for b in battles:
        print(f"label {b.winner:>5}: {b.prompt}")

    trained = train_router(
        battles, "sw_ranking", embed, embedding_model=embed.key, tau=0.1, labels="semantic_entropy"
    )
    predictor = load_router(trained.save(OUT / "sw_router"), embedding_model=embed.key)

    router = HybridRouter(edge, cloud, predictor, embed, predict_band=(0.3, 0.7), max_new_tokens=64)
    chat = ChatConfidenceRouter(router=router)
    for question in ["What is 48 * 52?", "Repeat exactly: green"]:
        reply = chat.invoke(question)
        routing = reply.response_metadata["routing"]
        print(
            f"{question}\n  -> {routing['route']} ({routing['reason']}, "
            f"P(cloud wins) {routing['scores'].get('p_cloud', float('nan')):.2f}): "
            f"{str(reply.content)[:80]!r}"
        )
