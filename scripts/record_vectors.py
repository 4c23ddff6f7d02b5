"""Record conformance vectors from the τ²-bench Python reference, in the golden format.

Runs inside the reference (../shared/tau2/reference-env.sh). For each domain it writes
`<out>/<domain>/replays.jsonl` (every task of `tasks.json` and, where it differs,
`tasks.v0.2.0.json`, all splits, each task's reference actions replayed on a fresh
environment), `<out>/<domain>/probes.jsonl` (single calls on a fresh environment: valid
calls built from the tasks' own arguments, bad values, missing and extra arguments, unknown
tools, the wrong requestor), `<out>/<domain>/evals.jsonl` (trajectories built from each v1.0
task's reference actions in five variants, as the public golden evaluator records are: gold,
drop_last_write, alter_arg, max_steps, no_communicate; each scored by the reference's
`evaluate_simulation`, evaluation type ALL), plus `tools.json`. `eigenbox conformance <out>` then checks
eigenbox against all of it: this is how the domains are checked on tasks and probes beyond the
public golden vectors.

Usage:
  ../shared/tau2/reference-env.sh python scripts/record_vectors.py OUT [--probes N] [--seed S]
      [--domains airline,retail,telecom,mock]
"""

import argparse
import json
import os
import random
import sys
from pathlib import Path

from loguru import logger

from tau2.data_model.message import AssistantMessage, ToolCall, ToolMessage, UserMessage
from tau2.data_model.simulation import SimulationRun, TerminationReason
from tau2.data_model.tasks import Task
from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation
from tau2.registry import registry

logger.remove()
logger.add(sys.stderr, level="ERROR")

DATA = Path(os.environ["TAU2_DATA_DIR"]) / "tau2" / "domains"

# Values a probe puts in place of an argument: the public probes' pool, and more of the
# same spirit (unicode, huge and fractional numbers, numeric strings, nesting). Integers beyond
# 64 bits are left out: eigenbox's JSON layer reads them as floats (a known difference,
# docs/benchmarks.md).
BAD_VALUES = [
    0, 123, 1e18, "", [], "   ", "1' OR '1'='1", True, {}, None, -5, "does_not_exist_999", "x",
    False, 1.5, -0.0, 2**63 - 1, -(2**63), 1e300, "12", "1e3", "3.0", "NaN", "inf", "é\u00e9\u4e2d\U0001F600",
    "\u0000", "a" * 300, [1, 2], ["x"], [{}], {"a": 1}, [[]], 2.5e-7, "null", "true", "[]",
    "2024-05-15", "2024-13-45", "economy", "business", "basic_economy", "yes", "no", "USA",
]


def env_for(domain):
    return registry.get_env_constructor(domain)()


def hashes(env):
    return env.get_db_hash(), env.get_user_db_hash()


def load_tasks(domain, name):
    path = DATA / domain / name
    if not path.exists():
        return []
    return [Task.model_validate(t) for t in json.loads(path.read_text())]


def splits(domain):
    path = DATA / domain / "split_tasks.json"
    out = {}
    if path.exists():
        for split, ids in json.loads(path.read_text()).items():
            if split == "base":
                continue
            for i in ids:
                out.setdefault(i, split)
    return out


def replay(domain, version, task, split):
    rec = {"domain": domain, "version": version, "task_id": task.id, "split": split}
    try:
        env = env_for(domain)
        st = task.initial_state
        if st is not None:
            env.set_state(st.initialization_data, st.initialization_actions, st.message_history or [])
        a, u = hashes(env)
        rec["initial_agent_db_hash"], rec["initial_user_db_hash"] = a, u
        calls = []
        crit = task.evaluation_criteria
        for act in (crit.actions or []) if crit else []:
            tc = ToolCall(id="x", name=act.name, arguments=act.arguments, requestor=act.requestor)
            msg = env.get_response(tc)
            a, u = hashes(env)
            calls.append({"name": act.name, "requestor": act.requestor, "arguments": act.arguments,
                          "response": msg.content, "error": msg.error,
                          "agent_db_hash_after": a, "user_db_hash_after": u})
        rec["calls"] = calls
        rec["final_agent_db_hash"], rec["final_user_db_hash"] = hashes(env)
        checks = []
        for ea in (crit.env_assertions or []) if crit else []:
            met = env.run_env_assertion(ea, raise_assertion_error=False)
            checks.append({"assertion": ea.model_dump(), "met": met})
        rec["env_assertions"] = checks
    except Exception as e:  # the reference itself failed: kept for information
        rec["generation_error"] = f"{type(e).__name__}: {e}"
    return rec


def to_message(m):
    calls = [ToolCall(**tc) for tc in m["tool_calls"]] if m.get("tool_calls") is not None else None
    if m["role"] == "assistant":
        return AssistantMessage(role="assistant", content=m.get("content"), tool_calls=calls)
    if m["role"] == "user":
        return UserMessage(role="user", content=m.get("content"), tool_calls=calls)
    return ToolMessage(role="tool", id=m["tool_call_id"], content=m.get("content"),
                       requestor=m.get("requestor", "assistant"), error=m.get("error", False))


def trajectory(domain, task, actions, final):
    """Greeting, the actions as tool calls with the environment's answers, a closing message."""
    env = env_for(domain)
    st = task.initial_state
    if st is not None:
        env.set_state(st.initialization_data, st.initialization_actions, [])
    msgs = [{"role": "assistant", "content": "Hi! How can I help you today?"},
            {"role": "user", "content": "I need help with my request."}]
    for i, act in enumerate(actions):
        call = {"id": f"call_{i}", "name": act.name, "arguments": act.arguments, "requestor": act.requestor}
        msgs.append({"role": act.requestor, "content": None, "tool_calls": [call]})
        r = env.get_response(ToolCall(**call))
        msgs.append({"role": "tool", "content": r.content, "tool_call_id": call["id"], "requestor": act.requestor, "error": r.error})
    msgs.append({"role": "assistant", "content": final})
    msgs.append({"role": "user", "content": "Thanks! ###STOP###"})
    return msgs


def evals(domain, tasks, split_of, known, rng):
    out = []
    env0 = env_for(domain)
    writes = {name for (_, name) in tool_table(env0) if env0._is_mutating_tool(name)}
    for task in tasks:
        crit = task.evaluation_criteria
        if task.id in known or crit is None or (task.initial_state and task.initial_state.message_history):
            continue
        actions = list(crit.actions or [])
        info = list(crit.communicate_info or [])
        done = " ".join(["Done."] + info)
        variants = [("gold", actions, done, "user_stop")]
        w = [i for i, a in enumerate(actions) if a.name in writes]
        if w:
            variants.append(("drop_last_write", actions[: w[-1]] + actions[w[-1] + 1 :], done, "user_stop"))
        s = [(i, k) for i, a in enumerate(actions) for k, v in sorted(a.arguments.items()) if isinstance(v, str)]
        if s:
            i, k = rng.choice(s)
            altered = actions[i].model_copy(deep=True)
            altered.arguments[k] = altered.arguments[k] + "_x"
            variants.append(("alter_arg", actions[:i] + [altered] + actions[i + 1 :], done, "user_stop"))
        variants.append(("max_steps", actions, done, "max_steps"))
        variants.append(("no_communicate", actions, "Done.", "user_stop"))
        for variant, acts, final, reason in variants:
            rec = {"domain": domain, "task_id": task.id, "split": split_of.get(task.id, "none"), "variant": variant,
                   "termination_reason": reason, "version": "v0.2.0" if domain == "telecom" else "v1.0"}
            try:
                rec["trajectory"] = trajectory(domain, task, acts, final)
                sim = SimulationRun(id="x", task_id=task.id, start_time="", end_time="", duration=0.0,
                                    termination_reason=TerminationReason(reason),
                                    messages=[to_message(m) for m in rec["trajectory"]])
                info_ = evaluate_simulation(sim, task, EvaluationType.ALL, solo_mode=False, domain=domain)
                rec["reward_info"] = info_.model_dump(mode="json")
            except Exception as e:
                rec["generation_error"] = f"{type(e).__name__}: {e}"
            out.append(rec)
    # Like the public set: a task the reference cannot score here (NL assertions need an LLM)
    # is left out, not recorded as an error.
    failed = {r["task_id"] for r in out if "generation_error" in r}
    return [r for r in out if r["task_id"] not in failed]


def tool_table(env):
    tools = {}
    for t in env.get_tools():
        tools[("assistant", t.name)] = t
    try:
        for t in env.get_user_tools():
            tools[("user", t.name)] = t
    except Exception:
        pass
    return tools


def params(tool):
    schema = tool.openai_schema["function"]["parameters"]
    return list(schema.get("properties", {}).keys()), list(schema.get("required", []))


def probes(domain, n, rng, tasks):
    env0 = env_for(domain)
    tools = tool_table(env0)
    # Real arguments per tool, from every task's actions.
    seen = {}
    for t in tasks:
        crit = t.evaluation_criteria
        for act in (crit.actions or []) if crit else []:
            seen.setdefault((act.requestor, act.name), []).append(act.arguments)
    keys = sorted(tools)
    out = []
    for i in range(n):
        req, name = keys[rng.randrange(len(keys))]
        props, required = params(tools[(req, name)])
        pool = seen.get((req, name))
        args = dict(rng.choice(pool)) if pool and rng.random() < 0.8 else {p: "x" for p in props}
        kind = rng.choice(["valid", "valid", "bad_value", "bad_value", "missing", "extra", "unknown_tool", "wrong_requestor"])
        if kind == "bad_value" and args:
            k = rng.choice(sorted(args))
            args[k] = rng.choice(BAD_VALUES)
        elif kind == "bad_value" or kind == "missing" and not required:
            kind = "valid"
        elif kind == "missing":
            args.pop(rng.choice(required), None)
        elif kind == "extra":
            args["unexpected_arg"] = "surprise"
        elif kind == "unknown_tool":
            name = f"no_such_tool_{rng.randrange(100)}"
        elif kind == "wrong_requestor":
            req = "user" if req == "assistant" else "assistant"
        rec = {"id": f"{domain}-gen-{i:04d}", "kind": kind, "visibility": "generated", "name": name,
               "requestor": req, "arguments": args}
        try:
            env = env_for(domain)
            msg = env.get_response(ToolCall(id="x", name=name, arguments=args, requestor=req))
            a, u = hashes(env)
            rec.update({"response": msg.content, "error": msg.error, "agent_db_hash_after": a, "user_db_hash_after": u})
        except Exception as e:
            rec["generation_error"] = f"{type(e).__name__}: {e}"
        out.append(rec)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--probes", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--domains", default="mock,airline,retail,telecom")
    ap.add_argument("--probes-only", action="store_true", help="record probes only (no replays, evals)")
    ap.add_argument("--skip-known", metavar="GOLDEN", help="leave out tasks GOLDEN/<domain>/replays.jsonl already has")
    o = ap.parse_args()
    domains = o.domains.split(",")
    for domain in domains:
        try:
            registry.get_env_constructor(domain)
        except KeyError:
            sys.exit(f"error: unknown domain `{domain}` (the reference knows: {', '.join(registry.get_info().domains)})")
    for domain in domains:
        d = Path(o.out) / domain
        d.mkdir(parents=True, exist_ok=True)
        sp = splits(domain)
        v1 = load_tasks(domain, "tasks.json")
        v02 = load_tasks(domain, "tasks.v0.2.0.json")
        # telecom's tasks.json is itself v0.2.0
        sets = [("v0.2.0", v1)] if domain == "telecom" else [("v1.0", v1), ("v0.2.0", v02)]
        known = set()
        if o.skip_known:
            with open(Path(o.skip_known) / domain / "replays.jsonl") as f:
                known = {(r["version"], r["task_id"]) for r in map(json.loads, f)}
        with open(d / "replays.jsonl", "w") as f:
            for version, tasks in [] if o.probes_only else sets:
                for t in tasks:
                    if (version, t.id) in known:
                        continue
                    f.write(json.dumps(replay(domain, version, t, sp.get(t.id, "none")), ensure_ascii=True) + "\n")
        rng = random.Random(f"{o.seed}-{domain}")
        with open(d / "probes.jsonl", "w") as f:
            for rec in probes(domain, o.probes, rng, v1 + v02):
                f.write(json.dumps(rec, ensure_ascii=True) + "\n")
        known_evals = set()
        if o.skip_known and (Path(o.skip_known) / domain / "evals.jsonl").exists():
            with open(Path(o.skip_known) / domain / "evals.jsonl") as f:
                known_evals = {r["task_id"] for r in map(json.loads, f)}
        with open(d / "evals.jsonl", "w") as f:
            for rec in [] if o.probes_only else evals(domain, v1, sp, known_evals, rng):
                f.write(json.dumps(rec, ensure_ascii=True) + "\n")
        env = env_for(domain)
        a, u = hashes(env)
        agent = [t.openai_schema for t in env.get_tools()]
        try:
            user = [t.openai_schema for t in env.get_user_tools()]
        except Exception:
            user = []
        (d / "tools.json").write_text(json.dumps({"domain": domain, "agent_tools": agent, "user_tools": user,
                                                  "initial_agent_db_hash": a, "initial_user_db_hash": u}))
        print(f"{domain}: {sum(len(t) for _, t in sets)} tasks, {o.probes} probes", flush=True)


main()
