package io.swarmbus.storage;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * Settings of the embedded file journal.
 *
 * @param directory where segments and snapshots live; created if missing
 * @param fsyncPolicy when bytes are forced to disk
 * @param fsyncInterval how often {@link FsyncPolicy#INTERVAL} forces; ignored by {@code ALWAYS}
 * @param segmentBytes the size past which the active segment is closed and a new one started, and
 *     the size each segment is made when it is created (as a hole, taking no disk space)
 * @param maxBufferedBytes appended bytes not yet written past which appenders are held back
 */
public record JournalConfig(
        Path directory,
        FsyncPolicy fsyncPolicy,
        Duration fsyncInterval,
        long segmentBytes,
        long maxBufferedBytes) {

    /** Validates every setting; an invalid one is rejected, never clamped. */
    public JournalConfig {
        Objects.requireNonNull(directory, "directory");
        Objects.requireNonNull(fsyncPolicy, "fsyncPolicy");
        Objects.requireNonNull(fsyncInterval, "fsyncInterval");
        if (fsyncInterval.isNegative() || fsyncInterval.isZero()) {
            throw new IllegalArgumentException("fsync_interval must be positive, was " + fsyncInterval);
        }
        if (segmentBytes < 1024 * 1024) {
            throw new IllegalArgumentException("segment_bytes must be at least 1 MiB, was " + segmentBytes);
        }
        if (maxBufferedBytes < 1024 * 1024) {
            throw new IllegalArgumentException("max_buffered_bytes must be at least 1 MiB, was " + maxBufferedBytes);
        }
    }

    /** Defaults: fsync always with group commit, 64 MiB segments, 64 MiB write buffer. */
    public static JournalConfig defaults(Path directory) {
        return new JournalConfig(directory, FsyncPolicy.ALWAYS, Duration.ofMillis(50), 64L << 20, 64L << 20);
    }
}
