function check(task, trajectory, initial, final) {
    const calls = trajectory.filter(m => m.role === "assistant").flatMap(m => m.tool_calls || []);
    const names = calls.map(c => c.name);
    const reasons = [];
    let ok = true;
    for (const [oid, order] of Object.entries(final.agent.orders)) {
        const before = initial.agent.orders[oid].status;
        const want = task.cancel.includes(oid) ? "cancelled" : before;
        if (order.status !== want) { ok = false; reasons.push(`order ${oid}: ${order.status} != ${want}`); }
    }
    if (names.filter(n => n === "cancel_pending_order").length !== task.cancel.length) {
        ok = false; reasons.push("cancel_pending_order not called once per order");
    }
    const said = trajectory.some(m => m.role === "assistant" && (m.content || "").includes("cancelled"));
    reasons.push(`confirmed to user: ${said}`);
    return { passed: ok && said, score: ok ? 1.0 : 0.0, reasons };
}
