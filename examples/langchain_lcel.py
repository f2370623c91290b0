"""An LCEL chain with the routed chat model, offline on the embedded defaults; prints the routes.

pip install torch==2.13.0 && pip install -e ".[local,langchain]"
python examples/langchain_lcel.py
"""

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from confidence_router import LlamaCppModel, OpenAIChatModel
from confidence_router.server import LlamaCppServer
from langchain_confidence_router import ChatConfidenceRouter

prompt = ChatPromptTemplate.from_messages([("user", "{question}")])
QUESTIONS = ["What is the capital of France?", "What is 48 * 52? Show the steps."]

with LlamaCppServer("qwen2.5-coder-1.5b-instruct") as server:
    chat = ChatConfidenceRouter(
        edge=LlamaCppModel(),
        cloud=OpenAIChatModel(server.model_alias, base_url=server.base_url, timeout=300),
        threshold=0.6,
        max_new_tokens=96,
    )
    chain = prompt | chat
    for question in QUESTIONS:
        message = chain.invoke({"question": question})
        routing = message.response_metadata["routing"]
        print(
            f"{question}\n  route={routing['route']} reason={routing['reason']} "
            f"confidence={routing['confidence']}\n  {message.text[:120]!r}"
        )
    # Streaming: an edge answer arrives once scored, an escalated one token by token.
    text_chain = prompt | chat | StrOutputParser()
    for piece in text_chain.stream({"question": QUESTIONS[1]}):
        print(piece, end="", flush=True)
    print()
