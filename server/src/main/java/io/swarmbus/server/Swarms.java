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
import java.util.LinkedHashMap;
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
final class Swarms {
    static final List<String> ROLES = List.of("load-balancer", "resource-optimizer", "task-coordinator", "monitor");
    /** The seed's default is "normal"; "medium" is the bus's name for the same. */
    static final List<String> PRIORITIES = List.of("low", "normal", "medium", "high", "critical");

    private final DurableTable table;
    private final Registry registry;
    private final MessageBus bus;
    private final Clock clock;
    private final Map<String, ObjectNode> members = new ConcurrentHashMap<>();
    private final SortableIds ids;

    Swarms(DurableTable table, Registry registry, MessageBus bus, Clock clock) {
        this.table = table;
        this.registry = registry;
        this.bus = bus;
        this.clock = clock;
        this.ids = new SortableIds(clock);
        table.rows().forEach((id, bytes) -> members.put(id, JsonRows.read(bytes)));
    }

    /** What a member asked to join with. */
    record Join(String role, String capability, Optional<String> region, String priority, Optional<String> swarmId,
            Optional<String> agentId) {}

    synchronized ObjectNode join(Auth auth, Auth.Principal principal, Join join) {
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
        if (join.swarmId().isPresent() && active(swarmId, principal).isEmpty()) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "swarm " + swarmId + " not found");
        }
        AgentId agent;
        if (join.agentId().isPresent()) {
            agent = AgentId.of(join.agentId().get());
            auth.requireOwner(principal, agent);
            if (active(swarmId, principal).stream().anyMatch(m -> m.get("member_id").asText().equals(agent.value()))) {
                throw new SwarmbusException(ErrorCode.ALREADY_EXISTS, "agent " + agent + " is already a member of "
                        + swarmId);
            }
        } else {
            agent = AgentId.of(ids.next("member"));
            registry.register(new AgentProfile(agent, "member of " + swarmId, join.role(), Set.of(join.capability()), 1,
                    Map.of(), principal.name()));
            bus.createInbox(agent);
        }
        Instant now = clock.instant();
        ObjectNode member = RequestBody.MAPPER.createObjectNode().put("swarm_id", swarmId)
                .put("member_id", agent.value()).put("role", join.role()).put("capability", join.capability())
                .put("region", join.region().orElse(null)).put("priority", priority).put("status", "active")
                .put("joined_at", now.toString()).put("owner_id", principal.name());
        store(swarmId + "/" + agent.value(), member);
        return member;
    }

    synchronized ObjectNode leave(Auth.Principal principal, String swarmId, Optional<String> memberId) {
        ObjectNode member = active(swarmId, principal).stream()
                .filter(m -> memberId.map(id -> m.get("member_id").asText().equals(id)).orElse(true)).findFirst()
                .orElseThrow(() -> new SwarmbusException(ErrorCode.NOT_FOUND, "Swarm member not found"));
        ObjectNode left = member.deepCopy().put("status", "left").put("left_at", clock.instant().toString());
        store(swarmId + "/" + member.get("member_id").asText(), left);
        return left;
    }

    /** The caller's active members of {@code swarmId}, in the order they joined. */
    List<ObjectNode> active(String swarmId, Auth.Principal principal) {
        return members.values().stream().filter(m -> m.get("swarm_id").asText().equals(swarmId))
                .filter(m -> m.get("status").asText().equals("active"))
                .filter(m -> principal.admin() || m.get("owner_id").asText().equals(principal.name()))
                .sorted(Comparator.comparing((ObjectNode m) -> m.get("joined_at").asText())
                        .thenComparing(m -> m.get("member_id").asText()))
                .toList();
    }

    /** The caller's swarms with active members, by swarm id, each with its members in the order they joined. */
    Map<String, List<ObjectNode>> swarms(Auth.Principal principal) {
        Map<String, List<ObjectNode>> swarms = new LinkedHashMap<>();
        members.values().stream().filter(m -> m.get("status").asText().equals("active"))
                .filter(m -> principal.admin() || m.get("owner_id").asText().equals(principal.name()))
                .map(m -> m.get("swarm_id").asText()).distinct().sorted()
                .forEach(id -> swarms.put(id, active(id, principal)));
        return swarms;
    }

    private void store(String key, ObjectNode member) {
        table.put(key, JsonRows.bytes(member));
        members.put(key, member);
    }


}
