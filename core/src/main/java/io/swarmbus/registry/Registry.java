package io.swarmbus.registry;

import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.storage.DurableTable;
import java.time.InstantSource;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableSet;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Predicate;

/**
 * The agent registry: who is there, what they can do, how loaded they are, and whether they are
 * alive. Profiles are durable (a {@link DurableTable}); liveness, load and measured performance are
 * runtime state: after a restart every agent gets one heartbeat TTL to show it is still there.
 *
 * <p>Selection stays fast with many agents: agents are indexed by capability (sorted, for
 * round-robin) and by load (for least-loaded), so picking one does not scan them all.
 * Thread-safe; every method holds the registry's lock briefly.
 */
public final class Registry implements AutoCloseable {
    /** Least-loaded walks the load order when the rarest required capability is this common. */
    private static final int SCAN_LIMIT = 512;
    /** Weighted selection weighs this many eligible agents, not all of them. */
    private static final int WEIGHTED_SAMPLE = 64;
    /** Weight of the newest task in the moving mean of task time. */
    private static final double LATENCY_SMOOTHING = 0.2;

    private final DurableTable table;
    private final InstantSource clock;
    private final Duration heartbeatTtl;
    private final Map<AgentId, Entry> agents = new HashMap<>();
    private final Map<String, NavigableSet<AgentId>> byCapability = new HashMap<>();
    private final NavigableSet<AgentId> allIds = new TreeSet<>();
    /**
     * Least loaded first; among equally loaded, the one given a task longest ago, so that agents
     * finishing tasks quickly still share the work evenly.
     */
    private final TreeSet<Entry> byLoad = new TreeSet<>(Comparator.comparingDouble(Entry::loadKey)
            .thenComparingLong(e -> e.lastAssigned).thenComparing(e -> e.profile.id()));
    private long assignments;
    /** Agents in an array too, for uniform random picks. */
    private final List<Entry> sample = new ArrayList<>();
    private final Map<String, AgentId> roundRobin = new HashMap<>();
    /** Owners by agent, readable without the lock: every authenticated call checks one. */
    private final Map<AgentId, Ownership> owners = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * Who owns a registered agent, and since when: the id's current registration. An id deleted
     * and registered again starts a new one, perhaps for another user.
     */
    public record Ownership(String owner, Instant since) {}

    /** Mutable runtime state of one agent. Guarded by the registry's lock. */
    private static final class Entry {
        AgentProfile profile;
        final Instant registeredAt;
        AgentStatus status = AgentStatus.ACTIVE;
        int assigned;
        int reported;
        long lastHeartbeat;
        Map<String, Double> health = Map.of();
        long completed;
        long failed;
        double meanTaskMillis;
        int sampleIndex;
        long lastAssigned;

        Entry(AgentProfile profile, Instant registeredAt, long now) {
            this.profile = profile;
            this.registeredAt = registeredAt;
            this.lastHeartbeat = now;
        }

        double loadKey() {
            return (double) Math.max(assigned, reported) / profile.maxConcurrentTasks();
        }

        boolean available() {
            return status.takesWork() && Math.max(assigned, reported) < profile.maxConcurrentTasks();
        }

        AgentInfo view() {
            return new AgentInfo(profile, status, assigned, reported, Instant.ofEpochMilli(lastHeartbeat),
                    registeredAt, health, completed, failed, meanTaskMillis);
        }
    }

    private Registry(DurableTable table, InstantSource clock, Duration heartbeatTtl) {
        if (heartbeatTtl.isNegative() || heartbeatTtl.isZero()) {
            throw new IllegalArgumentException("heartbeat TTL must be positive, was " + heartbeatTtl);
        }
        this.table = table;
        this.clock = clock;
        this.heartbeatTtl = heartbeatTtl;
        long now = clock.millis();
        table.rows().forEach((key, bytes) -> {
            ProfileCodec.Stored stored = ProfileCodec.decode(bytes);
            add(new Entry(stored.profile(), stored.registeredAt(), now));
        });
    }

    /** Opens the registry whose profiles live in {@code table}; agents are offline after {@code heartbeatTtl}. */
    public static Registry open(DurableTable table, InstantSource clock, Duration heartbeatTtl) {
        return new Registry(table, clock, heartbeatTtl);
    }

    public Duration heartbeatTtl() {
        return heartbeatTtl;
    }

    // ---------------------------------------------------------------- registration

    /**
     * Registers {@code profile}, or replaces the profile of an agent already registered (keeping its
     * load, liveness and performance). Counts as a heartbeat. Durable when it returns.
     */
    public synchronized AgentInfo register(AgentProfile profile) {
        Entry entry = agents.get(profile.id());
        Instant registeredAt = entry == null ? clock.instant() : entry.registeredAt;
        table.put(profile.id().value(), ProfileCodec.encode(profile, registeredAt));
        if (entry == null) {
            entry = new Entry(profile, registeredAt, clock.millis());
            add(entry);
        } else {
            remove(entry);
            entry.profile = profile;
            entry.lastHeartbeat = clock.millis();
            if (entry.status == AgentStatus.OFFLINE) {
                entry.status = AgentStatus.ACTIVE;
            }
            add(entry);
        }
        return entry.view();
    }

    /** Registers {@code profile} only if no agent has its id yet; whether it did. Durable when it returns. */
    public synchronized boolean registerNew(AgentProfile profile) {
        if (agents.containsKey(profile.id())) {
            return false;
        }
        register(profile);
        return true;
    }

    /** Removes an agent; returns whether it was registered. */
    public synchronized boolean deregister(AgentId id) {
        Entry entry = agents.get(id);
        if (entry == null) {
            return false;
        }
        table.remove(id.value());
        remove(entry);
        return true;
    }

    /** Who owns {@code id}, if it is registered. Lock-free. */
    public Optional<String> ownerOf(AgentId id) {
        return ownership(id).map(Ownership::owner);
    }

    /** Who owns {@code id} and since when, if it is registered. Lock-free. */
    public Optional<Ownership> ownership(AgentId id) {
        return Optional.ofNullable(owners.get(id));
    }

    /** The agents {@code owner} has registered now. Lock-free. */
    public Set<AgentId> ownedBy(String owner) {
        Set<AgentId> owned = new HashSet<>();
        owners.forEach((agent, ownership) -> {
            if (ownership.owner().equals(owner)) {
                owned.add(agent);
            }
        });
        return owned;
    }

    public synchronized Optional<AgentInfo> get(AgentId id) {
        return Optional.ofNullable(agents.get(id)).map(Entry::view);
    }

    /** The registered agent, or a {@code not_found} error. */
    public synchronized AgentInfo require(AgentId id) {
        return entry(id).view();
    }

    /** Every agent, by id. */
    public synchronized List<AgentInfo> list() {
        List<AgentInfo> all = new ArrayList<>(agents.size());
        for (AgentId id : allIds) {
            all.add(agents.get(id).view());
        }
        return all;
    }

    // ---------------------------------------------------------------- liveness

    /**
     * Records a heartbeat: the agent is alive now. {@code status} (if given) is what the agent says
     * about itself; an offline agent that heartbeats without one comes back as active.
     */
    public synchronized AgentInfo heartbeat(AgentId id, Optional<AgentStatus> status, Optional<Integer> currentTasks,
            Map<String, Double> health) {
        Entry entry = entry(id);
        if (currentTasks.isPresent() && (currentTasks.get() < 0 || currentTasks.get() > 1_000_000)) {
            throw SwarmbusException.invalid("current_tasks", "current_tasks must be 0 to 1000000");
        }
        if (health.size() > 64) {
            throw SwarmbusException.invalid("health", "at most 64 health metrics");
        }
        byLoad.remove(entry);
        entry.lastHeartbeat = clock.millis();
        entry.status = status.orElse(entry.status == AgentStatus.OFFLINE ? AgentStatus.ACTIVE : entry.status);
        currentTasks.ifPresent(n -> entry.reported = n);
        entry.health = Map.copyOf(health);
        byLoad.add(entry);
        return entry.view();
    }

    /**
     * Marks offline every agent whose last heartbeat is older than the TTL, and returns them: their
     * tasks are to be released. Called periodically.
     */
    public synchronized List<AgentId> sweep() {
        long oldest = clock.millis() - heartbeatTtl.toMillis();
        List<AgentId> lost = new ArrayList<>();
        for (Entry entry : agents.values()) {
            if (entry.status != AgentStatus.OFFLINE && entry.lastHeartbeat < oldest) {
                entry.status = AgentStatus.OFFLINE;
                lost.add(entry.profile.id());
            }
        }
        return lost;
    }

    // ---------------------------------------------------------------- load and performance

    /** Counts a task given to {@code id} against its limit. */
    public synchronized void taskAssigned(AgentId id) {
        Entry entry = agents.get(id);
        if (entry != null) {
            byLoad.remove(entry);
            entry.assigned++;
            entry.lastAssigned = ++assignments;
            byLoad.add(entry);
        }
    }

    /**
     * A task given to {@code id} is over: frees its slot and, if it ran to an outcome, records how
     * it went and how long it took.
     */
    public synchronized void taskFinished(AgentId id, boolean succeeded, Duration took) {
        Entry entry = agents.get(id);
        if (entry == null) {
            return;
        }
        byLoad.remove(entry);
        entry.assigned = Math.max(0, entry.assigned - 1);
        if (succeeded) {
            entry.completed++;
            double millis = took.toNanos() / 1e6;
            entry.meanTaskMillis = entry.completed == 1 ? millis
                    : entry.meanTaskMillis + LATENCY_SMOOTHING * (millis - entry.meanTaskMillis);
        } else {
            entry.failed++;
        }
        byLoad.add(entry);
    }

    /** A task given to {@code id} was taken back without an outcome (cancelled, or the agent left). */
    public synchronized void taskReleased(AgentId id) {
        Entry entry = agents.get(id);
        if (entry != null) {
            byLoad.remove(entry);
            entry.assigned = Math.max(0, entry.assigned - 1);
            byLoad.add(entry);
        }
    }

    // ---------------------------------------------------------------- discovery and selection

    /**
     * Agents of {@code owner} (anyone's if empty) that have every one of {@code required}
     * capabilities, in {@code statuses} (all if empty), and with a free slot if
     * {@code withCapacity}; least loaded first, at most {@code limit}.
     */
    public synchronized List<AgentInfo> find(Optional<String> owner, Set<String> required, Set<AgentStatus> statuses,
            boolean withCapacity, int limit) {
        AgentProfile.validCapabilities(required, "capabilities");
        Predicate<Entry> wanted = e -> owns(owner, e) && e.profile.capabilities().containsAll(required)
                && (statuses.isEmpty() || statuses.contains(e.status)) && (!withCapacity || e.available());
        List<AgentInfo> found = new ArrayList<>();
        for (Entry entry : byLoad) {
            if (found.size() >= limit) {
                break;
            }
            if (wanted.test(entry)) {
                found.add(entry.view());
            }
        }
        return found;
    }

    /**
     * The agent {@code strategy} picks among those of {@code owner} (anyone's if empty) with every
     * {@code required} capability and a free slot, leaving out {@code exclude}; empty if none
     * qualifies.
     */
    public Optional<AgentInfo> best(Optional<String> owner, Set<String> required,
            SelectionStrategy strategy, Set<AgentId> exclude) {
        return best(owner, required, strategy, exclude, Set.of());
    }

    /** As {@link #best(Optional, Set, SelectionStrategy, Set)}, among {@code only} these agents unless it is empty. */
    public synchronized Optional<AgentInfo> best(Optional<String> owner, Set<String> required,
            SelectionStrategy strategy, Set<AgentId> exclude, Set<AgentId> only) {
        AgentProfile.validCapabilities(required, "required_capabilities");
        Predicate<Entry> eligible = e -> e.available() && !exclude.contains(e.profile.id()) && owns(owner, e)
                && e.profile.capabilities().containsAll(required) && (only.isEmpty() || only.contains(e.profile.id()));
        NavigableSet<AgentId> pool = only.isEmpty() ? rarest(required)
                : only.stream().filter(agents::containsKey).collect(java.util.stream.Collectors.toCollection(TreeSet::new));
        Entry chosen = switch (strategy) {
            case LEAST_LOADED -> leastLoaded(pool, eligible);
            case ROUND_ROBIN -> roundRobin(required, pool, eligible);
            case RANDOM -> random(pool, eligible);
            case WEIGHTED -> weighted(pool, eligible);
        };
        return Optional.ofNullable(chosen).map(Entry::view);
    }

    /**
     * Whether an agent that is not offline would qualify for {@link #best} once it takes work again:
     * one of {@code owner} (anyone's if empty) with every {@code required} capability, among
     * {@code only} unless it is empty, leaving out {@code exclude}, with a free slot or not. Stops
     * at the first found.
     */
    public synchronized boolean anyOnline(Optional<String> owner, Set<String> required, Set<AgentId> exclude,
            Set<AgentId> only) {
        AgentProfile.validCapabilities(required, "required_capabilities");
        for (AgentId id : only.isEmpty() ? rarest(required) : only) {
            Entry entry = agents.get(id);
            if (entry != null && entry.status != AgentStatus.OFFLINE && !exclude.contains(id) && owns(owner, entry)
                    && entry.profile.capabilities().containsAll(required)) {
                return true;
            }
        }
        return false;
    }

    private static boolean owns(Optional<String> owner, Entry entry) {
        return owner.isEmpty() || owner.get().equals(entry.profile.owner());
    }

    /** The agents holding the least common of {@code required} (all agents if none is required). */
    private NavigableSet<AgentId> rarest(Set<String> required) {
        NavigableSet<AgentId> pool = allIds;
        for (String capability : required) {
            NavigableSet<AgentId> holders = byCapability.getOrDefault(capability, java.util.Collections.emptyNavigableSet());
            if (holders.size() < pool.size() || pool == allIds) {
                pool = holders;
            }
        }
        return pool;
    }

    private Entry leastLoaded(NavigableSet<AgentId> pool, Predicate<Entry> eligible) {
        if (pool.size() > SCAN_LIMIT) {
            // Many hold the capabilities: the first eligible agent in load order is the answer,
            // usually within the first few.
            for (Entry entry : byLoad) {
                if (eligible.test(entry)) {
                    return entry;
                }
            }
            return null;
        }
        Entry best = null;
        for (AgentId id : pool) {
            Entry entry = agents.get(id);
            if (eligible.test(entry) && (best == null || byLoad.comparator().compare(entry, best) < 0)) {
                best = entry;
            }
        }
        return best;
    }

    private Entry roundRobin(Set<String> required, NavigableSet<AgentId> pool, Predicate<Entry> eligible) {
        String key = String.join(",", new TreeSet<>(required));
        AgentId last = roundRobin.get(key);
        for (NavigableSet<AgentId> part : last == null ? List.of(pool)
                : List.of(pool.tailSet(last, false), pool.headSet(last, true))) {
            for (AgentId id : part) {
                Entry entry = agents.get(id);
                if (eligible.test(entry)) {
                    roundRobin.put(key, id);
                    return entry;
                }
            }
        }
        return null;
    }

    private Entry random(NavigableSet<AgentId> pool, Predicate<Entry> eligible) {
        List<Entry> candidates = candidates(pool, eligible, 1);
        return candidates.isEmpty() ? null : candidates.getFirst();
    }

    /** Weighted pick among up to {@link #WEIGHTED_SAMPLE} eligible agents found from a random start. */
    private Entry weighted(NavigableSet<AgentId> pool, Predicate<Entry> eligible) {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        Entry chosen = null;
        double total = 0;
        for (Entry entry : candidates(pool, eligible, WEIGHTED_SAMPLE)) {
            double weight = weight(entry);
            total += weight;
            if (random.nextDouble() * total < weight) { // weighted reservoir of one
                chosen = entry;
            }
        }
        return chosen;
    }

    /**
     * Up to {@code wanted} eligible agents of {@code pool}, walking it in id order from a random
     * agent (wrapping around): a uniform start without scanning the whole pool, however large.
     */
    private List<Entry> candidates(NavigableSet<AgentId> pool, Predicate<Entry> eligible, int wanted) {
        List<Entry> found = new ArrayList<>(wanted);
        if (pool.isEmpty()) {
            return found;
        }
        AgentId start = sample.get(ThreadLocalRandom.current().nextInt(sample.size())).profile.id();
        for (NavigableSet<AgentId> part : List.of(pool.tailSet(start, true), pool.headSet(start, false))) {
            for (AgentId id : part) {
                Entry entry = agents.get(id);
                if (eligible.test(entry)) {
                    found.add(entry);
                    if (found.size() == wanted) {
                        return found;
                    }
                }
            }
        }
        return found;
    }

    private static double weight(Entry entry) {
        double success = (entry.completed + 1.0) / (entry.completed + entry.failed + 2.0);
        double free = 1.0 - entry.loadKey();
        return success / (1.0 + entry.meanTaskMillis / 1000.0) * Math.max(free, 0.01);
    }

    // ---------------------------------------------------------------- stats

    /** Counts by status and role, and the mean load of agents that are not offline; {@code owner}'s only if given. */
    public synchronized RegistryStats stats(Optional<String> owner) {
        Map<AgentStatus, Integer> byStatus = new EnumMap<>(AgentStatus.class);
        for (AgentStatus status : AgentStatus.values()) {
            byStatus.put(status, 0);
        }
        Map<String, Integer> byRole = new TreeMap<>();
        double loadSum = 0;
        int online = 0;
        int total = 0;
        for (Entry entry : agents.values()) {
            if (!owns(owner, entry)) {
                continue;
            }
            total++;
            byStatus.merge(entry.status, 1, Integer::sum);
            byRole.merge(entry.profile.role(), 1, Integer::sum);
            if (entry.status != AgentStatus.OFFLINE) {
                loadSum += Math.min(1.0, entry.loadKey());
                online++;
            }
        }
        return new RegistryStats(total, byStatus, byRole, online == 0 ? 0 : loadSum / online);
    }

    // ---------------------------------------------------------------- indexes

    private Entry entry(AgentId id) {
        Entry entry = agents.get(id);
        if (entry == null) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "agent '" + id + "' not found");
        }
        return entry;
    }

    private void add(Entry entry) {
        AgentId id = entry.profile.id();
        agents.put(id, entry);
        owners.put(id, new Ownership(entry.profile.owner(), entry.registeredAt));
        allIds.add(id);
        for (String capability : entry.profile.capabilities()) {
            byCapability.computeIfAbsent(capability, c -> new TreeSet<>()).add(id);
        }
        byLoad.add(entry);
        entry.sampleIndex = sample.size();
        sample.add(entry);
    }

    private void remove(Entry entry) {
        AgentId id = entry.profile.id();
        agents.remove(id);
        owners.remove(id);
        allIds.remove(id);
        for (String capability : entry.profile.capabilities()) {
            Collection<AgentId> holders = byCapability.get(capability);
            holders.remove(id);
            if (holders.isEmpty()) {
                byCapability.remove(capability);
            }
        }
        byLoad.remove(entry);
        Entry last = sample.removeLast();
        if (last != entry) {
            sample.set(entry.sampleIndex, last);
            last.sampleIndex = entry.sampleIndex;
        }
    }

    @Override
    public void close() {
        table.close();
    }
}
