package io.swarmbus.llm;

/**
 * The scaling signal: how many backend and agent replicas the present load asks for. Swarmbus does
 * not start machines; an operator, an autoscaler reading the metrics, or the server's own managed
 * agents act on the advice.
 */
public final class Scaling {
    private Scaling() {}

    /**
     * AgentSched's {@code scaling} block and two targets.
     *
     * @param minAgents fewest agents advised
     * @param maxAgents most agents advised
     * @param factor agents are multiplied by it to scale up and divided by it to scale down
     * @param backlogPerAgent messages waiting per agent that the pool should not exceed
     * @param utilization share of backend slots that should be busy at the advised backend count
     */
    public record Settings(int minAgents, int maxAgents, double factor, int backlogPerAgent, double utilization) {
        public static final Settings DEFAULT = new Settings(1, 10, 1.5, 10, 0.8);

        public Settings {
            if (minAgents < 0 || maxAgents < Math.max(1, minAgents)) {
                throw new IllegalArgumentException("scaling needs 0 <= min_agents <= max_agents and max_agents >= 1");
            }
            if (!(factor > 1) || Double.isInfinite(factor)) {
                throw new IllegalArgumentException("scaling_factor must be more than 1");
            }
            if (backlogPerAgent < 1 || !(utilization > 0 && utilization <= 1)) {
                throw new IllegalArgumentException("target backlog must be at least 1 and utilization in (0, 1]");
            }
        }
    }

    /**
     * The gateway's load now.
     *
     * @param backends configured backends
     * @param healthy backends up and not ejected
     * @param slotsPerBackend mean max concurrency of a backend
     * @param inFlight requests running on backends: by Little's law their arrival rate × latency,
     *     so slower answers count as more load
     * @param queued requests waiting for a slot
     */
    public record BackendLoad(int backends, int healthy, double slotsPerBackend, int inFlight, int queued) {}

    /**
     * The agents' load now.
     *
     * @param agents agents counted (working ones)
     * @param backlog messages waiting in the inboxes of all agents, offline ones too (their work
     *     waits for an agent all the same)
     */
    public record AgentLoad(int agents, long backlog) {}

    /** The advice, with the reason for each number. */
    public record Advice(int desiredBackends, String backendReason, int desiredAgents, String agentReason) {}

    public static Advice advise(Settings settings, BackendLoad backends, AgentLoad agents) {
        int demand = backends.inFlight() + backends.queued();
        int desiredBackends = Math.max(1, (int) Math.ceil(demand / (backends.slotsPerBackend() * settings.utilization())));
        String backendReason = demand + " requests running or waiting, " + Math.round(backends.slotsPerBackend())
                + " slots per backend, target utilization " + settings.utilization();
        if (backends.queued() > 0 && desiredBackends <= backends.healthy()) {
            // Slots are averaged over every backend, and one model's backends can be full while
            // others idle: requests that queue never ask for fewer backends than there are.
            desiredBackends = backends.healthy() + 1;
            backendReason += "; " + backends.queued() + " waiting for a slot: one more";
        }

        int now = agents.agents();
        double perAgent = now == 0 ? agents.backlog() : (double) agents.backlog() / now;
        int desiredAgents;
        String agentReason;
        if (perAgent > settings.backlogPerAgent() && backends.queued() > 0) {
            desiredAgents = now;
            agentReason = "backlog is high but LLM requests already queue for the backends: more agents would only "
                    + "wait longer; add backends";
        } else if (perAgent > settings.backlogPerAgent()) {
            desiredAgents = Math.max(now + 1, (int) Math.ceil(now * settings.factor()));
            agentReason = String.format("%.1f messages waiting per agent, above %d: scale up by %.2f", perAgent,
                    settings.backlogPerAgent(), settings.factor());
        } else if (perAgent < settings.backlogPerAgent() / settings.factor() / settings.factor()) {
            desiredAgents = (int) Math.floor(now / settings.factor());
            agentReason = String.format("%.1f messages waiting per agent, well below %d: scale down by %.2f", perAgent,
                    settings.backlogPerAgent(), settings.factor());
        } else {
            desiredAgents = now;
            agentReason = String.format("%.1f messages waiting per agent: steady", perAgent);
        }
        int clamped = Math.clamp(desiredAgents, settings.minAgents(), settings.maxAgents());
        if (clamped != desiredAgents) {
            agentReason += " (held within " + settings.minAgents() + " to " + settings.maxAgents() + ")";
        }
        return new Advice(desiredBackends, backendReason, clamped, agentReason);
    }
}
