package io.swarmbus.tasks;

import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.Address;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.messaging.MessageType;
import io.swarmbus.messaging.SendRequest;
import io.swarmbus.registry.AgentInfo;
import io.swarmbus.registry.AgentStatus;
import io.swarmbus.registry.Registry;
import io.swarmbus.storage.DurableTable;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;

/**
 * Hands tasks to the best capable agent and sees them through: a task goes to an agent as a
 * {@code task_request} message; the agent reports progress and the outcome (by a
 * {@code task_response} message the server passes on, or by the API); a failure report, a timeout
 * or the agent going offline gives the task to another capable agent (never one that already
 * failed it, if another exists) until its retries run out. The creating agent, if named, hears the
 * outcome as a {@code task_response} message.
 *
 * <p>Tasks are durable (a {@link DurableTable}); after a restart, running tasks keep their agent
 * and their deadline. Call {@link #tick} periodically: it marks silent agents offline, times out
 * attempts and assigns waiting tasks. Thread-safe.
 */
public final class TaskCoordinator implements AutoCloseable {
    /** Finished tasks kept for queries and stats; older ones are dropped. */
    private static final int KEEP_FINISHED = 100_000;
    /** Room left in a task message for what is not its content: ids, addresses, type, times. */
    private static final int ENVELOPE_BYTES = 1024;
    public static final MessageType TASK_REQUEST = MessageType.of("task_request");
    public static final MessageType TASK_RESPONSE = MessageType.of("task_response");
    public static final MessageType TASK_CANCEL = MessageType.of("task_cancel");

    private final DurableTable table;
    private final Registry registry;
    private final MessageBus bus;
    private final InstantSource clock;
    private final AgentId self;
    private final Map<String, Task> tasks = new LinkedHashMap<>();
    /** Waiting tasks, most urgent first, then oldest. */
    private final TreeSet<Task> pending = new TreeSet<>(Comparator.comparingInt((Task t) -> -t.spec().priority().level())
            .thenComparing(Task::createdAt).thenComparing(Task::id));
    private final ArrayDeque<String> finished = new ArrayDeque<>();
    /** Ids of tasks an agent is working on: what {@link #tick} looks at, not every task kept. */
    private final Set<String> running = new java.util.LinkedHashSet<>();
    private long lastId;
    /** The operation in progress (see {@link #operation}): its last write, messages sent, tasks changed. */
    private long lastWrite;
    private List<java.util.concurrent.CompletableFuture<?>> sent = new ArrayList<>();
    private List<Task> changed = new ArrayList<>();
    private final java.util.function.Consumer<Task> listener;

    private TaskCoordinator(DurableTable table, Registry registry, MessageBus bus, InstantSource clock, AgentId self,
            java.util.function.Consumer<Task> listener) {
        this.table = table;
        this.listener = listener;
        this.registry = registry;
        this.bus = bus;
        this.clock = clock;
        this.self = self;
        List<Task> stored = new ArrayList<>();
        table.rows().values().forEach(bytes -> stored.add(TaskCodec.decode(bytes)));
        stored.sort(Comparator.comparing(Task::createdAt).thenComparing(Task::id));
        for (Task read : stored) {
            // No agent has a waiting task, though a retry stored by an earlier version kept its last one.
            Task task = read.status() != TaskStatus.PENDING ? read : with(read, TaskStatus.PENDING, Optional.empty(),
                    read.progress(), read.result(), read.error(), read.finishedAt());
            tasks.put(task.id(), task);
            lastId = Math.max(lastId, Long.parseUnsignedLong(task.id().substring("task-".length()), 16));
            if (task.status() == TaskStatus.PENDING) {
                pending.add(task);
            } else if (task.status().isRunning()) {
                running.add(task.id());
                if (assignedHere(task)) { // its slot is still taken, unless the id was registered again since
                    registry.taskAssigned(task.assignee().orElseThrow());
                }
            } else {
                finished.add(task.id());
            }
        }
    }

    /**
     * Opens the coordinator over the tasks in {@code table}. {@code self} is the inbox task
     * messages come from and {@code task_response} messages go to; it must exist.
     */
    public static TaskCoordinator open(DurableTable table, Registry registry, MessageBus bus, InstantSource clock,
            AgentId self) {
        return open(table, registry, bus, clock, self, task -> { });
    }

    /**
     * As {@link #open(DurableTable, Registry, MessageBus, InstantSource, AgentId)}, telling
     * {@code listener} of every change to a task once it is durable (for audit trails), whatever
     * caused it: a call, a report, a timeout or an agent going offline.
     */
    public static TaskCoordinator open(DurableTable table, Registry registry, MessageBus bus, InstantSource clock,
            AgentId self, java.util.function.Consumer<Task> listener) {
        return new TaskCoordinator(table, registry, bus, clock, self, listener);
    }

    /** The inbox agents send {@code task_response} messages to. */
    public AgentId inbox() {
        return self;
    }

    // ---------------------------------------------------------------- the life of a task

    /** Creates a task and, if a capable agent has a free slot, assigns it at once. */
    public Task create(TaskSpec spec) {
        return operation(() -> {
            spec.parentId().ifPresent(parent -> {
                Task found = tasks.get(parent);
                if (found == null || !found.spec().owner().equals(spec.owner())) {
                    throw new SwarmbusException(ErrorCode.NOT_FOUND, "parent task '" + parent + "' does not exist");
                }
            });
            Instant now = clock.instant();
            Task task = new Task(nextId(now), spec, TaskStatus.PENDING, Optional.empty(), 0, List.of(), 0,
                    Optional.empty(), Optional.empty(), now, Optional.empty(), Optional.empty());
            checkFits(spec.parameters().length() >= spec.description().length() ? "parameters" : "description",
                    "task_request", request(task));
            pending.add(task);
            store(task);
            tryAssign(task);
            return tasks.get(task.id());
        });
    }

    /** The agent reports progress (0-100): the task is in progress. */
    public Task progress(String id, AgentId agent, int percent) {
        if (percent < 0 || percent > 100) {
            throw SwarmbusException.invalid("progress", "progress must be 0 to 100, was " + percent);
        }
        return change(id, agent, task -> with(task, TaskStatus.IN_PROGRESS, task.assignee(), percent, task.result(),
                task.error(), task.finishedAt()));
    }

    /** The agent reports the task done with {@code result} (JSON text). */
    public Task complete(String id, AgentId agent, String result) {
        return operation(() -> {
            Task task = running(id, agent);
            Instant now = clock.instant();
            Task done = with(task, TaskStatus.COMPLETED, task.assignee(), 100, Optional.of(result), Optional.empty(),
                    Optional.of(now));
            String report = checkFits("result", "task_response", response(done));
            registry.taskFinished(agent, true, Duration.between(task.assignedAt().orElse(now), now));
            finish(done, report);
            assignPending();
            return done;
        });
    }

    /**
     * {@link #complete} for a result no caller can be refused for, one that came in a message or
     * from a model: if it is too large to report to the creator, the attempt fails, saying why,
     * rather than the task running on until its timeout.
     */
    public Task completeOrFail(String id, AgentId agent, String result) {
        try {
            return complete(id, agent, result);
        } catch (SwarmbusException e) {
            if (e.code() != ErrorCode.MESSAGE_TOO_LARGE) {
                throw e;
            }
            return fail(id, agent, "the result could not be reported: " + e.getMessage());
        }
    }

    /** The agent reports that its attempt failed with {@code error}: retried elsewhere, or failed for good. */
    public Task fail(String id, AgentId agent, String error) {
        return operation(() -> {
            Task task = running(id, agent);
            checkFits("error", "task_response", response(with(task, TaskStatus.FAILED, task.assignee(), task.progress(),
                    Optional.empty(), Optional.of(error), Optional.of(clock.instant()))));
            registry.taskFinished(agent, false, Duration.ZERO);
            attemptFailed(task, error, TaskStatus.FAILED);
            return tasks.get(id);
        });
    }

    /** Cancels a task that is not finished; its agent, if any, is sent a {@code task_cancel} message. */
    public Task cancel(String id, String reason) {
        return operation(() -> {
            Task task = require(id);
            if (task.status().isFinal()) {
                throw new SwarmbusException(ErrorCode.INVALID_STATE, "task '" + id + "' is already "
                        + task.status().wireName());
            }
            Task cancelled = with(task, TaskStatus.CANCELLED, task.assignee(), task.progress(), Optional.empty(),
                    Optional.of(reason), Optional.of(clock.instant()));
            String report = checkFits("reason", "task_response", response(cancelled));
            pending.remove(task);
            if (task.status().isRunning()) {
                AgentId agent = task.assignee().orElseThrow();
                release(task);
                send(agent, TASK_CANCEL, task, "{\"task_id\":" + Json.quote(id) + ",\"reason\":" + Json.quote(reason)
                        + "}");
            }
            finish(cancelled, report);
            assignPending();
            return cancelled;
        });
    }

    /**
     * Marks agents that stopped heartbeating offline and gives their tasks to others, fails
     * attempts that ran past their timeout, and assigns waiting tasks to agents with free slots.
     * Returns the agents found offline.
     */
    public List<AgentId> tick() {
        return operation(() -> {
            List<AgentId> lost = registry.sweep();
            long now = clock.millis();
            for (String id : List.copyOf(running)) {
                Task task = tasks.get(id);
                AgentId agent = task.assignee().orElseThrow();
                // Offline by silence (just swept), by its own word, or deleted (and perhaps registered
                // again since, by anyone): its tasks move on.
                if (lost.contains(agent) || !assignedHere(task)
                        || registry.get(agent).map(a -> a.status() == AgentStatus.OFFLINE).orElse(true)) {
                    release(task);
                    attemptFailed(task, "agent " + agent + " went offline", TaskStatus.FAILED);
                } else if (task.assignedAt().orElseThrow().toEpochMilli() + task.spec().timeout().toMillis() <= now) {
                    registry.taskFinished(agent, false, Duration.ZERO);
                    send(agent, TASK_CANCEL, task, "{\"task_id\":" + Json.quote(task.id()) + ",\"reason\":\"timed out\"}");
                    attemptFailed(task, "timed out after " + task.spec().timeout().toSeconds() + " s on " + agent,
                            TaskStatus.TIMED_OUT);
                }
            }
            assignPending();
            return lost;
        });
    }

    // ---------------------------------------------------------------- queries

    public synchronized Optional<Task> get(String id) {
        return Optional.ofNullable(tasks.get(id));
    }

    /** Tasks matching {@code filter}, newest first, at most {@code limit}. */
    public synchronized List<Task> list(Predicate<Task> filter, int limit) {
        List<Task> all = new ArrayList<>(tasks.values());
        List<Task> found = new ArrayList<>();
        for (int i = all.size() - 1; i >= 0 && found.size() < limit; i--) {
            if (filter.test(all.get(i))) {
                found.add(all.get(i));
            }
        }
        return found;
    }

    /** How many waiting tasks match {@code filter}; looks at the waiting ones only (for autoscalers). */
    public synchronized int countPending(Predicate<Task> filter) {
        int count = 0;
        for (Task task : pending) {
            count += filter.test(task) ? 1 : 0;
        }
        return count;
    }

    /** How many tasks an agent is working on match {@code filter}; looks at those only. */
    public synchronized int countRunning(Predicate<Task> filter) {
        int count = 0;
        for (String id : running) {
            count += filter.test(tasks.get(id)) ? 1 : 0;
        }
        return count;
    }

    /** Completion rate, durations, throughput and per-agent utilization over tasks of {@code owner} (all if empty). */
    public synchronized TaskStats stats(Optional<String> owner) {
        return TaskStats.of(tasks.values().stream().filter(t -> owner.isEmpty() || owner.get().equals(t.spec().owner()))
                .toList(), registry, clock.instant());
    }

    // ---------------------------------------------------------------- inside

    /** A running task of {@code agent}'s, or an error saying why not. */
    private Task running(String id, AgentId agent) {
        Task task = require(id);
        if (!task.status().isRunning() || !task.assignee().orElseThrow().equals(agent) || !assignedHere(task)) {
            throw new SwarmbusException(ErrorCode.INVALID_STATE, "task '" + id + "' is " + task.status().wireName()
                    + (task.assignee().isPresent() ? " with " + task.assignee().get() : "") + ", not running on "
                    + agent + "; its result is no longer expected from this agent");
        }
        return task;
    }

    /**
     * Whether the running task's agent is still the registration it was given to: an id deleted and
     * registered again since, by its owner or another user, is a new agent that was never sent the
     * task and may not report on it.
     */
    private boolean assignedHere(Task task) {
        Instant assigned = task.assignedAt().orElseThrow();
        return registry.ownership(task.assignee().orElseThrow()).map(o -> !o.since().isAfter(assigned)).orElse(false);
    }

    /**
     * Frees the slot a running task took on its agent, if that agent is still the registration it
     * was given to: an id deleted and registered again has a count of its own, which this task never
     * added to, and taking one off it would let it take more tasks than its limit.
     */
    private void release(Task task) {
        if (assignedHere(task)) {
            registry.taskReleased(task.assignee().orElseThrow());
        }
    }

    private Task change(String id, AgentId agent, java.util.function.UnaryOperator<Task> update) {
        return operation(() -> {
            Task changed = update.apply(running(id, agent));
            store(changed);
            return changed;
        });
    }

    private Task require(String id) {
        Task task = tasks.get(id);
        if (task == null) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "task '" + id + "' does not exist");
        }
        return task;
    }

    /**
     * Refuses, before anything changes, what could not travel on in the task's {@code message}:
     * that message would be refused after the task had changed, and the request or report lost.
     * Returns {@code content}, to be sent as it is.
     */
    private String checkFits(String field, String message, String content) {
        int limit = bus.maxMessageBytes() - Math.min(ENVELOPE_BYTES, bus.maxMessageBytes() / 2);
        int bytes = content.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (bytes > limit) {
            throw SwarmbusException.of(ErrorCode.MESSAGE_TOO_LARGE, field, "'" + field + "' makes the task's "
                    + message + " message " + bytes + " bytes; max_message_bytes=" + bus.maxMessageBytes()
                    + " leaves " + limit + " for it");
        }
        return content;
    }

    /** An attempt ended without a result: try another agent if retries remain, else end the task. */
    private void attemptFailed(Task task, String error, TaskStatus finalStatus) {
        List<AgentId> failedBy = new ArrayList<>(task.failedBy());
        task.assignee().ifPresent(failedBy::add);
        if (task.attempts() <= task.spec().maxRetries()) {
            // No agent has it while it waits: its last one is the last of failedBy.
            Task retry = new Task(task.id(), task.spec(), TaskStatus.PENDING, Optional.empty(), task.attempts(),
                    List.copyOf(failedBy), 0, Optional.empty(), Optional.of(error), task.createdAt(), task.assignedAt(),
                    Optional.empty());
            pending.add(retry);
            store(retry);
            tryAssign(retry);
            return;
        }
        Task ended = new Task(task.id(), task.spec(), finalStatus, task.assignee(), task.attempts(),
                List.copyOf(failedBy), task.progress(), Optional.empty(), Optional.of(error), task.createdAt(),
                task.assignedAt(), Optional.of(clock.instant()));
        finish(ended, response(ended));
    }

    /** Gives {@code task} to the best agent, if one is free. */
    private void tryAssign(Task task) {
        Optional<AgentInfo> agent = pick(task);
        if (agent.isEmpty()) {
            return;
        }
        AgentId chosen = agent.get().profile().id();
        pending.remove(task);
        registry.taskAssigned(chosen);
        Task assigned = new Task(task.id(), task.spec(), TaskStatus.ASSIGNED, Optional.of(chosen), task.attempts() + 1,
                task.failedBy(), 0, Optional.empty(), task.error(), task.createdAt(), Optional.of(clock.instant()),
                Optional.empty());
        store(assigned);
        // On a thread of its own: never inside this lock, never on the journal's writer thread.
        send(chosen, TASK_REQUEST, assigned, request(assigned)).whenCompleteAsync((ok, failure) -> {
            if (failure != null) {
                undelivered(assigned, failure);
            }
        }, Thread::startVirtualThread);
    }

    /**
     * Never an agent that already failed the task while another capable one is online, free or
     * not: the task waits for that one rather than go back to an agent that failed it. Else, of
     * those that all failed it, not the last one, on the same terms; else anyone.
     */
    private Optional<AgentInfo> pick(Task task) {
        Optional<String> owner = task.spec().owner().isEmpty() ? Optional.empty() : Optional.of(task.spec().owner());
        List<Set<AgentId>> exclusions = new ArrayList<>();
        exclusions.add(Set.copyOf(task.failedBy()));
        if (!task.failedBy().isEmpty()) {
            exclusions.add(Set.of(task.failedBy().getLast()));
            exclusions.add(Set.of());
        }
        for (int i = 0; i < exclusions.size(); i++) {
            Set<AgentId> exclude = exclusions.get(i);
            Optional<AgentInfo> agent = registry.best(owner, task.spec().requiredCapabilities(), task.spec().strategy(),
                    exclude, task.spec().candidates());
            boolean last = i == exclusions.size() - 1;
            if (agent.isPresent() || last || registry.anyOnline(owner, task.spec().requiredCapabilities(), exclude,
                    task.spec().candidates())) {
                return agent; // empty: one of those it prefers is busy, and it waits for a free slot there
            }
        }
        return Optional.empty();
    }

    /** Tries every waiting task, most urgent first. */
    private void assignPending() {
        for (Task task : List.copyOf(pending)) {
            tryAssign(task);
        }
    }

    /** Ends {@code task}, sending its creator {@code report}, the task's {@link #response}. */
    private void finish(Task task, String report) {
        pending.remove(task);
        store(task);
        finished.add(task.id());
        task.spec().createdBy().filter(bus::hasInbox).ifPresent(creator -> send(creator, TASK_RESPONSE, task, report));
        while (finished.size() > KEEP_FINISHED) {
            String oldest = finished.poll();
            tasks.remove(oldest);
            lastWrite = Math.max(lastWrite, table.removeLater(oldest));
        }
    }

    /**
     * Runs {@code body} under the lock, writing without waiting; then, outside the lock, waits
     * until its writes are durable and its messages accepted (a request that could not be
     * delivered has failed its attempt by then), and tells the listener of every change, in order.
     * One slow fsync so never holds up other callers.
     */
    private <T> T operation(java.util.function.Supplier<T> body) {
        T result;
        Pending done;
        synchronized (this) {
            try {
                result = body.get();
            } finally {
                done = new Pending(lastWrite, sent, changed);
                lastWrite = 0;
                sent = new ArrayList<>();
                changed = new ArrayList<>();
            }
        }
        table.awaitDurable(done.lastWrite());
        for (java.util.concurrent.CompletableFuture<?> message : done.sent()) {
            message.exceptionally(failure -> null).join();
        }
        done.changed().forEach(listener);
        return result;
    }

    /** What one operation did under the lock: its last write, the messages it sent, the tasks it changed. */
    private record Pending(long lastWrite, List<java.util.concurrent.CompletableFuture<?>> sent, List<Task> changed) {}

    private void store(Task task) {
        tasks.put(task.id(), task);
        changed.add(task);
        if (task.status().isRunning()) {
            running.add(task.id());
        } else {
            running.remove(task.id());
        }
        lastWrite = Math.max(lastWrite, table.putLater(task.id(), TaskCodec.encode(task)));
    }

    /**
     * Sends a task message. Cancel notices and outcome reports are best effort; a request that
     * cannot be delivered fails its attempt (see {@link #undelivered}).
     */
    private java.util.concurrent.CompletableFuture<?> send(AgentId to, MessageType type, Task task, String content) {
        SendRequest.Builder builder = SendRequest.builder(self, Address.agent(to)).type(type).content(content)
                .priority(task.spec().priority()).correlationId(task.id()).replyTo(self.value());
        task.spec().traceparent().ifPresent(value -> builder.header("traceparent", value)); // the trace goes on
        SendRequest request = builder.build();
        java.util.concurrent.CompletableFuture<?> future;
        try {
            future = bus.sendAsync(request);
        } catch (SwarmbusException e) {
            future = java.util.concurrent.CompletableFuture.failedFuture(e);
        }
        sent.add(future);
        return future;
    }

    /** The task_request of {@code attempt} could not be delivered: that attempt failed, if still current. */
    private void undelivered(Task attempt, Throwable failure) {
        Throwable cause = failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null
                ? failure.getCause() : failure;
        operation(() -> {
            Task now = tasks.get(attempt.id());
            if (now == null || !now.status().isRunning() || now.attempts() != attempt.attempts()) {
                return null; // already moved on
            }
            AgentId agent = now.assignee().orElseThrow();
            release(now);
            attemptFailed(now, "could not deliver the task to " + agent + ": " + cause.getMessage(), TaskStatus.FAILED);
            return null;
        });
    }

    private static String request(Task task) {
        TaskSpec spec = task.spec();
        StringBuilder json = new StringBuilder(256 + spec.parameters().length() + spec.description().length());
        json.append("{\"task_id\":").append(Json.quote(task.id()))
                .append(",\"type\":").append(Json.quote(spec.type()))
                .append(",\"description\":").append(Json.quote(spec.description()))
                .append(",\"parameters\":").append(spec.parameters())
                .append(",\"required_capabilities\":").append(Json.strings(spec.requiredCapabilities()))
                .append(",\"priority\":").append(Json.quote(spec.priority().wireName()))
                .append(",\"attempt\":").append(task.attempts())
                .append(",\"timeout_seconds\":").append(spec.timeout().toMillis() / 1000.0);
        spec.parentId().ifPresent(parent -> json.append(",\"parent_id\":").append(Json.quote(parent)));
        return json.append('}').toString();
    }

    private static String response(Task task) {
        StringBuilder json = new StringBuilder(128).append("{\"task_id\":").append(Json.quote(task.id()))
                .append(",\"status\":").append(Json.quote(task.status().wireName()))
                .append(",\"attempts\":").append(task.attempts());
        task.assignee().ifPresent(agent -> json.append(",\"agent_id\":").append(Json.quote(agent.value())));
        task.result().ifPresent(result -> json.append(",\"result\":").append(result));
        task.error().ifPresent(error -> json.append(",\"error\":").append(Json.quote(error)));
        return json.append('}').toString();
    }

    private static Task with(Task task, TaskStatus status, Optional<AgentId> assignee, int progress,
            Optional<String> result, Optional<String> error, Optional<Instant> finishedAt) {
        return new Task(task.id(), task.spec(), status, assignee, task.attempts(), task.failedBy(), progress, result,
                error, task.createdAt(), task.assignedAt(), finishedAt);
    }

    /** {@code task-} and 16 hex digits: milliseconds and a counter, so ids sort by creation time. */
    private String nextId(Instant now) {
        lastId = Math.max(lastId + 1, now.toEpochMilli() << 20);
        return String.format("task-%016x", lastId);
    }

    @Override
    public void close() {
        table.close();
    }
}
