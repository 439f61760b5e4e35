package io.swarmbus.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.http.Context;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.tasks.TaskCoordinator;
import java.time.Clock;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Swarm membership over HTTP at seed 003's paths, under {@code /swarm} and {@code /v1/swarm}:
 * join (201), leave, list, status, coordinate (a strategy over the swarm's active members, run as
 * a network execution is) and consensus (over a coordination's per-member answers). Owner-scoped:
 * a user sees only swarms of their own members.
 */
final class SwarmRoutes {
    private static final int MAX_WAIT_SECONDS = 3_600;

    private final Swarms swarms;
    private final Networks runs;
    private final Auth auth;
    private final TaskCoordinator tasks;
    private final Clock clock;

    SwarmRoutes(Swarms swarms, Networks runs, Auth auth, TaskCoordinator tasks, Clock clock) {
        this.swarms = swarms;
        this.runs = runs;
        this.auth = auth;
        this.tasks = tasks;
        this.clock = clock;
    }

    /** {@code POST /swarm/join}: {@code role}, {@code capability}, optional {@code region}, {@code priority}, {@code swarm_id}, {@code agent_id}. */
    void join(Context ctx) {
        RequestBody body = RequestBody.parse(Http.body(ctx));
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
        RequestBody body = RequestBody.parse(Http.body(ctx));
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

    /**
     * {@code GET /swarm/status}: each of your swarms (or {@code ?swarm_id=}), with members, tasks,
     * member states and {@code performance_metrics} measured over its finished coordinations.
     */
    void status(Context ctx) {
        String only = ctx.queryParam("swarm_id");
        Map<String, List<ObjectNode>> all = swarms.swarms(Auth.principal(ctx));
        if (only != null && !all.containsKey(only)) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "swarm " + only + " not found");
        }
        Map<String, List<ObjectNode>> coordinations = coordinationsBySwarm();
        ArrayNode list = RequestBody.MAPPER.createArrayNode();
        all.forEach((id, members) -> {
            if (only != null && !only.equals(id)) {
                return;
            }
            // One pass over the members: with a thousand of them, their JSON lookups are the cost.
            Set<String> ids = new HashSet<>();
            Map<String, Integer> roles = new java.util.LinkedHashMap<>();
            for (ObjectNode member : members) {
                ids.add(member.get("member_id").asText());
                roles.merge(member.get("role").asText(), 1, Integer::sum);
            }
            int active = activeTasks(ids);
            ObjectNode status = list.addObject().put("swarm_id", id).put("member_count", members.size())
                    .put("active_tasks", active).put("coordination_status", active > 0 ? "coordinating" : "idle");
            ObjectNode roleCounts = status.putObject("roles");
            roles.forEach(roleCounts::put);
            // Seed 003's status has performance_metrics; measured, as a network's are, never made up.
            status.set("performance_metrics", NetworkInsights.metrics(coordinations.getOrDefault(id, List.of()),
                    clock.instant()));
        });
        Http.json(ctx, 200, list);
    }

    /** Every coordination kept, by swarm id: one pass, however many swarms the answer lists. */
    private Map<String, List<ObjectNode>> coordinationsBySwarm() {
        Map<String, List<ObjectNode>> bySwarm = new java.util.HashMap<>();
        runs.executionsWhere(e -> e.has("swarm_id")).forEach(e -> bySwarm
                .computeIfAbsent(e.get("swarm_id").asText(), k -> new java.util.ArrayList<>()).add(e));
        return bySwarm;
    }

    /** Swarm tasks running on these members. */
    private int activeTasks(List<ObjectNode> members) {
        Set<String> ids = new HashSet<>();
        members.forEach(m -> ids.add(m.get("member_id").asText()));
        return activeTasks(ids);
    }

    /** Swarm tasks running on the members with these ids (checked when they joined, so plain strings). */
    private int activeTasks(Set<String> memberIds) {
        return tasks.countRunning(t -> t.spec().type().startsWith("swarm.")
                && t.assignee().map(a -> memberIds.contains(a.value())).orElse(false));
    }

    /**
     * {@code POST /swarm/coordinate}: {@code task_id} (your name for the coordination, or the id of
     * one of your tasks whose description and parameters become the objective), optional
     * {@code strategy} (default {@code map-reduce}), {@code parameters} (as a network task:
     * {@code objective}, {@code input}, {@code rounds}, …), {@code swarm_id} (needed when you have
     * several). Answers with the coordination, finished if it ends within {@code ?wait_seconds}.
     */
    void coordinate(Context ctx) throws InterruptedException {
        Auth.Principal principal = Auth.principal(ctx);
        RequestBody body = RequestBody.parse(Http.body(ctx));
        int waitSeconds = Networks.waitSeconds(ctx.queryParam("wait_seconds"), MAX_WAIT_SECONDS); // refused before anything starts
        String taskId = body.text("task_id");
        if (taskId.isBlank() || taskId.length() > 200) {
            throw SwarmbusException.invalid("task_id", "task_id must be 1 to 200 characters");
        }
        String swarmId = body.optionalText("swarm_id").orElseGet(() -> onlySwarm(principal));
        List<ObjectNode> members = swarms.active(swarmId, principal);
        if (members.isEmpty()) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "No active swarm members found");
        }
        // The work is the members' owner's tasks, which only that owner's agents take: an admin's own would wait forever.
        // The owner is the agents' own, not who joined them (an admin may join a user's agent).
        Set<String> owners = new HashSet<>();
        members.forEach(m -> owners.add(auth.sender(AgentId.of(m.get("member_id").asText())).name()));
        if (owners.size() > 1) {
            throw SwarmbusException.invalid("swarm_id", "swarm " + swarmId + " has members of " + owners.size()
                    + " users; a coordination runs over one user's agents");
        }
        String owner = owners.iterator().next();
        io.swarmbus.swarm.Strategy strategy = io.swarmbus.swarm.Strategy.parse(
                body.optionalText("strategy").orElse("map-reduce"));
        ObjectNode parameters = parameters(principal, body, taskId);
        List<String> ids = members.stream().map(m -> m.get("member_id").asText()).toList();
        ObjectNode execution = RequestBody.MAPPER.createObjectNode().put("execution_id", runs.newExecutionId("coord"))
                .put("task_id", taskId).put("swarm_id", swarmId).put("owner_id", owner)
                .put("coordination_strategy", strategy.wireName());
        execution.set("assigned_members", RequestBody.MAPPER.valueToTree(ids));
        execution.set("task", parameters);
        runs.start(execution, ids, strategy, parameters, owner, () -> { });
        ObjectNode now = runs.awaitFinished(execution, waitSeconds);
        Http.json(ctx, Networks.running(now) ? 202 : 200, coordinationView(now));
    }

    /**
     * {@code POST /swarm/consensus}: {@code task_id} of your coordination, optional
     * {@code consensus_algorithm} (default {@code majority-vote}), {@code timeout_seconds} (how long
     * to wait for the coordination to finish, default 300), {@code quorum}, {@code weights}.
     * Coordinate's {@code ?wait_seconds} is refused here rather than ignored.
     */
    void consensus(Context ctx) throws InterruptedException {
        Auth.Principal principal = Auth.principal(ctx);
        if (ctx.queryParam("wait_seconds") != null) {
            throw SwarmbusException.invalid("wait_seconds", "consensus takes no ?wait_seconds: it waits for the "
                    + "coordination as long as the body's timeout_seconds says (default 300)");
        }
        RequestBody body = RequestBody.parse(Http.body(ctx));
        String taskId = body.text("task_id");
        io.swarmbus.swarm.ConsensusAlgorithm algorithm = io.swarmbus.swarm.ConsensusAlgorithm.parse(
                body.optionalText("consensus_algorithm").orElse("majority-vote"));
        double quorum = body.number("quorum").orElse(io.swarmbus.swarm.Consensus.DEFAULT_QUORUM);
        int timeout = body.integer("timeout_seconds").orElse(300);
        if (timeout < 0 || timeout > MAX_WAIT_SECONDS) {
            throw SwarmbusException.invalid("timeout_seconds", "timeout_seconds must be 0 to " + MAX_WAIT_SECONDS);
        }
        Map<String, Double> weights = body.numberMap("weights"); // checked before waiting for the coordination
        ObjectNode coordination = runs.awaitFinished(latestCoordination(principal, taskId), timeout);
        if (Networks.running(coordination)) {
            throw new SwarmbusException(ErrorCode.UNAVAILABLE, "coordination " + taskId + " is still running after "
                    + timeout + " s");
        }
        List<io.swarmbus.swarm.Consensus.Vote> votes = new java.util.ArrayList<>();
        memberAnswers(coordination).forEach((member, answer) -> votes.add(new io.swarmbus.swarm.Consensus.Vote(member,
                answer, weights.getOrDefault(member, 1.0))));
        int members = coordination.get("assigned_members").size();
        io.swarmbus.swarm.Consensus consensus = io.swarmbus.swarm.Consensus.decide(algorithm, votes, members, quorum);
        ObjectNode view = RequestBody.MAPPER.createObjectNode().put("task_id", taskId)
                .put("swarm_id", coordination.get("swarm_id").asText()).put("consensus_algorithm", algorithm.wireName());
        ObjectNode result = view.putObject("result");
        result.put("final_answer", consensus.answer().orElse(null));
        ObjectNode tally = result.putObject("votes");
        consensus.tally().forEach(tally::put);
        view.put("confidence_score", consensus.confidence()).put("consensus_reached", consensus.reached());
        ArrayNode participating = view.putArray("participating_members");
        votes.forEach(v -> participating.add(v.member()));
        view.set("member_votes", io.swarmbus.swarm.SwarmRunner.consensusJson(consensus).get("votes"));
        view.put("consensus_reached_at", java.time.Instant.now().toString());
        Http.json(ctx, 200, view);
    }

    /** Each member's final answer: the strategy's per-member answers, else each agent's last answered step. */
    private static Map<String, String> memberAnswers(ObjectNode coordination) {
        Map<String, String> answers = new java.util.LinkedHashMap<>();
        com.fasterxml.jackson.databind.JsonNode perMember = coordination.path("results").path("answers");
        if (perMember.isArray() && !perMember.isEmpty()) {
            perMember.forEach(a -> answers.put(a.get("member").asText(), text(a.get("answer"))));
            return answers;
        }
        coordination.path("steps").forEach(step -> {
            if (step.has("answer") && step.path("agent").isTextual()) {
                answers.put(step.get("agent").asText(), text(step.get("answer")));
            }
        });
        return answers;
    }

    private static String text(com.fasterxml.jackson.databind.JsonNode answer) {
        return answer.isTextual() ? answer.asText() : answer.toString();
    }

    private ObjectNode latestCoordination(Auth.Principal principal, String taskId) {
        List<ObjectNode> found = runs.executionsWhere(e -> e.path("task_id").asText().equals(taskId)
                && e.has("swarm_id") && (principal.admin() || e.path("owner_id").asText().equals(principal.name())));
        if (found.isEmpty()) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "Task " + taskId + " not found");
        }
        return found.getLast();
    }

    /** The coordination's parameters; without an objective, those of your task {@code taskId}. */
    private ObjectNode parameters(Auth.Principal principal, RequestBody body, String taskId) {
        com.fasterxml.jackson.databind.JsonNode given = body.has("parameters") ? body.node("parameters")
                : RequestBody.MAPPER.createObjectNode();
        if (!given.isObject()) {
            throw SwarmbusException.invalid("parameters", "parameters must be a JSON object");
        }
        ObjectNode parameters = ((ObjectNode) given).deepCopy();
        RequestBody fields = RequestBody.of(parameters); // an objective of 5 is refused, not taken as missing
        boolean hasObjective = List.of("objective", "description", "prompt").stream()
                .anyMatch(f -> fields.optionalText(f).filter(text -> !text.isBlank()).isPresent());
        if (!hasObjective) {
            io.swarmbus.tasks.Task task = tasks.get(taskId)
                    .filter(t -> principal.admin() || t.spec().owner().equals(principal.name()))
                    .orElseThrow(() -> SwarmbusException.invalid("parameters", "parameters.objective is required "
                            + "unless task_id names one of your tasks"));
            parameters.put("objective", task.spec().description().isBlank() ? task.spec().type()
                    : task.spec().description());
            try {
                parameters.set("input", RequestBody.MAPPER.readTree(task.spec().parameters()));
            } catch (java.io.IOException e) {
                parameters.put("input", task.spec().parameters());
            }
        }
        return parameters;
    }

    private String onlySwarm(Auth.Principal principal) {
        Set<String> ids = swarms.swarms(principal).keySet();
        if (ids.isEmpty()) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "No active swarm members found");
        }
        if (ids.size() > 1) {
            throw SwarmbusException.invalid("swarm_id", "swarm_id is required: you have " + ids.size() + " swarms");
        }
        return ids.iterator().next();
    }

    private static ObjectNode coordinationView(ObjectNode execution) {
        ObjectNode view = execution.deepCopy();
        view.remove("owner_id");
        if (Networks.running(execution)) {
            view.put("status", "coordinating");
        }
        return view;
    }
}
