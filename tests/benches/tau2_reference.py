"""Side-by-side baseline for `cargo bench -p eigenbox-tests --bench domains`.

Runs inside the τ²-bench Python reference (../shared/tau2/reference-env.sh): for each domain,
replays every v1.0 task's reference actions on a fresh environment and prints one JSON line with
tool calls per second (calls only), the cost of a fresh episode (get_environment + set_state),
and the cost of one agent-DB hash.

Usage: reference-env.sh python tests/benches/tau2_reference.py airline retail ...
"""

import json
import sys
import time

from loguru import logger

from tau2.data_model.message import ToolCall
from tau2.registry import registry


def bench(domain: str) -> dict:
    make_env = registry.get_env_constructor(domain)
    tasks = registry.get_tasks_loader(domain)(None)
    calls = 0
    call_time = 0.0
    episode_times = []
    for task in tasks:
        started = time.perf_counter()
        env = make_env()
        state = task.initial_state
        if state is not None:
            env.set_state(state.initialization_data, state.initialization_actions, state.message_history or [])
        episode_times.append(time.perf_counter() - started)
        actions = (task.evaluation_criteria.actions or []) if task.evaluation_criteria else []
        for action in actions:
            tc = ToolCall(id="x", name=action.name, arguments=action.arguments, requestor=action.requestor)
            t = time.perf_counter()
            env.get_response(tc)
            call_time += time.perf_counter() - t
            calls += 1
    env = make_env()
    hashes = []
    for _ in range(5):
        t = time.perf_counter()
        env.get_db_hash()
        hashes.append(time.perf_counter() - t)
    episode_times.sort()
    hashes.sort()
    return {
        "domain": domain,
        "tasks": len(tasks),
        "calls": calls,
        "calls_per_s": calls / call_time if call_time > 0 else 0.0,
        "episode_p50_s": episode_times[len(episode_times) // 2],
        "hash_p50_s": hashes[len(hashes) // 2],
    }


# The reference logs every tool response at DEBUG; a benchmark measures the tools, not logging.
logger.remove()
logger.add(sys.stderr, level="WARNING")

for d in sys.argv[1:]:
    print(json.dumps(bench(d)), flush=True)
