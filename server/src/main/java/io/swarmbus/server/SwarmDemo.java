package io.swarmbus.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.swarmbus.llm.BackendSpec;
import io.swarmbus.llm.GatewaySettings;
import io.swarmbus.llm.sim.SimSettings;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code swarmbus demo}: starts two llm-sim backends and a dev-mode server in front of them,
 * creates a pool of managed LLM agents, puts them in a swarm, and runs each strategy on a sample
 * objective over the real HTTP API, printing every step and a table of wall time, LLM calls and
 * tokens per strategy.
 */
final class SwarmDemo {
    static final List<String> STRATEGIES = List.of("hierarchical", "map-reduce", "collaborative", "competitive",
            "debate", "sequential");
    private static final String MODEL = "sim-llm";
    private static final String OBJECTIVE = "Name the next Swarmbus release and say why in one sentence.";
    private static final String CHOICES = "[\"aurora\",\"borealis\",\"cirrus\"]";
    private static final List<String> ROLES = List.of("task-coordinator", "monitor", "load-balancer",
            "resource-optimizer");

    private final PrintStream out;
    private final HttpClient http = HttpClient.newHttpClient();
    private String base;
    private String token;

    SwarmDemo(PrintStream out) {
        this.out = out;
    }

    /** One strategy's run, as the table shows it. */
    record Row(String strategy, String status, long wallMillis, int steps, long llmCalls, long promptTokens,
            long completionTokens) {}

    /** Runs the demo with {@code replicas} managed agents; data goes to {@code dataDir}. */
    List<Row> run(Path dataDir, int replicas) throws IOException, InterruptedException {
        SimSettings sim = SimSettings.defaults().with(Map.of("model", MODEL, "overhead-ms", "15", "decode-rate", "400",
                "output-tokens", "24"));
        List<LlmSimServer> sims = List.of(LlmSimServer.start(sim, "127.0.0.1", 0),
                LlmSimServer.start(sim, "127.0.0.1", 0));
        List<BackendSpec> backends = sims.stream().map(s -> BackendSpec.ofUrl("http://127.0.0.1:" + s.port() + "/v1",
                32)).toList();
        ServerSettings settings = ServerSettings.forTests(dataDir).withLlm(GatewaySettings.of(backends,
                "prefix_affinity"));
        try (MessageBus bus = MessageBus.open(BusConfig.builder(dataDir).build());
                HttpServer server = HttpServer.start(bus, settings)) {
            base = "http://127.0.0.1:" + server.port();
            out.printf("Swarmbus swarm demo: server on %s, 2 llm-sim backends (model %s), data in %s%n", base, MODEL,
                    dataDir.toAbsolutePath());
            token = call("POST", "/auth/token", "{\"username\":\"demo\",\"password\":\"demo-password\"}")
                    .get("access_token").asText();
            JsonNode pool = call("POST", "/api/v1/managed-agents", "{\"name\":\"analyst\",\"model\":\"" + MODEL
                    + "\",\"system_prompt\":\"You are a concise product analyst.\",\"replicas\":" + replicas
                    + ",\"min_replicas\":1,\"max_replicas\":" + (2 * replicas) + ",\"max_tokens\":64}");
            String swarm = null;
            List<String> members = new ArrayList<>();
            pool.get("replica_agents").forEach(r -> members.add(r.get("agent_id").asText()));
            out.printf("managed pool 'analyst': %d replicas %s calling %s through the gateway%n", members.size(),
                    members, MODEL);
            for (int i = 0; i < members.size(); i++) {
                String role = ROLES.get(Math.min(i, ROLES.size() - 1));
                JsonNode joined = call("POST", "/swarm/join", "{\"role\":\"" + role + "\",\"capability\":\"analysis\","
                        + "\"agent_id\":\"" + members.get(i) + "\"" + (swarm == null ? "" : ",\"swarm_id\":\"" + swarm
                        + "\"") + "}");
                swarm = joined.get("swarm_id").asText();
                out.printf("  %-10s joined swarm %s as %s%n", members.get(i), swarm, role);
            }
            out.printf("objective: \"%s\" (choices %s)%n", OBJECTIVE, CHOICES);
            List<Row> rows = new ArrayList<>();
            for (String strategy : STRATEGIES) {
                rows.add(runStrategy(strategy));
            }
            printTable(rows);
            sims.forEach(LlmSimServer::close);
            return rows;
        }
    }

    private Row runStrategy(String strategy) throws IOException, InterruptedException {
        out.printf("%n== %s ==%n", strategy);
        JsonNode before = call("GET", "/api/v1/managed-agents/analyst", null).get("usage");
        long started = System.nanoTime();
        JsonNode run = call("POST", "/swarm/coordinate?wait_seconds=120", "{\"task_id\":\"demo-" + strategy
                + "\",\"strategy\":\"" + strategy + "\",\"parameters\":{\"objective\":\"" + OBJECTIVE + "\","
                + "\"input\":{\"choices\":" + CHOICES + ",\"items\":" + CHOICES + "}}}");
        long wall = (System.nanoTime() - started) / 1_000_000;
        JsonNode after = call("GET", "/api/v1/managed-agents/analyst", null).get("usage");
        for (JsonNode step : run.path("steps")) {
            out.printf("  round %d  %-11s %-10s %-9s %5d ms  %s%n", step.get("round").asInt(), step.get("kind").asText(),
                    step.path("agent").asText("-"), step.get("status").asText(), step.get("duration_ms").asLong(),
                    brief(step.has("answer") ? step.get("answer") : step.path("error")));
        }
        describe(strategy, run.path("results"));
        out.printf("  -> %s in %d ms%n", run.path("status").asText(), wall);
        return new Row(strategy, run.path("status").asText(), wall, run.path("steps").size(),
                delta(before, after, "llm_calls"), delta(before, after, "prompt_tokens"),
                delta(before, after, "completion_tokens"));
    }

    /** What each strategy decided, in a line or two. */
    private void describe(String strategy, JsonNode result) {
        switch (strategy) {
            case "hierarchical" -> out.printf("  leader %s split it into %d subtasks and consolidated: %s%n",
                    result.path("leader").asText(), result.path("subtasks").size(), brief(result.path("answer")));
            case "map-reduce" -> out.printf("  %d items mapped, reduced to: %s%n", result.path("mapped").size(),
                    brief(result.path("answer")));
            case "collaborative" -> out.printf("  vote %s: %s (confidence %.2f, consensus %s)%n",
                    result.at("/consensus/tally"), brief(result.path("answer")),
                    result.at("/consensus/confidence").asDouble(), result.at("/consensus/reached").asBoolean());
            case "competitive", "debate" -> out.printf("  %s picked %s: %s%s%n", result.path("selected_by").asText(),
                    result.path("winner").asText(), brief(result.path("answer")),
                    result.has("scores") && !result.get("scores").isNull() ? "  scores " + result.get("scores") : "");
            default -> out.printf("  chain of %d, final: %s%n", result.path("chain").size(), brief(result.path("answer")));
        }
    }

    private void printTable(List<Row> rows) {
        out.printf("%n%-14s %-9s %9s %6s %10s %14s %18s%n", "strategy", "status", "wall ms", "steps", "LLM calls",
                "prompt tokens", "completion tokens");
        for (Row r : rows) {
            out.printf("%-14s %-9s %9d %6d %10d %14d %18d%n", r.strategy(), r.status(), r.wallMillis(), r.steps(),
                    r.llmCalls(), r.promptTokens(), r.completionTokens());
        }
    }

    private static long delta(JsonNode before, JsonNode after, String field) {
        return after.path(field).asLong() - before.path(field).asLong();
    }

    private static String brief(JsonNode value) {
        String text = value == null || value.isMissingNode() || value.isNull() ? "-"
                : value.isTextual() ? value.asText() : value.toString();
        return text.length() <= 70 ? text : text.substring(0, 70) + "…";
    }

    private JsonNode call(String method, String path, String body) throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path))
                .header("Content-Type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() >= 300) {
            throw new IllegalStateException(method + " " + path + " answered " + response.statusCode() + ": "
                    + response.body());
        }
        return RequestBody.MAPPER.readTree(response.body());
    }
}
