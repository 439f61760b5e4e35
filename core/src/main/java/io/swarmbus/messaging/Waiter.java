package io.swarmbus.messaging;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A long-poll receiver waiting on an inbox. Whoever claims it first, a delivery or the timeout,
 * completes it; the other backs off, so no message is leased to a receiver that already gave up.
 */
final class Waiter {
    final int max;
    final Duration visibility;
    final CompletableFuture<List<Delivery>> future = new CompletableFuture<>();
    private final AtomicBoolean claimed = new AtomicBoolean();
    Future<?> timeout;

    Waiter(int max, Duration visibility) {
        this.max = max;
        this.visibility = visibility;
    }

    boolean claim() {
        return claimed.compareAndSet(false, true);
    }
}
