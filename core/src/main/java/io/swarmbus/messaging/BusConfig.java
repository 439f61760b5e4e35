package io.swarmbus.messaging;

import io.swarmbus.storage.FsyncPolicy;
import io.swarmbus.storage.JournalConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.time.InstantSource;
import java.util.Objects;

/**
 * Settings of a {@link MessageBus}, frozen once built. Build with {@link #builder(Path)}; every
 * setting is validated and an invalid one is rejected with its name, never clamped.
 *
 * @param dataDirectory where the journal and snapshots live
 * @param fsyncPolicy when the journal forces writes to disk
 * @param fsyncInterval how often {@link FsyncPolicy#INTERVAL} forces
 * @param segmentBytes journal segment size
 * @param maxMessageBytes the largest message accepted (content, headers and metadata)
 * @param maxInboxDepth the most undelivered or unacked messages one inbox holds
 * @param defaultVisibility lease length when a receiver names none
 * @param maxVisibility the longest lease a receiver may ask for
 * @param maxDeliveries leases after which an unacked message moves to the dead-letter queue
 * @param maxReceiveBatch the most messages one receive returns
 * @param maxReceiveBytes the most bytes of messages, measured as {@code maxMessageBytes} measures
 *     one, that one receive returns, save that its first message always comes; at least
 *     {@code maxMessageBytes}
 * @param dedupeWindow how long an idempotency key is remembered
 * @param historyRetention how long finished messages stay queryable
 * @param historyMaxMessages the most finished messages kept queryable
 * @param historyMaxBytes the most bytes of direct memory the kept finished messages take
 * @param snapshotAfterBytes journal bytes after which a snapshot is taken (or, if more, as many
 *     bytes as the retained messages would take in it, so a snapshot is only written once it
 *     frees more than it costs)
 * @param reaperInterval how often expired leases and delays are looked for
 * @param snapshotOnClose whether a clean close writes a snapshot, so the next open replays nothing
 * @param clock the time source; tests pass a fake one
 */
public record BusConfig(
        Path dataDirectory,
        FsyncPolicy fsyncPolicy,
        Duration fsyncInterval,
        long segmentBytes,
        int maxMessageBytes,
        int maxInboxDepth,
        Duration defaultVisibility,
        Duration maxVisibility,
        int maxDeliveries,
        int maxReceiveBatch,
        int maxReceiveBytes,
        Duration dedupeWindow,
        Duration historyRetention,
        int historyMaxMessages,
        long historyMaxBytes,
        long snapshotAfterBytes,
        Duration reaperInterval,
        boolean snapshotOnClose,
        InstantSource clock) {

    /**
     * The default bound on one receive's messages, 8 MiB: a full batch of 1,000 messages of up to
     * 8 KiB each (agent messages are mostly a few KiB of text) still comes in one answer, while
     * messages at the default 1 MiB {@code max_message_bytes} come eight to an answer, not a
     * thousand.
     */
    public static final int DEFAULT_MAX_RECEIVE_BYTES = 8 << 20;

    /** Validates every setting, naming the one at fault. */
    public BusConfig {
        Objects.requireNonNull(dataDirectory, "data_directory");
        Objects.requireNonNull(fsyncPolicy, "fsync_policy");
        Objects.requireNonNull(clock, "clock");
        positive("fsync_interval", fsyncInterval);
        positive("default_visibility", defaultVisibility);
        positive("max_visibility", maxVisibility);
        positive("dedupe_window", dedupeWindow);
        positive("history_retention", historyRetention);
        positive("reaper_interval", reaperInterval);
        atLeast("segment_bytes", segmentBytes, 1 << 20);
        atLeast("max_message_bytes", maxMessageBytes, 1024);
        atLeast("max_inbox_depth", maxInboxDepth, 1);
        atLeast("max_deliveries", maxDeliveries, 1);
        atLeast("max_receive_batch", maxReceiveBatch, 1);
        atLeast("history_max_messages", historyMaxMessages, 0);
        atLeast("history_max_bytes", historyMaxBytes, 0);
        atLeast("snapshot_after_bytes", snapshotAfterBytes, 1 << 20);
        if (maxReceiveBytes < maxMessageBytes) {
            throw new IllegalArgumentException("max_receive_bytes (" + maxReceiveBytes
                    + ") must be at least max_message_bytes (" + maxMessageBytes + ")");
        }
        if (defaultVisibility.compareTo(maxVisibility) > 0) {
            throw new IllegalArgumentException("default_visibility (" + defaultVisibility
                    + ") must not exceed max_visibility (" + maxVisibility + ")");
        }
    }

    private static void positive(String name, Duration value) {
        Objects.requireNonNull(value, name);
        if (value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException(name + " must be positive, was " + value);
        }
    }

    private static void atLeast(String name, long value, long min) {
        if (value < min) {
            throw new IllegalArgumentException(name + " must be at least " + min + ", was " + value);
        }
    }

    /** The journal settings these imply. */
    public JournalConfig journal() {
        return new JournalConfig(dataDirectory, fsyncPolicy, fsyncInterval, segmentBytes, 64L << 20);
    }

    /** A builder holding the defaults. */
    public static Builder builder(Path dataDirectory) {
        return new Builder(dataDirectory);
    }

    /** Builds a {@link BusConfig}; starts from the documented defaults. */
    public static final class Builder {
        private final Path dataDirectory;
        private FsyncPolicy fsyncPolicy = FsyncPolicy.ALWAYS;
        private Duration fsyncInterval = Duration.ofMillis(50);
        private long segmentBytes = 64L << 20;
        private int maxMessageBytes = 1 << 20;
        private int maxInboxDepth = 100_000;
        private Duration defaultVisibility = Duration.ofSeconds(30);
        private Duration maxVisibility = Duration.ofHours(12);
        private int maxDeliveries = 5;
        private int maxReceiveBatch = 1_000;
        /** Null until set: then the default follows a larger {@link #maxMessageBytes}. */
        private Integer maxReceiveBytes;
        private Duration dedupeWindow = Duration.ofMinutes(10);
        private Duration historyRetention = Duration.ofDays(7);
        private int historyMaxMessages = 100_000;
        private long historyMaxBytes = 1L << 30;
        private long snapshotAfterBytes = 256L << 20;
        private Duration reaperInterval = Duration.ofMillis(100);
        private boolean snapshotOnClose = true;
        private InstantSource clock = InstantSource.system();

        private Builder(Path dataDirectory) {
            this.dataDirectory = dataDirectory;
        }

        /** Default {@code always}. */
        public Builder fsyncPolicy(FsyncPolicy value) {
            fsyncPolicy = value;
            return this;
        }

        /** Default 50 ms. */
        public Builder fsyncInterval(Duration value) {
            fsyncInterval = value;
            return this;
        }

        /** Default 64 MiB. */
        public Builder segmentBytes(long value) {
            segmentBytes = value;
            return this;
        }

        /** Default 1 MiB. */
        public Builder maxMessageBytes(int value) {
            maxMessageBytes = value;
            return this;
        }

        /** Default 100,000. */
        public Builder maxInboxDepth(int value) {
            maxInboxDepth = value;
            return this;
        }

        /** Default 30 s. */
        public Builder defaultVisibility(Duration value) {
            defaultVisibility = value;
            return this;
        }

        /** Default 12 h. */
        public Builder maxVisibility(Duration value) {
            maxVisibility = value;
            return this;
        }

        /** Default 5. */
        public Builder maxDeliveries(int value) {
            maxDeliveries = value;
            return this;
        }

        /** Default 1,000. */
        public Builder maxReceiveBatch(int value) {
            maxReceiveBatch = value;
            return this;
        }

        /** Default {@link #DEFAULT_MAX_RECEIVE_BYTES}, or {@code maxMessageBytes} if that is larger. */
        public Builder maxReceiveBytes(int value) {
            maxReceiveBytes = value;
            return this;
        }

        /** Default 10 min. */
        public Builder dedupeWindow(Duration value) {
            dedupeWindow = value;
            return this;
        }

        /** Default 7 days. */
        public Builder historyRetention(Duration value) {
            historyRetention = value;
            return this;
        }

        /** Default 100,000. */
        public Builder historyMaxMessages(int value) {
            historyMaxMessages = value;
            return this;
        }

        /** Default 1 GiB. */
        public Builder historyMaxBytes(long value) {
            historyMaxBytes = value;
            return this;
        }

        /** Default 256 MiB. */
        public Builder snapshotAfterBytes(long value) {
            snapshotAfterBytes = value;
            return this;
        }

        /** Default 100 ms. */
        public Builder reaperInterval(Duration value) {
            reaperInterval = value;
            return this;
        }

        /** Default true. */
        public Builder snapshotOnClose(boolean value) {
            snapshotOnClose = value;
            return this;
        }

        /** Default the system clock. */
        public Builder clock(InstantSource value) {
            clock = value;
            return this;
        }

        /** Validates and builds. */
        public BusConfig build() {
            return new BusConfig(dataDirectory, fsyncPolicy, fsyncInterval, segmentBytes, maxMessageBytes,
                    maxInboxDepth, defaultVisibility, maxVisibility, maxDeliveries, maxReceiveBatch,
                    maxReceiveBytes != null ? maxReceiveBytes : Math.max(DEFAULT_MAX_RECEIVE_BYTES, maxMessageBytes),
                    dedupeWindow, historyRetention, historyMaxMessages, historyMaxBytes, snapshotAfterBytes, reaperInterval, snapshotOnClose, clock);
        }
    }
}
