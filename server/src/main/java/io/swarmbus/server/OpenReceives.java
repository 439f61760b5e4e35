package io.swarmbus.server;

import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The receives a route has under way (long-polls, SSE streams), so that a closing server
 * withdraws their waits, so that nothing more is leased to them, and answers their callers before
 * Jetty stops rather than cutting them off. Each caller {@link #enter}s, {@link #track}s its waits,
 * and {@link #leave}s once answered.
 */
final class OpenReceives {
    private final Set<CompletableFuture<?>> waits = ConcurrentHashMap.newKeySet();
    private final AtomicInteger open = new AtomicInteger();
    private volatile boolean closing;

    static SwarmbusException shuttingDown() {
        return new SwarmbusException(ErrorCode.UNAVAILABLE, "the server is shutting down; try again once it is back");
    }

    boolean closing() {
        return closing;
    }

    /** A caller begins; refused once the server is closing. It must {@link #leave} either way. */
    void enter() {
        open.incrementAndGet();
        if (closing) {
            throw shuttingDown();
        }
    }

    void leave() {
        open.decrementAndGet();
    }

    /** {@code wait}, withdrawn (cancelled) when the server closes, at once if it is closing. */
    <T> CompletableFuture<T> track(CompletableFuture<T> wait) {
        waits.add(wait);
        wait.whenComplete((result, failure) -> waits.remove(wait));
        if (closing) { // close() may have looked before it was added
            wait.cancel(false);
        }
        return wait;
    }

    /** Withdraws every wait and refuses new callers; returns once all have left, or after {@code grace}. */
    void close(Duration grace) throws InterruptedException {
        closing = true;
        waits.forEach(wait -> wait.cancel(false));
        long deadline = System.nanoTime() + grace.toNanos();
        while (open.get() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
    }
}
