package io.swarmbus.server;

import io.javalin.http.Context;
import io.swarmbus.llm.LlmGateway;
import io.swarmbus.llm.Scaling;
import io.swarmbus.llm.route.Backend;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.registry.AgentInfo;
import io.swarmbus.registry.AgentStatus;
import io.swarmbus.registry.Registry;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@code GET /api/v1/scaling}: the backend and agent replica counts the load asks for
 * ({@link Scaling}), from the LLM gateway's running and queued requests and the backlog in the
 * agents' inboxes. Admins get the advice over every agent; others over their own.
 */
final class ScalingRoutes {
    private final LlmGateway gateway;
    private final Registry registry;
    private final MessageBus bus;

    ScalingRoutes(LlmGateway gateway, Registry registry, MessageBus bus) {
        this.gateway = gateway;
        this.registry = registry;
        this.bus = bus;
    }

    void scaling(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        Scaling.BackendLoad backends = backendLoad();
        Scaling.AgentLoad agents = agentLoad(principal.admin() ? Optional.empty() : Optional.of(principal.name()));
        Scaling.Advice advice = Scaling.advise(gateway.settings().scaling(), backends, agents);
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("backends", Map.of("current", backends.backends(), "healthy", backends.healthy(),
                "in_flight", backends.inFlight(), "queued", backends.queued(),
                "desired", advice.desiredBackends(), "reason", advice.backendReason()));
        view.put("agents", Map.of("current", agents.agents(), "backlog", agents.backlog(),
                "desired", advice.desiredAgents(), "reason", advice.agentReason()));
        Scaling.Settings s = gateway.settings().scaling();
        view.put("settings", Map.of("min_agents", s.minAgents(), "max_agents", s.maxAgents(), "scaling_factor",
                s.factor(), "target_backlog_per_agent", s.backlogPerAgent(), "target_utilization", s.utilization()));
        Http.json(ctx, 200, view);
    }

    /** The advice over every agent, for the metrics. */
    Scaling.Advice advice() {
        return Scaling.advise(gateway.settings().scaling(), backendLoad(), agentLoad(Optional.empty()));
    }

    private Scaling.BackendLoad backendLoad() {
        long now = System.nanoTime();
        List<Backend> all = gateway.backends();
        int healthy = (int) all.stream().filter(b -> b.healthy(now)).count();
        double slots = all.stream().mapToInt(b -> b.spec().maxConcurrency()).average().orElse(1);
        int inFlight = all.stream().mapToInt(Backend::inFlight).sum();
        return new Scaling.BackendLoad(all.size(), healthy, slots, inFlight, gateway.queued());
    }

    private Scaling.AgentLoad agentLoad(Optional<String> owner) {
        int count = 0;
        long backlog = 0;
        for (AgentInfo agent : registry.list()) {
            if (owner.isPresent() && !owner.get().equals(agent.profile().owner())) {
                continue;
            }
            if (agent.status() != AgentStatus.OFFLINE) {
                count++;
            }
            if (bus.hasInbox(agent.profile().id())) { // an offline agent's work waits all the same
                backlog += bus.inboxStats(agent.profile().id()).pending();
            }
        }
        return new Scaling.AgentLoad(count, backlog);
    }
}
