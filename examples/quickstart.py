"""Quickstart: route a few questions with the embedded defaults (run offline).

pip install torch==2.13.0 && pip install -e ".[local]"
python examples/quickstart.py
"""

from confidence_router import CascadeRouter, LlamaCppModel, OpenAIChatModel, calibrate_threshold
from confidence_router.server import LlamaCppServer

CALIBRATION = [
    "Say hi.",
    "What is 3 + 4?",
    "Prove that sqrt(2) is irrational.",
    "Who wrote Hamlet?",
    "Explain the CAP theorem.",
    "Translate 'good night' to German.",
]

edge = LlamaCppModel()  # Qwen2.5-Coder-0.5B-Instruct on llama.cpp, from PyPI packages
with LlamaCppServer("qwen2.5-coder-1.5b-instruct") as server:  # a real local cloud on 127.0.0.1
    cloud = OpenAIChatModel(server.model_alias, base_url=server.base_url, timeout=300)
    router = CascadeRouter(edge, cloud, max_new_tokens=64)
    threshold = calibrate_threshold(router, CALIBRATION, target_cloud_share=0.5).threshold
    router = router.with_threshold(threshold)
    for question in ["What is the capital of Japan?", "What is 37 * 43?"]:
        answer = router.route(question)
        print(
            f"{question}\n  -> {answer.route} ({answer.reason.value}, "
            f"confidence {answer.confidence:.3f} vs {threshold:.3f}): {answer.text[:80]}"
        )
