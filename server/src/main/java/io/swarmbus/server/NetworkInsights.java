package io.swarmbus.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.registry.AgentInfo;
import io.swarmbus.registry.AgentStatus;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A network's status and optimization advice, computed from its executions' recorded steps and
 * the registry's view of its agents: nothing here is a constant. A figure that cannot be measured
 * yet (no execution has finished) is null.
 */
final class NetworkInsights {
    private static final int MIN_STEPS = 3;

    private NetworkInsights() {}

    /** Per agent: steps taken, failed, and their mean duration. */
    record AgentRecord(String agent, int steps, int failures, double meanMillis) {
        double failureRate() {
            return steps == 0 ? 0 : (double) failures / steps;
        }
    }

    static ObjectNode status(ObjectNode network, List<ObjectNode> executions, Map<String, Optional<AgentInfo>> agents,
            int activeTasks, Instant now) {
        ObjectNode status = RequestBody.MAPPER.createObjectNode().put("network_id", network.get("id").asText())
                .put("name", network.get("name").asText()).put("status", network.get("status").asText())
                .put("coordination_strategy", network.get("coordination_strategy").asText())
                .put("agent_count", agents.size()).put("active_tasks", activeTasks)
                .put("total_executions", executions.size())
                .put("running_executions", executions.stream().filter(Networks::running).count());
        status.set("performance_metrics", metrics(executions, now));
        ArrayNode perAgent = status.putArray("agents");
        records(executions, agents).values().forEach(r -> perAgent.addObject().put("agent", r.agent())
                .put("status", agents.get(r.agent()).map(i -> i.status().wireName()).orElse("deleted"))
                .put("steps", r.steps()).put("failures", r.failures())
                .put("avg_step_ms", r.steps() == 0 ? null : r.meanMillis()));
        status.put("last_activity", network.get("updated_at").asText());
        return status;
    }

    static ObjectNode optimize(ObjectNode network, List<ObjectNode> executions, Map<String, Optional<AgentInfo>> agents,
            int waitingTasks, Instant now) {
        ObjectNode result = RequestBody.MAPPER.createObjectNode().put("network_id", network.get("id").asText())
                .put("optimization_type", "performance");
        ArrayNode recommendations = result.putArray("recommendations");
        Map<String, AgentRecord> records = records(executions, agents);
        offline(agents, recommendations);
        failing(records, recommendations);
        slow(records, recommendations);
        imbalance(records, recommendations);
        queueing(agents, waitingTasks, recommendations);
        strategy(network, executions, recommendations);
        result.set("performance_metrics", metrics(executions, now));
        result.put("executions_analyzed", executions.stream().filter(e -> !Networks.running(e)).count());
        result.put("optimized_at", now.toString());
        return result;
    }

    private static ObjectNode recommendation(ArrayNode into, String type, String impact, String description) {
        return into.addObject().put("type", type).put("impact", impact).put("description", description);
    }

    private static void offline(Map<String, Optional<AgentInfo>> agents, ArrayNode into) {
        agents.forEach((id, info) -> {
            if (info.isEmpty() || info.get().status() == AgentStatus.OFFLINE) {
                recommendation(into, "replace_agent", "high", "agent " + id + " is "
                        + (info.isEmpty() ? "deleted" : "offline") + ": its share of the work waits or fails")
                        .putObject("evidence").put("agent", id).put("status", info.map(i -> i.status().wireName())
                                .orElse("deleted"));
            }
        });
    }

    private static void failing(Map<String, AgentRecord> records, ArrayNode into) {
        records.values().stream().filter(r -> r.steps() >= MIN_STEPS && r.failureRate() >= 0.25).forEach(r ->
                recommendation(into, "failing_agent", "high", String.format("agent %s failed %d of its %d steps; "
                        + "fix or replace it, or remove it from the network", r.agent(), r.failures(), r.steps()))
                        .putObject("evidence").put("agent", r.agent()).put("steps", r.steps())
                        .put("failures", r.failures()).put("failure_rate", r.failureRate()));
    }

    private static void slow(Map<String, AgentRecord> records, ArrayNode into) {
        List<AgentRecord> measured = records.values().stream().filter(r -> r.steps() - r.failures() >= MIN_STEPS)
                .toList();
        if (measured.size() < 2) {
            return;
        }
        double median = median(measured.stream().mapToDouble(AgentRecord::meanMillis).toArray());
        measured.stream().filter(r -> r.meanMillis() > 2 * median).forEach(r -> recommendation(into, "slow_agent",
                "medium", String.format("agent %s takes %.0f ms per step, %.1f× the network's median of %.0f ms; "
                        + "give it less work (least-loaded selection) or a faster model", r.agent(), r.meanMillis(),
                        r.meanMillis() / median, median))
                .putObject("evidence").put("agent", r.agent()).put("avg_step_ms", r.meanMillis())
                .put("median_step_ms", median));
    }

    private static void imbalance(Map<String, AgentRecord> records, ArrayNode into) {
        int total = records.values().stream().mapToInt(AgentRecord::steps).sum();
        if (records.size() < 2 || total < 10) {
            return;
        }
        double even = (double) total / records.size();
        AgentRecord busiest = records.values().stream().max((a, b) -> Integer.compare(a.steps(), b.steps())).orElseThrow();
        if (busiest.steps() >= 1.5 * even) {
            ObjectNode evidence = recommendation(into, "load_balancing", "medium", String.format("agent %s took %d of "
                    + "%d steps, %.1f× an even share; spread the work (a strategy that gives every member work, or "
                    + "more members)", busiest.agent(), busiest.steps(), total, busiest.steps() / even))
                    .putObject("evidence");
            ObjectNode steps = evidence.putObject("steps_per_agent");
            records.values().forEach(r -> steps.put(r.agent(), r.steps()));
        }
    }

    private static void queueing(Map<String, Optional<AgentInfo>> agents, int waitingTasks, ArrayNode into) {
        int freeSlots = agents.values().stream().flatMap(Optional::stream)
                .mapToInt(i -> Math.max(0, i.profile().maxConcurrentTasks() - i.load())).sum();
        if (waitingTasks > 0 && waitingTasks >= freeSlots) {
            recommendation(into, "scale_out", "high", waitingTasks + " tasks wait for this network's agents, which "
                    + "have " + freeSlots + " free slots; add replicas or agents")
                    .putObject("evidence").put("waiting_tasks", waitingTasks).put("free_slots", freeSlots)
                    .put("agents", agents.size());
        }
    }

    /** The mean confidence of the executions that took a vote; empty if none did, as there is no agreement to judge. */
    private static java.util.OptionalDouble meanVoteConfidence(List<ObjectNode> executions) {
        double sum = 0;
        int votes = 0;
        for (ObjectNode execution : executions) {
            JsonNode confidence = execution.path("results").path("consensus").path("confidence");
            if (confidence.isNumber()) {
                sum += confidence.asDouble();
                votes++;
            }
        }
        return votes == 0 ? java.util.OptionalDouble.empty() : java.util.OptionalDouble.of(sum / votes);
    }

    private static void strategy(ObjectNode network, List<ObjectNode> executions, ArrayNode into) {
        List<ObjectNode> finished = executions.stream().filter(e -> !Networks.running(e)).toList();
        if (finished.size() < MIN_STEPS) {
            return;
        }
        java.util.OptionalDouble meanConfidence = meanVoteConfidence(finished);
        if (meanConfidence.isPresent() && meanConfidence.getAsDouble() < 0.6) {
            double confidence = meanConfidence.getAsDouble();
            recommendation(into, "strategy", "medium", String.format("members agree weakly (mean confidence %.2f); "
                    + "debate lets them see each other's answers before a judge decides", confidence))
                    .putObject("evidence").put("mean_confidence", confidence).put("executions", finished.size())
                    .put("suggested_strategy", "debate");
        }
        long failed = finished.stream().filter(e -> e.path("status").asText().equals("failed")).count();
        if (failed * 2 > finished.size()) {
            recommendation(into, "strategy", "high", String.format("%d of %d executions failed outright; hierarchical "
                    + "and map-reduce keep partial results when some agents fail", failed, finished.size()))
                    .putObject("evidence").put("failed_executions", failed).put("executions", finished.size())
                    .put("suggested_strategy", network.get("coordination_strategy").asText().equals("hierarchical")
                            ? "map-reduce" : "hierarchical");
        }
    }

    /**
     * Mean execution time, success rate and throughput over the finished executions. The rates
     * count every finished one; the mean time those that ran to an end of their own (one that
     * failed before its strategy could finish, or was stopped by a restart, has no duration).
     */
    static ObjectNode metrics(List<ObjectNode> executions, Instant now) {
        List<ObjectNode> finished = executions.stream().filter(e -> !Networks.running(e)).toList();
        ObjectNode metrics = RequestBody.MAPPER.createObjectNode().put("finished_executions", finished.size());
        if (finished.isEmpty()) {
            metrics.putNull("avg_execution_time").putNull("success_rate").putNull("throughput");
            return metrics;
        }
        double meanSeconds = finished.stream().filter(e -> e.has("duration_ms"))
                .mapToLong(e -> e.get("duration_ms").asLong()).average().orElse(0) / 1000;
        long completed = finished.stream().filter(e -> e.path("status").asText().equals("completed")).count();
        long partial = finished.stream().filter(e -> e.path("status").asText().equals("partial")).count();
        Instant first = finished.stream().map(e -> Instant.parse(e.get("started_at").asText())).min(Instant::compareTo)
                .orElse(now);
        Instant hourAgo = now.minus(Duration.ofHours(1));
        Instant from = first.isAfter(hourAgo) ? first : hourAgo;
        long inWindow = finished.stream().filter(e -> e.has("finished_at")) // not one a restart cut short
                .filter(e -> Instant.parse(e.get("finished_at").asText()).isAfter(from)).count();
        double minutes = Math.max(1.0 / 60, Duration.between(from, now).toMillis() / 60_000.0);
        metrics.put("avg_execution_time", meanSeconds).put("success_rate", (double) completed / finished.size())
                .put("partial_rate", (double) partial / finished.size()).put("throughput", inWindow / minutes)
                .put("throughput_unit", "executions per minute, last hour");
        return metrics;
    }

    private static Map<String, AgentRecord> records(List<ObjectNode> executions, Map<String, Optional<AgentInfo>> agents) {
        Map<String, int[]> counts = new LinkedHashMap<>();
        Map<String, Long> millis = new LinkedHashMap<>();
        agents.keySet().forEach(a -> {
            counts.put(a, new int[2]);
            millis.put(a, 0L);
        });
        for (ObjectNode execution : executions) {
            for (JsonNode step : execution.path("steps")) {
                String agent = step.path("agent").asText(null);
                if (agent == null || !counts.containsKey(agent)) {
                    continue;
                }
                boolean ok = step.path("status").asText().equals("completed");
                counts.get(agent)[0]++;
                counts.get(agent)[1] += ok ? 0 : 1;
                if (ok) {
                    millis.merge(agent, step.path("duration_ms").asLong(), Long::sum);
                }
            }
        }
        Map<String, AgentRecord> records = new LinkedHashMap<>();
        counts.forEach((agent, c) -> {
            int succeeded = c[0] - c[1];
            records.put(agent, new AgentRecord(agent, c[0], c[1], succeeded == 0 ? 0 : (double) millis.get(agent) / succeeded));
        });
        return records;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        java.util.Arrays.sort(sorted);
        int mid = sorted.length / 2;
        return sorted.length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

}
