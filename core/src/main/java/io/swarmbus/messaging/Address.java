package io.swarmbus.messaging;

import io.swarmbus.SwarmbusException;

/** Where a message goes: exactly one agent, group, topic, or every agent. */
public sealed interface Address {
    /** To one agent's inbox. @param agent the recipient */
    record Direct(AgentId agent) implements Address {
        /** Requires an agent. */
        public Direct {
            if (agent == null) {
                throw SwarmbusException.invalid("to", "a direct message needs a recipient agent");
            }
        }
    }

    /** To every member of a group but the sender. @param name the group */
    record Group(String name) implements Address {
        /** Validates the name. */
        public Group {
            checkName("group", name);
        }
    }

    /** To every subscriber of a topic but the sender. @param name the topic */
    record Topic(String name) implements Address {
        /** Validates the name. */
        public Topic {
            checkName("topic", name);
        }
    }

    /** To every agent with an inbox but the sender. */
    record Broadcast() implements Address {}

    /** Shorthand for a direct address. */
    static Address agent(AgentId agent) {
        return new Direct(agent);
    }

    /** Shorthand for a direct address. */
    static Address agent(String agent) {
        return new Direct(AgentId.of(agent));
    }

    /** Shorthand for a group address. */
    static Address group(String name) {
        return new Group(name);
    }

    /** Shorthand for a topic address. */
    static Address topic(String name) {
        return new Topic(name);
    }

    /** The broadcast address. */
    static Address broadcast() {
        return new Broadcast();
    }

    /** Validates a group or topic name (1 to 128 letters, digits and {@code _ - . : @ /}), naming the field in the error. */
    static String checkName(String field, String name) {
        if (!Names.valid(name, "/")) {
            throw SwarmbusException.invalid(field, field + " name '" + name
                    + "' is invalid: use 1 to 128 letters, digits or _ - . : @ /");
        }
        return name;
    }
}
