package io.swarmbus.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.javalin.http.Context;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.Address;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.Delivery;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.messaging.MessageType;
import io.swarmbus.messaging.Priority;
import io.swarmbus.messaging.SendRequest;
import io.swarmbus.messaging.Traceparent;
import io.swarmbus.registry.SelectionStrategy;
import io.swarmbus.tasks.Task;
import io.swarmbus.tasks.TaskCoordinator;
import io.swarmbus.tasks.TaskSpec;
import io.swarmbus.tasks.TaskStats;
import io.swarmbus.tasks.TaskStatus;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tasks over HTTP ({@code /api/v1/tasks}), and the reader of {@code task_response} messages that
 * agents send to the coordinator's inbox instead of calling the API.
 */
final class TaskRoutes {
    private static final Logger LOG = LoggerFactory.getLogger(TaskRoutes.class);
    private static final MessageType ERROR_REPORT = MessageType.of("error_report");

    private final TaskCoordinator tasks;
    private final MessageBus bus;
    private final Auth auth;
    private final AuditLog audit;

    TaskRoutes(TaskCoordinator tasks, MessageBus bus, Auth auth, AuditLog audit) {
        this.tasks = tasks;
        this.bus = bus;
        this.auth = auth;
        this.audit = audit;
    }

    /**
     * {@code POST /api/v1/tasks}: {@code type} (or {@code task_type}), and optionally
     * {@code description}, {@code parameters} (any JSON), {@code required_capabilities},
     * {@code priority}, {@code timeout_seconds} (default 300), {@code max_retries} (default 3),
     * {@code parent_id}, {@code created_by} (your agent, told the outcome), {@code strategy}.
     */
    void create(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        RequestBody body = RequestBody.parse(Http.body(ctx));
        Optional<AgentId> creator = body.firstPresent("created_by", "supervisor_id").map(body::agent);
        creator.ifPresent(agent -> auth.requireOwner(principal, agent));
        Optional<String> parent = body.optionalText("parent_id");
        TaskSpec spec = new TaskSpec(body.text(body.firstPresent("type", "task_type").orElse("type")),
                body.optionalText("description").orElse(""),
                body.has("parameters") ? body.json("parameters") : "{}",
                body.has("required_capabilities") ? new LinkedHashSet<>(body.strings("required_capabilities")) : Set.of(),
                body.priority("priority").orElse(Priority.MEDIUM),
                Duration.ofMillis((long) (body.number("timeout_seconds").orElse(300.0) * 1000)),
                body.integer("max_retries").orElse(3), parent, creator,
                body.optionalText("strategy").map(SelectionStrategy::parse).orElse(SelectionStrategy.LEAST_LOADED),
                owner(principal, parent),
                body.has("candidates") ? candidates(principal, body) : Set.of())
                .withTraceparent(Traceparent.parse(ctx.header("traceparent")));
        Http.json(ctx, 201, Views.task(tasks.create(spec)));
    }

    /**
     * Whose a new task is: the caller's, and an admin's anyone's; but an admin's subtask is its
     * parent's owner's, as an admin's coordination of a user's swarm is that user's, so that user's
     * agents take it and the user sees it beside its parent. A parent that does not exist is a 404.
     */
    private String owner(Auth.Principal principal, Optional<String> parent) {
        if (!principal.admin()) {
            return principal.name();
        }
        return parent.flatMap(tasks::get).map(task -> task.spec().owner()).orElse("");
    }

    /** The agents a task may go to: each must exist and be the caller's. */
    private Set<AgentId> candidates(Auth.Principal principal, RequestBody body) {
        Set<AgentId> candidates = new LinkedHashSet<>();
        for (String name : body.strings("candidates")) {
            AgentId agent = RequestBody.agentId("candidates", name);
            auth.requireRegisteredOwner(principal, agent); // an admin's unregistered candidate would wait forever
            candidates.add(agent);
        }
        return candidates;
    }

    void get(Context ctx) {
        Http.json(ctx, 200, Views.task(visible(Auth.principal(ctx), ctx.pathParam("id"))));
    }

    /** {@code GET /api/v1/tasks}: yours, newest first; filters {@code status}, {@code assignee}, {@code parent_id}, {@code type}. */
    void list(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        Predicate<Task> filter = task -> maySee(principal, task);
        String status = ctx.queryParam("status");
        if (status != null) {
            TaskStatus wanted = TaskStatus.parse(status);
            filter = filter.and(task -> task.status() == wanted);
        }
        String assignee = ctx.queryParam("assignee");
        if (assignee != null) {
            AgentId agent = RequestBody.agentId("assignee", assignee);
            filter = filter.and(task -> task.assignee().equals(Optional.of(agent)));
        }
        String parent = ctx.queryParam("parent_id");
        if (parent != null) {
            filter = filter.and(task -> task.spec().parentId().equals(Optional.of(parent)));
        }
        String type = ctx.queryParam("type");
        if (type != null) {
            filter = filter.and(task -> task.spec().type().equals(type));
        }
        int limit = Http.intParam(ctx, RequestBody.parse(new byte[0]), "limit", 100);
        if (limit < 1 || limit > 10_000) {
            throw SwarmbusException.invalid("limit", "limit must be 1 to 10000");
        }
        Http.json(ctx, 200, Views.list("tasks", tasks.list(filter, limit).stream().map(Views::task).toList()));
    }

    /** {@code POST /api/v1/tasks/{id}/progress}: {@code {"agent_id", "progress": 0-100}}. */
    void progress(Context ctx) {
        RequestBody body = RequestBody.parse(Http.body(ctx));
        AgentId agent = reporter(ctx, body);
        int percent = body.integer("progress").orElseThrow(() -> SwarmbusException.invalid("progress",
                "'progress' (0 to 100) is required"));
        Http.json(ctx, 200, Views.task(tasks.progress(reported(ctx), agent, percent)));
    }

    /** {@code POST /api/v1/tasks/{id}/complete}: {@code {"agent_id", "result": any JSON}}. */
    void complete(Context ctx) {
        RequestBody body = RequestBody.parse(Http.body(ctx));
        AgentId agent = reporter(ctx, body);
        Http.json(ctx, 200, Views.task(tasks.complete(reported(ctx), agent,
                body.has("result") ? body.json("result") : "null")));
    }

    /** {@code POST /api/v1/tasks/{id}/fail}: {@code {"agent_id", "error": text}}; retried elsewhere if retries remain. */
    void fail(Context ctx) {
        RequestBody body = RequestBody.parse(Http.body(ctx));
        AgentId agent = reporter(ctx, body);
        Http.json(ctx, 200, Views.task(tasks.fail(reported(ctx), agent,
                body.optionalText("error").orElse("failed"))));
    }

    /** {@code POST /api/v1/tasks/{id}/cancel}: optionally {@code {"reason"}}. */
    void cancel(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        Task task = visible(principal, ctx.pathParam("id"));
        // The owner of the agent running it sees the task, but may only give it up (fail it, to be
        // retried elsewhere), not end it for the user who asked for it.
        if (!principal.admin() && !task.spec().owner().equals(principal.name())) {
            throw new SwarmbusException(ErrorCode.FORBIDDEN, "only the task's owner or an admin may cancel task '"
                    + task.id() + "'; the agent running it may fail it instead");
        }
        RequestBody body = RequestBody.parse(Http.body(ctx));
        Http.json(ctx, 200, Views.task(tasks.cancel(task.id(), body.optionalText("reason")
                .orElse("cancelled by " + principal.name()))));
    }

    /** {@code GET /api/v1/tasks/stats}: over your tasks (all, for admins). */
    void stats(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        TaskStats stats = tasks.stats(principal.admin() ? Optional.empty() : Optional.of(principal.name()));
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("total_tasks", stats.total());
        Map<String, Integer> byStatus = new LinkedHashMap<>();
        stats.byStatus().forEach((status, n) -> byStatus.put(status.wireName(), n));
        view.put("by_status", byStatus);
        view.put("completion_rate", stats.completionRate());
        view.put("mean_duration_ms", stats.meanDurationMillis());
        view.put("p95_duration_ms", stats.p95DurationMillis());
        view.put("completed_last_minute", stats.completedLastMinute());
        view.put("agents", stats.agents().stream().map(a -> {
            Map<String, Object> agent = new LinkedHashMap<>();
            agent.put("agent_id", a.agent().value());
            agent.put("running", a.running());
            agent.put("completed", a.completed());
            agent.put("failed", a.failed());
            // An agent id now another user's (deleted and registered again) is not this caller's to gauge.
            agent.put("utilization", auth.owns(principal, a.agent()) ? a.utilization() : 0.0);
            return agent;
        }).toList());
        Http.json(ctx, 200, view);
    }

    /**
     * Applies one message from the coordinator's inbox: a {@code task_response} whose content holds
     * {@code task_id} and {@code status} ({@code completed} with {@code result}, {@code failed} with
     * {@code error}, or {@code in_progress} with {@code progress}), reported by its sender; or an
     * {@code error_report} naming a {@code task_id}, a failure.
     */
    void onMessage(Delivery delivery) {
        boolean response = delivery.message().type().equals(TaskCoordinator.TASK_RESPONSE);
        if (!response && !reportsFailedTask(delivery)) {
            LOG.debug("ignoring a {} message from {} in the task inbox", delivery.message().type().name(),
                    delivery.message().from());
            return;
        }
        AgentId agent = delivery.message().from();
        try {
            RequestBody content = RequestBody.parse(delivery.message().content().getBytes(
                    java.nio.charset.StandardCharsets.UTF_8));
            // Another user's task is unknown here as at the REST routes, not a 409 naming its agent.
            String id = visible(auth.sender(agent), content.text("task_id")).id();
            String status = response ? content.optionalText("status").orElse("completed") : "failed";
            switch (status) {
                case "completed" -> tasks.completeOrFail(id, agent, content.has("result") ? content.json("result") : "null");
                case "failed", "error" -> tasks.fail(id, agent, content.optionalText("error")
                        .or(() -> content.optionalText("error_message")).orElse("failed"));
                case "in_progress" -> tasks.progress(id, agent, content.integer("progress")
                        .or(() -> content.integer("completion_percentage")).orElse(0));
                default -> throw SwarmbusException.invalid("status", "unknown task status '" + status + "'");
            }
        } catch (SwarmbusException e) {
            LOG.info("task_response {} from {} not applied: {}", delivery.message().id(), agent, e.getMessage());
            refuse(delivery, e);
        }
    }

    /**
     * Seed 001's worker reports a task it could not do as an {@code error_report} to the task's
     * sender, content {@code {"task_id", "error_type", "error_message"}}; an error report naming no
     * task is about no task, and stays ignored.
     */
    private static boolean reportsFailedTask(Delivery delivery) {
        if (!delivery.message().type().equals(ERROR_REPORT)) {
            return false;
        }
        try {
            return RequestBody.MAPPER.readTree(delivery.message().content()).has("task_id");
        } catch (JsonProcessingException e) {
            return false; // content that is no JSON names no task
        }
    }

    /**
     * Tells the sender of a report that was not applied why, with an {@code error_report} message
     * correlated to the report: the REST routes answer such a report with an error, and an agent
     * that reports by message must not be left to believe its report landed.
     */
    private void refuse(Delivery report, SwarmbusException e) {
        try {
            bus.send(SendRequest.builder(tasks.inbox(), Address.agent(report.message().from()))
                    .type(ERROR_REPORT).content(RequestBody.MAPPER.writeValueAsString(ErrorAnswer.body(e)))
                    .correlationId(report.message().id().toString()).build());
        } catch (SwarmbusException | JsonProcessingException failed) {
            LOG.info("could not tell {} why its task_response was not applied: {}", report.message().from(),
                    failed.getMessage()); // the sender is gone, say
        }
    }

    /** Reads the coordinator's inbox until {@code running} turns false; one virtual thread. */
    void readInbox(java.util.concurrent.atomic.AtomicBoolean running) {
        while (running.get()) {
            try {
                List<Delivery> got = bus.receive(tasks.inbox(), 100, Duration.ofSeconds(60), Duration.ofSeconds(1));
                audit.delivered(tasks.inbox(), got);
                for (Delivery delivery : got) {
                    onMessage(delivery);
                }
                if (!got.isEmpty()) {
                    audit.acked(tasks.inbox(), bus.ackAsync(tasks.inbox(), got.stream().map(Delivery::id).toList())
                            .join().acked());
                }
            } catch (RuntimeException e) {
                if (running.get()) {
                    LOG.warn("task inbox reader: {}", e.getMessage());
                    sleep();
                }
            }
        }
    }

    private static void sleep() {
        try {
            Thread.sleep(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * The id of the task a report is about, once the caller may see it: another user's task is a
     * 404 here as everywhere, not a 409 that would say whose agent runs it.
     */
    private String reported(Context ctx) {
        return visible(Auth.principal(ctx), ctx.pathParam("id")).id();
    }

    /** The reporting agent: given as {@code agent_id} (default: yours named like you), and yours. */
    private AgentId reporter(Context ctx, RequestBody body) {
        Auth.Principal principal = Auth.principal(ctx);
        AgentId agent = body.firstPresent("agent_id", "from").map(body::agent).orElseGet(() -> AgentId.of(principal.name()));
        auth.requireOwner(principal, agent);
        return agent;
    }

    private Task visible(Auth.Principal principal, String id) {
        return tasks.get(id).filter(task -> maySee(principal, task)).orElseThrow(() ->
                new SwarmbusException(ErrorCode.NOT_FOUND, "task '" + id + "' does not exist"));
    }

    /** Whether task {@code id} exists and the caller may see it (what an LLM call may be accounted to). */
    boolean maySee(Auth.Principal principal, String id) {
        return tasks.get(id).filter(task -> maySee(principal, task)).isPresent();
    }

    private boolean maySee(Auth.Principal principal, Task task) {
        return principal.admin() || task.spec().owner().equals(principal.name())
                || task.assignee().map(agent -> auth.ownedAt(principal, agent,
                        task.assignedAt().orElse(task.createdAt()))).orElse(false);
    }

    /**
     * Writes a task's change to the {@code task_history_} audit file; the coordinator calls it for
     * every change, whatever caused it.
     */
    static void record(AuditLog audit, Task task) {
        if (!audit.enabled()) {
            return;
        }
        String event = switch (task.status()) {
            case PENDING -> task.attempts() == 0 ? "created" : "retry_pending";
            case IN_PROGRESS -> "progress";
            default -> task.status().wireName();
        };
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("task_id", task.id());
        fields.put("task_type", task.spec().type());
        fields.put("status", task.status().wireName());
        // A retry waits with no agent: its line names the one whose attempt failed, the last of failed_by.
        Optional<AgentId> agent = task.status() == TaskStatus.PENDING && !task.failedBy().isEmpty()
                ? Optional.of(task.failedBy().getLast()) : task.assignee();
        agent.ifPresent(a -> fields.put("agent_id", a.value()));
        fields.put("attempts", task.attempts());
        fields.put("progress", task.progress());
        task.error().ifPresent(error -> fields.put("error", error));
        audit.record(AuditLog.Stream.TASK_HISTORY, event, fields);
    }
}
