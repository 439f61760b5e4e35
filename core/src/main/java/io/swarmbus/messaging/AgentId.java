package io.swarmbus.messaging;

import io.swarmbus.SwarmbusException;

/**
 * The name of an agent and of its inbox: 1 to 128 letters, digits and {@code _ - . : @}.
 *
 * @param value the name
 */
public record AgentId(String value) implements Comparable<AgentId> {
    /** Rejects names that are empty, too long or contain other characters. */
    public AgentId {
        if (!Names.valid(value, "")) {
            throw SwarmbusException.invalid("agent_id", "agent id '" + value
                    + "' is invalid: use 1 to 128 letters, digits or _ - . : @");
        }
    }

    /** Shorthand for {@code new AgentId(value)}. */
    public static AgentId of(String value) {
        return new AgentId(value);
    }

    @Override
    public int compareTo(AgentId other) {
        return value.compareTo(other.value);
    }

    @Override
    public String toString() {
        return value;
    }
}
