package io.swarmbus.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.http.Context;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.tasks.TaskCoordinator;
import java.time.Clock;
import java.util.List;
import java.util.Set;

/**
 * Agent networks over HTTP, at seed 003's paths ({@code /api/v1/agents/networks…}): create, list,
 * execute (202, or the finished execution with {@code ?wait_seconds=N}), executions, status and
 * optimize. Owner-scoped: a user sees and uses only networks of their own agents.
 */
final class NetworkRoutes {
    private static final int MAX_WAIT_SECONDS = 300;
    /** The seed's free-form priority ("normal" by default), kept to a short word. */
    private static final java.util.regex.Pattern PRIORITY = java.util.regex.Pattern.compile("[A-Za-z0-9_-]{1,32}");

    private final Networks networks;
    private final TaskCoordinator tasks;
    private final Clock clock;

    NetworkRoutes(Networks networks, TaskCoordinator tasks, Clock clock) {
        this.networks = networks;
        this.tasks = tasks;
        this.clock = clock;
    }

    /** {@code POST /api/v1/agents/networks}: {@code name}, {@code agents}, optional {@code description}, {@code coordination_strategy}. */
    void create(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        RequestBody body = RequestBody.parse(Http.body(ctx));
        String name = Networks.requireName(body.text("name"));
        ObjectNode network = networks.create(principal.name(), principal.admin(), name,
                body.optionalText("description").orElse(null), body.strings("agents"),
                body.optionalText("coordination_strategy").orElse(Networks.ROUND_ROBIN));
        Http.json(ctx, 201, network);
    }

    void list(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        List<ObjectNode> list = networks.list(principal.name(), principal.admin());
        Http.json(ctx, 200, java.util.Map.of("networks", list, "total_count", list.size()));
    }

    void get(Context ctx) {
        Http.json(ctx, 200, network(ctx));
    }

    /** {@code POST …/{id}/execute}: {@code task} (an object), optional {@code priority}. */
    void execute(Context ctx) throws InterruptedException {
        ObjectNode network = network(ctx);
        RequestBody body = RequestBody.parse(Http.body(ctx));
        int waitSeconds = Networks.waitSeconds(ctx.queryParam("wait_seconds"), MAX_WAIT_SECONDS); // refused before anything starts
        String priority = body.optionalText("priority").orElse("normal");
        if (!PRIORITY.matcher(priority).matches()) { // kept with the execution and shown in every view of it
            throw SwarmbusException.invalid("priority", "priority must be a word of 1 to 32 letters, digits, - or _"
                    + " (such as low, normal, high)");
        }
        ObjectNode execution = networks.execute(network, body.node("task"), priority);
        ObjectNode now = networks.awaitFinished(execution, waitSeconds);
        Http.json(ctx, Networks.running(now) ? 202 : 200, now);
    }

    void executions(Context ctx) {
        ObjectNode network = network(ctx);
        List<ObjectNode> list = networks.executionsOf(network.get("id").asText());
        Http.json(ctx, 200, java.util.Map.of("executions", list, "total_count", list.size()));
    }

    void execution(Context ctx) {
        ObjectNode network = network(ctx);
        String id = ctx.pathParam("execution_id");
        ObjectNode execution = networks.execution(id)
                .filter(e -> e.path("network_id").asText().equals(network.get("id").asText()))
                .orElseThrow(() -> new SwarmbusException(ErrorCode.NOT_FOUND, "execution " + id + " not found"));
        Http.json(ctx, 200, execution);
    }

    void status(Context ctx) {
        ObjectNode network = network(ctx);
        Http.json(ctx, 200, NetworkInsights.status(network, networks.executionsOf(network.get("id").asText()),
                networks.agents(network), swarmTasks(network, false), clock.instant()));
    }

    void optimize(Context ctx) {
        ObjectNode network = network(ctx);
        Http.json(ctx, 200, NetworkInsights.optimize(network, networks.executionsOf(network.get("id").asText()),
                networks.agents(network), swarmTasks(network, true), clock.instant()));
    }

    /** Swarm tasks that only this network's agents may take: running ones, or waiting ones. */
    private int swarmTasks(ObjectNode network, boolean waiting) {
        Set<String> agents = new java.util.HashSet<>();
        network.get("agents").forEach(a -> agents.add(a.asText()));
        java.util.function.Predicate<io.swarmbus.tasks.Task> ours = t -> t.spec().type().startsWith("swarm.")
                && !t.spec().candidates().isEmpty()
                && t.spec().candidates().stream().allMatch(c -> agents.contains(c.value()));
        return waiting ? tasks.countPending(ours) : tasks.countRunning(ours);
    }

    private ObjectNode network(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        return networks.require(ctx.pathParam("id"), principal.name(), principal.admin());
    }
}
