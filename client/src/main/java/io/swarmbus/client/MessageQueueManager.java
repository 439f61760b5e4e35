package io.swarmbus.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/** The seed's {@code MessageQueueManager}, over {@link SwarmbusClient}: durable queues per agent. */
public final class MessageQueueManager {
    private static final System.Logger LOG = System.getLogger(MessageQueueManager.class.getName());
    private final SwarmbusClient client;

    public MessageQueueManager(SwarmbusClient client) {
        this.client = client;
    }

    /** Sends {@code message}; false (and a log line) if the server refused it. */
    public boolean sendMessage(AgentMessage message) {
        try {
            client.send(message.fromAgent(), message.toAgent(), message.messageType(), message.content(),
                    message.priority());
            return true;
        } catch (SwarmbusApiException e) {
            LOG.log(System.Logger.Level.WARNING, "send refused: " + e.getMessage());
            return false;
        }
    }

    /**
     * Up to {@code limit} messages for {@code agentId}, most urgent first; each is leased for five
     * minutes and comes back unless {@link #markProcessed} acks it.
     */
    public List<AgentMessage> getMessages(String agentId, int limit) {
        return client.receive(agentId, limit, Duration.ZERO, Duration.ofMinutes(5)).stream()
                .map(d -> AgentMessage.of(d, agentId)).toList();
    }

    /** Acks a received message; false if it was not leased to {@code agentId} (any more). */
    public boolean markProcessed(String messageId, String agentId) {
        return client.ackOne(agentId, messageId);
    }

    /** The server's message counters ({@code GET /api/v1/stats}): sent, delivered, acked, dead_lettered, agents, ... */
    @SuppressWarnings("unchecked")
    public Map<String, Object> getQueueStats() {
        JsonNode stats = client.stats();
        return SwarmbusClient.JSON.convertValue(stats, Map.class);
    }
}
