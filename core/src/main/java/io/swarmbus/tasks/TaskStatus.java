package io.swarmbus.tasks;

import io.swarmbus.SwarmbusException;
import java.util.Locale;

/** Where a task stands. The last four are final. */
public enum TaskStatus {
    /** Waiting for an agent with the capabilities and a free slot. */
    PENDING,
    /** Sent to an agent that has not reported on it yet. */
    ASSIGNED,
    /** Its agent reported progress. */
    IN_PROGRESS,
    COMPLETED,
    /** Its last attempt failed and no retries were left. */
    FAILED,
    /** Its last attempt ran out of time and no retries were left. */
    TIMED_OUT,
    CANCELLED;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public boolean isFinal() {
        return this == COMPLETED || this == FAILED || this == TIMED_OUT || this == CANCELLED;
    }

    /** Whether an agent is working on it. */
    public boolean isRunning() {
        return this == ASSIGNED || this == IN_PROGRESS;
    }

    public static TaskStatus parse(String text) {
        try {
            return valueOf(text.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw SwarmbusException.invalid("status", "status must be pending, assigned, in_progress, completed, "
                    + "failed, timed_out or cancelled, was '" + text + "'");
        }
    }
}
