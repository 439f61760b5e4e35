package io.swarmbus.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.http.Context;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.llm.CallBody;
import io.swarmbus.llm.LlmGateway;
import io.swarmbus.llm.OpenAiWire;
import io.swarmbus.llm.UsageLedger;
import io.swarmbus.llm.route.Backend;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.Priority;
import io.swarmbus.registry.Registry;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * What the LLM gateway's routes need of a request: a call's {@link #request} for the
 * OpenAI-compatible routes ({@link GatewayHandler} answers those), and the gateway's state
 * ({@code /api/v1/llm/backends}, {@code /api/v1/llm/usage}). Calls are attributed to the
 * agent named in {@code X-Swarmbus-Agent} (which the caller must own), else to the caller.
 * {@code X-Swarmbus-Priority} (0–3 or low/medium/high/critical) orders the admission queue;
 * {@code X-Swarmbus-Timeout-Ms} bounds the wait in it; {@code X-Swarmbus-Task} names the task the
 * call is made for, one the caller may see, so its tokens and cost are accounted to it too.
 *
 * <p>An agent's usage is kept per registration of its id ({@link #registration}): its owner sees
 * what it used in its current registration only, as with its messages ({@link Auth#ownedAt}).
 */
final class LlmRoutes {
    static final String AGENT_HEADER = "X-Swarmbus-Agent";
    static final String PRIORITY_HEADER = "X-Swarmbus-Priority";
    static final String TIMEOUT_HEADER = "X-Swarmbus-Timeout-Ms";
    static final String TASK_HEADER = "X-Swarmbus-Task";

    private final LlmGateway gateway;
    private final Auth auth;
    private final Registry registry;
    private final TaskRoutes tasks;

    LlmRoutes(LlmGateway gateway, Auth auth, Registry registry, TaskRoutes tasks) {
        this.gateway = gateway;
        this.auth = auth;
        this.registry = registry;
        this.tasks = tasks;
    }

    LlmGateway gateway() {
        return gateway;
    }

    /**
     * The registration of {@code agent} a call is made in, as the gateway keeps usage and limits
     * ({@link LlmGateway.Request#registration}): its owner and since when; for an id no one has
     * registered, {@code caller} alone (user names are agent ids, so the two cannot meet).
     */
    static String registration(Registry registry, AgentId agent, String caller) {
        return registry.ownership(agent).map(o -> o.owner() + " since " + o.since().toEpochMilli()).orElse(caller);
    }

    /**
     * Fails with 404 unless {@code principal} may see task {@code id}: an LLM call may be accounted
     * only to such a task, so no one can add to another user's task's cost, or to a task that does
     * not exist. Another user's task is a 404, as on the task routes and for an agent in
     * {@link #AGENT_HEADER}.
     *
     * @param header the header or message header that named the task
     */
    static void requireTask(TaskRoutes tasks, Auth.Principal principal, String id, String header) {
        if (!tasks.maySee(principal, id)) {
            throw SwarmbusException.of(ErrorCode.NOT_FOUND, header, header + " names task '" + id
                    + "', which does not exist");
        }
    }

    /** The OpenAI-shaped answer to a call the gateway refused. */
    static ObjectNode refusal(LlmGateway.Refused refused) {
        return OpenAiWire.error(refused.getMessage(), refused.type(), refused.code());
    }

    /**
     * A call's request: its body, and from the headers the agent it is made for, its priority,
     * how long it may wait for a backend, and its task.
     *
     * @param body the body as received; the gateway may send it on as it is
     * @param header a request header's value by name, or null
     */
    LlmGateway.Request request(Auth.Principal principal, byte[] body, UnaryOperator<String> header, String path) {
        CallBody json;
        try {
            json = CallBody.parse(body);
        } catch (CallBody.Invalid e) {
            throw SwarmbusException.invalid(e.field(), e.getMessage());
        }
        if (json.model().isEmpty()) { // refused here, not by the gateway, to name the field as a wrong type does
            throw SwarmbusException.invalid("model", "'model' is required");
        }
        String agent = principal.name();
        String named = header.apply(AGENT_HEADER);
        if (named != null) {
            AgentId id = RequestBody.fromHeader(AGENT_HEADER, () -> AgentId.of(named)); // not "agent_id"
            auth.requireOwner(principal, id);
            agent = id.value();
        } else if (auth.ownedByAnother(principal, AgentId.of(agent))) {
            // Counted for that agent, the call would show in its owner's usage and limits.
            throw SwarmbusException.invalid(AGENT_HEADER, "the agent named like you, '" + agent + "', is another "
                    + "user's: name one of your agents in " + AGENT_HEADER);
        }
        String priorityName = header.apply(PRIORITY_HEADER);
        int priority = priorityName == null ? Priority.MEDIUM.ordinal() // not "priority", a field this request lacks
                : RequestBody.fromHeader(PRIORITY_HEADER, () -> Priority.parse(priorityName)).ordinal();
        long waitNanos = gateway.settings().queueTimeout().toNanos();
        String timeout = header.apply(TIMEOUT_HEADER);
        if (timeout != null) {
            long millis;
            try {
                millis = Long.parseLong(timeout.trim());
            } catch (NumberFormatException e) {
                millis = -1; // said below
            }
            if (millis < 0) {
                throw SwarmbusException.invalid(TIMEOUT_HEADER, TIMEOUT_HEADER + " must be whole milliseconds, 0 or more");
            }
            // toNanos stops at Long.MAX_VALUE, where multiplying would wrap round to a wait already over.
            waitNanos = Math.min(waitNanos, java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(Math.max(1, millis)));
        }
        String task = header.apply(TASK_HEADER);
        if (task != null && (task.isBlank() || task.length() > 200)) {
            throw SwarmbusException.invalid(TASK_HEADER, TASK_HEADER + " must be a task id of 1 to 200 characters");
        }
        if (task != null) {
            requireTask(tasks, principal, task, TASK_HEADER);
        }
        return new LlmGateway.Request(path, json, agent, registration(registry, AgentId.of(agent), principal.name()),
                task, principal.name(), priority, System.nanoTime() + waitNanos,
                io.swarmbus.messaging.Traceparent.parse(header.apply("traceparent")).orElse(null));
    }

    /** {@code GET /api/v1/llm/backends}: health, load, latency, tokens and errors of each backend. */
    void backends(Context ctx) {
        long now = System.nanoTime();
        List<Map<String, Object>> list = new ArrayList<>();
        for (Backend b : gateway.backends()) {
            Map<String, Object> view = new LinkedHashMap<>();
            view.put("name", b.name());
            view.put("url", b.spec().url().toString());
            view.put("models", b.models().stream().sorted().toList());
            view.put("healthy", b.healthy(now));
            view.put("ejected_for_ms", b.ejectedFor(now) / 1_000_000);
            view.put("in_flight", b.inFlight());
            view.put("max_concurrency", b.spec().maxConcurrency());
            view.put("ewma_latency_ms", b.ewmaNanos(now) / 1e6);
            view.put("requests", b.requests());
            view.put("errors", b.failures());
            view.put("prompt_tokens", b.promptTokens());
            view.put("completion_tokens", b.completionTokens());
            view.put("requests_last_minute", b.recentRequests(now));
            view.put("tokens_last_minute", b.recentTokens(now));
            list.add(view);
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("strategy", gateway.settings().strategy());
        body.put("queued", gateway.queued());
        body.put("backends", list);
        Http.json(ctx, 200, body);
    }

    /**
     * {@code GET /api/v1/llm/usage}: tokens and cost per agent, task, key, backend and model, and for
     * agents and keys today's use against their limits. Admins see everything; others see their
     * own key and the agents they own, each with what it used in its current registration only.
     */
    void usage(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        Map<String, Object> body = new LinkedHashMap<>();
        for (String kind : UsageLedger.KINDS) {
            if (!principal.admin() && (kind.equals("backend") || kind.equals("model") || kind.equals("task"))) {
                continue;
            }
            Map<String, Object> entries = new LinkedHashMap<>();
            gateway.usage().of(kind).forEach((name, total) -> {
                if (!principal.admin() && !visible(principal, kind, name)) {
                    return;
                }
                UsageLedger.Usage usage = total;
                String registration = null;
                if (kind.equals("agent") && !principal.admin()) {
                    // An earlier registration of the id was another agent, maybe another user's.
                    registration = registration(registry, AgentId.of(name), principal.name());
                    usage = gateway.usage().ofRegistration(name, registration).orElse(null);
                    if (usage == null) {
                        return;
                    }
                }
                Map<String, Object> view = view(usage);
                if (kind.equals("agent") || kind.equals("key")) {
                    view.putAll(gateway.quotas().today(kind, name, registration));
                }
                entries.put(name, view);
            });
            body.put(kind.equals("key") ? "keys" : kind + "s", entries);
        }
        Http.json(ctx, 200, body);
    }

    private boolean visible(Auth.Principal principal, String kind, String name) {
        if (!kind.equals("agent")) {
            return name.equals(principal.name());
        }
        try {
            AgentId agent = AgentId.of(name);
            return name.equals(principal.name()) ? !auth.ownedByAnother(principal, agent) : auth.owns(principal, agent);
        } catch (SwarmbusException notAnAgentId) {
            return false;
        }
    }

    private static Map<String, Object> view(UsageLedger.Usage usage) {
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("requests", usage.requests());
        view.put("prompt_tokens", usage.promptTokens());
        view.put("completion_tokens", usage.completionTokens());
        view.put("total_tokens", usage.promptTokens() + usage.completionTokens());
        view.put("cost", usage.cost());
        return view;
    }
}
