package io.swarmbus.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.llm.CallBody;
import io.swarmbus.llm.LlmGateway;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.Delivery;
import io.swarmbus.messaging.Message;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.tasks.Task;
import io.swarmbus.tasks.TaskCoordinator;
import io.swarmbus.tasks.TaskStatus;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One replica of a managed pool: an agent the server runs. It reads {@code task_request}
 * messages from its inbox like any agent, asks the pool's model through the gateway (billed to the
 * pool's owner, accounted to the replica and the task), and reports the task completed or failed.
 * When the task's parameters carry an {@code answer_schema} it is sent as {@code response_format},
 * and an answer that is not that JSON is asked again, within the pool's cap of calls per task.
 * A {@code task_cancel} interrupts the call in progress.
 */
final class ManagedReplica {
    private static final Logger LOG = LoggerFactory.getLogger(ManagedReplica.class);
    private static final Duration POLL = Duration.ofSeconds(1);
    /** How long a replica holds a task message unacknowledged: longer than its model calls take. */
    private static final Duration LEASE = Duration.ofMinutes(10);

    private final AgentId id;
    /** The registration of {@link #id} its LLM calls are made in ({@link LlmGateway.Request#registration}). */
    private final String registration;
    private final ManagedPool pool;
    private final MessageBus bus;
    private final TaskCoordinator tasks;
    private final LlmGateway gateway;
    private final AuditLog audit;
    private final List<Thread> workers = new ArrayList<>();
    /** Tasks being worked on, and the thread working on each (to interrupt it on a cancel). */
    private final Map<String, Thread> working = new ConcurrentHashMap<>();
    private final AtomicInteger taken = new AtomicInteger();
    private volatile boolean stopping;

    ManagedReplica(AgentId id, String registration, ManagedPool pool, MessageBus bus, TaskCoordinator tasks,
            LlmGateway gateway, AuditLog audit) {
        this.id = id;
        this.audit = audit;
        this.registration = registration;
        this.pool = pool;
        this.bus = bus;
        this.tasks = tasks;
        this.gateway = gateway;
    }

    AgentId id() {
        return id;
    }

    /** Starts one reader per task it may work on at once. */
    void start() {
        for (int i = 0; i < pool.template().maxConcurrentTasks(); i++) {
            workers.add(Thread.ofVirtual().name("swarmbus-managed-" + id).start(this::read));
        }
    }

    /** Whether it works on a task now. */
    boolean working() {
        return taken.get() > 0;
    }

    /** Whether it works on nothing and nothing waits in its inbox. */
    boolean idle() {
        return !working() && waiting() == 0;
    }

    /** Task messages waiting in its inbox. */
    long waiting() {
        return bus.hasInbox(id) ? bus.inboxStats(id).pending() : 0;
    }

    /** Stops taking work, interrupting any call in progress when {@code now}; returns at once. */
    void halt(boolean now) {
        stopping = true;
        if (now) {
            working.values().forEach(Thread::interrupt);
        }
    }

    /** {@link #halt}s, then waits for the readers to end (within a poll, once idle). */
    void stop(boolean now) {
        halt(now);
        for (Thread worker : workers) {
            try {
                worker.join(Duration.ofSeconds(now ? 5 : 600));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private void read() {
        while (!stopping) {
            try {
                List<Delivery> got = bus.receive(id, 1, LEASE, POLL);
                audit.delivered(id, got);
                for (Delivery delivery : got) {
                    handle(delivery);
                }
            } catch (RuntimeException e) {
                if (!stopping) {
                    LOG.warn("managed agent {}: {}", id, e.getMessage());
                    sleep(Duration.ofSeconds(1));
                }
            }
        }
    }

    private void handle(Delivery delivery) {
        Message message = delivery.message();
        try {
            JsonNode content = ManagedAnswers.parse(message.content());
            String taskId = content == null ? "" : content.path("task_id").asText();
            if (message.type().equals(TaskCoordinator.TASK_CANCEL)) {
                Thread worker = working.get(taskId);
                if (worker != null) {
                    worker.interrupt();
                }
            } else if (message.type().equals(TaskCoordinator.TASK_REQUEST) && !taskId.isEmpty()) {
                taken.incrementAndGet();
                working.put(taskId, Thread.currentThread());
                try {
                    work(taskId, content, io.swarmbus.messaging.Traceparent.parse(message.headers().get("traceparent"))
                            .orElse(null));
                } finally {
                    working.remove(taskId);
                    taken.decrementAndGet();
                    Thread.interrupted(); // a cancel that came late must not hit the next task
                }
            }
        } finally {
            bus.ackAsync(id, List.of(delivery.id())).thenAccept(result -> audit.acked(id, result.acked()));
        }
    }

    private void work(String taskId, JsonNode request, String traceparent) {
        try {
            tasks.progress(taskId, id, 0);
        } catch (SwarmbusException e) {
            return; // cancelled, timed out or given to another agent since it was sent
        }
        ManagedAnswers.Outcome outcome = answer(taskId, request.path("description").asText(""),
                request.path("parameters"), traceparent);
        try {
            if (outcome.result() != null) {
                Task done = tasks.completeOrFail(taskId, id, outcome.result().toString());
                if (done.status() == TaskStatus.COMPLETED) {
                    pool.taskCompleted();
                } else {
                    pool.taskFailed(false);
                }
            } else {
                tasks.fail(taskId, id, outcome.error());
                pool.taskFailed(outcome.capped());
            }
        } catch (SwarmbusException e) {
            LOG.debug("managed agent {}: task {} changed while it worked: {}", id, taskId, e.getMessage());
        }
    }

    /** Asks the model until it gives a usable answer, the task's call cap is reached, or it cannot be asked. */
    private ManagedAnswers.Outcome answer(String taskId, String description, JsonNode parameters, String traceparent) {
        ManagedTemplate template = pool.template();
        ObjectNode input = parameters.isObject() ? ((ObjectNode) parameters).deepCopy()
                : RequestBody.MAPPER.createObjectNode().set("input", parameters);
        JsonNode schema = input.remove("answer_schema");
        ArrayNode messages = RequestBody.MAPPER.createArrayNode();
        messages.addObject().put("role", "system").put("content", ManagedAnswers.systemPrompt(template, id));
        messages.addObject().put("role", "user").put("content", ManagedAnswers.userPrompt(description, input, schema));
        while (true) {
            if (!pool.takeCall(taskId)) {
                return ManagedAnswers.Outcome.failed("stopped after " + template.maxLlmCallsPerTask() + " LLM calls "
                        + "(max_llm_calls_per_task); last: " + pool.lastError(taskId), true);
            }
            ObjectNode body = RequestBody.MAPPER.createObjectNode().put("model", template.model())
                    .put("max_tokens", template.maxTokens()).put("temperature", template.temperature());
            body.set("messages", messages.deepCopy());
            if (schema != null && schema.isObject()) {
                ObjectNode format = body.putObject("response_format").put("type", "json_schema");
                format.putObject("json_schema").put("name", "answer").set("schema", schema);
            }
            BufferedAnswer sink = new BufferedAnswer();
            try {
                gateway.handle(new LlmGateway.Request("/v1/chat/completions", CallBody.of(body), id.value(), registration,
                        taskId, template.owner(), 1, System.nanoTime() + gateway.settings().queueTimeout().toNanos(),
                        traceparent), sink);
            } catch (LlmGateway.Refused refused) {
                String error = "the gateway refused the call (" + refused.status() + "): " + refused.getMessage();
                pool.callFailed(taskId, error);
                if (refused.retryAfterSeconds() > 0) {
                    sleep(Duration.ofSeconds(Math.min(5, refused.retryAfterSeconds())));
                    continue;
                }
                return ManagedAnswers.Outcome.failed(error, false);
            } catch (InterruptedException e) {
                return ManagedAnswers.Outcome.failed("cancelled while the model was asked", false);
            }
            JsonNode reply = ManagedAnswers.parse(sink.text());
            if (sink.status() != 200 || reply == null) {
                pool.callFailed(taskId, "the model answered " + sink.status() + ": " + ManagedAnswers.clip(sink.text()));
                continue;
            }
            pool.usage(reply.path("usage").path("prompt_tokens").asLong(),
                    reply.path("usage").path("completion_tokens").asLong());
            String content = reply.at("/choices/0/message/content").asText("");
            if (schema == null || !schema.isObject()) {
                return ManagedAnswers.Outcome.answered(RequestBody.MAPPER.createObjectNode().put("answer", content));
            }
            JsonNode json = ManagedAnswers.extractJson(content);
            if (json != null && ManagedAnswers.hasRequired(json, schema)) {
                return ManagedAnswers.Outcome.answered(json);
            }
            pool.callFailed(taskId, "the answer was not the JSON asked for: " + ManagedAnswers.clip(content));
            messages.addObject().put("role", "assistant").put("content", content);
            messages.addObject().put("role", "user").put("content", "That was not the JSON asked for. Answer again "
                    + "with only a JSON value fitting this schema: " + schema);
        }
    }

    private static void sleep(Duration duration) {
        try {
            Thread.sleep(duration);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
