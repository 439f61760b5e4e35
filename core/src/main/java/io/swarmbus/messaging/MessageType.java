package io.swarmbus.messaging;

import io.swarmbus.SwarmbusException;
import java.util.regex.Pattern;

/**
 * What a message is for. The well-known types are constants; any other lower-case name of up to
 * 64 letters, digits and underscores is accepted too, so agents can add their own.
 *
 * @param name the wire name
 */
public record MessageType(String name) {
    private static final Pattern VALID = Pattern.compile("[a-z][a-z0-9_]{0,63}");

    /** Conversation between agents. */
    public static final MessageType CHAT = new MessageType("chat");
    /** An instruction to act. */
    public static final MessageType COMMAND = new MessageType("command");
    /** A request to call a function or tool. */
    public static final MessageType FUNCTION_CALL = new MessageType("function_call");
    /** A request to perform a task. */
    public static final MessageType TASK_REQUEST = new MessageType("task_request");
    /** The outcome of a task. */
    public static final MessageType TASK_RESPONSE = new MessageType("task_response");
    /** A change of state worth telling others. */
    public static final MessageType STATUS_UPDATE = new MessageType("status_update");
    /** Proof of life. */
    public static final MessageType HEARTBEAT = new MessageType("heartbeat");
    /** A failure report. */
    public static final MessageType ERROR_REPORT = new MessageType("error_report");
    /** Coordination among agents of a swarm. */
    public static final MessageType COORDINATION = new MessageType("coordination");
    private static final java.util.Map<String, MessageType> KNOWN = java.util.stream.Stream.of(CHAT, COMMAND,
            FUNCTION_CALL, TASK_REQUEST, TASK_RESPONSE, STATUS_UPDATE, HEARTBEAT, ERROR_REPORT, COORDINATION)
            .collect(java.util.stream.Collectors.toUnmodifiableMap(MessageType::name, type -> type));

    /** Rejects names that are not lower-case identifiers of 1 to 64 characters. */
    public MessageType {
        if (name == null || !VALID.matcher(name).matches()) {
            throw SwarmbusException.invalid("message_type", "message type '" + name
                    + "' is invalid: use a lower-case name such as chat, command or task_request");
        }
    }

    /** The type with this wire name. */
    public static MessageType of(String name) {
        // The common types are shared: most sends name one, and then need neither a new object
        // held by every pending message nor a regular-expression check.
        MessageType known = name == null ? null : KNOWN.get(name);
        return known != null ? known : new MessageType(name);
    }

    @Override
    public String toString() {
        return name;
    }
}
