package io.swarmbus.tasks;

import io.swarmbus.messaging.AgentId;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * A task as it stands now.
 *
 * @param id its id, time-ordered
 * @param spec what it asks for
 * @param status where it stands
 * @param assignee the agent working on it, or that last did once it is finished; none while it waits,
 *     a retry too (its last agent is the last of {@code failedBy})
 * @param attempts how many times it was given to an agent
 * @param failedBy the agents whose attempts failed, oldest first
 * @param progress 0 to 100, as the agent last reported
 * @param result the agent's result, JSON text, once completed
 * @param error why the last attempt failed (or why it was cancelled)
 * @param createdAt when it was created
 * @param assignedAt when its current (or last) attempt began
 * @param finishedAt when it reached a final status
 */
public record Task(
        String id,
        TaskSpec spec,
        TaskStatus status,
        Optional<AgentId> assignee,
        int attempts,
        List<AgentId> failedBy,
        int progress,
        Optional<String> result,
        Optional<String> error,
        Instant createdAt,
        Optional<Instant> assignedAt,
        Optional<Instant> finishedAt) {

    /** From creation to a final status, once there. */
    public Optional<Duration> duration() {
        return finishedAt.map(end -> Duration.between(createdAt, end));
    }
}
