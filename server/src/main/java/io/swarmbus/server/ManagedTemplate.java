package io.swarmbus.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.registry.AgentProfile;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.TreeSet;

/**
 * What a managed agent pool is made from: the model route its replicas call through the gateway,
 * their system prompt, capabilities and role, how long and how often they may call the model, and
 * the bounds and rule its replica count is scaled by.
 *
 * @param name the pool's name; its replicas are agents {@code <name>-1}, {@code <name>-2}, …
 * @param owner the user the pool and its replicas belong to; LLM usage is billed to them
 * @param model the model (or alias) asked for on every call
 * @param maxTokens the most tokens one call may generate
 * @param temperature sampling temperature, 0 to 2
 * @param maxConcurrentTasks tasks one replica works on at once
 * @param replicas how many replicas run now (the scaler moves it between the bounds)
 * @param maxLlmCallsPerTask the most model calls one task may cause, over every attempt: an
 *     answer that does not fit its schema is asked again, up to this, and no further
 * @param targetQueuePerReplica tasks waiting per replica above which the pool grows
 * @param scaleDownAfter how long the queue must stay empty before an idle replica is stopped
 */
record ManagedTemplate(String name, String owner, String model, String systemPrompt, Set<String> capabilities,
        String role, int maxTokens, double temperature, int maxConcurrentTasks, int replicas, int minReplicas,
        int maxReplicas, int maxLlmCallsPerTask, int targetQueuePerReplica, Duration scaleDownAfter,
        Instant createdAt) {
    static final int MAX_REPLICAS = 1_000;

    ManagedTemplate {
        if (name.isEmpty() || name.length() > 48 || !name.matches("[a-z0-9][a-z0-9_-]*")) {
            throw SwarmbusException.invalid("name", "name must be 1 to 48 lower-case letters, digits, '-' or '_', "
                    + "starting with a letter or digit");
        }
        if (model.isBlank() || model.length() > 200) {
            throw SwarmbusException.invalid("model", "model must be 1 to 200 characters");
        }
        if (systemPrompt.length() > 100_000) {
            throw SwarmbusException.invalid("system_prompt", "system_prompt must be at most 100000 characters");
        }
        capabilities = Set.copyOf(new TreeSet<>(capabilities));
        // The replicas' profile rules (role, capabilities, concurrency) checked now, not at the first replica.
        new AgentProfile(AgentId.of(name + "-1"), "", role, capabilities, maxConcurrentTasks, java.util.Map.of(), owner);
        if (maxTokens < 1 || maxTokens > 1_000_000) {
            throw SwarmbusException.invalid("max_tokens", "max_tokens must be 1 to 1000000");
        }
        if (!(temperature >= 0 && temperature <= 2)) {
            throw SwarmbusException.invalid("temperature", "temperature must be 0 to 2");
        }
        // A negative count is named as given: left to the bounds check below, a "replicas": -1
        // was reported under max_replicas, since min_replicas defaults from it.
        if (replicas < 0) {
            throw SwarmbusException.invalid("replicas", "replicas must be 0 or more, was " + replicas);
        }
        if (minReplicas < 0) {
            throw SwarmbusException.invalid("min_replicas", "min_replicas must be 0 or more, was " + minReplicas);
        }
        if (maxReplicas < Math.max(1, minReplicas) || maxReplicas > MAX_REPLICAS) {
            throw SwarmbusException.invalid("max_replicas", "replica bounds need 0 <= min_replicas <= max_replicas, "
                    + "1 <= max_replicas <= " + MAX_REPLICAS + "; were " + minReplicas + " and " + maxReplicas);
        }
        if (replicas < minReplicas || replicas > maxReplicas) {
            throw SwarmbusException.invalid("replicas", "replicas must be within min_replicas and max_replicas ("
                    + minReplicas + " to " + maxReplicas + "), was " + replicas);
        }
        if (maxLlmCallsPerTask < 1 || maxLlmCallsPerTask > 100) {
            throw SwarmbusException.invalid("max_llm_calls_per_task", "max_llm_calls_per_task must be 1 to 100");
        }
        if (targetQueuePerReplica < 1 || targetQueuePerReplica > 10_000) {
            throw SwarmbusException.invalid("target_queue_per_replica", "target_queue_per_replica must be 1 to 10000");
        }
        if (scaleDownAfter.isNegative() || scaleDownAfter.compareTo(Duration.ofDays(1)) > 0) {
            throw SwarmbusException.invalid("scale_down_after_seconds", "scale_down_after_seconds must be 0 to 86400");
        }
    }

    /** A template from a {@code POST /api/v1/managed-agents} body; unset fields take their defaults. */
    static ManagedTemplate from(RequestBody body, String owner, Instant now) {
        int replicas = body.integer("replicas").orElse(1);
        int min = body.integer("min_replicas").orElse(Math.min(1, replicas));
        int max = body.integer("max_replicas").orElse(Math.max(replicas, 1));
        return new ManagedTemplate(body.text("name"), owner, body.text("model"),
                body.optionalText("system_prompt").orElse(""),
                body.has("capabilities") ? new TreeSet<>(body.strings("capabilities")) : Set.of(),
                body.optionalText("role").orElse("worker"), body.integer("max_tokens").orElse(512),
                body.number("temperature").orElse(0.7), body.integer("max_concurrent_tasks").orElse(1), replicas, min,
                max, body.integer("max_llm_calls_per_task").orElse(3), body.integer("target_queue_per_replica").orElse(2),
                Duration.ofSeconds(body.integer("scale_down_after_seconds").orElse(30)), now);
    }

    ManagedTemplate withReplicas(int count, int min, int max) {
        return new ManagedTemplate(name, owner, model, systemPrompt, capabilities, role, maxTokens, temperature,
                maxConcurrentTasks, count, min, max, maxLlmCallsPerTask, targetQueuePerReplica, scaleDownAfter, createdAt);
    }

    ObjectNode toJson() {
        ObjectNode json = RequestBody.MAPPER.createObjectNode().put("name", name).put("owner_id", owner)
                .put("model", model).put("system_prompt", systemPrompt);
        ArrayNode caps = json.putArray("capabilities");
        capabilities.stream().sorted().forEach(caps::add);
        return json.put("role", role).put("max_tokens", maxTokens).put("temperature", temperature)
                .put("max_concurrent_tasks", maxConcurrentTasks).put("replicas", replicas)
                .put("min_replicas", minReplicas).put("max_replicas", maxReplicas)
                .put("max_llm_calls_per_task", maxLlmCallsPerTask).put("target_queue_per_replica", targetQueuePerReplica)
                .put("scale_down_after_seconds", scaleDownAfter.toSeconds()).put("created_at", createdAt.toString());
    }

    static ManagedTemplate fromJson(ObjectNode json) {
        Set<String> caps = new TreeSet<>();
        json.path("capabilities").forEach(c -> caps.add(c.asText()));
        return new ManagedTemplate(json.get("name").asText(), json.get("owner_id").asText(), json.get("model").asText(),
                json.get("system_prompt").asText(), caps, json.get("role").asText(), json.get("max_tokens").asInt(),
                json.get("temperature").asDouble(), json.get("max_concurrent_tasks").asInt(),
                json.get("replicas").asInt(), json.get("min_replicas").asInt(), json.get("max_replicas").asInt(),
                json.get("max_llm_calls_per_task").asInt(), json.get("target_queue_per_replica").asInt(),
                Duration.ofSeconds(json.get("scale_down_after_seconds").asLong()),
                Instant.parse(json.get("created_at").asText()));
    }
}
