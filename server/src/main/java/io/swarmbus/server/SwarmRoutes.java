package io.swarmbus.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.http.Context;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.tasks.TaskCoordinator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Swarm membership over HTTP at seed 003's paths, under {@code /swarm} and {@code /v1/swarm}:
 * join (201), leave, list and status. Owner-scoped: a user sees only swarms of their own members.
 */
final class SwarmRoutes {
    private final Swarms swarms;
    private final Auth auth;
    private final TaskCoordinator tasks;

    SwarmRoutes(Swarms swarms, Auth auth, TaskCoordinator tasks) {
        this.swarms = swarms;
        this.auth = auth;
        this.tasks = tasks;
    }

    /** {@code POST /swarm/join}: {@code role}, {@code capability}, optional {@code region}, {@code priority}, {@code swarm_id}, {@code agent_id}. */
    void join(Context ctx) {
        RequestBody body = RequestBody.parse(ctx.bodyAsBytes());
        ObjectNode member = swarms.join(auth, Auth.principal(ctx), new Swarms.Join(body.text("role"),
                body.text("capability"), body.optionalText("region"), body.optionalText("priority").orElse("normal"),
                body.optionalText("swarm_id"), body.optionalText("agent_id")));
        ObjectNode view = RequestBody.MAPPER.createObjectNode().put("swarm_id", member.get("swarm_id").asText())
                .put("member_id", member.get("member_id").asText()).put("role", member.get("role").asText())
                .put("status", "active").put("joined_at", member.get("joined_at").asText());
        Http.json(ctx, 201, view);
    }

    /** {@code POST /swarm/leave}: {@code swarm_id}, optional {@code member_id} (else any one of yours). */
    void leave(Context ctx) {
        RequestBody body = RequestBody.parse(ctx.bodyAsBytes());
        ObjectNode left = swarms.leave(Auth.principal(ctx), body.text("swarm_id"), body.optionalText("member_id"));
        Http.json(ctx, 200, RequestBody.MAPPER.createObjectNode().put("swarm_id", left.get("swarm_id").asText())
                .put("member_id", left.get("member_id").asText()).put("left_at", left.get("left_at").asText())
                .put("status", "left"));
    }

    /** {@code GET /swarm/list}: your swarms with active members. */
    void list(Context ctx) {
        ArrayNode list = RequestBody.MAPPER.createArrayNode();
        swarms.swarms(Auth.principal(ctx)).forEach((id, members) -> {
            ObjectNode swarm = list.addObject().put("swarm_id", id)
                    .put("created_at", members.getFirst().get("joined_at").asText())
                    .put("coordination_status", activeTasks(members) > 0 ? "coordinating" : "idle");
            ArrayNode view = swarm.putArray("members");
            members.forEach(m -> view.addObject().put("member_id", m.get("member_id").asText())
                    .put("role", m.get("role").asText()).put("capability", m.get("capability").asText())
                    .put("region", m.path("region").asText(null)).put("priority", m.get("priority").asText()));
        });
        Http.json(ctx, 200, Map.of("swarms", list, "total_count", list.size()));
    }

    /** {@code GET /swarm/status}: each of your swarms (or {@code ?swarm_id=}), with members, tasks and member states. */
    void status(Context ctx) {
        String only = ctx.queryParam("swarm_id");
        Map<String, List<ObjectNode>> all = swarms.swarms(Auth.principal(ctx));
        if (only != null && !all.containsKey(only)) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "swarm " + only + " not found");
        }
        ArrayNode list = RequestBody.MAPPER.createArrayNode();
        all.forEach((id, members) -> {
            if (only != null && !only.equals(id)) {
                return;
            }
            int active = activeTasks(members);
            ObjectNode status = list.addObject().put("swarm_id", id).put("member_count", members.size())
                    .put("active_tasks", active).put("coordination_status", active > 0 ? "coordinating" : "idle");
            ObjectNode roles = status.putObject("roles");
            members.forEach(m -> roles.put(m.get("role").asText(), roles.path(m.get("role").asText()).asInt(0) + 1));
        });
        Http.json(ctx, 200, list);
    }

    /** Swarm tasks running on these members. */
    private int activeTasks(List<ObjectNode> members) {
        Set<AgentId> ids = new HashSet<>();
        members.forEach(m -> ids.add(AgentId.of(m.get("member_id").asText())));
        return tasks.list(t -> t.status().isRunning() && t.spec().type().startsWith("swarm.")
                && t.assignee().map(ids::contains).orElse(false), Integer.MAX_VALUE).size();
    }
}
