package io.swarmbus.server;

import java.time.Clock;
import java.util.concurrent.atomic.AtomicLong;

/** Ids that sort by creation: a prefix, then milliseconds and a counter in hex ({@code net-18f3a…}). */
final class SortableIds {
    private final Clock clock;
    private final AtomicLong last = new AtomicLong();

    SortableIds(Clock clock) {
        this.clock = clock;
    }

    String next(String prefix) {
        long millis = clock.millis();
        return prefix + "-" + Long.toHexString(last.updateAndGet(previous -> Math.max(previous + 1, millis << 12)));
    }
}
