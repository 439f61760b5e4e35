package io.swarmbus.server;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.http.Context;
import io.swarmbus.SwarmbusException;
import io.swarmbus.llm.LlmGateway;
import io.swarmbus.llm.OpenAiWire;
import io.swarmbus.llm.UsageLedger;
import io.swarmbus.llm.route.Backend;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.Priority;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * The OpenAI-compatible face of the LLM gateway ({@code /v1/chat/completions}, {@code /v1/completions},
 * {@code /v1/embeddings}, {@code /v1/models}) and its state ({@code /api/v1/llm/backends},
 * {@code /api/v1/llm/usage}). Calls are authenticated like every route and attributed to the
 * agent named in {@code X-Swarmbus-Agent} (which the caller must own), else to the caller.
 * {@code X-Swarmbus-Priority} (0–3 or low/medium/high/critical) orders the admission queue;
 * {@code X-Swarmbus-Timeout-Ms} bounds the wait in it; {@code X-Swarmbus-Task} names the task the
 * call is made for, so its tokens and cost are accounted to it too.
 */
final class LlmRoutes {
    static final String AGENT_HEADER = "X-Swarmbus-Agent";
    static final String PRIORITY_HEADER = "X-Swarmbus-Priority";
    static final String TIMEOUT_HEADER = "X-Swarmbus-Timeout-Ms";
    static final String TASK_HEADER = "X-Swarmbus-Task";

    private static final ObjectReader STRICT = OpenAiWire.JSON.reader(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY);

    private final LlmGateway gateway;
    private final Auth auth;

    LlmRoutes(LlmGateway gateway, Auth auth) {
        this.gateway = gateway;
        this.auth = auth;
    }

    LlmGateway gateway() {
        return gateway;
    }

    void chat(Context ctx) throws InterruptedException {
        call(ctx, "/v1/chat/completions");
    }

    void completions(Context ctx) throws InterruptedException {
        call(ctx, "/v1/completions");
    }

    void embeddings(Context ctx) throws InterruptedException {
        call(ctx, "/v1/embeddings");
    }

    void models(Context ctx) {
        Http.json(ctx, 200, OpenAiWire.models(List.copyOf(gateway.models()), "swarmbus"));
    }

    private void call(Context ctx, String path) throws InterruptedException {
        LlmGateway.Request request = request(Auth.principal(ctx), ctx.bodyAsBytes(), ctx::header, path);
        try {
            gateway.handle(request, new ResponseSink(ctx));
        } catch (LlmGateway.Refused refused) {
            if (refused.retryAfterSeconds() > 0) {
                ctx.header("Retry-After", Long.toString(refused.retryAfterSeconds()));
            }
            Http.json(ctx, refused.status(), refusal(refused));
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
        ObjectNode json = parse(body);
        String agent = principal.name();
        String named = header.apply(AGENT_HEADER);
        if (named != null) {
            AgentId id = AgentId.of(named);
            auth.requireOwner(principal, id);
            agent = id.value();
        }
        int priority = header.apply(PRIORITY_HEADER) == null ? Priority.MEDIUM.ordinal()
                : Priority.parse(header.apply(PRIORITY_HEADER)).ordinal();
        long waitNanos = gateway.settings().queueTimeout().toNanos();
        String timeout = header.apply(TIMEOUT_HEADER);
        if (timeout != null) {
            try {
                waitNanos = Math.min(waitNanos, Math.max(1, Long.parseLong(timeout.trim())) * 1_000_000L);
            } catch (NumberFormatException e) {
                throw SwarmbusException.invalid(TIMEOUT_HEADER, TIMEOUT_HEADER + " must be whole milliseconds");
            }
        }
        String task = header.apply(TASK_HEADER);
        if (task != null && (task.isBlank() || task.length() > 200)) {
            throw SwarmbusException.invalid(TASK_HEADER, TASK_HEADER + " must be a task id of 1 to 200 characters");
        }
        return new LlmGateway.Request(path, json, agent, task, principal.name(), priority,
                System.nanoTime() + waitNanos, body);
    }

    /**
     * A call's body: a JSON object whose {@code model}, if present, is a string, and without
     * duplicate keys, which would let a backend read another model than the one routed on.
     */
    private static ObjectNode parse(byte[] bytes) {
        JsonNode body;
        try {
            body = STRICT.readTree(bytes);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw SwarmbusException.invalid("body", "the body is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw SwarmbusException.invalid("body", "the body could not be read");
        }
        if (!(body instanceof ObjectNode object)) {
            throw SwarmbusException.invalid("body", "the body must be a JSON object");
        }
        if (object.has("model") && !object.get("model").isTextual()) {
            throw SwarmbusException.invalid("model", "'model' must be a string");
        }
        return object;
    }

    /** Writes the gateway's answer straight to the HTTP response, flushing every piece. */
    private static final class ResponseSink implements LlmGateway.Sink {
        private final Context ctx;
        private OutputStream out;

        ResponseSink(Context ctx) {
            this.ctx = ctx;
        }

        @Override
        public void start(int status, String contentType) throws IOException {
            ctx.status(status);
            ctx.contentType(contentType);
            if (contentType.startsWith("text/event-stream")) {
                ctx.header("Cache-Control", "no-cache");
                ctx.header("X-Accel-Buffering", "no");
            }
            out = ctx.res().getOutputStream();
        }

        @Override
        public void write(byte[] bytes) throws IOException {
            out.write(bytes);
            out.flush();
        }

        /** With a Content-Length and no flush, head and body leave in one write, and no chunk framing. */
        @Override
        public void answer(int status, String contentType, byte[] body) throws IOException {
            ctx.status(status);
            ctx.contentType(contentType);
            ctx.res().setContentLength(body.length);
            ctx.res().getOutputStream().write(body);
        }
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
     * own key and the agents they own.
     */
    void usage(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        Map<String, Object> body = new LinkedHashMap<>();
        for (String kind : UsageLedger.KINDS) {
            if (!principal.admin() && (kind.equals("backend") || kind.equals("model") || kind.equals("task"))) {
                continue;
            }
            Map<String, Object> entries = new LinkedHashMap<>();
            gateway.usage().of(kind).forEach((name, usage) -> {
                if (principal.admin() || visible(principal, kind, name)) {
                    Map<String, Object> view = view(usage);
                    if (kind.equals("agent") || kind.equals("key")) {
                        view.putAll(gateway.quotas().today(kind, name));
                    }
                    entries.put(name, view);
                }
            });
            body.put(kind.equals("key") ? "keys" : kind + "s", entries);
        }
        Http.json(ctx, 200, body);
    }

    private boolean visible(Auth.Principal principal, String kind, String name) {
        if (name.equals(principal.name())) {
            return true;
        }
        if (!kind.equals("agent")) {
            return false;
        }
        try {
            return auth.owns(principal, AgentId.of(name));
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
