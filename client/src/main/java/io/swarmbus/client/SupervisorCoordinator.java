package io.swarmbus.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.client.Types.Delivery;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The seed's {@code SupervisorCoordinator}, over {@link SwarmbusClient}: a supervisor agent that
 * hands out tasks (the server picks the agent and retries elsewhere on failure) and collects their
 * outcomes from its inbox.
 */
public final class SupervisorCoordinator {
    private static final System.Logger LOG = System.getLogger(SupervisorCoordinator.class.getName());
    private final SwarmbusClient client;
    private final String supervisorId;
    private final AgentRegistry agentRegistry;
    private final MessageQueueManager queue;
    private final Map<String, JsonNode> outcomes = new ConcurrentHashMap<>();

    public SupervisorCoordinator(SwarmbusClient client, String supervisorId) {
        this.client = client;
        this.supervisorId = supervisorId;
        this.agentRegistry = new AgentRegistry(client);
        this.queue = new MessageQueueManager(client);
    }

    public AgentRegistry agentRegistry() {
        return agentRegistry;
    }

    public MessageQueueManager queue() {
        return queue;
    }

    /**
     * Creates a task; the server gives it to the best available agent with the capabilities, or
     * holds it until one is free. Returns its id, or empty if the server refused the task.
     */
    public Optional<String> assignTask(String taskType, String description, Map<String, ?> parameters,
            Collection<String> requiredCapabilities, String priority) {
        ObjectNode task = SwarmbusClient.JSON.createObjectNode().put("type", taskType).put("description", description)
                .put("priority", priority).put("created_by", supervisorId);
        task.set("parameters", SwarmbusClient.JSON.valueToTree(parameters));
        task.set("required_capabilities", SwarmbusClient.JSON.valueToTree(requiredCapabilities));
        try {
            return Optional.of(client.createTask(task).taskId());
        } catch (SwarmbusApiException e) {
            LOG.log(System.Logger.Level.WARNING, "task refused: " + e.getMessage());
            return Optional.empty();
        }
    }

    /**
     * Reads the supervisor's inbox: task outcomes are kept (see {@link #outcome}), every message is
     * acked. Returns how many messages it handled.
     */
    public int processIncomingMessages() {
        List<Delivery> got = client.receive(supervisorId, 100, Duration.ZERO, Duration.ofMinutes(1));
        for (Delivery delivery : got) {
            if (delivery.type().equals("task_response") && delivery.content().has("task_id")) {
                outcomes.put(delivery.content().path("task_id").asText(), delivery.content());
            }
        }
        if (!got.isEmpty()) {
            client.ack(supervisorId, got.stream().map(Delivery::id).toList());
        }
        return got.size();
    }

    /** The outcome ({@code status}, {@code result} or {@code error}) of a task, once its response arrived. */
    public Optional<JsonNode> outcome(String taskId) {
        return Optional.ofNullable(outcomes.get(taskId));
    }

    /** Completion rate, durations, throughput and per-agent utilization of your tasks. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> getCoordinationStats() {
        return SwarmbusClient.JSON.convertValue(client.taskStats(), Map.class);
    }

    /** Sends {@code content} to every agent; false if refused. */
    public boolean broadcastMessage(String messageType, Object content, String priority) {
        ObjectNode body = SwarmbusClient.JSON.createObjectNode().put("from", supervisorId).put("type", messageType)
                .put("priority", priority).put("broadcast", true);
        body.set("content", SwarmbusClient.JSON.valueToTree(content));
        try {
            client.send(body);
            return true;
        } catch (SwarmbusApiException e) {
            LOG.log(System.Logger.Level.WARNING, "broadcast refused: " + e.getMessage());
            return false;
        }
    }
}
