package io.swarmbus.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.registry.AgentProfile;
import io.swarmbus.registry.Registry;
import io.swarmbus.storage.DurableTable;
import java.time.Clock;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Swarm membership (seed 003 §2): agents join swarms in a role, leave them, and are listed by
 * swarm. A member is an agent, so the strategies a swarm coordinates reach it as tasks; joining
 * without an {@code agent_id} registers a new agent for the member. Members are JSON rows in a
 * {@link DurableTable}, kept after they leave (status {@code left}).
 */
final class Swarms implements AutoCloseable {
    static final List<String> ROLES = List.of("load-balancer", "resource-optimizer", "task-coordinator", "monitor");
    /** The seed's default is "normal"; "medium" is the bus's name for the same. */
    static final List<String> PRIORITIES = List.of("low", "normal", "medium", "high", "critical");

    private final DurableTable table;
    private final Registry registry;
    private final MessageBus bus;
    private final Clock clock;
    /** Active members by swarm, each swarm's in the order they joined; members who left are only in the table. */
    private final Map<String, Map<String, ObjectNode>> swarms = new ConcurrentHashMap<>();
    /** How many active members each owner has in each swarm: a caller's swarms are found without a scan of all. */
    private final Map<String, Map<String, Integer>> membersByOwner = new java.util.HashMap<>();
    private final SortableIds ids;

    Swarms(DurableTable table, Registry registry, MessageBus bus, Clock clock) {
        this.table = table;
        this.registry = registry;
        this.bus = bus;
        this.clock = clock;
        this.ids = new SortableIds(clock);
        table.rows().values().stream().map(JsonRows::read).filter(m -> m.get("status").asText().equals("active"))
                .sorted(Comparator.comparing((ObjectNode m) -> m.get("joined_at").asText())
                        .thenComparing(m -> m.get("member_id").asText()))
                .forEach(this::index);
        // An agent deleted (or deleted and registered again) before its leaving was on disk leaves now.
        List<ObjectNode> gone = swarms.values().stream().flatMap(swarm -> swarm.values().stream())
                .filter(m -> registry.ownership(AgentId.of(m.get("member_id").asText()))
                        .filter(o -> !o.since().isAfter(Instant.parse(m.get("joined_at").asText()))).isEmpty())
                .toList();
        if (!gone.isEmpty()) {
            long last = -1;
            for (ObjectNode member : gone) {
                last = leaveLater(member);
            }
            table.awaitDurable(last); // one fsync for them all
        }
    }

    /** What a member asked to join with. */
    record Join(String role, String capability, Optional<String> region, String priority, Optional<String> swarmId,
            Optional<String> agentId) {}

    ObjectNode join(Auth auth, Auth.Principal principal, Join join) {
        long write;
        ObjectNode member;
        synchronized (this) {
            member = joinLater(auth, principal, join);
            write = table.putLater(key(member), JsonRows.bytes(member));
        }
        table.awaitDurable(write); // outside the lock: concurrent joins share an fsync
        return member;
    }

    private ObjectNode joinLater(Auth auth, Auth.Principal principal, Join join) {
        if (!ROLES.contains(join.role())) {
            throw SwarmbusException.invalid("role", "Invalid role. Must be one of: " + ROLES);
        }
        AgentProfile.validCapabilities(Set.of(join.capability()), "capability");
        String priority = join.priority().toLowerCase(java.util.Locale.ROOT);
        if (!PRIORITIES.contains(priority)) {
            throw SwarmbusException.invalid("priority", "priority must be one of " + PRIORITIES + ", was '"
                    + join.priority() + "'");
        }
        join.region().filter(r -> r.isBlank() || r.length() > 64).ifPresent(r -> {
            throw SwarmbusException.invalid("region", "region must be 1 to 64 characters");
        });
        String swarmId = join.swarmId().orElseGet(() -> ids.next("swarm"));
        if (join.swarmId().isPresent() && !hasMembers(swarmId, principal)) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "swarm " + swarmId + " not found");
        }
        AgentId agent;
        if (join.agentId().isPresent()) {
            agent = AgentId.of(join.agentId().get());
            // An inbox that is no registered agent takes no tasks, and its membership would be dropped at the next start.
            auth.requireRegisteredOwner(principal, agent);
            if (swarms.getOrDefault(swarmId, Map.of()).containsKey(agent.value())) {
                throw new SwarmbusException(ErrorCode.ALREADY_EXISTS, "agent " + agent + " is already a member of "
                        + swarmId);
            }
        } else {
            agent = newMemberAgent(auth, principal, swarmId, join);
        }
        Instant now = clock.instant();
        // The member is its agent's owner's, whoever joined it (an admin may join anyone's agent):
        // that user sees it, may take it out, and its agents take the swarm's work.
        String owner = registry.ownerOf(agent).orElse(principal.name());
        ObjectNode member = RequestBody.MAPPER.createObjectNode().put("swarm_id", swarmId)
                .put("member_id", agent.value()).put("role", join.role()).put("capability", join.capability())
                .put("region", join.region().orElse(null)).put("priority", priority).put("status", "active")
                .put("joined_at", now.toString()).put("owner_id", owner);
        index(member);
        return member;
    }

    /**
     * Registers an agent of its own for a member joined without one. Ids are predictable, so one
     * another user registered first, or a user's name, is passed over, never taken.
     */
    private AgentId newMemberAgent(Auth auth, Auth.Principal principal, String swarmId, Join join) {
        while (true) {
            AgentId agent = AgentId.of(ids.next("member"));
            AgentProfile profile = new AgentProfile(agent, "member of " + swarmId, join.role(),
                    Set.of(join.capability()), 1, Map.of(), principal.name());
            if (!bus.hasInbox(agent) && !auth.anotherUsersName(principal.name(), agent)
                    && auth.claimAgentId(principal.name(), agent, () -> registry.registerNew(profile))) {
                bus.createInbox(agent);
                return agent;
            }
        }
    }

    ObjectNode leave(Auth.Principal principal, String swarmId, Optional<String> memberId) {
        long write;
        ObjectNode left;
        synchronized (this) {
            Map<String, ObjectNode> swarm = swarms.getOrDefault(swarmId, Map.of());
            ObjectNode member = (memberId.isPresent() ? Optional.ofNullable(swarm.get(memberId.get())).stream()
                    : swarm.values().stream()).filter(m -> visible(m, principal)).findFirst()
                    .orElseThrow(() -> new SwarmbusException(ErrorCode.NOT_FOUND, "Swarm member not found"));
            left = member.deepCopy().put("status", "left").put("left_at", clock.instant().toString());
            write = leaveLater(member, left);
        }
        table.awaitDurable(write);
        return left;
    }

    /** A deleted agent leaves every swarm it is an active member of, as {@link #leave} would have it leave one. */
    void removeAgent(AgentId agent) {
        long write = -1;
        synchronized (this) {
            for (Map<String, ObjectNode> swarm : List.copyOf(swarms.values())) {
                ObjectNode member = swarm.get(agent.value());
                if (member != null) {
                    write = leaveLater(member);
                }
            }
        }
        if (write >= 0) {
            table.awaitDurable(write);
        }
    }

    private long leaveLater(ObjectNode member) {
        return leaveLater(member, member.deepCopy().put("status", "left").put("left_at", clock.instant().toString()));
    }

    /** Stores {@code left} for the active {@code member} and drops it from the indexes; the write's sequence number. */
    private long leaveLater(ObjectNode member, ObjectNode left) {
        String swarmId = member.get("swarm_id").asText();
        long write = table.putLater(key(left), JsonRows.bytes(left));
        Map<String, ObjectNode> swarm = swarms.get(swarmId);
        swarm.remove(member.get("member_id").asText());
        if (swarm.isEmpty()) {
            swarms.remove(swarmId);
        }
        Map<String, Integer> owned = membersByOwner.get(member.get("owner_id").asText());
        if (owned.merge(swarmId, -1, Integer::sum) == 0) {
            owned.remove(swarmId);
        }
        return write;
    }

    /** The caller's active members of {@code swarmId}, in the order they joined. */
    synchronized List<ObjectNode> active(String swarmId, Auth.Principal principal) {
        return swarms.getOrDefault(swarmId, Map.of()).values().stream().filter(m -> visible(m, principal)).toList();
    }

    /** The caller's swarms with active members, by swarm id, each with its members in the order they joined. */
    synchronized Map<String, List<ObjectNode>> swarms(Auth.Principal principal) {
        Map<String, List<ObjectNode>> mine = new java.util.TreeMap<>();
        Set<String> ids = principal.admin() ? swarms.keySet()
                : membersByOwner.getOrDefault(principal.name(), Map.of()).keySet();
        for (String id : ids) {
            List<ObjectNode> visible = active(id, principal);
            if (!visible.isEmpty()) {
                mine.put(id, visible);
            }
        }
        return mine;
    }

    private boolean hasMembers(String swarmId, Auth.Principal principal) {
        return principal.admin() ? swarms.containsKey(swarmId)
                : membersByOwner.getOrDefault(principal.name(), Map.of()).containsKey(swarmId);
    }

    private static boolean visible(ObjectNode member, Auth.Principal principal) {
        return principal.admin() || member.get("owner_id").asText().equals(principal.name());
    }

    private void index(ObjectNode member) {
        String swarmId = member.get("swarm_id").asText();
        swarms.computeIfAbsent(swarmId, id -> new java.util.LinkedHashMap<>()).put(member.get("member_id").asText(), member);
        membersByOwner.computeIfAbsent(member.get("owner_id").asText(), owner -> new java.util.HashMap<>())
                .merge(swarmId, 1, Integer::sum);
    }

    private static String key(ObjectNode member) {
        return member.get("swarm_id").asText() + "/" + member.get("member_id").asText();
    }

    @Override
    public void close() {
        table.close();
    }
}
