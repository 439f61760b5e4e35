package io.swarmbus.llm.route;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Admission to backends: each backend takes at most its {@code max_concurrency} requests at once;
 * beyond that, requests wait here rather than being refused. Waiters are served by priority
 * (critical first), and within a priority round-robin across callers, so one agent with a
 * thousand queued calls does not delay another agent's one call by a thousand. A waiter whose
 * deadline passes leaves the queue with {@link Rejected.Reason#TIMEOUT}; only a full queue refuses
 * at once ({@link Rejected.Reason#QUEUE_FULL}).
 */
public final class Admission {
    private final List<Backend> backends;
    private final RoutingStrategy strategy;
    /** Models routed by a strategy of their own: their route's, not {@link #strategy}. */
    private final Map<String, RoutingStrategy> routeStrategies;
    private final int maxQueue;
    private final ReentrantLock lock = new ReentrantLock();
    /** By priority (index 0 = low … 3 = critical): caller → its waiters, callers in service order. */
    private final List<LinkedHashMap<String, ArrayDeque<Waiter>>> waiting = new ArrayList<>();
    /** Model → waiters for it by priority: whether a new call must queue behind someone. */
    private final Map<String, int[]> waitingByModel = new HashMap<>();
    private int queued;

    public Admission(List<Backend> backends, RoutingStrategy strategy, int maxQueue) {
        this(backends, strategy, Map.of(), maxQueue);
    }

    public Admission(List<Backend> backends, RoutingStrategy strategy, Map<String, RoutingStrategy> routeStrategies,
            int maxQueue) {
        this.backends = List.copyOf(backends);
        this.strategy = strategy;
        this.routeStrategies = Map.copyOf(routeStrategies);
        this.maxQueue = maxQueue;
        for (int p = 0; p <= 3; p++) {
            waiting.add(new LinkedHashMap<>());
        }
    }

    /** Why a call was not admitted. */
    public static final class Rejected extends Exception {
        public enum Reason { NO_BACKEND, UNHEALTHY, QUEUE_FULL, TIMEOUT }

        private final Reason reason;
        private final long retryAfterNanos;

        Rejected(Reason reason, String message, long retryAfterNanos) {
            super(message);
            this.reason = reason;
            this.retryAfterNanos = retryAfterNanos;
        }

        public Reason reason() {
            return reason;
        }

        public long retryAfterNanos() {
            return retryAfterNanos;
        }
    }

    private record Waiter(LlmCall call, Set<Backend> excluded, CompletableFuture<Backend> admitted) {}

    /** Requests waiting now. */
    public int queued() {
        lock.lock();
        try {
            return queued;
        } finally {
            lock.unlock();
        }
    }

    private static boolean serves(Backend backend, LlmCall call, Set<Backend> excluded) {
        return backend.models().contains(call.model()) && !excluded.contains(backend);
    }

    /**
     * A backend serving {@code call.model()}, not in {@code excluded}, with a slot reserved for the
     * call; waits in the queue while all are busy. Every backend returned must be {@link #release}d.
     */
    public Backend acquire(LlmCall call, Set<Backend> excluded) throws Rejected, InterruptedException {
        Waiter waiter;
        lock.lock();
        try {
            long now = System.nanoTime();
            boolean served = false;
            boolean healthy = false;
            for (Backend b : backends) { // a loop, not streams: this runs under the lock on every call
                if (serves(b, call, excluded)) {
                    served = true;
                    healthy |= b.healthy(now);
                }
            }
            if (!served) {
                throw new Rejected(Rejected.Reason.NO_BACKEND, "no " + (excluded.isEmpty() ? "" : "other ")
                        + "backend serves model '" + call.model() + "'", 0);
            }
            if (!healthy) {
                long back = backends.stream().filter(b -> serves(b, call, excluded)).mapToLong(b -> b.ejectedFor(now))
                        .filter(n -> n > 0).min().orElse(1_000_000_000L);
                throw new Rejected(Rejected.Reason.UNHEALTHY, "every backend serving model '" + call.model()
                        + "' is down or ejected after failures", back);
            }
            if (!queuedAhead(call)) {
                Backend placed = place(call, excluded, now);
                if (placed != null) {
                    return placed;
                }
            }
            if (queued >= maxQueue) {
                throw new Rejected(Rejected.Reason.QUEUE_FULL, queued + " requests are already waiting for a "
                        + "backend (llm.max_queue)", 1_000_000_000L);
            }
            waiter = new Waiter(call, excluded, new CompletableFuture<>());
            waiting.get(call.priority()).computeIfAbsent(call.agent(), a -> new ArrayDeque<>()).add(waiter);
            waitingByModel.computeIfAbsent(call.model(), m -> new int[4])[call.priority()]++;
            queued++;
        } finally {
            lock.unlock();
        }
        long wait = call.deadlineNanos() - System.nanoTime();
        try {
            return waiter.admitted().get(Math.max(0, wait), TimeUnit.NANOSECONDS);
        } catch (TimeoutException | InterruptedException e) {
            lock.lock();
            try {
                if (!waiter.admitted().isDone()) {
                    remove(waiter);
                    if (e instanceof InterruptedException interrupted) {
                        throw interrupted;
                    }
                    throw new Rejected(Rejected.Reason.TIMEOUT, "no backend for model '" + call.model()
                            + "' became free before the request's deadline", 1_000_000_000L);
                }
            } finally {
                lock.unlock();
            }
            return waiter.admitted().join(); // admitted just as the wait ended
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    /** Frees the backend's slot and admits whoever can use it. */
    public void release(Backend backend) {
        backend.finished();
        dispatch();
    }

    /** Admits waiters that can run now (after a release, or when a backend came back). */
    public void dispatch() {
        lock.lock();
        try {
            long now = System.nanoTime();
            boolean progress = true;
            while (progress && queued > 0) {
                progress = false;
                Set<String> full = new HashSet<>();
                for (int p = 3; p >= 0; p--) {
                    LinkedHashMap<String, ArrayDeque<Waiter>> callers = waiting.get(p);
                    for (String caller : new ArrayList<>(callers.keySet())) {
                        ArrayDeque<Waiter> queue = callers.get(caller);
                        Waiter head = queue.peekFirst();
                        if (full.contains(head.call().model())) {
                            continue;
                        }
                        Backend placed = place(head.call(), head.excluded(), now);
                        if (placed == null) {
                            if (head.excluded().isEmpty()) {
                                full.add(head.call().model()); // no use trying its other waiters this pass
                            }
                            continue;
                        }
                        queue.pollFirst();
                        left(head);
                        callers.remove(caller);
                        if (!queue.isEmpty()) {
                            callers.put(caller, queue); // to the back of the round
                        }
                        head.admitted().complete(placed);
                        progress = true;
                    }
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Whether a waiter at the call's priority or above wants a backend the call could take; then
     * the call queues behind it. Waiters for models served elsewhere do not hold it up.
     */
    private boolean queuedAhead(LlmCall call) {
        if (queued == 0) {
            return false;
        }
        for (Backend b : backends) {
            if (b.models().contains(call.model())) {
                for (String model : b.models()) {
                    if (waiting(model, call.priority())) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /** Whether calls for {@code model} wait at {@code priority} or above. */
    private boolean waiting(String model, int priority) {
        int[] byPriority = waitingByModel.get(model);
        for (int p = priority; byPriority != null && p <= 3; p++) {
            if (byPriority[p] > 0) {
                return true;
            }
        }
        return false;
    }

    private void left(Waiter waiter) {
        queued--;
        String model = waiter.call().model();
        waitingByModel.get(model)[waiter.call().priority()]--;
        if (!waiting(model, 0)) {
            waitingByModel.remove(model);
        }
    }

    private Backend place(LlmCall call, Set<Backend> excluded, long now) {
        List<Backend> candidates = new ArrayList<>(backends.size());
        for (Backend b : backends) {
            if (b.models().contains(call.model()) && !excluded.contains(b) && b.available(now)) {
                candidates.add(b);
            }
        }
        if (candidates.isEmpty()) {
            return null;
        }
        RoutingStrategy routing = strategyFor(call.model());
        Backend chosen = routing.choose(candidates, call, now);
        chosen.started(now);
        routing.routed(chosen, call);
        return chosen;
    }

    /** The strategy routing {@code model}'s calls. */
    public RoutingStrategy strategyFor(String model) {
        return routeStrategies.getOrDefault(model, strategy);
    }

    private void remove(Waiter waiter) {
        LinkedHashMap<String, ArrayDeque<Waiter>> callers = waiting.get(waiter.call().priority());
        ArrayDeque<Waiter> queue = callers.get(waiter.call().agent());
        if (queue != null && queue.remove(waiter)) {
            left(waiter);
            if (queue.isEmpty()) {
                callers.remove(waiter.call().agent());
            }
        }
    }
}
