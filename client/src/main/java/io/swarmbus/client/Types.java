package io.swarmbus.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** The API's answers as records; each keeps the full JSON in {@code raw} for fields not named here. */
public final class Types {
    private Types() {}

    /** An agent: profile, liveness and load. */
    public record Agent(String agentId, String role, List<String> capabilities, int maxConcurrentTasks, String status,
            int currentTasks, boolean available, String owner, JsonNode raw) {
        static Agent of(JsonNode json) {
            return new Agent(json.path("agent_id").asText(), json.path("role").asText(), strings(json.path("capabilities")),
                    json.path("max_concurrent_tasks").asInt(), json.path("status").asText(),
                    json.path("current_tasks").asInt(), json.path("available").asBoolean(), json.path("owner").asText(),
                    json);
        }
    }

    /** A message leased to a receiver: ack it by {@code id} once handled. */
    public record Delivery(String id, String from, String type, String priority, JsonNode content,
            Optional<String> correlationId, int attempt, JsonNode raw) {
        static Delivery of(JsonNode json) {
            return new Delivery(json.path("id").asText(), json.path("from").asText(), json.path("type").asText(),
                    json.path("priority").asText(), json.path("content"),
                    Optional.ofNullable(json.get("correlation_id")).map(JsonNode::asText), json.path("attempt").asInt(),
                    json);
        }
    }

    /**
     * The answer to a send: the message's id, how many inboxes it reached, and how many full ones a
     * group, topic or broadcast send passed over ({@code notReached}; of those, your own agents).
     */
    public record SendResult(String messageId, int recipients, boolean duplicate, int notReached,
            List<String> notReachedAgentIds) {
        static SendResult of(JsonNode json) {
            List<String> named = new ArrayList<>();
            json.path("not_reached_agent_ids").forEach(id -> named.add(id.asText()));
            return new SendResult(json.path("message_id").asText(), json.path("recipients").asInt(),
                    json.path("duplicate").asBoolean(), json.path("not_reached").asInt(), List.copyOf(named));
        }
    }

    /** A task and where it stands. */
    public record Task(String taskId, String type, String status, Optional<String> assignee, int attempts, int progress,
            JsonNode result, Optional<String> error, JsonNode raw) {
        static Task of(JsonNode json) {
            return new Task(json.path("task_id").asText(), json.path("type").asText(), json.path("status").asText(),
                    text(json, "assignee"), json.path("attempts").asInt(), json.path("progress").asInt(),
                    json.path("result"), text(json, "error"), json);
        }

        /** Whether the task reached a final status. */
        public boolean isFinished() {
            return switch (status) {
                case "completed", "failed", "timed_out", "cancelled" -> true;
                default -> false;
            };
        }
    }

    static Optional<String> text(JsonNode json, String field) {
        JsonNode value = json.get(field);
        return value == null || value.isNull() ? Optional.empty() : Optional.of(value.asText());
    }

    static List<String> strings(JsonNode array) {
        List<String> values = new ArrayList<>();
        array.forEach(item -> values.add(item.asText()));
        return values;
    }
}
