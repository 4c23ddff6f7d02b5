def check(task, trajectory, initial, final):
    calls = [c for m in trajectory if m["role"] == "assistant" for c in (m.get("tool_calls") or [])]
    names = [c["name"] for c in calls]
    reasons = []
    ok = True
    for oid, order in final["agent"]["orders"].items():
        before = initial["agent"]["orders"][oid]["status"]
        want = "cancelled" if oid in task["cancel"] else before
        if order["status"] != want:
            ok = False
            reasons.append(f"order {oid}: {order['status']} != {want}")
    called = len([n for n in names if n == "cancel_pending_order"]) == len(task["cancel"])
    if not called:
        ok = False
        reasons.append("cancel_pending_order not called once per order")
    said = any([m["role"] == "assistant" and "cancelled" in (m.get("content") or "") for m in trajectory])
    reasons.append(f"confirmed to user: {said}")
    return {"passed": ok and said, "score": 1.0 if ok else 0.0, "reasons": reasons}
