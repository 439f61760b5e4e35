package io.swarmbus.storage;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * A durable map from string keys to byte values, on a journal of its own: every put and remove
 * is fsynced before it returns, the map is rebuilt from the journal on open, and snapshots keep
 * replay proportional to the live rows. Made for state that changes at the pace of agents and
 * people (registrations, tasks), not per message; callers encode their own values.
 *
 * <p>Thread-safe. Writes are serialized; each waits for its own fsync, and concurrent writers
 * share fsyncs through the journal's group commit.
 */
public final class DurableTable implements AutoCloseable {
    private static final byte PUT = 1;
    private static final byte REMOVE = 2;
    /** Snapshot once the journal holds this much more than the live rows, and at least this much. */
    private static final long MIN_SNAPSHOT_BYTES = 1 << 20;

    private final FileJournal journal;
    private final Map<String, byte[]> rows = new LinkedHashMap<>();
    private final Object durability = new Object();
    private long durableSeq;
    private Throwable failure;
    private long liveBytes;

    private DurableTable(Path directory, FsyncPolicy fsync) {
        JournalConfig defaults = JournalConfig.defaults(directory);
        JournalConfig config = new JournalConfig(directory, fsync, defaults.fsyncInterval(), 4L << 20,
                defaults.maxBufferedBytes());
        journal = FileJournal.open(config, new DurabilityListener() {
            @Override
            public void durable(long seq) {
                synchronized (durability) {
                    durableSeq = Math.max(durableSeq, seq);
                    durability.notifyAll();
                }
            }

            @Override
            public void failed(Throwable cause) {
                synchronized (durability) {
                    failure = cause;
                    durability.notifyAll();
                }
            }
        });
        try {
            recover();
        } catch (RuntimeException e) {
            journal.close(); // lets the directory go for the next try
            throw e;
        }
        rows.values().forEach(value -> liveBytes += value.length);
    }

    private void recover() {
        journal.recover(new RecoveryTarget() {
            @Override
            public void reset() {
                rows.clear();
            }

            @Override
            public void snapshotRecord(ByteBuffer payload) {
                apply(payload);
            }

            @Override
            public void journalRecord(long seq, ByteBuffer payload) {
                apply(payload);
            }
        });
    }

    /** Opens (creating if needed) the table in {@code directory}, replaying what it holds. */
    public static DurableTable open(Path directory, FsyncPolicy fsync) {
        return new DurableTable(directory, fsync);
    }

    /** A copy of every row, in the order keys were first written. */
    public synchronized Map<String, byte[]> rows() {
        return new LinkedHashMap<>(rows);
    }

    public synchronized Optional<byte[]> get(String key) {
        return Optional.ofNullable(rows.get(key));
    }

    /** Stores {@code value} under {@code key}; returns once it is durable. */
    public void put(String key, byte[] value) {
        awaitDurable(putLater(key, value));
    }

    /**
     * Stores {@code value} under {@code key} at once, for readers of this table, and returns the
     * write's sequence number to pass to {@link #awaitDurable} before telling anyone outside. Lets a
     * caller write under its own lock and wait for the fsync after releasing it.
     */
    public long putLater(String key, byte[] value) {
        return append(record(PUT, key, value));
    }

    /** Removes {@code key}, if present; returns once that is durable. */
    public void remove(String key) {
        awaitDurable(removeLater(key));
    }

    /** {@link #remove} without waiting; see {@link #putLater}. */
    public long removeLater(String key) {
        return append(record(REMOVE, key, new byte[0]));
    }

    private synchronized long append(ByteBuffer record) {
        long seq = journal.append(record.duplicate(), true);
        apply(record);
        maybeSnapshot();
        return seq;
    }

    /** Returns once the write numbered {@code seq} (and every one before it) is durable. */
    public void awaitDurable(long seq) {
        synchronized (durability) {
            while (durableSeq < seq && failure == null) {
                try {
                    durability.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new StorageException("interrupted waiting for a write to become durable", e);
                }
            }
            if (failure != null && durableSeq < seq) {
                throw new StorageException("the table's journal failed", failure);
            }
        }
    }

    private void apply(ByteBuffer record) {
        ByteBuffer in = record.duplicate();
        byte op = in.get();
        byte[] key = new byte[in.getInt()];
        in.get(key);
        byte[] value = new byte[in.getInt()];
        in.get(value);
        String name = new String(key, StandardCharsets.UTF_8);
        byte[] old = op == PUT ? rows.put(name, value) : rows.remove(name);
        liveBytes += (op == PUT ? value.length : 0) - (old == null ? 0 : old.length);
    }

    private static ByteBuffer record(byte op, String key, byte[] value) {
        byte[] name = key.getBytes(StandardCharsets.UTF_8);
        ByteBuffer record = ByteBuffer.allocate(1 + 4 + name.length + 4 + value.length);
        record.put(op).putInt(name.length).put(name).putInt(value.length).put(value).flip();
        return record;
    }

    /** Under the lock: rows are few and small, so a snapshot is cheap to write inline. */
    private void maybeSnapshot() {
        if (journal.bytesSinceSnapshot() < Math.max(MIN_SNAPSHOT_BYTES, 2 * liveBytes)) {
            return;
        }
        journal.writeSnapshot(journal.lastSeq(), sink -> rows.forEach((key, value) -> sink.accept(record(PUT, key, value))));
    }

    @Override
    public synchronized void close() {
        journal.close();
    }
}
