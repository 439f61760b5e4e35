package io.swarmbus.registry;

import java.time.Instant;
import java.util.Map;

/**
 * An agent as the registry sees it now.
 *
 * @param profile what the agent registered
 * @param status where it stands; {@link AgentStatus#OFFLINE} once heartbeats stop
 * @param assignedTasks tasks the server has given it and not yet seen finish
 * @param reportedTasks the task count in its last heartbeat (work it may have from elsewhere)
 * @param lastHeartbeat when it last heartbeated (or registered)
 * @param registeredAt when it first registered
 * @param health the numbers its last heartbeat carried (cpu, memory, queue length, …)
 * @param completed tasks it completed since the server started
 * @param failed tasks it failed or timed out on since the server started
 * @param meanTaskMillis mean time from assignment to completion over its recent tasks (0 if none)
 */
public record AgentInfo(
        AgentProfile profile,
        AgentStatus status,
        int assignedTasks,
        int reportedTasks,
        Instant lastHeartbeat,
        Instant registeredAt,
        Map<String, Double> health,
        long completed,
        long failed,
        double meanTaskMillis) {

    /** Tasks counted against its limit: what the server gave it, or what it reports if more. */
    public int load() {
        return Math.max(assignedTasks, reportedTasks);
    }

    /** The share of its task slots in use, 0 to 1 (or more, if it reports more than its limit). */
    public double loadRatio() {
        return (double) load() / profile.maxConcurrentTasks();
    }

    /** Whether it may be given a task now: a working status and a free slot. */
    public boolean available() {
        return status.takesWork() && load() < profile.maxConcurrentTasks();
    }

    /** Completed ÷ finished, smoothed so that a new agent starts at one half. */
    public double successRate() {
        return (completed + 1.0) / (completed + failed + 2.0);
    }
}
