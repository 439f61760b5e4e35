package io.swarmbus.storage;

/**
 * What the journal's disk has done since it opened.
 *
 * @param batches batches written (one write call each)
 * @param fsyncs fsyncs issued
 * @param fsyncNanos time spent in fsync, in all
 * @param maxFsyncNanos the slowest fsync
 * @param slowFsyncs fsyncs that took 10 ms or more
 */
public record JournalStats(long batches, long fsyncs, long fsyncNanos, long maxFsyncNanos, long slowFsyncs) {
    /** Fsyncs at least this slow are counted as slow. */
    public static final long SLOW_NANOS = 10_000_000;
}
