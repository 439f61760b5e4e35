package io.swarmbus.storage;

import java.nio.ByteBuffer;
import java.util.function.Consumer;

/**
 * The storage port: an ordered log of opaque records with snapshots. It is the only thing the
 * messaging engine knows about persistence; the embedded {@link FileJournal} and a Kafka-backed
 * log implement it.
 *
 * <p>Records get consecutive sequence numbers from 1. {@link #append} only buffers; the
 * {@link DurabilityListener} given at open hears when records become durable.
 */
public interface Journal extends AutoCloseable {

    /**
     * Replays the newest usable snapshot and the records after it into {@code target}, repairing a
     * torn or corrupt tail. Must be called once, before the first append.
     */
    RecoveryReport recover(RecoveryTarget target);

    /**
     * Buffers one record and returns its sequence number. Callers serialize appends themselves
     * (the engine appends under its own lock so that log order is state order).
     *
     * @param payload the record
     * @param awaited whether someone waits for this record to become durable: if so the writer
     *     flushes at once; if not, the record rides along with the next awaited one (or is flushed
     *     within the fsync interval), saving an fsync for bookkeeping records such as leases
     */
    long append(ByteBuffer payload, boolean awaited);

    /** Blocks while more than the configured number of bytes wait to be written. */
    void awaitCapacity() throws InterruptedException;

    /** The sequence number of the last record appended. */
    long lastSeq();

    /** The sequence number up to which every record is durable. */
    long durableSeq();

    /** Counters of writes and fsyncs since open. */
    JournalStats stats();

    /** Bytes appended since the newest snapshot: the replay work a restart would do now. */
    long bytesSinceSnapshot();

    /**
     * Writes a snapshot that replaces every record up to {@code seq}, then drops segments no longer
     * needed. Records are produced by {@code source}; it may run on the calling thread while appends
     * continue.
     */
    void writeSnapshot(long seq, Consumer<Consumer<ByteBuffer>> source);

    /** Flushes and fsyncs what is buffered, stops the writer and closes files. */
    @Override
    void close();
}
