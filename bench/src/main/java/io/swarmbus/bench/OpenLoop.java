package io.swarmbus.bench;

import java.io.IOException;
import java.util.Arrays;
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

    /** Writes message {@code i}, scheduled for {@code scheduled} (nanoTime). */
    interface Sender {
        void send(int i, long scheduled) throws IOException;
    }

    /**
     * Sends {@code total} messages open-loop at {@code rate} a second, starting 50 ms from now, then
     * prints how late the generator itself wrote them under {@code label}: latency counted from the
     * schedule that the server under test cannot have caused.
     */
    static void send(int rate, int total, String label, Sender sender) throws IOException {
        long interval = 1_000_000_000L / rate;
        long start = System.nanoTime() + 50_000_000;
        long[] late = new long[total];
        for (int i = 0; i < total; i++) {
            long scheduled = start + i * interval;
            waitUntil(scheduled);
            sender.send(i, scheduled);
            late[i] = System.nanoTime() - scheduled;
        }
        // "p99.0", not "p99": the rounds scripts take the last "p99" line as the run's figure.
        print(label, "p99.0", late);
    }

    /** Prints p50, p99, p99.9 and the max of {@code nanos} (sorted here) under {@code label}. */
    static void print(String label, long[] nanos) {
        print(label, "p99", nanos);
    }

    private static void print(String label, String p99, long[] nanos) {
        Arrays.sort(nanos);
        System.out.printf("%-62s p50 %.3f ms  %s %.3f ms  p99.9 %.3f ms  max %.3f ms%n", label, percentile(nanos, 0.5),
                p99, percentile(nanos, 0.99), percentile(nanos, 0.999), nanos[nanos.length - 1] / 1e6);
    }

    /** The {@code q} quantile of sorted nanoseconds, in milliseconds. */
    static double percentile(long[] sorted, double q) {
        return sorted[(int) Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] / 1e6;
    }
}
