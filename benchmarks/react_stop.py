"""The ReAct stop (`tools/react.py`): a ReAct step with and without `\\nObservation:` as a stop.

The prompts are the ones LlamaIndex's `ReActAgent` sends for the two-step agent of
`tests/integration/test_two_step_agents.py` ((17 x 23) + 5, tools `multiply` and `add`): the
first step, and the second after "Observation: 391". Each tier generates each step with the
router's default options (the edge: greedy with log-probs, 512 new tokens; the cloud, the local
server's Qwen2.5-Coder-1.5B: 512), once with the stop the router now adds and once without,
alternating, `--repeats` times (greedy: the same text each time). Printed per tier and step:
output tokens, seconds, and whether the text up to the first `Observation:` is the same; the
last lines are `react_stop_time_ratio_<tier>=<with stop / without>` over both steps.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from llama_index.core.agent.react.formatter import ReActChatFormatter
from llama_index.core.agent.react.types import ActionReasoningStep, ObservationReasoningStep
from llama_index.core.tools import FunctionTool

from confidence_router import OpenAIChatModel
from confidence_router.generation import GenerationOptions
from confidence_router.messages import ChatMessage
from confidence_router.models.base import ChatBackend
from confidence_router.models.llama_cpp import LlamaCppModel
from confidence_router.server import LlamaCppServer
from confidence_router.tools.react import REACT_STOP

QUESTION = (
    "What is 17 times 23, plus 5? First use the multiply tool, then use the add tool on its "
    "result. Answer with the final number."
)


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def steps() -> dict[str, list[ChatMessage]]:
    """LlamaIndex's ReAct messages for the first step and for the second (after 391)."""
    tools = [FunctionTool.from_defaults(fn=multiply), FunctionTool.from_defaults(fn=add)]
    user = [ChatMessage(role="user", content=QUESTION)]
    action = ActionReasoningStep(
        thought="I need to use a tool to help me answer the question.",
        action="multiply", action_input={"a": 17, "b": 23},
    )  # fmt: skip
    out = {}
    for name, reasoning in (("step 1", []), ("step 2", [action, ObservationReasoningStep(
            observation="391")])):  # fmt: skip
        header = ReActChatFormatter.from_defaults().format(tools, [], current_reasoning=reasoning)
        system, rest = header[0], header[1:]
        out[name] = (
            [ChatMessage(role="system", content=system.content or "")]
            + user
            + [
                ChatMessage.model_validate({"role": m.role.value, "content": m.content or ""})
                for m in rest
            ]
        )
    return out


def run(
    backend: ChatBackend, messages: Sequence[ChatMessage], stop: bool, logprobs: bool
) -> tuple[float, str, int]:
    """Seconds, text and output tokens of one greedy generation."""
    options = GenerationOptions(
        max_new_tokens=512, logprobs=logprobs, stop=(REACT_STOP,) if stop else ()
    )
    start = time.perf_counter()
    generation = backend.generate(list(messages), options)
    return time.perf_counter() - start, generation.greedy.text, generation.usage.output_tokens


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    prompts = steps()
    with LlamaCppModel("qwen2.5-coder-0.5b-instruct") as edge, LlamaCppServer() as server:
        cloud = OpenAIChatModel(
            server.model_alias, base_url=server.base_url, timeout=600, context_window=server.n_ctx
        )
        for tier, backend, logprobs in (("edge", edge, True), ("cloud", cloud, False)):
            totals = {True: 0.0, False: 0.0}
            for step, messages in prompts.items():
                seconds: dict[bool, list[float]] = {True: [], False: []}
                seen: dict[bool, tuple[str, int]] = {}
                for _ in range(args.repeats):
                    for stop in (False, True):
                        s, text, tokens = run(backend, messages, stop, logprobs)
                        seconds[stop].append(s)
                        seen[stop] = (text, tokens)
                for stop in (False, True):
                    totals[stop] += min(seconds[stop])
                same = seen[False][0].split("Observation:")[0].rstrip() == seen[True][0].rstrip()
                print(f"{tier:<5} {step}: tokens {seen[False][1]:>4} -> {seen[True][1]:>4}, "
                      f"s {min(seconds[False]):6.1f} -> {min(seconds[True]):6.1f}, "
                      f"text before the observation same: {same}")  # fmt: skip
                print(f"      with the stop: {seen[True][0][:160]!r}")
            print(f"react_stop_time_ratio_{tier}={totals[True] / totals[False]:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
