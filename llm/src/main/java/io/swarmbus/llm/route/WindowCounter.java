package io.swarmbus.llm.route;

import java.util.Arrays;

/** Counts over the last minute in one-second buckets: requests or tokens per minute. */
public final class WindowCounter {
    private static final int SECONDS = 60;
    private final long[] buckets = new long[SECONDS];
    private final long[] seconds = new long[SECONDS];

    public WindowCounter() {
        Arrays.fill(seconds, Long.MIN_VALUE / 2); // no bucket is from the last minute yet
    }

    public synchronized void add(long nanos, long amount) {
        long second = nanos / 1_000_000_000L;
        int slot = (int) Math.floorMod(second, (long) SECONDS);
        if (seconds[slot] != second) {
            seconds[slot] = second;
            buckets[slot] = 0;
        }
        buckets[slot] += amount;
    }

    public synchronized long sum(long nanos) {
        long second = nanos / 1_000_000_000L;
        long total = 0;
        for (int i = 0; i < SECONDS; i++) {
            if (second - seconds[i] < SECONDS) {
                total += buckets[i];
            }
        }
        return total;
    }

    /** Whole seconds until the count of the last minute drops below {@code limit} (at least 1). */
    public synchronized long secondsUntilBelow(long nanos, long limit) {
        long second = nanos / 1_000_000_000L;
        long total = sum(nanos);
        for (long age = SECONDS - 1; age >= 0; age--) { // oldest bucket first: it ages out first
            int slot = (int) Math.floorMod(second - age, (long) SECONDS);
            if (seconds[slot] == second - age) {
                total -= buckets[slot];
                if (total < limit) {
                    return SECONDS - age;
                }
            }
        }
        return SECONDS;
    }
}
