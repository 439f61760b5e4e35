package io.swarmbus.bench;

import java.util.concurrent.locks.LockSupport;

/** Helpers shared by the load generators: open-loop pacing and percentiles. */
final class OpenLoop {
    private OpenLoop() {}

    /**
     * Waits until {@code nanoTime} reaches {@code scheduled}: parks while far, spins the last
     * 60 µs, because parking overshoots by about that much and would add to measured latency.
     */
    static void waitUntil(long scheduled) {
        while (System.nanoTime() < scheduled) {
            long left = scheduled - System.nanoTime();
            if (left > 60_000) {
                LockSupport.parkNanos(left - 50_000);
            } else {
                Thread.onSpinWait();
            }
        }
    }

    /** The {@code q} quantile of sorted nanoseconds, in milliseconds. */
    static double percentile(long[] sorted, double q) {
        return sorted[(int) Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] / 1e6;
    }
}
