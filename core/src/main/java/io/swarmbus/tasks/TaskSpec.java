package io.swarmbus.tasks;

import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.Priority;
import io.swarmbus.registry.AgentProfile;
import io.swarmbus.registry.SelectionStrategy;
import java.time.Duration;
import java.util.Collections;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * What a task asks for, as its creator gave it.
 *
 * @param type what kind of work, e.g. {@code api_development}; 1 to 128 characters
 * @param description free text for the agent, at most 64 KiB
 * @param parameters the task's input, JSON text ({@code {}} if none)
 * @param requiredCapabilities every one must be among the assignee's capabilities
 * @param priority the priority of its task_request messages
 * @param timeout how long one attempt may run before it counts as failed
 * @param maxRetries how many more attempts after the first, 0 to 100
 * @param parentId the task it is a subtask of
 * @param createdBy the agent told of the outcome by a {@code task_response} message
 * @param strategy how its agent is picked
 * @param owner the user it belongs to; only that user's agents get it (anyone's if empty)
 * @param candidates if not empty, only these agents may get it (a swarm's members, one pinned agent)
 * @param traceparent the W3C trace the task belongs to; its messages carry it as a header
 */
public record TaskSpec(
        String type,
        String description,
        String parameters,
        Set<String> requiredCapabilities,
        Priority priority,
        Duration timeout,
        int maxRetries,
        Optional<String> parentId,
        Optional<AgentId> createdBy,
        SelectionStrategy strategy,
        String owner,
        Set<AgentId> candidates,
        Optional<String> traceparent) {

    public TaskSpec {
        if (type == null || type.isBlank() || type.length() > 128) {
            throw SwarmbusException.invalid("type", "type must be 1 to 128 characters");
        }
        description = description == null ? "" : description;
        if (description.length() > 65_536) {
            throw SwarmbusException.invalid("description", "description must be at most 65536 characters");
        }
        parameters = parameters == null || parameters.isBlank() ? "{}" : parameters;
        requiredCapabilities = Collections.unmodifiableSortedSet(new TreeSet<>(
                AgentProfile.validCapabilities(requiredCapabilities, "required_capabilities")));
        Objects.requireNonNull(priority, "priority");
        if (timeout == null || timeout.isNegative() || timeout.isZero() || timeout.compareTo(Duration.ofDays(7)) > 0) {
            throw SwarmbusException.invalid("timeout_seconds", "timeout must be positive and at most 7 days");
        }
        if (maxRetries < 0 || maxRetries > 100) {
            throw SwarmbusException.invalid("max_retries", "max_retries must be 0 to 100, was " + maxRetries);
        }
        parentId = parentId == null ? Optional.empty() : parentId;
        createdBy = createdBy == null ? Optional.empty() : createdBy;
        strategy = strategy == null ? SelectionStrategy.LEAST_LOADED : strategy;
        owner = owner == null ? "" : owner;
        traceparent = traceparent == null ? Optional.empty() : traceparent;
        candidates = candidates == null ? Set.of() : Collections.unmodifiableSortedSet(new TreeSet<>(candidates));
        if (candidates.size() > 10_000) {
            throw SwarmbusException.invalid("candidates", "at most 10000 candidate agents, was " + candidates.size());
        }
    }

    /** A task outside any trace. */
    public TaskSpec(String type, String description, String parameters, Set<String> requiredCapabilities,
            Priority priority, Duration timeout, int maxRetries, Optional<String> parentId, Optional<AgentId> createdBy,
            SelectionStrategy strategy, String owner, Set<AgentId> candidates) {
        this(type, description, parameters, requiredCapabilities, priority, timeout, maxRetries, parentId, createdBy,
                strategy, owner, candidates, Optional.empty());
    }

    /** This task as part of the trace {@code value} (a W3C {@code traceparent}), which its messages carry. */
    public TaskSpec withTraceparent(Optional<String> value) {
        return new TaskSpec(type, description, parameters, requiredCapabilities, priority, timeout, maxRetries,
                parentId, createdBy, strategy, owner, candidates, value);
    }
}
