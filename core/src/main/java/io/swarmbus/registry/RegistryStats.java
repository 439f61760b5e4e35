package io.swarmbus.registry;

import java.util.Map;

/**
 * Registry totals.
 *
 * @param total agents registered
 * @param byStatus how many are in each status
 * @param byRole how many have each role
 * @param averageLoad mean share of task slots in use, over agents that are not offline (0 to 1)
 */
public record RegistryStats(int total, Map<AgentStatus, Integer> byStatus, Map<String, Integer> byRole,
        double averageLoad) {}
