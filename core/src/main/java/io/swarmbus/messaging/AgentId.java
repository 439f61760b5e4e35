package io.swarmbus.messaging;

import io.swarmbus.SwarmbusException;
import java.util.regex.Pattern;

/**
 * The name of an agent and of its inbox: 1 to 128 letters, digits and {@code _ - . : @}.
 *
 * @param value the name
 */
public record AgentId(String value) implements Comparable<AgentId> {
    private static final Pattern VALID = Pattern.compile("[A-Za-z0-9_.:@-]{1,128}");

    /** Rejects names that are empty, too long or contain other characters. */
    public AgentId {
        if (value == null || !VALID.matcher(value).matches()) {
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
