package io.swarmbus.client;

import io.swarmbus.client.Types.Agent;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The seed's {@code AgentRegistry}, over {@link SwarmbusClient}: registration, discovery, heartbeats. */
public final class AgentRegistry {
    private static final System.Logger LOG = System.getLogger(AgentRegistry.class.getName());
    private final SwarmbusClient client;

    public AgentRegistry(SwarmbusClient client) {
        this.client = client;
    }

    /** Registers (or re-registers) an agent; false if the server refused. */
    public boolean registerAgent(String agentId, String agentRole, Collection<String> capabilities,
            int maxConcurrentTasks) {
        try {
            client.registerAgent(agentId, agentRole, capabilities, maxConcurrentTasks, Map.of());
            return true;
        } catch (SwarmbusApiException e) {
            LOG.log(System.Logger.Level.WARNING, "registration of " + agentId + " refused: " + e.getMessage());
            return false;
        }
    }

    /** Agents with every capability and a free slot, least loaded first. */
    public List<Agent> findAvailableAgents(Collection<String> requiredCapabilities, int maxResults) {
        return client.findAgents(requiredCapabilities, true, maxResults);
    }

    /** The least-loaded available agent with every capability. */
    public Optional<Agent> findBestAgent(Collection<String> requiredCapabilities) {
        return client.bestAgent(requiredCapabilities, "least_loaded");
    }

    /** Heartbeats; {@code status} active, busy or idle; {@code currentTasks} may be null. */
    public boolean updateHeartbeat(String agentId, String status, Integer currentTasks) {
        try {
            client.heartbeat(agentId, status, currentTasks, Map.of());
            return true;
        } catch (SwarmbusApiException e) {
            LOG.log(System.Logger.Level.WARNING, "heartbeat of " + agentId + " refused: " + e.getMessage());
            return false;
        }
    }
}
