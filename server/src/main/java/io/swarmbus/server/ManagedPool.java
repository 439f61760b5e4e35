package io.swarmbus.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.LongAdder;

/**
 * A running managed pool: its template, its replicas, what they used and did, and the last
 * scaling decisions with their reasons.
 */
final class ManagedPool {
    private static final int KEEP_EVENTS = 20;

    private volatile ManagedTemplate template;
    final List<ManagedReplica> replicas = new CopyOnWriteArrayList<>();
    /** LLM calls made per task over every replica and attempt (the cap's count), and the last failure. */
    private final Map<String, Calls> callsPerTask;
    private final LongAdder llmCalls = new LongAdder();
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder completionTokens = new LongAdder();
    private final LongAdder completed = new LongAdder();
    private final LongAdder failed = new LongAdder();
    private final LongAdder capped = new LongAdder();
    private final ArrayDeque<ObjectNode> events = new ArrayDeque<>();
    /** When the queue was last seen empty with nothing new since; null while work waits. */
    private Instant quietSince;
    private volatile int lastQueue;

    /** A task's LLM calls so far, and why the last one gave no usable answer. */
    record Calls(int made, String lastError) {}

    ManagedPool(ManagedTemplate template, Map<String, Calls> callsPerTask) {
        this.template = template;
        this.callsPerTask = callsPerTask;
    }

    ManagedTemplate template() {
        return template;
    }

    void template(ManagedTemplate changed) {
        template = changed;
    }

    /** Counts a call against the task's cap; false when the cap is reached. */
    boolean takeCall(String taskId) {
        int[] allowed = {0};
        callsPerTask.compute(taskId, (id, calls) -> {
            Calls now = calls == null ? new Calls(0, "no call was made") : calls;
            if (now.made() >= template.maxLlmCallsPerTask()) {
                return now;
            }
            allowed[0] = 1;
            return new Calls(now.made() + 1, now.lastError());
        });
        if (allowed[0] == 1) {
            llmCalls.increment();
        }
        return allowed[0] == 1;
    }

    /** Notes why the task's last call gave no usable answer; the error it ends with names it. */
    void callFailed(String taskId, String error) {
        callsPerTask.computeIfPresent(taskId, (id, calls) -> new Calls(calls.made(), error));
    }

    /** Why the task's last call gave no usable answer. */
    String lastError(String taskId) {
        Calls calls = callsPerTask.get(taskId);
        return calls == null ? "no call was made" : calls.lastError();
    }

    void usage(long prompt, long completion) {
        promptTokens.add(prompt);
        completionTokens.add(completion);
    }

    void taskCompleted() {
        completed.increment();
    }

    void taskFailed(boolean byCap) {
        failed.increment();
        if (byCap) {
            capped.increment();
        }
    }

    /**
     * The replica count for the present queue: up when more than {@code target_queue_per_replica}
     * tasks wait per replica (straight to the count that meets the target), down by one idle
     * replica once the queue has stayed empty for {@code scale_down_after}; always within the bounds.
     *
     * @param queue tasks waiting that the pool could take, plus task messages in its replicas' inboxes
     * @param anyIdle whether some replica works on nothing
     */
    synchronized Decision decide(int queue, boolean anyIdle, Instant now) {
        lastQueue = queue;
        ManagedTemplate t = template;
        int current = replicas.size();
        quietSince = queue > 0 ? null : quietSince == null ? now : quietSince;
        int desired = current;
        String reason;
        if (queue > (long) t.targetQueuePerReplica() * current) {
            desired = Math.max(current + 1, (queue + t.targetQueuePerReplica() - 1) / t.targetQueuePerReplica());
            reason = queue + " tasks waiting for " + current + " replicas, above " + t.targetQueuePerReplica()
                    + " per replica";
        } else if (queue == 0 && anyIdle && !Duration.between(quietSince, now).minus(t.scaleDownAfter()).isNegative()) {
            desired = current - 1;
            reason = "no task waiting for " + Duration.between(quietSince, now).toSeconds() + " s and a replica idle";
        } else {
            reason = queue + " tasks waiting for " + current + " replicas: steady";
        }
        int clamped = Math.clamp(desired, t.minReplicas(), t.maxReplicas());
        if (clamped != desired) {
            reason += " (held within " + t.minReplicas() + " to " + t.maxReplicas() + ")";
        }
        return new Decision(current, clamped, reason);
    }

    /** A scaling decision: from how many replicas to how many, and why. */
    record Decision(int from, int to, String reason) {}

    synchronized void record(Decision decision, Instant at) {
        events.addLast(RequestBody.MAPPER.createObjectNode().put("at", at.toString()).put("from", decision.from())
                .put("to", decision.to()).put("reason", decision.reason()));
        while (events.size() > KEEP_EVENTS) {
            events.removeFirst();
        }
    }

    /** The pool as the API shows it: the template, its replicas, queue, usage and scaling events. */
    synchronized ObjectNode toJson() {
        ObjectNode json = template.toJson();
        json.put("queue_depth", lastQueue);
        ArrayNode list = json.putArray("replica_agents");
        replicas.forEach(r -> list.addObject().put("agent_id", r.id().value()).put("busy", !r.idle()));
        json.putObject("usage").put("llm_calls", llmCalls.sum()).put("prompt_tokens", promptTokens.sum())
                .put("completion_tokens", completionTokens.sum()).put("tasks_completed", completed.sum())
                .put("tasks_failed", failed.sum()).put("tasks_stopped_by_call_cap", capped.sum());
        ArrayNode scaling = json.putArray("scaling_events");
        events.forEach(scaling::add);
        return json;
    }
}
