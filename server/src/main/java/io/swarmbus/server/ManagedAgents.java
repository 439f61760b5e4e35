package io.swarmbus.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.llm.LlmGateway;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.registry.AgentInfo;
import io.swarmbus.registry.AgentProfile;
import io.swarmbus.registry.Registry;
import io.swarmbus.storage.DurableTable;
import io.swarmbus.tasks.Task;
import io.swarmbus.tasks.TaskCoordinator;
import java.time.Clock;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Managed LLM agents: pools of agents the server runs itself from a {@link ManagedTemplate}. Each
 * replica is a registered agent with an inbox, so tasks reach it like any other agent
 * ({@link ManagedReplica}). Every {@link #TICK} the scaler heartbeats the replicas and moves
 * each pool's replica count between its bounds on its queue depth ({@link ManagedPool#decide}).
 * Templates and the replica count are durable; a restart brings the pools back.
 */
final class ManagedAgents implements AutoCloseable {
    static final String POOL_METADATA = "managed_pool";
    static final Duration TICK = Duration.ofMillis(500);
    private static final Logger LOG = LoggerFactory.getLogger(ManagedAgents.class);
    private static final int KEEP_CALL_COUNTS = 100_000;

    private final DurableTable table;
    private final Registry registry;
    private final Auth auth;
    private final MessageBus bus;
    private final TaskCoordinator tasks;
    private final LlmGateway gateway;
    private final Clock clock;
    /** Told of each replica removed: it leaves its swarms and networks, as any agent deleted does. */
    private final java.util.function.Consumer<AgentId> deleted;
    /** Where each replica's registration and removal are recorded, as any agent's are. */
    private final AuditLog audit;
    private final Map<String, ManagedPool> pools = new ConcurrentHashMap<>();
    /** LLM calls per task, for the cap: the newest {@value #KEEP_CALL_COUNTS} tasks. */
    private final Map<String, ManagedPool.Calls> callsPerTask = Collections.synchronizedMap(new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, ManagedPool.Calls> eldest) {
            return size() > KEEP_CALL_COUNTS;
        }
    });
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final Thread scaler;

    ManagedAgents(DurableTable table, Registry registry, Auth auth, MessageBus bus, TaskCoordinator tasks,
            LlmGateway gateway, Clock clock, java.util.function.Consumer<AgentId> deleted, AuditLog audit) {
        this.table = table;
        this.registry = registry;
        this.auth = auth;
        this.bus = bus;
        this.tasks = tasks;
        this.gateway = gateway;
        this.clock = clock;
        this.deleted = deleted;
        this.audit = audit;
        table.rows().forEach((name, bytes) -> pools.put(name, new ManagedPool(ManagedTemplate.fromJson(
                JsonRows.read(bytes)), callsPerTask)));
        // Replicas of the last run come back under their names, with their inboxes and the tasks
        // given to them; those beyond the count, or of a pool since deleted, are removed. Any user
        // may set an agent's metadata, so only an agent named like a replica of the pool, and for
        // a pool still there owned by the pool's owner, is taken for one: not another user's agent.
        Map<String, List<AgentId>> left = new java.util.HashMap<>();
        for (AgentInfo agent : registry.list()) {
            String pool = agent.profile().metadata().get(POOL_METADATA);
            AgentId id = agent.profile().id();
            if (pool == null || !id.value().matches(java.util.regex.Pattern.quote(pool) + "-[0-9]+")) {
                continue;
            }
            ManagedPool of = pools.get(pool);
            if (of == null) {
                removeAgent(id);
            } else if (of.template().owner().equals(agent.profile().owner())) {
                left.computeIfAbsent(pool, p -> new java.util.ArrayList<>()).add(id);
            }
        }
        pools.forEach((name, pool) -> {
            for (AgentId id : left.getOrDefault(name, List.of())) {
                if (pool.replicas.size() < pool.template().replicas()) {
                    registry.register(profile(pool.template(), id)); // the owner's already: its profile renewed
                    start(pool, id);
                } else {
                    removeAgent(id);
                }
            }
            resize(pool, pool.template().replicas());
        });
        this.scaler = Thread.ofVirtual().name("swarmbus-managed-scaler").start(this::scaleLoop);
    }

    /**
     * Creates a pool and starts its replicas; 409 if the name is taken, 400 if no backend serves the
     * model, 503 while a backend that may serve it has not said what it serves.
     */
    ObjectNode create(ManagedTemplate template) {
        requireServed(template.model());
        ManagedPool pool = new ManagedPool(template, callsPerTask);
        synchronized (pool) { // the scaler, or a delete, may find the pool in the map already: both lock it
            if (pools.putIfAbsent(template.name(), pool) != null) {
                throw new SwarmbusException(ErrorCode.ALREADY_EXISTS, "a managed agent pool named '" + template.name()
                        + "' exists");
            }
            save(template);
            resize(pool, template.replicas());
            pool.record(new ManagedPool.Decision(0, pool.replicas.size(), "created"), clock.instant());
            return pool.toJson();
        }
    }

    List<ObjectNode> list(String owner, boolean admin) {
        return pools.values().stream().filter(p -> admin || p.template().owner().equals(owner))
                .sorted(java.util.Comparator.comparing(p -> p.template().name())).map(ManagedPool::toJson).toList();
    }

    /** The pool, if {@code owner} may see it; else 404, as for a pool that does not exist. */
    ManagedPool require(String name, String owner, boolean admin) {
        ManagedPool pool = pools.get(name);
        if (pool == null || !(admin || pool.template().owner().equals(owner))) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "managed agent pool '" + name + "' not found");
        }
        return pool;
    }

    /** Sets the replica count and bounds; the scaler keeps moving the count within the new bounds. */
    ObjectNode scale(ManagedPool pool, int replicas, int min, int max) {
        synchronized (pool) {
            if (!live(pool)) { // deleted since it was looked up: starting replicas now would leak them
                throw new SwarmbusException(ErrorCode.NOT_FOUND, "managed agent pool '" + pool.template().name()
                        + "' not found");
            }
            ManagedTemplate changed = pool.template().withReplicas(replicas, min, max);
            ManagedPool.Decision decision = new ManagedPool.Decision(pool.replicas.size(), replicas, "set by "
                    + "request");
            resize(pool, replicas);
            pool.template(changed);
            save(changed);
            pool.record(decision, clock.instant());
        }
        return pool.toJson();
    }

    /** Stops every replica, removes them from the registry, and forgets the pool. */
    void delete(ManagedPool pool) {
        synchronized (pool) { // not while the scaler resizes it, which would start and save it again
            if (!pools.remove(pool.template().name(), pool)) {
                return; // deleted already
            }
            table.remove(pool.template().name());
            List<ManagedReplica> replicas = List.copyOf(pool.replicas);
            pool.replicas.clear();
            stopAll(replicas);
            replicas.forEach(r -> removeAgent(r.id()));
        }
    }

    /** Every pool's decision now: for the scaler, and for tests that drive it. */
    void scaleOnce() {
        for (ManagedPool pool : List.copyOf(pools.values())) {
            try {
                scaleOne(pool);
            } catch (RuntimeException e) { // one pool's failure must not stop the others' scaling
                LOG.warn("managed pool {}: scaling failed: {}", pool.template().name(), e.getMessage());
            }
        }
    }

    /** One pool's decision now, under its lock. */
    private void scaleOne(ManagedPool pool) {
        synchronized (pool) {
            if (!live(pool)) {
                return; // deleted since the list was taken
            }
            replaceDeleted(pool);
            pool.replicas.forEach(r -> registry.heartbeat(r.id(), Optional.empty(), Optional.empty(), Map.of()));
            Load load = load(pool);
            ManagedPool.Decision decision = pool.decide(load.queue(), load.anyIdle(), clock.instant());
            if (decision.to() != decision.from()) {
                resize(pool, decision.to());
                pool.template(pool.template().withReplicas(pool.replicas.size(), pool.template().minReplicas(),
                        pool.template().maxReplicas()));
                save(pool.template());
                pool.record(decision, clock.instant());
                LOG.info("managed pool {}: {} -> {} replicas: {}", pool.template().name(), decision.from(),
                        decision.to(), decision.reason());
            }
        }
    }

    /**
     * Stops the replicas whose agent was deleted by hand ({@code DELETE /api/v1/agents/{id}}) and
     * starts others in their place: otherwise the pool counts a replica that takes no tasks, and
     * its heartbeat fails every tick.
     */
    private void replaceDeleted(ManagedPool pool) {
        List<ManagedReplica> gone = pool.replicas.stream().filter(r -> registry.get(r.id()).isEmpty()).toList();
        if (gone.isEmpty()) {
            return;
        }
        int count = pool.replicas.size();
        pool.replicas.removeAll(gone);
        stopAll(gone); // its inbox is gone too, so each reader ends at once
        resize(pool, count);
        pool.record(new ManagedPool.Decision(count, count, "replaced " + gone.stream().map(r -> r.id().value())
                .toList() + ", deleted as agents"), clock.instant());
    }

    /** Whether {@code pool} is still one of the pools, not deleted: checked under its lock. */
    private boolean live(ManagedPool pool) {
        return pools.get(pool.template().name()) == pool;
    }

    /** A pool's queue depth, and whether any replica works on nothing. */
    private record Load(int queue, boolean anyIdle) {}

    /** Queue depth: tasks waiting that the pool's replicas could take, plus task messages in their inboxes. */
    private Load load(ManagedPool pool) {
        ManagedTemplate template = pool.template();
        Set<AgentId> replicas = new java.util.HashSet<>();
        long inboxes = 0;
        boolean anyIdle = false;
        for (ManagedReplica replica : pool.replicas) {
            replicas.add(replica.id());
            long waiting = replica.waiting();
            inboxes += waiting;
            anyIdle |= waiting == 0 && !replica.working();
        }
        int pending = tasks.countPending((Task task) -> task.spec().owner().equals(template.owner())
                && template.capabilities().containsAll(task.spec().requiredCapabilities())
                && (task.spec().candidates().isEmpty() || task.spec().candidates().stream().anyMatch(replicas::contains)));
        return new Load((int) Math.min(Integer.MAX_VALUE, pending + inboxes), anyIdle);
    }

    /** Starts or stops replicas until the pool has {@code count}; stops idle ones first. */
    private void resize(ManagedPool pool, int count) {
        while (pool.replicas.size() < count) {
            ManagedTemplate t = pool.template();
            AgentId id = nextReplicaId(t);
            // Only if still free: a user may have registered the id since it was picked.
            if (auth.claimAgentId(t.owner(), id, () -> registry.registerNew(profile(t, id)))) {
                audit.agentRegistered("registered", profile(t, id));
                start(pool, id);
            }
        }
        while (pool.replicas.size() > count) {
            ManagedReplica leaving = pool.replicas.stream().filter(ManagedReplica::idle).reduce((a, b) -> b)
                    .orElse(pool.replicas.getLast());
            pool.replicas.remove(leaving);
            // Off the scaler's thread: a busy replica finishes its task first. Its inbox goes with
            // it; a task sent to it meanwhile is given to another agent at the next tick.
            Thread.ofVirtual().name("swarmbus-managed-stop").start(() -> {
                leaving.stop(false);
                removeAgent(leaving.id());
            });
        }
    }

    /** A replica's agent profile under the pool's current template. */
    private static AgentProfile profile(ManagedTemplate t, AgentId id) {
        return new AgentProfile(id, "managed agent of pool " + t.name() + " (model " + t.model() + ")", t.role(),
                t.capabilities(), t.maxConcurrentTasks(), Map.of(POOL_METADATA, t.name(), "model", t.model()), t.owner());
    }

    /** Starts a replica whose agent {@code id} is registered already. */
    private void start(ManagedPool pool, AgentId id) {
        ManagedTemplate t = pool.template();
        bus.createInbox(id);
        ManagedReplica replica = new ManagedReplica(id, LlmRoutes.registration(registry, id, t.owner()), pool, bus,
                tasks, gateway, audit);
        pool.replicas.add(replica);
        replica.start();
    }

    /** The lowest {@code <name>-<n>} that is not an agent already. */
    private AgentId nextReplicaId(ManagedTemplate template) {
        for (int n = 1; ; n++) {
            AgentId id = AgentId.of(template.name() + "-" + n);
            if (registry.get(id).isEmpty() && !auth.anotherUsersName(template.owner(), id)) {
                return id;
            }
        }
    }

    private void removeAgent(AgentId id) {
        Optional<AgentInfo> gone = registry.get(id);
        registry.deregister(id);
        if (bus.hasInbox(id)) {
            bus.deleteInbox(id);
        }
        deleted.accept(id);
        gone.ifPresent(agent -> audit.agentDeleted(id, agent.profile().owner()));
    }

    /**
     * Refuses a model the gateway would refuse, as it would: a backend given by URL that has not
     * answered {@code /v1/models} yet (down since the server started, say) may serve it, so until
     * every backend's models are known that is 503 with the gateway's message and Retry-After, for
     * the client to try again; only then is a model no backend lists a 400.
     */
    private void requireServed(String model) {
        if (gateway.backends().isEmpty()) {
            throw SwarmbusException.invalid("model", "no LLM backend is configured; managed agents call the gateway "
                    + "(see docs/llm-gateway.md)");
        }
        try {
            gateway.model(model);
        } catch (LlmGateway.Refused refused) {
            if (refused.status() == 503) {
                throw new RetryLater(refused.getMessage(), refused.retryAfterSeconds());
            }
            throw SwarmbusException.invalid("model", "no LLM backend serves model '" + model + "'; served: "
                    + gateway.models());
        }
    }

    private void scaleLoop() {
        while (running.get()) {
            try {
                Thread.sleep(TICK);
                scaleOnce();
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                LOG.warn("managed agent scaler: {}", e.getMessage());
            }
        }
    }

    /** Stops the scaler and the replicas; they stay registered and start again with the server. */
    @Override
    public void close() {
        running.set(false);
        scaler.interrupt();
        stopAll(pools.values().stream().flatMap(pool -> pool.replicas.stream()).toList());
        table.close();
    }

    /** Halts them all at once, so each reader ends within one poll, then waits for each to stop. */
    private static void stopAll(List<ManagedReplica> replicas) {
        replicas.forEach(r -> r.halt(true));
        replicas.forEach(r -> r.stop(true));
    }

    /** Keeps the template durable, so a restart brings the pool back as it is now. */
    private void save(ManagedTemplate template) {
        table.put(template.name(), JsonRows.bytes(template.toJson()));
    }
}
