package io.swarmbus.tasks;

import io.swarmbus.messaging.AgentId;
import io.swarmbus.registry.AgentInfo;
import io.swarmbus.registry.Registry;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Coordination figures over a set of tasks.
 *
 * @param total tasks counted
 * @param byStatus how many are in each status
 * @param completionRate completed ÷ finished (0 when none finished)
 * @param meanDurationMillis mean time from creation to completion of completed tasks
 * @param p95DurationMillis 95th percentile of the same
 * @param completedLastMinute tasks completed in the last 60 seconds: the current throughput
 * @param agents per agent that ran any of these tasks: its slots in use and outcomes
 */
public record TaskStats(
        int total,
        Map<TaskStatus, Integer> byStatus,
        double completionRate,
        double meanDurationMillis,
        double p95DurationMillis,
        int completedLastMinute,
        List<AgentUtilization> agents) {

    /**
     * One agent's share of the work.
     *
     * @param agent the agent
     * @param running tasks of these it is running now
     * @param completed tasks of these it completed
     * @param failed attempts of these it failed or let time out
     * @param utilization its slots in use now, 0 to 1 (all its tasks, not only these)
     */
    public record AgentUtilization(AgentId agent, int running, int completed, int failed, double utilization) {}

    static TaskStats of(Collection<Task> tasks, Registry registry, Instant now) {
        Map<TaskStatus, Integer> byStatus = new EnumMap<>(TaskStatus.class);
        for (TaskStatus status : TaskStatus.values()) {
            byStatus.put(status, 0);
        }
        List<Long> durations = new ArrayList<>();
        Map<AgentId, int[]> perAgent = new HashMap<>(); // running, completed, failed
        int completedLastMinute = 0;
        for (Task task : tasks) {
            byStatus.merge(task.status(), 1, Integer::sum);
            for (AgentId failer : task.failedBy()) {
                perAgent.computeIfAbsent(failer, a -> new int[3])[2]++;
            }
            task.assignee().ifPresent(agent -> {
                int[] counts = perAgent.computeIfAbsent(agent, a -> new int[3]);
                if (task.status().isRunning()) {
                    counts[0]++;
                } else if (task.status() == TaskStatus.COMPLETED) {
                    counts[1]++;
                }
            });
            if (task.status() == TaskStatus.COMPLETED) {
                durations.add(task.duration().orElse(Duration.ZERO).toMillis());
                if (task.finishedAt().orElseThrow().isAfter(now.minusSeconds(60))) {
                    completedLastMinute++;
                }
            }
        }
        int completed = byStatus.get(TaskStatus.COMPLETED);
        int finished = completed + byStatus.get(TaskStatus.FAILED) + byStatus.get(TaskStatus.TIMED_OUT)
                + byStatus.get(TaskStatus.CANCELLED);
        durations.sort(null);
        double mean = durations.stream().mapToLong(Long::longValue).average().orElse(0);
        double p95 = durations.isEmpty() ? 0 : durations.get((int) Math.ceil(0.95 * durations.size()) - 1);
        List<AgentUtilization> agents = new ArrayList<>();
        perAgent.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
            Optional<AgentInfo> info = registry.get(e.getKey());
            agents.add(new AgentUtilization(e.getKey(), e.getValue()[0], e.getValue()[1], e.getValue()[2],
                    info.map(a -> Math.min(1.0, a.loadRatio())).orElse(0.0)));
        });
        return new TaskStats(tasks.size(), byStatus, finished == 0 ? 0 : (double) completed / finished, mean, p95,
                completedLastMinute, agents);
    }
}
