package io.swarmbus.storage;

import java.util.List;

/**
 * What the journal found when it opened.
 *
 * @param snapshotSeq the sequence number the loaded snapshot covers, 0 when none was loaded
 * @param snapshotRecords records read from the snapshot
 * @param journalRecords journal records replayed after the snapshot
 * @param lastSeq the sequence number of the last good record
 * @param truncatedBytes bytes cut from the journal because they were torn or corrupt
 * @param problems a readable line for every torn tail, corrupt record or unusable snapshot found
 * @param millis how long recovery took
 */
public record RecoveryReport(
        long snapshotSeq,
        long snapshotRecords,
        long journalRecords,
        long lastSeq,
        long truncatedBytes,
        List<String> problems,
        long millis) {

    /** Freezes the problem list. */
    public RecoveryReport {
        problems = List.copyOf(problems);
    }

    /** Whether recovery found nothing to repair. */
    public boolean clean() {
        return problems.isEmpty();
    }
}
