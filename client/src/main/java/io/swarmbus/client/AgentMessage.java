package io.swarmbus.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;

/**
 * A message in the seed's shape ({@code AgentMessage}): who sent it to whom, its type
 * ({@code task_request}, {@code task_response}, {@code status_update}, {@code heartbeat},
 * {@code error_report}, {@code coordination}, or any other), content and priority.
 *
 * @param messageId the server's id (empty for a message not yet sent)
 * @param fromAgent the sender
 * @param toAgent the receiver
 * @param messageType the type, lower case on the wire
 * @param content any JSON
 * @param priority low, medium, high or critical
 * @param timestamp when the server accepted it (null before)
 */
public record AgentMessage(String messageId, String fromAgent, String toAgent, String messageType, JsonNode content,
        String priority, Instant timestamp) {

    /** A message to send; the server assigns the id and timestamp. */
    public static AgentMessage of(String fromAgent, String toAgent, String messageType, Object content, String priority) {
        return new AgentMessage("", fromAgent, toAgent, messageType, SwarmbusClient.JSON.valueToTree(content), priority,
                null);
    }

    static AgentMessage of(Types.Delivery delivery, String toAgent) {
        return new AgentMessage(delivery.id(), delivery.from(), toAgent, delivery.type(), delivery.content(),
                delivery.priority(), Instant.parse(delivery.raw().path("created_at").asText(Instant.EPOCH.toString())));
    }
}
