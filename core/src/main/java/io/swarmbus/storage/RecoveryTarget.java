package io.swarmbus.storage;

import java.nio.ByteBuffer;

/** What the journal feeds while it recovers: a snapshot's records, then the journal after it. */
public interface RecoveryTarget {
    /** Forgets everything fed so far: the snapshot being read turned out corrupt. */
    void reset();

    /** Applies one record of the snapshot covering everything up to {@code snapshotSeq}. */
    void snapshotRecord(ByteBuffer payload);

    /** Applies one journal record written after the snapshot. */
    void journalRecord(long seq, ByteBuffer payload);
}
