package io.swarmbus.server;

import io.javalin.http.Context;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.registry.AgentInfo;
import io.swarmbus.registry.AgentProfile;
import io.swarmbus.registry.AgentStatus;
import io.swarmbus.registry.Registry;
import io.swarmbus.registry.RegistryStats;
import io.swarmbus.registry.SelectionStrategy;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Agents over HTTP: registration (an agent is a registry entry plus an inbox), updates,
 * heartbeats, discovery, best-agent selection and registry stats. Users see and select only the
 * agents they own; admins see all.
 */
final class AgentRoutes {
    /** The agent id no agent may have: {@code GET /api/v1/agents/networks} lists agent networks. */
    static final String NETWORKS = "networks";

    private final MessageBus bus;
    private final Registry registry;
    private final Auth auth;
    private final AuditLog audit;
    /** Told of each agent deleted: it leaves its swarms and networks. */
    private final java.util.function.Consumer<AgentId> deleted;

    AgentRoutes(MessageBus bus, Registry registry, Auth auth, AuditLog audit,
            java.util.function.Consumer<AgentId> deleted) {
        this.bus = bus;
        this.registry = registry;
        this.auth = auth;
        this.audit = audit;
        this.deleted = deleted;
    }

    /**
     * {@code POST /api/v1/agents} and the seed's {@code POST /agents/register}: {@code agent_id},
     * and optionally {@code description}, {@code role} (or {@code agent_role}), {@code capabilities},
     * {@code max_concurrent_tasks}, {@code metadata}. Registering again replaces the profile.
     */
    void register(Context ctx) {
        RequestBody body = RequestBody.parse(Http.body(ctx));
        AgentId id = body.agent("agent_id");
        Http.requireNameableInPath("agent_id", "agent id", id.value());
        if (id.value().equals(NETWORKS)) { // GET /api/v1/agents/networks lists networks, not this agent
            throw new SwarmbusException(ErrorCode.ALREADY_EXISTS, "agent id '" + NETWORKS + "' is reserved for "
                    + "/api/v1/agents/" + NETWORKS);
        }
        Auth.Principal principal = Auth.principal(ctx);
        AgentProfile profile = new AgentProfile(id, body.optionalText("description").orElse(""),
                body.firstPresent("role", "agent_role").map(body::text).orElse("worker"),
                body.has("capabilities") ? new LinkedHashSet<>(body.strings("capabilities")) : Set.of(),
                body.integer("max_concurrent_tasks").orElse(1),
                body.stringMap("metadata"), principal.name());
        boolean created;
        synchronized (this) { // claim-and-create as one step, so two users cannot both claim an id
            Optional<AgentInfo> existing = registry.get(id);
            if ((existing.isPresent() && !auth.owns(principal, id)) || (existing.isEmpty() && bus.hasInbox(id))) {
                throw new SwarmbusException(ErrorCode.ALREADY_EXISTS, "agent id '" + id + "' is taken");
            }
            created = existing.isEmpty();
            if (created) {
                // Only if still free: a managed pool may have taken the id since it was looked up.
                if (!auth.claimAgentId(principal.name(), id, () -> registry.registerNew(profile))) {
                    throw new SwarmbusException(ErrorCode.ALREADY_EXISTS, "agent id '" + id + "' is taken");
                }
            } else {
                registry.register(profile.withOwner(existing.get().profile().owner()));
            }
            bus.createInbox(id);
        }
        AgentInfo info = registry.require(id);
        audit.agentRegistered(created ? "registered" : "updated", info.profile());
        Map<String, Object> view = view(info);
        view.put("registration", created ? "registered" : "updated");
        Http.json(ctx, created ? 201 : 200, view);
    }

    /**
     * {@code PUT /api/v1/agents/{id}}: changes the fields given ({@code description}, {@code role},
     * {@code capabilities}, {@code max_concurrent_tasks}, {@code metadata}); others stay.
     */
    void update(Context ctx, AgentId id) {
        auth.requireOwner(Auth.principal(ctx), id);
        RequestBody body = RequestBody.parse(Http.body(ctx));
        body.optionalText("agent_id").filter(named -> !named.equals(id.value())).ifPresent(named -> {
            throw SwarmbusException.invalid("agent_id", "agent_id '" + named + "' is not the agent of the path, '"
                    + id + "': an agent cannot be renamed; register the new id and delete this one");
        });
        AgentInfo info;
        synchronized (this) {
            AgentProfile old = registry.require(id).profile();
            AgentProfile changed = new AgentProfile(id, body.optionalText("description").orElse(old.description()),
                    body.firstPresent("role", "agent_role").map(body::text).orElse(old.role()),
                    body.has("capabilities") ? new LinkedHashSet<>(body.strings("capabilities")) : old.capabilities(),
                    body.integer("max_concurrent_tasks").orElse(old.maxConcurrentTasks()),
                    body.has("metadata") ? body.stringMap("metadata") : old.metadata(), old.owner());
            info = registry.register(changed);
        }
        audit.record(AuditLog.Stream.AGENT_ACTIVITY, "updated", Map.of("agent_id", id.value()));
        Http.json(ctx, 200, view(info));
    }

    /**
     * {@code POST /api/v1/agents/{id}/heartbeat}: optionally {@code status} (active, busy, idle,
     * offline), {@code current_tasks}, and {@code health} (numbers by name).
     */
    void heartbeat(Context ctx, AgentId id) {
        auth.requireOwner(Auth.principal(ctx), id);
        RequestBody body = RequestBody.parse(Http.body(ctx));
        Optional<AgentStatus> status = body.optionalText("status").map(AgentStatus::parse);
        AgentStatus before = registry.require(id).status();
        AgentInfo info = registry.heartbeat(id, status, body.integer("current_tasks"), body.numberMap("health"));
        if (info.status() != before) {
            audit.record(AuditLog.Stream.AGENT_ACTIVITY, "status_change", Map.of("agent_id", id.value(),
                    "old_status", before.wireName(), "new_status", info.status().wireName()));
        }
        Http.json(ctx, 200, view(info));
    }

    /**
     * {@code GET /api/v1/agents}: your agents (all, for admins), filtered by {@code capabilities}
     * (comma-separated, all must match), {@code status} (comma-separated) and {@code available=true}
     * (a working status and a free slot); least loaded first, at most {@code limit} (default 1000).
     */
    void list(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        Set<AgentStatus> statuses = csv(ctx.queryParam("status")).stream().map(AgentStatus::parse)
                .collect(Collectors.toSet());
        int limit = Http.intParam(ctx, RequestBody.parse(new byte[0]), "limit", 1000);
        if (limit < 1 || limit > 100_000) {
            throw SwarmbusException.invalid("limit", "limit must be 1 to 100000");
        }
        List<Map<String, Object>> views = registry.find(scope(principal), csv(ctx.queryParam("capabilities")),
                statuses, Http.flagParam(ctx, "available"), limit).stream().map(this::view).toList();
        Http.json(ctx, 200, Views.list("agents", views));
    }

    void get(Context ctx, AgentId id) {
        auth.requireOwner(Auth.principal(ctx), id);
        Http.json(ctx, 200, view(registry.require(id)));
    }

    void delete(Context ctx, AgentId id) {
        auth.requireOwner(Auth.principal(ctx), id);
        synchronized (this) {
            // The inbox goes first: a crash between the two leaves a profile without an inbox, which
            // registering or deleting again mends, not an inbox without a profile, which no one may
            // register (its id looks taken) or delete (it looks unknown).
            boolean hadInbox = bus.hasInbox(id);
            if (hadInbox) {
                bus.deleteInbox(id);
            }
            if (!registry.deregister(id) && !hadInbox) {
                throw new SwarmbusException(ErrorCode.NOT_FOUND, "agent '" + id + "' not found");
            }
            deleted.accept(id); // before the id can be registered again
        }
        audit.agentDeleted(id, Auth.principal(ctx).name());
        Http.json(ctx, 200, Map.of("agent_id", id.value(), "status", "deleted"));
    }

    /**
     * {@code GET /api/v1/registry/best?capabilities=a,b&strategy=least_loaded&exclude=x,y}: the agent
     * the strategy picks among your available agents with every capability; 404 if none.
     */
    void best(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        SelectionStrategy strategy = Optional.ofNullable(ctx.queryParam("strategy")).map(SelectionStrategy::parse)
                .orElse(SelectionStrategy.LEAST_LOADED);
        Set<String> required = AgentProfile.validCapabilities(csv(ctx.queryParam("capabilities")), "capabilities");
        Set<AgentId> exclude = csv(ctx.queryParam("exclude")).stream().map(name -> RequestBody.agentId("exclude", name))
                .collect(Collectors.toSet());
        AgentInfo chosen = registry.best(scope(principal), required, strategy, exclude).orElseThrow(() ->
                new SwarmbusException(ErrorCode.NOT_FOUND, "no available agent has " + (required.isEmpty()
                        ? "a free slot" : "every capability of " + required)));
        Http.json(ctx, 200, view(chosen));
    }

    /** {@code GET /api/v1/registry/stats}: totals by status and role and the average load, over your agents. */
    void stats(Context ctx) {
        RegistryStats stats = registry.stats(scope(Auth.principal(ctx)));
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("total_agents", stats.total());
        Map<String, Integer> byStatus = new LinkedHashMap<>();
        stats.byStatus().forEach((status, n) -> byStatus.put(status.wireName(), n));
        view.put("by_status", byStatus);
        view.put("by_role", stats.byRole());
        view.put("average_load", stats.averageLoad());
        Http.json(ctx, 200, view);
    }

    /** Admins act across owners; users only over their own agents. */
    private static Optional<String> scope(Auth.Principal principal) {
        return principal.admin() ? Optional.empty() : Optional.of(principal.name());
    }

    private static Set<String> csv(String text) {
        if (text == null || text.isBlank()) {
            return Set.of();
        }
        return Arrays.stream(text.split(",")).map(String::trim).filter(s -> !s.isEmpty())
                .collect(Collectors.toCollection(LinkedHashSet::new));
    }

    /** The registry entry with its inbox counts. */
    Map<String, Object> view(AgentInfo info) {
        Map<String, Object> view = Views.agent(info);
        if (bus.hasInbox(info.profile().id())) {
            Map<String, Object> inbox = Views.inbox(bus.inboxStats(info.profile().id()));
            inbox.remove("agent_id");
            view.putAll(inbox);
        }
        return view;
    }
}
