"""Side-by-side baseline for `cargo bench -p eigenbox-tests --bench eval`.

Runs inside the τ²-bench Python reference (../shared/tau2/reference-env.sh): for each domain,
reads the golden evaluator records (`<golden>/<domain>/evals.jsonl`), turns each trajectory into
the reference's messages and a `SimulationRun`, and scores it with the reference's
`evaluate_simulation` (evaluation type ALL, the way the golden rewards were recorded). Prints one
JSON line per domain: records scored, how many reproduced the recorded `reward_info` exactly (a
sanity check of this script), seconds spent in `evaluate_simulation`, and rewards per second.

Usage: reference-env.sh python tests/benches/tau2_eval_reference.py GOLDEN_DIR DATA_DIR [--rounds N] airline retail ...
"""

import json
import sys
import time
import uuid
from pathlib import Path

from loguru import logger

from tau2.data_model.message import AssistantMessage, ToolCall, ToolMessage, UserMessage
from tau2.data_model.simulation import SimulationRun, TerminationReason
from tau2.data_model.tasks import Task
from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation


def task_file(data_dir: Path, domain: str, version: str) -> Path:
    d = data_dir / domain
    if version == "v0.2.0" and (d / "tasks.v0.2.0.json").is_file():
        return d / "tasks.v0.2.0.json"
    return d / "tasks.json"


def load_tasks(path: Path) -> dict:
    raw = json.loads(path.read_text())
    if isinstance(raw, dict):
        raw = raw["tasks"]
    return {t["id"]: Task.model_validate(t) for t in raw}


def to_message(m: dict):
    calls = None
    if m.get("tool_calls") is not None:
        calls = [ToolCall(**tc) for tc in m["tool_calls"]]
    if m["role"] == "assistant":
        return AssistantMessage(role="assistant", content=m.get("content"), tool_calls=calls)
    if m["role"] == "user":
        return UserMessage(role="user", content=m.get("content"), tool_calls=calls)
    if m["role"] == "tool":
        return ToolMessage(
            role="tool",
            id=m["tool_call_id"],
            content=m.get("content"),
            requestor=m.get("requestor", "assistant"),
            error=m.get("error", False),
        )
    raise ValueError(f"unexpected role {m['role']}")


def simulation(rec: dict) -> SimulationRun:
    return SimulationRun(
        id=str(uuid.uuid4()),
        task_id=rec["task_id"],
        start_time="",
        end_time="",
        duration=0.0,
        termination_reason=TerminationReason(rec["termination_reason"]),
        messages=[to_message(m) for m in rec["trajectory"]],
    )


def bench(golden: Path, data: Path, domain: str, rounds: int) -> dict:
    records = [json.loads(l) for l in (golden / domain / "evals.jsonl").read_text().splitlines() if l.strip()]
    records = [r for r in records if not r.get("generation_error")]
    task_sets = {}
    prepared = []
    for r in records:
        version = r.get("version") or "v1.0"
        if version not in task_sets:
            task_sets[version] = load_tasks(task_file(data, domain, version))
        prepared.append((r, task_sets[version][r["task_id"]], simulation(r)))
    matched = 0
    elapsed = 0.0
    for i in range(rounds):
        for rec, task, sim in prepared:
            t = time.perf_counter()
            info = evaluate_simulation(sim, task, EvaluationType.ALL, solo_mode=False, domain=domain)
            elapsed += time.perf_counter() - t
            if i == 0 and info.model_dump(mode="json") == rec["reward_info"]:
                matched += 1
    n = len(prepared) * rounds
    return {
        "domain": domain,
        "records": len(prepared),
        "matched": matched,
        "evaluations": n,
        "seconds": elapsed,
        "rewards_per_s": n / elapsed if elapsed > 0 else 0.0,
    }


# The reference logs every tool response at DEBUG; a benchmark measures the evaluator, not logging.
logger.remove()
logger.add(sys.stderr, level="ERROR")

args = sys.argv[1:]
rounds = 1
if "--rounds" in args:
    i = args.index("--rounds")
    rounds = int(args[i + 1])
    del args[i : i + 2]
golden_dir, data_dir, *domains = args
for d in domains:
    print(json.dumps(bench(Path(golden_dir), Path(data_dir), d, rounds)), flush=True)
