package io.swarmbus.client;

import com.fasterxml.jackson.databind.JsonNode;
import io.swarmbus.client.Types.Delivery;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs an agent: registers it, heartbeats, receives its {@code task_request} messages, runs a
 * handler for each (at most {@code maxConcurrentTasks} at once, each on its own virtual thread),
 * reports the result or the failure, and acks the request once reported. A {@code task_cancel}
 * interrupts the task's handler. A request that comes while every slot is busy is held, its lease
 * renewed, and started when a slot frees; one more beyond that is given back (nacked) to come again
 * a second later, and each give-back counts as a delivery attempt. {@link #close} gives a held
 * request back at once, for another agent, stops taking tasks, lets running ones finish (up to a
 * grace period), and tells the server the agent is going offline.
 *
 * <pre>{@code
 * try (AgentWorker worker = AgentWorker.builder(client, "py-worker-1")
 *         .capabilities("python", "testing").maxConcurrentTasks(3)
 *         .handler(task -> Map.of("echo", task.parameters()))
 *         .start()) {
 *     Thread.sleep(Long.MAX_VALUE);
 * }
 * }</pre>
 */
public final class AgentWorker implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(AgentWorker.class.getName());

    /** Does one task; returns its result (anything Jackson can write) or throws to fail it. */
    @FunctionalInterface
    public interface TaskHandler {
        Object handle(TaskContext task) throws Exception;
    }

    /** One task as its handler sees it. */
    public static final class TaskContext {
        private final SwarmbusClient client;
        private final String agentId;
        private final JsonNode request;
        private final AtomicBoolean cancelled = new AtomicBoolean();

        TaskContext(SwarmbusClient client, String agentId, JsonNode request) {
            this.client = client;
            this.agentId = agentId;
            this.request = request;
        }

        public String taskId() {
            return request.path("task_id").asText();
        }

        public String type() {
            return request.path("type").asText();
        }

        public String description() {
            return request.path("description").asText();
        }

        public JsonNode parameters() {
            return request.path("parameters");
        }

        /** 1 for the first attempt; more when the task came back after a failure elsewhere. */
        public int attempt() {
            return request.path("attempt").asInt(1);
        }

        /** Tells the server how far along the task is (0 to 100). */
        public void reportProgress(int percent) {
            client.reportProgress(taskId(), agentId, percent);
        }

        /** Whether the server took the task back (cancelled, or timed out here). */
        public boolean isCancelled() {
            return cancelled.get();
        }
    }

    private final SwarmbusClient client;
    private final String agentId;
    private final TaskHandler handler;
    private final int slots;
    private final Semaphore free;
    private final Duration heartbeatInterval;
    private final Duration grace;
    private final Duration lease;
    /** The task_request message each running task came in, whose lease is renewed while it runs. */
    private final Map<String, String> requests = new ConcurrentHashMap<>();
    private final AtomicBoolean running = new AtomicBoolean(true);
    /** The threads of handlers still running; a task leaves it once its handler returns (see {@link #run}). */
    private final Map<String, Thread> handlers = new ConcurrentHashMap<>();
    private final Map<String, TaskContext> contexts = new ConcurrentHashMap<>();
    /**
     * The one request held for the next free slot, rather than nacked: every nack counts as a
     * delivery attempt, and a request nacked each second while slots stay busy would be
     * dead-lettered. Its context is in {@link #contexts} and its message in {@link #requests}.
     */
    private final AtomicReference<Held> held = new AtomicReference<>();
    private final ScheduledExecutorService heartbeats;
    private final Thread receiver;

    private AgentWorker(Builder b) {
        this.client = b.client;
        this.agentId = b.agentId;
        this.handler = b.handler;
        this.slots = b.maxConcurrentTasks;
        this.free = new Semaphore(slots);
        this.heartbeatInterval = b.heartbeatInterval;
        this.grace = b.grace;
        this.lease = b.lease;
        client.registerAgent(agentId, b.role, b.capabilities, slots, b.metadata);
        heartbeats = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().daemon()
                .name("swarmbus-heartbeat-" + agentId).factory());
        heartbeats.scheduleAtFixedRate(this::heartbeat, heartbeatInterval.toMillis(), heartbeatInterval.toMillis(),
                TimeUnit.MILLISECONDS);
        long renewEvery = Math.max(100, lease.toMillis() / 3);
        heartbeats.scheduleAtFixedRate(this::renewLeases, renewEvery, renewEvery, TimeUnit.MILLISECONDS);
        receiver = Thread.ofVirtual().name("swarmbus-worker-" + agentId).start(this::receiveLoop);
    }

    public static Builder builder(SwarmbusClient client, String agentId) {
        return new Builder(client, agentId);
    }

    /** Tasks this worker is running now. */
    public int runningTasks() {
        return slots - free.availablePermits();
    }

    /** Says the agent is alive; once closing, that it is busy, so that the server gives it no new task. */
    private void heartbeat() {
        try {
            client.heartbeat(agentId, running.get() ? null : "busy", runningTasks(), Map.of());
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "heartbeat of " + agentId + " failed: " + e.getMessage());
        }
    }

    /** Keeps the requests of running tasks leased, so a long task is not redelivered meanwhile. */
    private void renewLeases() {
        if (requests.isEmpty()) {
            return;
        }
        try {
            client.extendLease(agentId, List.copyOf(requests.values()), lease);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "lease renewal of " + agentId + " failed: " + e.getMessage());
        }
    }

    private void receiveLoop() {
        while (running.get()) {
            try {
                // One more than the free slots, so a task_cancel gets through while every slot is busy.
                int room = free.availablePermits() + 1;
                List<Delivery> got = client.receive(agentId, room, Duration.ofSeconds(2), lease);
                for (Delivery delivery : got) {
                    dispatch(delivery);
                }
            } catch (RuntimeException e) {
                if (running.get()) {
                    LOG.log(System.Logger.Level.WARNING, agentId + " could not receive: " + e.getMessage());
                    sleep(Duration.ofSeconds(1));
                }
            }
        }
    }

    private void dispatch(Delivery delivery) {
        switch (delivery.type()) {
            case "task_request" -> {
                TaskContext task = new TaskContext(client, agentId, delivery.content());
                if (contexts.containsKey(task.taskId())) {
                    return; // a redelivery of a task running or held here; the first run acks it
                }
                if (free.tryAcquire()) {
                    start(task, delivery);
                } else if (running.get() && held.compareAndSet(null, new Held(task, delivery))) {
                    contexts.put(task.taskId(), task);
                    requests.put(task.taskId(), delivery.id()); // renewed with the running tasks' requests
                    startHeld(); // a slot may have freed since tryAcquire, its task's end finding nothing held
                } else {
                    // no slot now, and one request already waits for the next: again shortly
                    settle("nack", () -> client.nack(agentId, delivery.id(), Duration.ofSeconds(1)));
                }
            }
            case "task_cancel" -> {
                String taskId = delivery.content().path("task_id").asText();
                TaskContext task = contexts.get(taskId);
                if (task != null) {
                    task.cancelled.set(true); // first: a held task started meanwhile then skips its handler
                }
                Held waiting = held.get();
                if (waiting != null && waiting.task() == task && held.compareAndSet(waiting, null)) {
                    forget(taskId);
                    settle("ack", () -> client.ack(agentId, List.of(waiting.delivery().id())));
                }
                interruptHandler(taskId);
                settle("ack", () -> client.ack(agentId, List.of(delivery.id())));
            }
            default -> settle("ack", () -> client.ack(agentId, List.of(delivery.id()))); // not for a worker
        }
    }

    /** Runs {@code task} on a slot already taken for it. */
    private void start(TaskContext task, Delivery delivery) {
        contexts.put(task.taskId(), task);
        requests.put(task.taskId(), delivery.id());
        Thread thread = Thread.ofVirtual().name("swarmbus-task-" + task.taskId())
                .unstarted(() -> run(task, delivery));
        handlers.put(task.taskId(), thread); // before it starts, or a quick task would leave its entry behind
        thread.start();
    }

    /**
     * Starts the held request if a slot is free. Called when a request is held and when a slot
     * frees, so that whichever comes second finds the other; the swap lets only one caller have it.
     */
    private void startHeld() {
        while (running.get() && held.get() != null && free.tryAcquire()) {
            Held next = held.getAndSet(null);
            if (next == null) {
                free.release(); // taken meanwhile (by a cancel, or another freed slot)
            } else {
                start(next.task(), next.delivery());
            }
        }
    }

    private void forget(String taskId) {
        contexts.remove(taskId);
        requests.remove(taskId);
    }

    private void run(TaskContext task, Delivery delivery) {
        try {
            // A held task cancelled as it started: nothing to report (see report), only the ack.
            Runnable outcome = task.isCancelled() ? () -> { } : handle(task);
            // Out of reach of interrupts before reporting: one that cut the report or the ack short
            // would leave the request to come back and run again.
            handlers.remove(task.taskId());
            Thread.interrupted(); // one that came as the handler returned: the report tells the server
            report(task, outcome, delivery);
        } finally {
            handlers.remove(task.taskId());
            forget(task.taskId());
            free.release();
            startHeld();
        }
    }

    /** Runs the handler; returns the call that reports its result, or its failure. */
    private Runnable handle(TaskContext task) {
        try {
            // Written here, so that a result Jackson cannot write fails the task like a throw.
            JsonNode result = SwarmbusClient.JSON.valueToTree(handler.handle(task));
            return () -> client.completeTask(task.taskId(), agentId, result);
        } catch (Exception | Error e) { // an Error too (an assert, say): unreported, the task would run again
            String error = e.getClass().getSimpleName() + ": " + e.getMessage();
            return () -> client.failTask(task.taskId(), agentId, error);
        }
    }

    /**
     * Interrupts the task's handler if it is still running. Done inside the map's lock on the
     * entry, so that it cannot land after {@link #run} took the task out to report it.
     */
    private void interruptHandler(String taskId) {
        handlers.computeIfPresent(taskId, (id, thread) -> {
            thread.interrupt();
            return thread;
        });
    }

    /**
     * Reports the outcome, then acks the request. A 404 or 409 means the server no longer expects
     * this agent's answer (cancelled, or given to another after a timeout): acked all the same. Any
     * other failure gives the request back, to be run again later.
     */
    private void report(TaskContext task, Runnable outcome, Delivery delivery) {
        // An interrupt (a cancel, or close after its grace) was for the handler: left set, it would
        // fail these calls, and the request, never acked, would come back to run again.
        Thread.interrupted();
        if (!task.isCancelled()) {
            try {
                outcome.run();
            } catch (SwarmbusApiException e) {
                if (e.status() != 404 && e.status() != 409) {
                    LOG.log(System.Logger.Level.WARNING, "could not report task " + task.taskId() + ": " + e.getMessage());
                    settle("nack", () -> client.nack(agentId, delivery.id(), Duration.ofSeconds(5)));
                    return;
                }
            }
        }
        settle("ack", () -> client.ack(agentId, List.of(delivery.id())));
    }

    /**
     * Acks or nacks a message. Should that fail (the server unreachable, say), it is logged, not
     * thrown to end a task's thread or skip the rest of a receive: the message comes back once its
     * lease runs out.
     */
    private void settle(String what, Runnable call) {
        try {
            call.run();
        } catch (SwarmbusApiException e) {
            LOG.log(System.Logger.Level.WARNING, agentId + " could not " + what + " a message: " + e.getMessage());
        }
    }

    /** Stops taking tasks, waits for running ones up to the grace period, and goes offline. */
    @Override
    public void close() {
        if (!running.compareAndSet(true, false)) {
            return;
        }
        heartbeat(); // busy: a task the server gave it now would wait unreceived, then fail over
        receiver.interrupt();
        try {
            receiver.join(Duration.ofSeconds(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        giveBackHeld(); // once the receiver is done, so that it holds no other after this
        try {
            if (!free.tryAcquire(slots, grace.toMillis(), TimeUnit.MILLISECONDS)) {
                handlers.keySet().forEach(this::interruptHandler);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        heartbeats.shutdownNow();
        try {
            client.heartbeat(agentId, "offline", 0, Map.of());
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "could not say goodbye: " + e.getMessage());
        }
    }

    /** Gives the held request back with no delay, for another agent to take at once. */
    private void giveBackHeld() {
        Held waiting = held.getAndSet(null);
        if (waiting != null) {
            forget(waiting.task().taskId());
            settle("nack", () -> client.nack(agentId, waiting.delivery().id(), Duration.ZERO));
        }
    }

    /** A request waiting for a slot, and the context it will run with. */
    private record Held(TaskContext task, Delivery delivery) {}

    private static void sleep(Duration duration) {
        try {
            Thread.sleep(duration);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Settings of a worker; {@link #handler} is required. */
    public static final class Builder {
        private final SwarmbusClient client;
        private final String agentId;
        private String role = "worker";
        private Set<String> capabilities = Set.of();
        private int maxConcurrentTasks = 1;
        private Map<String, String> metadata = Map.of();
        private Duration heartbeatInterval = Duration.ofSeconds(5);
        private Duration grace = Duration.ofSeconds(30);
        private Duration lease = Duration.ofSeconds(60);
        private TaskHandler handler;

        private Builder(SwarmbusClient client, String agentId) {
            this.client = client;
            this.agentId = agentId;
        }

        public Builder role(String value) {
            role = value;
            return this;
        }

        public Builder capabilities(String... values) {
            capabilities = Set.copyOf(java.util.Arrays.asList(values)); // a name given twice counts once
            return this;
        }

        public Builder maxConcurrentTasks(int value) {
            maxConcurrentTasks = value;
            return this;
        }

        public Builder metadata(Map<String, String> value) {
            metadata = value;
            return this;
        }

        /** How often to heartbeat; keep it well under the server's heartbeat TTL (default 30 s). */
        public Builder heartbeatInterval(Duration value) {
            heartbeatInterval = value;
            return this;
        }

        /**
         * How long a received task request stays leased; renewed every third of it while the
         * task runs, so it comes back to another receiver only if this worker stops renewing.
         */
        public Builder leaseDuration(Duration value) {
            lease = value;
            return this;
        }

        /** How long {@link AgentWorker#close} waits for running tasks before interrupting them. */
        public Builder shutdownGrace(Duration value) {
            grace = value;
            return this;
        }

        public Builder handler(TaskHandler value) {
            handler = value;
            return this;
        }

        /** Registers the agent and starts heartbeating and taking tasks. */
        public AgentWorker start() {
            if (handler == null) {
                throw new IllegalStateException("a worker needs a handler");
            }
            return new AgentWorker(this);
        }
    }
}
