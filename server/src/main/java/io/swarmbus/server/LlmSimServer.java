package io.swarmbus.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.swarmbus.llm.OpenAiWire;
import io.swarmbus.llm.PromptText;
import io.swarmbus.llm.sim.SchemaSample;
import io.swarmbus.llm.sim.SimSettings;
import io.swarmbus.llm.sim.Simulator;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code swarmbus llm-sim}: an OpenAI-compatible model server whose latency comes from
 * {@link Simulator}'s model, so routing can be tested and benchmarked without GPUs. Serves
 * {@code /v1/chat/completions} and {@code /v1/completions} (streamed as server-sent events or not),
 * {@code /v1/embeddings}, {@code /v1/models}, and its counters at {@code /sim/stats}. A
 * {@code response_format} of {@code json_schema} or {@code json_object} is answered with JSON that
 * fits it, as guided decoding would.
 */
final class LlmSimServer implements AutoCloseable {
    private final Simulator sim;
    private final Javalin app;
    private final AtomicLong ids = new AtomicLong();

    private LlmSimServer(Simulator sim, Javalin app) {
        this.sim = sim;
        this.app = app;
    }

    /** Starts on {@code host:port} (port 0 picks a free one). */
    static LlmSimServer start(SimSettings settings, String host, int port) {
        Simulator sim = new Simulator(settings);
        LlmSimServer[] server = new LlmSimServer[1];
        Javalin app = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.concurrency.useVirtualThreads = true;
            config.jetty.modifyHttpConfiguration(http -> http.setHeaderCacheSize(0));
            long started = System.currentTimeMillis() / 1000; // as a model server gives the models it loaded at start
            config.routes.get("/v1/models", ctx -> server[0].json(ctx, 200, OpenAiWire.models(settings.models().stream()
                    .map(id -> OpenAiWire.model(id, started, "llm-sim")).toList())));
            config.routes.post("/v1/chat/completions", ctx -> server[0].generate(ctx, true));
            config.routes.post("/v1/completions", ctx -> server[0].generate(ctx, false));
            config.routes.post("/v1/embeddings", ctx -> server[0].embeddings(ctx));
            config.routes.get("/sim/stats", ctx -> server[0].json(ctx, 200, stats(sim.stats())));
            config.routes.get("/health", ctx -> ctx.result("ok"));
        });
        server[0] = new LlmSimServer(sim, app);
        app.start(host, port);
        return server[0];
    }

    private static ObjectNode stats(Simulator.Stats s) {
        ObjectNode stats = OpenAiWire.JSON.createObjectNode();
        stats.put("requests", s.requests());
        stats.put("failures", s.failures());
        stats.put("rejected", s.rejected());
        stats.put("prompt_tokens", s.promptTokens());
        stats.put("cached_tokens", s.cachedTokens());
        stats.put("cache_hit_rate", s.cacheHitRate());
        stats.put("completion_tokens", s.completionTokens());
        stats.put("running", s.running());
        stats.put("waiting", s.waiting());
        stats.put("cached_blocks", s.cachedBlocks());
        return stats;
    }

    int port() {
        return app.port();
    }

    Simulator simulator() {
        return sim;
    }

    @Override
    public void close() {
        app.stop();
    }

    private void generate(Context ctx, boolean chat) throws IOException, InterruptedException {
        JsonNode body = body(ctx);
        String model = body == null ? null : model(ctx, body);
        if (model == null) {
            return;
        }
        if (chat && !body.path("messages").isArray()) {
            json(ctx, 400, OpenAiWire.error("'messages' must be a list of messages", "invalid_request_error", null));
            return;
        }
        int maxTokens = body.path("max_completion_tokens").asInt(body.path("max_tokens").asInt(0));
        boolean stream = body.path("stream").asBoolean(false);
        boolean includeUsage = body.path("stream_options").path("include_usage").asBoolean(false);
        List<String> prompt = PromptText.words(body);
        Simulator.Slot slot;
        try {
            slot = sim.admit();
        } catch (Simulator.QueueFull e) {
            ctx.header("Retry-After", "1");
            json(ctx, 429, OpenAiWire.error(e.getMessage(), "rate_limit_error", null));
            return;
        }
        try {
            Simulator.Plan plan = sim.plan(model, prompt, maxTokens);
            if (plan.fail()) {
                json(ctx, 500, OpenAiWire.error("injected failure (--failure-rate)", "server_error", null));
                return;
            }
            pause(plan.ttftNanos());
            String id = (chat ? "chatcmpl-sim-" : "cmpl-sim-") + ids.incrementAndGet();
            long created = System.currentTimeMillis() / 1000;
            String finish = plan.truncated() ? "length" : "stop";
            ObjectNode usage = OpenAiWire.usage(plan.promptTokens(), plan.output().size(), plan.cachedTokens());
            List<String> pieces = pieces(body, model, prompt, plan);
            if (stream) {
                stream(ctx, chat, id, model, created, plan, pieces, finish, includeUsage ? usage : null);
                return;
            }
            for (int i = 1; i < pieces.size(); i++) {
                pause(sim.tokenIntervalNanos(plan));
            }
            String text = String.join(" ", pieces);
            json(ctx, 200, chat ? OpenAiWire.chatCompletion(id, model, created, text, finish, usage)
                    : OpenAiWire.completion(id, model, created, text, finish, usage));
        } finally {
            slot.close();
        }
    }

    /**
     * The output, space-separated: the simulated words, or, when {@code response_format} asks for
     * JSON, a JSON value made from them that fits the schema ({@link SchemaSample}).
     */
    private static List<String> pieces(JsonNode body, String model, List<String> prompt, Simulator.Plan plan) {
        JsonNode format = body.path("response_format");
        JsonNode json = switch (format.path("type").asText("text")) {
            case "json_schema" -> SchemaSample.of(format.path("json_schema").path("schema"), plan.output(),
                    model.hashCode() * 31L + prompt.hashCode());
            case "json_object" -> SchemaSample.answerObject(plan.output());
            default -> null;
        };
        return json == null ? plan.output() : List.of(json.toString().split(" "));
    }

    /**
     * Writes the answer as server-sent events, one token per chunk as it is decoded. A client that
     * went away makes the write fail, which ends the sequence and frees its slot.
     */
    private void stream(Context ctx, boolean chat, String id, String model, long created, Simulator.Plan plan,
            List<String> output, String finish, ObjectNode usage) throws IOException {
        ctx.status(200);
        ctx.contentType("text/event-stream");
        ctx.header("Cache-Control", "no-cache");
        OutputStream out = ctx.res().getOutputStream();
        if (chat) {
            event(out, OpenAiWire.chatChunk(id, model, created, "assistant", "", null));
        }
        for (int i = 0; i < output.size(); i++) {
            if (i > 0) {
                pause(sim.tokenIntervalNanos(plan));
            }
            String piece = i == 0 ? output.get(i) : " " + output.get(i);
            event(out, chat ? OpenAiWire.chatChunk(id, model, created, null, piece, null)
                    : OpenAiWire.completionChunk(id, model, created, piece, null));
        }
        event(out, chat ? OpenAiWire.chatChunk(id, model, created, null, null, finish)
                : OpenAiWire.completionChunk(id, model, created, "", finish));
        if (usage != null) {
            event(out, OpenAiWire.usageChunk(id, chat ? "chat.completion.chunk" : "text_completion", model, created,
                    usage));
        }
        out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private static void event(OutputStream out, ObjectNode chunk) throws IOException {
        out.write(("data: " + chunk + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private void embeddings(Context ctx) {
        JsonNode body = body(ctx);
        String model = body == null ? null : model(ctx, body);
        if (model == null) {
            return;
        }
        JsonNode input = body.get("input");
        List<String> texts = new ArrayList<>();
        if (input != null && input.isTextual()) {
            texts.add(input.asText());
        } else if (input != null && input.isArray() && !input.isEmpty()) {
            input.forEach(item -> texts.add(item.asText()));
        } else {
            json(ctx, 400, OpenAiWire.error("'input' must be a string or a list of strings", "invalid_request_error", null));
            return;
        }
        List<float[]> vectors = texts.stream().map(sim::embedding).toList();
        int tokens = texts.stream().mapToInt(t -> PromptText.words(t).size()).sum();
        json(ctx, 200, OpenAiWire.embeddings(model, vectors, tokens));
    }

    private JsonNode body(Context ctx) {
        try {
            JsonNode body = OpenAiWire.JSON.readTree(ctx.bodyAsBytes());
            if (body != null && body.isObject()) {
                return body;
            }
        } catch (IOException e) {
            // answered below
        }
        json(ctx, 400, OpenAiWire.error("the body must be a JSON object", "invalid_request_error", null));
        return null;
    }

    /** The requested model, or null after answering 400/404. */
    private String model(Context ctx, JsonNode body) {
        String model = body.path("model").asText("");
        if (model.isEmpty()) {
            json(ctx, 400, OpenAiWire.error("'model' is required", "invalid_request_error", null));
            return null;
        }
        if (!sim.settings().models().contains(model)) {
            json(ctx, 404, OpenAiWire.error("model '" + model + "' is not served here; it serves "
                    + sim.settings().models(), "invalid_request_error", "model_not_found"));
            return null;
        }
        return model;
    }

    private void json(Context ctx, int status, JsonNode body) {
        ctx.status(status);
        ctx.contentType("application/json");
        ctx.result(body.toString().getBytes(StandardCharsets.UTF_8));
    }

    private static void pause(long nanos) {
        if (nanos > 0) {
            try {
                Thread.sleep(java.time.Duration.ofNanos(nanos));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
