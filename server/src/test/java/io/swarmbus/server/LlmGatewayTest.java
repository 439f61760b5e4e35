package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.swarmbus.llm.BackendSpec;
import io.swarmbus.llm.GatewaySettings;
import io.swarmbus.llm.Quotas;
import io.swarmbus.llm.sim.SimSettings;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The LLM gateway over real HTTP, in front of llm-sim servers. */
class LlmGatewayTest {
    @TempDir
    Path dir;
    MessageBus bus;
    HttpServer server;
    final List<LlmSimServer> sims = new ArrayList<>();
    final List<Process> processes = new ArrayList<>();
    final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    String token;

    record Reply(int status, JsonNode body, HttpResponse<String> response) {}

    LlmSimServer sim(String... options) {
        Map<String, String> map = new java.util.HashMap<>();
        for (int i = 0; i < options.length; i += 2) {
            map.put(options[i], options[i + 1]);
        }
        LlmSimServer sim = LlmSimServer.start(SimSettings.defaults().with(map), "127.0.0.1", 0);
        sims.add(sim);
        return sim;
    }

    static BackendSpec backend(LlmSimServer sim, int maxConcurrency) {
        return BackendSpec.ofUrl("http://127.0.0.1:" + sim.port() + "/v1", maxConcurrency);
    }

    void start(GatewaySettings llm) throws Exception {
        start(llm, java.util.Optional.empty());
    }

    void start(GatewaySettings llm, java.util.Optional<ServerSettings.LlmPort> llmPort) throws Exception {
        start(llm, llmPort, BusConfig.builder(dir).build());
    }

    void start(GatewaySettings llm, java.util.Optional<ServerSettings.LlmPort> llmPort, BusConfig config)
            throws Exception {
        bus = MessageBus.open(config);
        ServerSettings settings = ServerSettings.forTests(dir).withLlm(llm);
        server = HttpServer.start(bus, new ServerSettings(settings.dataDir(), settings.host(), 0,
                settings.maxRequestBytes(), true, settings.jwtSecret(), settings.tokenLifetime(), 1_000_000,
                settings.adminPassword(), settings.jwtPrivateKeyFile(), settings.heartbeatTtl(), llm, llmPort));
        token = token("team");
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
            bus.close();
        }
        sims.forEach(LlmSimServer::close);
        processes.forEach(Process::destroyForcibly);
    }

    String token(String user) throws Exception {
        return RequestBody.MAPPER.readTree(post(null, "/auth/token", "{\"username\":\"" + user
                + "\",\"password\":\"password-1\"}", Map.of()).body()).get("access_token").asText();
    }

    /** The port the OpenAI-compatible API is called on: the main port here, the gateway port in {@link LlmGatewayPortTest}. */
    int v1Port() {
        return server.port();
    }

    HttpResponse<String> post(String bearer, String path, String body, Map<String, String> headers) throws Exception {
        int port = path.startsWith("/v1/") ? v1Port() : server.port();
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (bearer != null) {
            request.header("Authorization", "Bearer " + bearer);
        }
        headers.forEach(request::header);
        return client.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    String metrics() throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                .build(), HttpResponse.BodyHandlers.ofString()).body();
    }

    /** The value of a metric without tags, from Prometheus text: the line {@code name value}. */
    static double untaggedValue(String metrics, String name) {
        String line = metrics.lines().filter(l -> l.startsWith(name + " ")).findFirst()
                .orElseThrow(() -> new AssertionError("no metric " + name));
        return Double.parseDouble(line.substring(name.length() + 1));
    }

    Reply chat(String body) throws Exception {
        return chat(body, Map.of());
    }

    Reply chat(String body, Map<String, String> headers) throws Exception {
        HttpResponse<String> response = post(token, "/v1/chat/completions", body, headers);
        return new Reply(response.statusCode(), RequestBody.MAPPER.readTree(response.body()), response);
    }

    JsonNode get(String path) throws Exception {
        return get(token, path);
    }

    JsonNode get(String bearer, String path) throws Exception {
        return RequestBody.MAPPER.readTree(client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                + server.port() + path)).header("Authorization", "Bearer " + bearer).build(),
                HttpResponse.BodyHandlers.ofString()).body());
    }

    int delete(String bearer, String path) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .header("Authorization", "Bearer " + bearer).DELETE().build(), HttpResponse.BodyHandlers.ofString())
                .statusCode();
    }

    String adminToken() throws Exception {
        return RequestBody.MAPPER.readTree(post(null, "/auth/token", "{\"username\":\"admin\",\"password\":\""
                + ServerSettings.forTests(dir).adminPassword().orElseThrow() + "\"}", Map.of()).body())
                .get("access_token").asText();
    }

    /** A new task of {@code bearer}'s user, for {@code capability} (one no agent has: it waits). */
    String task(String bearer, String capability) throws Exception {
        HttpResponse<String> created = post(bearer, "/api/v1/tasks", "{\"type\":\"plan\",\"required_capabilities\":[\""
                + capability + "\"]}", Map.of());
        assertThat(created.statusCode()).isEqualTo(201);
        return RequestBody.MAPPER.readTree(created.body()).get("task_id").asText();
    }

    @Test
    void gatewayPort_servesTheV1ApiOnly_andCallsPastHalfItsPoolGoOnOnVirtualThreads() throws Exception {
        LlmSimServer slow = sim("model", "m", "overhead-ms", "400", "decode-rate", "0");
        start(GatewaySettings.of(List.of(backend(slow, 64)), "least_outstanding"),
                java.util.Optional.of(new ServerSettings.LlmPort(0, 16)));
        int llmPort = server.llmPort().orElseThrow();
        assertThat(llmPort).isNotEqualTo(server.port());
        String body = "{\"model\":\"m\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        java.util.function.Supplier<HttpRequest> call = () -> HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + llmPort + "/v1/chat/completions"))
                .header("Content-Type", "application/json").header("Authorization", "Bearer " + token)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();

        // Twenty slow calls at once: more than half of the 16 threads would be held, so the later
        // calls continue on virtual threads, and every call is answered.
        List<java.util.concurrent.CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            calls.add(client.sendAsync(call.get(), HttpResponse.BodyHandlers.ofString()));
        }
        for (var answered : calls) {
            HttpResponse<String> response = answered.get(30, java.util.concurrent.TimeUnit.SECONDS);
            assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
            assertThat(RequestBody.MAPPER.readTree(response.body()).at("/usage/completion_tokens").asInt()).isEqualTo(2);
        }
        // A call is timed once its answer is out: the last one's count may trail its answer a little.
        String counted = "http_server_requests_seconds_count{method=\"POST\",route=\"/v1/chat/completions\",status=\"200\"} 20";
        String metrics = metrics();
        for (long deadline = System.nanoTime() + 5_000_000_000L; !metrics.contains(counted) && System.nanoTime() < deadline; ) {
            Thread.sleep(20);
            metrics = metrics();
        }
        assertThat(untaggedValue(metrics, "swarmbus_llm_port_virtual_calls_total")).isBetween(1.0, 19.0);
        assertThat(metrics).as("the port's calls are timed like the main port's").containsPattern(
                "http_server_requests_seconds_count\\{method=\"POST\",route=\"/v1/chat/completions\",status=\"200\"} 20");

        // Only /v1/... there; the main port still serves the gateway as well.
        HttpResponse<String> other = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + llmPort
                + "/api/v1/llm/backends")).header("Authorization", "Bearer " + token).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(other.statusCode()).isEqualTo(404);
        assertThat(RequestBody.MAPPER.readTree(other.body()).get("message").asText())
                .contains("serves the OpenAI-compatible API only");
        HttpResponse<String> swarm = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + llmPort
                + "/v1/swarm/agents")).header("Authorization", "Bearer " + token).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(swarm.statusCode()).as("/v1 routes other than OpenAI's are on the main port only").isEqualTo(404);
        var socket = client.newWebSocketBuilder().buildAsync(URI.create("ws://127.0.0.1:" + llmPort
                + "/api/v1/ws?token=" + token), new java.net.http.WebSocket.Listener() {});
        assertThat(socket).failsWithin(Duration.ofSeconds(10)).withThrowableOfType(
                java.util.concurrent.ExecutionException.class).havingCause()
                .isInstanceOf(java.net.http.WebSocketHandshakeException.class);
        assertThat(chat(body).status()).isEqualTo(200);

        // Its pool stops with the server: platform threads left behind would keep a JVM alive.
        assertThat(Thread.getAllStackTraces().keySet()).anyMatch(t -> t.getName().startsWith("swarmbus-llm-port"));
        server.close();
        bus.close();
        server = null;
        assertThat(Thread.getAllStackTraces().keySet()).noneMatch(t -> t.getName().startsWith("swarmbus-llm-port"));
    }

    /**
     * The gateway hands {@code prefix_affinity} the prompt's words (it skips splitting them for
     * strategies that do not read them): a growing conversation goes back to the backend that has
     * its prefix cached every time. Without the words each call would go to a backend picked by
     * load, all three idle here, and miss the cache two times in three.
     */
    @Test
    void prefixAffinity_sendsAGrowingConversationWhereItsPrefixIsCached() throws Exception {
        List<BackendSpec> three = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            three.add(backend(sim("model", "m", "overhead-ms", "0", "decode-rate", "0"), 8));
        }
        start(GatewaySettings.of(three, "prefix_affinity"));
        StringBuilder conversation = new StringBuilder();
        for (int word = 0; word < 100; word++) {
            conversation.append("context").append(word).append(' ');
        }
        for (int turn = 0; turn < 6; turn++) {
            conversation.append("turn").append(turn).append(' ');
            Reply reply = chat("{\"model\":\"m\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\""
                    + conversation + "\"}]}");
            assertThat(reply.status()).isEqualTo(200);
            int cached = reply.body().at("/usage/prompt_tokens_details/cached_tokens").asInt();
            if (turn == 0) {
                assertThat(cached).isZero();
            } else {
                assertThat(cached).as("turn %d's prefix was cached where turn 0 went", turn).isGreaterThanOrEqualTo(96);
            }
        }
    }

    @Test
    void chatCompletionsAndEmbeddings_passThrough_andUsageIsAccounted() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "1", "decode-rate", "0");
        start(GatewaySettings.of(List.of(backend(a, 8)), "least_outstanding"));

        Reply reply = chat("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi there\"}]}");
        assertThat(reply.status()).isEqualTo(200);
        assertThat(reply.body().at("/choices/0/message/content").asText().split(" ")).hasSize(5);
        assertThat(reply.body().at("/usage/prompt_tokens").asInt()).isEqualTo(3);

        HttpResponse<String> completion = post(token, "/v1/completions", "{\"model\":\"m\",\"prompt\":\"once upon\"}",
                Map.of());
        assertThat(completion.statusCode()).isEqualTo(200);
        assertThat(RequestBody.MAPPER.readTree(completion.body()).at("/choices/0/text").asText()).isNotEmpty();
        HttpResponse<String> embedding = post(token, "/v1/embeddings", "{\"model\":\"m\",\"input\":[\"a b\",\"c\"]}",
                Map.of());
        assertThat(RequestBody.MAPPER.readTree(embedding.body()).get("data")).hasSize(2);

        assertThat(get("/v1/models").at("/data/0/id").asText()).isEqualTo("m");
        JsonNode usage = get("/api/v1/llm/usage");
        assertThat(usage.at("/agents/team/requests").asInt()).isEqualTo(3);
        assertThat(usage.at("/agents/team/completion_tokens").asInt()).isEqualTo(5 + 32);
        JsonNode backends = get("/api/v1/llm/backends");
        assertThat(backends.at("/backends/0/requests").asInt()).isEqualTo(3);
        assertThat(backends.at("/backends/0/healthy").asBoolean()).isTrue();

        String metrics = metrics();
        String name = "127.0.0.1:" + a.port();
        assertThat(metrics).contains("swarmbus_llm_requests_total{backend=\"" + name + "\"} 3.0")
                .contains("swarmbus_llm_completion_tokens_total{backend=\"" + name + "\"} 37.0")
                .contains("swarmbus_llm_backend_healthy{backend=\"" + name + "\"} 1.0")
                .contains("swarmbus_llm_queued 0.0");
    }

    @Test
    void aResponseFormatSchema_isAnsweredWithJsonThatFitsIt() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "1", "decode-rate", "0");
        start(GatewaySettings.of(List.of(backend(a, 8)), "least_outstanding"));
        Reply reply = chat("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"plan\"}],"
                + "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"plan\",\"schema\":"
                + "{\"type\":\"object\",\"properties\":{\"subtasks\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
                + "\"minItems\":2,\"maxItems\":2}}}}}}");
        assertThat(reply.status()).isEqualTo(200);
        JsonNode content = RequestBody.MAPPER.readTree(reply.body().at("/choices/0/message/content").asText());
        assertThat(content.get("subtasks")).hasSize(2);
        assertThat(reply.body().at("/usage/completion_tokens").asInt()).isEqualTo(32); // the model's length, as usual
    }

    @Test
    void streaming_passesChunksThroughAsTheyAreDecoded_withUsageOnlyWhenAsked() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "1", "decode-rate", "50", "output-tokens", "10");
        start(GatewaySettings.of(List.of(backend(a, 8)), "least_outstanding"));
        for (boolean usage : new boolean[] {false, true}) {
            HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + v1Port()
                    + "/v1/chat/completions")).header("Authorization", "Bearer " + token)
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"m\",\"stream\":true,"
                            + (usage ? "\"stream_options\":{\"include_usage\":true}," : "")
                            + "\"messages\":[{\"role\":\"user\",\"content\":\"count\"}]}")).build();
            HttpResponse<Stream<String>> response = client.send(request, HttpResponse.BodyHandlers.ofLines());
            assertThat(response.statusCode()).isEqualTo(200);
            assertThat(response.headers().firstValue("Content-Type").orElse("")).startsWith("text/event-stream");
            List<String> data = new ArrayList<>();
            List<Long> arrivals = new ArrayList<>();
            response.body().filter(line -> line.startsWith("data: ")).forEach(line -> {
                data.add(line.substring(6));
                arrivals.add(System.nanoTime());
            });
            assertThat(data.getLast()).isEqualTo("[DONE]");
            long contentChunks = data.stream().filter(d -> d.contains("\"content\":\"") && !d.contains("\"content\":\"\""))
                    .count();
            assertThat(contentChunks).isEqualTo(10);
            assertThat(data.stream().anyMatch(d -> d.contains("\"usage\""))).isEqualTo(usage);
            // 10 tokens at 50/s: the first arrives about 180 ms before the last, not all at once.
            assertThat((arrivals.get(data.size() - 2) - arrivals.get(1)) / 1_000_000).isGreaterThan(100);
        }
        assertThat(get("/api/v1/llm/usage").at("/agents/team/completion_tokens").asInt()).isEqualTo(20);
    }

    /** An {@code llm-sim} child process, for killing with SIGKILL. */
    record SimProcess(Process process, int port) {
        BackendSpec backend(int maxConcurrency) {
            return BackendSpec.ofUrl("http://127.0.0.1:" + port + "/v1", maxConcurrency);
        }
    }

    SimProcess simProcess(String... options) throws Exception {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(),
                "-Xmx128m", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), Main.class.getName(),
                "llm-sim", "--port", "0"));
        command.addAll(List.of(options));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        processes.add(process);
        java.io.BufferedReader out = new java.io.BufferedReader(new java.io.InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8));
        java.util.regex.Pattern listening = java.util.regex.Pattern.compile("listening on http://[^:]+:(\\d+)/v1");
        for (String line = out.readLine(); line != null; line = out.readLine()) {
            java.util.regex.Matcher m = listening.matcher(line);
            if (m.find()) {
                Thread.ofPlatform().daemon().start(() -> out.lines().forEach(l -> { }));
                return new SimProcess(process, Integer.parseInt(m.group(1)));
            }
        }
        throw new AssertionError("llm-sim did not say where it listens");
    }

    @Test
    void aBackendProcessKilledMidRun_failsNoRequestThatHadNotStartedStreaming() throws Exception {
        String[] options = {"--model", "m", "--overhead-ms", "5", "--decode-rate", "400", "--output-tokens", "20"};
        SimProcess a = simProcess(options);
        SimProcess b = simProcess(options);
        SimProcess c = simProcess(options);
        start(GatewaySettings.of(List.of(a.backend(16), b.backend(16), c.backend(16)), "round_robin")
                .withRequestTimeout(Duration.ofSeconds(5)));
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicInteger ok = new AtomicInteger();
        AtomicInteger cutStreams = new AtomicInteger();
        List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        List<Thread> clients = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            boolean streaming = i % 2 == 1;
            String body = "{\"model\":\"m\"," + (streaming ? "\"stream\":true," : "")
                    + "\"messages\":[{\"role\":\"user\",\"content\":\"client " + i + "\"}]}";
            clients.add(Thread.ofVirtual().start(() -> {
                while (running.get()) {
                    try {
                        HttpResponse<String> reply = post(token, "/v1/chat/completions", body, Map.of());
                        if (reply.statusCode() != 200) {
                            failures.add(reply.statusCode() + " " + reply.body());
                        } else if (streaming && !reply.body().contains("[DONE]")) {
                            failures.add("a stream cut off by the backend looked complete: " + reply.body());
                        } else {
                            ok.incrementAndGet();
                        }
                    } catch (java.io.IOException e) {
                        if (streaming) {
                            cutStreams.incrementAndGet(); // had started: broken off where the backend died
                        } else {
                            failures.add(e.toString());
                        }
                    } catch (Exception e) {
                        failures.add(e.toString());
                    }
                }
            }));
        }
        long warm = System.nanoTime() + 10_000_000_000L;
        while (ok.get() < 30 && System.nanoTime() < warm) {
            Thread.sleep(50);
        }
        int before = ok.get();
        b.process().destroyForcibly(); // SIGKILL: connections drop mid-answer, new ones are refused
        Thread.sleep(1_500);
        running.set(false);
        for (Thread t : clients) {
            t.join(10_000);
            assertThat(t.isAlive()).as("every client finished").isFalse();
        }
        assertThat(failures).isEmpty();
        assertThat(ok.get()).as("answers went on after the kill").isGreaterThan(before + 20);
        assertThat(cutStreams.get()).as("at most the streams running on the killed backend").isLessThanOrEqualTo(4);
        assertThat(get("/api/v1/llm/backends").at("/backends/1/healthy").asBoolean()).isFalse();
    }

    @Test
    void aStreamTheBackendEndsBeforeDone_endsAsABrokenStreamForTheClient() throws Exception {
        com.sun.net.httpserver.HttpServer backend = com.sun.net.httpserver.HttpServer.create(
                new java.net.InetSocketAddress("127.0.0.1", 0), 0);
        TestApi.listsModel(backend, "m");
        backend.createContext("/v1/chat/completions", exchange -> {
            exchange.getRequestBody().readAllBytes();
            exchange.getResponseHeaders().add("Content-Type", "text/event-stream");
            exchange.sendResponseHeaders(200, 0);
            exchange.getResponseBody().write(("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":"
                    + "[{\"index\":0,\"delta\":{\"content\":\"half an\"}}]}\n\n").getBytes(StandardCharsets.UTF_8));
            exchange.close(); // no [DONE]: the answer stops halfway
        });
        backend.start();
        try {
            start(GatewaySettings.of(List.of(BackendSpec.ofUrl("http://127.0.0.1:" + backend.getAddress().getPort()
                    + "/v1", 4)), "round_robin"));
            HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + v1Port() + "/v1/chat/completions"))
                    .header("Content-Type", "application/json").header("Authorization", "Bearer " + token)
                    .POST(HttpRequest.BodyPublishers.ofString(
                            "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))
                    .build();

            assertThatThrownBy(() -> client.send(request, HttpResponse.BodyHandlers.ofString()))
                    .isInstanceOf(java.io.IOException.class);
        } finally {
            backend.stop(0);
        }
    }

    @Test
    void aCallsTraceparent_reachesTheBackend_fromTheApiAndFromAMessage() throws Exception {
        java.util.concurrent.BlockingQueue<String> seen = new java.util.concurrent.LinkedBlockingQueue<>();
        com.sun.net.httpserver.HttpServer backend = com.sun.net.httpserver.HttpServer.create(
                new java.net.InetSocketAddress("127.0.0.1", 0), 0);
        TestApi.listsModel(backend, "m");
        backend.createContext("/v1/chat/completions", exchange -> {
            exchange.getRequestBody().readAllBytes();
            seen.add(String.valueOf(exchange.getRequestHeaders().getFirst("traceparent")));
            byte[] body = ("{\"id\":\"c\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{\"index\":0,"
                    + "\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}").getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        backend.start();
        try {
            start(GatewaySettings.of(List.of(BackendSpec.ofUrl("http://127.0.0.1:" + backend.getAddress().getPort()
                    + "/v1", 4)), "round_robin"));
            String trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
            String ask = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
            assertThat(chat(ask, Map.of("traceparent", trace)).status()).isEqualTo(200);
            assertThat(seen.poll(10, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo(trace);
            assertThat(chat(ask, Map.of("traceparent", "not-a-trace")).status()).isEqualTo(200);
            assertThat(seen.poll(10, java.util.concurrent.TimeUnit.SECONDS)).as("an invalid one is not passed on").isEqualTo("null");

            post(token, "/api/v1/agents", "{\"agent_id\":\"planner\"}", Map.of());
            assertThat(post(token, "/api/v1/messages", "{\"from\":\"planner\",\"to\":\"llm\",\"type\":\"llm_request\","
                    + "\"content\":" + ask + "}", Map.of("traceparent", trace)).statusCode()).isEqualTo(201);
            assertThat(seen.poll(10, java.util.concurrent.TimeUnit.SECONDS)).as("a request by message").isEqualTo(trace);
        } finally {
            backend.stop(0);
        }
    }

    @Test
    void aNoisyAgent_doesNotStarveAQuietOne() throws Exception {
        SimProcess a = simProcess("--model", "m", "--overhead-ms", "100", "--decode-rate", "0");
        start(GatewaySettings.of(List.of(a.backend(2)), "least_outstanding"));
        String quiet = token("quiet");
        List<Thread> noisy = new ArrayList<>();
        for (int i = 0; i < 40; i++) { // 40 requests, two at a time: about 2 s of work
            noisy.add(Thread.ofVirtual().start(() -> {
                try {
                    chat("{\"model\":\"m\",\"messages\":[]}");
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }));
        }
        Thread.sleep(300);
        long worst = 0;
        for (int i = 0; i < 3; i++) {
            long started = System.nanoTime();
            assertThat(post(quiet, "/v1/chat/completions", "{\"model\":\"m\",\"messages\":[]}", Map.of())
                    .statusCode()).isEqualTo(200);
            worst = Math.max(worst, System.nanoTime() - started);
        }
        boolean noisyStillWaiting = noisy.stream().anyMatch(Thread::isAlive);
        for (Thread t : noisy) {
            t.join(15_000);
        }
        // Round-robin across callers: the quiet one waits for a slot, not behind 35 queued requests (~1.7 s).
        assertThat(worst / 1_000_000).as("the quiet agent's slowest call, ms").isLessThan(600);
        assertThat(noisyStillWaiting).as("the noisy agent was still queued meanwhile").isTrue();
    }

    @Test
    void aBackendSlowerThanTheRequestTimeout_isLeftForAnother() throws Exception {
        LlmSimServer slow = sim("model", "m", "overhead-ms", "3000", "decode-rate", "0");
        LlmSimServer fast = sim("model", "m", "overhead-ms", "1", "decode-rate", "0");
        start(GatewaySettings.of(List.of(backend(slow, 4), backend(fast, 4)), "round_robin")
                .withRequestTimeout(Duration.ofMillis(400)));
        for (int i = 0; i < 2; i++) { // round-robin sends one of the two to the slow backend first
            long started = System.nanoTime();
            assertThat(chat("{\"model\":\"m\",\"messages\":[]}").status()).isEqualTo(200);
            assertThat((System.nanoTime() - started) / 1_000_000).isLessThan(2_000);
        }
        assertThat(get("/api/v1/llm/backends").at("/backends/0/errors").asInt()).isPositive();
    }

    @Test
    void fallbacksAnswerForAModelWithoutAHealthyBackend_andUnknownModelsGet404() throws Exception {
        LlmSimServer small = sim("model", "small", "overhead-ms", "1", "decode-rate", "0");
        LlmSimServer big = sim("model", "big", "overhead-ms", "1", "decode-rate", "0");
        start(GatewaySettings.of(List.of(backend(small, 4), backend(big, 4)), "least_outstanding")
                .withFallbacks(Map.of("big", List.of("small"), "fast", List.of("small"))));
        assertThat(chat("{\"model\":\"fast\",\"messages\":[]}").body().get("model").asText()).isEqualTo("small");
        big.close();
        Reply reply = chat("{\"model\":\"big\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}");
        assertThat(reply.status()).isEqualTo(200);
        assertThat(reply.body().get("model").asText()).isEqualTo("small");

        Reply unknown = chat("{\"model\":\"huge\",\"messages\":[]}");
        assertThat(unknown.status()).isEqualTo(404);
        assertThat(unknown.body().at("/error/code").asText()).isEqualTo("model_not_found");
        assertThat(unknown.body().at("/error/message").asText()).contains("huge");
    }

    /** A GET (or another method) on the OpenAI-compatible API's port, with its JSON body (null when empty). */
    Reply v1(String method, String bearer, String path) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + v1Port() + path))
                .method(method, HttpRequest.BodyPublishers.noBody());
        if (bearer != null) {
            request.header("Authorization", "Bearer " + bearer);
        }
        HttpResponse<String> response = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
        return new Reply(response.statusCode(), response.body().isEmpty() ? null
                : RequestBody.MAPPER.readTree(response.body()), response);
    }

    /** Regression: {@code GET /v1/models/{model}}, which OpenAI's SDKs call to look a model up, answered 404 for any. */
    @Test
    void aModel_isLookedUpByItsId_slashesAndAll_asTheListHasIt() throws Exception {
        LlmSimServer a = sim("model", "m,meta-llama/Llama-3-8B", "overhead-ms", "1", "decode-rate", "0");
        start(GatewaySettings.of(List.of(backend(a, 4)), "least_outstanding"));
        JsonNode listed = v1("GET", token, "/v1/models").body().get("data");
        assertThat(listed).extracting(m -> m.get("id").asText()).containsExactlyInAnyOrder("m", "meta-llama/Llama-3-8B");
        for (JsonNode model : listed) {
            String id = model.get("id").asText();
            Reply one = v1("GET", token, "/v1/models/" + id);
            assertThat(one.status()).as(id).isEqualTo(200);
            assertThat(one.body()).as(id).isEqualTo(model);
            assertThat(one.body().properties()).extracting(Map.Entry::getKey)
                    .containsExactly("id", "object", "created", "owned_by");
        }
        assertThat(v1("GET", token, "/v1/models/meta-llama%2FLlama-3-8B").body().get("id").asText())
                .as("the slash encoded, as some clients send it").isEqualTo("meta-llama/Llama-3-8B");
        assertThat(v1("GET", token, "/v1/models/m/").body().get("id").asText()).isEqualTo("m");
        Reply head = v1("HEAD", token, "/v1/models/m");
        assertThat(head.status()).isEqualTo(200);
        assertThat(head.body()).isNull();

        for (String unknown : List.of("huge", "meta-llama", "meta-llama/Llama-3-8B/x")) {
            Reply refused = v1("GET", token, "/v1/models/" + unknown);
            assertThat(refused.status()).as(unknown).isEqualTo(404);
            JsonNode error = refused.body().get("error");
            assertThat(error.get("type").asText()).isEqualTo("invalid_request_error");
            assertThat(error.get("code").asText()).isEqualTo("model_not_found");
            assertThat(error.get("param").isNull()).as("as a call naming an unknown model answers").isTrue();
            assertThat(error.get("message").asText()).contains("'" + unknown + "'");
        }
        Reply anonymous = v1("GET", null, "/v1/models/m");
        assertThat(anonymous.status()).isEqualTo(401);
        assertThat(anonymous.body().at("/error/type").asText()).isEqualTo("authentication_error");
        Reply posted = v1("POST", token, "/v1/models/m");
        assertThat(posted.status()).isEqualTo(405);
        assertThat(posted.body().at("/error/type").asText()).isEqualTo("invalid_request_error");
        assertThat(posted.response().headers().firstValue("Allow")).hasValue("GET, HEAD");
        assertThat(metrics()).as("one route for all ids, not one per id").contains(
                "route=\"/v1/models/{model}\",status=\"200\"").doesNotContain("route=\"/v1/models/m\"");
    }

    /**
     * Regression: every model was listed as created at 0, which clients show as 1970. A backend's
     * own time is kept from its first listing: vLLM, for one, gives the time of each listing.
     */
    @Test
    void listedModels_giveTheBackendsCreated_elseWhenTheGatewayLearnedOfThem() throws Exception {
        AtomicInteger listings = new AtomicInteger();
        com.sun.net.httpserver.HttpServer backend = com.sun.net.httpserver.HttpServer.create(
                new java.net.InetSocketAddress("127.0.0.1", 0), 0);
        backend.createContext("/v1/models", exchange -> {
            byte[] body = ("{\"object\":\"list\",\"data\":[{\"id\":\"dated\",\"object\":\"model\",\"created\":"
                    + (1_700_000_000 + listings.getAndIncrement()) + "},{\"id\":\"undated\",\"object\":\"model\"}]}")
                    .getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        backend.start();
        try {
            long before = System.currentTimeMillis() / 1000;
            start(GatewaySettings.of(List.of(BackendSpec.ofUrl("http://127.0.0.1:" + backend.getAddress().getPort()
                    + "/v1", 4)), "least_outstanding").withFallbacks(Map.of("alias", List.of("dated")))
                    .withHealthInterval(Duration.ofMillis(100)));
            long after = System.currentTimeMillis() / 1000;
            Map<String, Long> created = created();
            assertThat(created).containsOnlyKeys("dated", "undated", "alias").containsEntry("dated", 1_700_000_000L);
            assertThat(created.get("undated")).isBetween(before, after);
            assertThat(created.get("alias")).isBetween(before, after);
            assertThat(v1("GET", token, "/v1/models/undated").body().get("created").asLong())
                    .isEqualTo(created.get("undated"));

            int checks = listings.get();
            Thread.sleep(1_100); // past the second: a time taken afresh on each listing would show
            assertThat(listings.get()).as("the health checks went on listing").isGreaterThan(checks);
            assertThat(created()).isEqualTo(created);
        } finally {
            backend.stop(0);
        }
    }

    /** {@code created} of each model {@code GET /v1/models} lists, by id. */
    Map<String, Long> created() throws Exception {
        Map<String, Long> created = new java.util.HashMap<>();
        v1("GET", token, "/v1/models").body().get("data").forEach(m -> created.put(m.get("id").asText(),
                m.get("created").asLong()));
        return created;
    }

    /**
     * Regression: a backend down when the gateway started was never asked what it serves, so calls
     * for its model were refused 404 model_not_found, which clients do not retry. They now get 503
     * with Retry-After until it is up, and it is learned at the next health check.
     */
    @Test
    void aBackendDownAtStart_isLearnedOnceUp_andItsModelIs503Meanwhile_not404() throws Exception {
        LlmSimServer up = sim("model", "m", "overhead-ms", "1", "decode-rate", "0");
        int latePort;
        try (java.net.ServerSocket reserved = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            latePort = reserved.getLocalPort(); // free, and refusing connections once closed
        }
        start(GatewaySettings.of(List.of(backend(up, 4), BackendSpec.ofUrl("http://127.0.0.1:" + latePort + "/v1", 4)),
                "least_outstanding").withHealthInterval(Duration.ofMillis(200)));

        String late = "{\"model\":\"late\",\"messages\":[]}";
        for (Reply refused : List.of(chat(late), chat("{\"model\":\"huge\",\"messages\":[]}"),
                v1("GET", token, "/v1/models/late"))) {
            assertThat(refused.status()).as(refused.body().toString()).isEqualTo(503);
            assertThat(refused.body().at("/error/type").asText()).isEqualTo("server_error");
            assertThat(refused.body().at("/error/code").asText()).isEqualTo("no_healthy_backend");
            assertThat(refused.body().at("/error/message").asText()).contains("no backend is available yet")
                    .contains("127.0.0.1:" + latePort);
            assertThat(refused.response().headers().firstValue("Retry-After")).hasValue("1");
        }
        assertThat(chat("{\"model\":\"m\",\"messages\":[]}").status()).as("other models are served").isEqualTo(200);

        LlmSimServer lateSim = LlmSimServer.start(SimSettings.defaults().with(Map.of("model", "late",
                "overhead-ms", "1", "decode-rate", "0")), "127.0.0.1", latePort);
        sims.add(lateSim);
        Reply answered = chat(late);
        for (long deadline = System.nanoTime() + 5_000_000_000L; answered.status() == 503
                && System.nanoTime() < deadline; answered = chat(late)) {
            Thread.sleep(50);
        }
        assertThat(answered.status()).as(answered.body().toString()).isEqualTo(200);
        assertThat(v1("GET", token, "/v1/models/late").status()).isEqualTo(200);
        Reply unknown = chat("{\"model\":\"huge\",\"messages\":[]}");
        assertThat(unknown.status()).as("every backend's models are known now").isEqualTo(404);
        assertThat(unknown.body().at("/error/code").asText()).isEqualTo("model_not_found");
    }

    @Test
    void whenEveryBackendIsBusy_requestsWait_andOnlyAFullQueueAnswers429() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "300", "decode-rate", "0");
        start(GatewaySettings.of(List.of(backend(a, 1)), "least_outstanding").withQueue(1, Duration.ofSeconds(10)));
        List<Thread> threads = new ArrayList<>();
        List<Reply> replies = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int i = 0; i < 3; i++) {
            threads.add(Thread.ofVirtual().start(() -> {
                try {
                    replies.add(chat("{\"model\":\"m\",\"messages\":[]}"));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }));
            Thread.sleep(100);
        }
        for (Thread t : threads) {
            t.join(10_000);
        }
        assertThat(replies).extracting(Reply::status).containsExactlyInAnyOrder(200, 200, 429);
        Reply refused = replies.stream().filter(r -> r.status() == 429).findFirst().orElseThrow();
        assertThat(refused.response().headers().firstValue("Retry-After")).isPresent();
        assertThat(refused.body().at("/error/type").asText()).isEqualTo("rate_limit_error");
    }

    @Test
    void aClientThatHangsUp_cancelsTheBackendsGeneration() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "1", "decode-rate", "20", "output-tokens", "200");
        start(GatewaySettings.of(List.of(backend(a, 4)), "least_outstanding"));
        // A raw socket, so that hanging up is a closed connection and not a client library's choice.
        String body = "{\"model\":\"m\",\"stream\":true,\"messages\":[]}";
        try (Socket socket = new Socket("127.0.0.1", v1Port())) {
            socket.getOutputStream().write(("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
                    + "Authorization: Bearer " + token + "\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
            byte[] head = new byte[4096];
            int read = socket.getInputStream().read(head);
            assertThat(new String(head, 0, read, StandardCharsets.UTF_8)).startsWith("HTTP/1.1 200");
            assertThat(a.simulator().stats().running()).isEqualTo(1);
        } // 200 tokens at 20/s would take 10 s
        long deadline = System.nanoTime() + 3_000_000_000L;
        while (a.simulator().stats().running() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(a.simulator().stats().running()).as("the backend stopped generating").isZero();
        assertThat(get("/api/v1/llm/backends").at("/backends/0/in_flight").asInt()).isZero();
        JsonNode usage = get("/api/v1/llm/usage");
        assertThat(usage.at("/agents/team/requests").asInt()).as("hanging up early still counts").isEqualTo(1);
        assertThat(usage.at("/agents/team/prompt_tokens").asInt()).as("estimated from the request").isPositive();
    }

    @Test
    void limitsAndBudgets_answer429_andUsagePerTaskOutlivesARestart() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "1", "decode-rate", "0", "output-tokens", "10");
        Quotas.Settings limits = Quotas.Settings.parse(RequestBody.MAPPER.readTree(
                "{\"agent\":{\"rpm\":2},\"keys\":{\"team\":{\"daily_tokens\":30}}}"));
        GatewaySettings llm = GatewaySettings.of(List.of(backend(a, 4)), "least_outstanding").withQuotas(limits)
                .withStateFile(dir.resolve("llm-usage.json"));
        start(llm);
        String body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"one two three\"}]}";
        post(token, "/api/v1/agents", "{\"agent_id\":\"planner\"}", Map.of());
        String task = task(token, "nobody");
        Map<String, String> asPlanner = Map.of(LlmRoutes.AGENT_HEADER, "planner", LlmRoutes.TASK_HEADER, task);
        assertThat(chat(body, asPlanner).status()).isEqualTo(200);
        assertThat(chat(body, asPlanner).status()).isEqualTo(200);
        Reply overRate = chat(body, asPlanner);
        assertThat(overRate.status()).isEqualTo(429);
        assertThat(overRate.body().at("/error/code").asText()).isEqualTo("rate_limit_exceeded");
        assertThat(overRate.body().at("/error/message").asText()).contains("agent 'planner'");
        assertThat(overRate.response().headers().firstValue("Retry-After")).isPresent();

        // The key 'team' has used 2 × (4 prompt + 10 completion) = 28 of its 30 tokens: one more passes, then none.
        assertThat(chat(body).status()).isEqualTo(200);
        Reply overBudget = chat(body);
        assertThat(overBudget.status()).isEqualTo(429);
        assertThat(overBudget.body().at("/error/type").asText()).isEqualTo("insufficient_quota");

        JsonNode usage = get("/api/v1/llm/usage");
        assertThat(usage.at("/keys/team/tokens_today").asInt()).isEqualTo(42);
        assertThat(usage.at("/keys/team/daily_tokens_limit").asInt()).isEqualTo(30);
        assertThat(usage.at("/agents/planner/rpm_limit").asInt()).isEqualTo(2);
        assertThat(usage.has("tasks")).as("tasks are for admins").isFalse();

        server.close();
        bus.close();
        server = null;
        start(llm); // the same data directory: usage and today's budget come back
        assertThat(chat(body).status()).isEqualTo(429);
        String admin = adminToken();
        JsonNode all = get(admin, "/api/v1/llm/usage");
        assertThat(all.at("/tasks/" + task + "/requests").asInt()).isEqualTo(2);
        String agents = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                + "/api/v1/agents")).header("Authorization", "Bearer " + admin).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        assertThat(agents).contains("planner").doesNotContain("\"llm\"");
        assertThat(all.at("/tasks/" + task + "/completion_tokens").asInt()).isEqualTo(20);
        assertThat(get("/api/v1/llm/usage").at("/agents/planner/requests").asInt()).as("the owner's, after a restart")
                .isEqualTo(2);
        assertThat(all.at("/keys/team/requests").asInt()).isEqualTo(3);
        String metrics = metrics();
        assertThat(metrics).contains("swarmbus_llm_usage_completion_tokens_total{kind=\"model\",name=\"m\"} 30.0");
    }

    /**
     * Regression: a call without X-Swarmbus-Agent was counted for the agent named like its user
     * even when that agent id was another user's, who then read the call in its usage, and the
     * user read that agent's usage as its own. No user can now register an agent named like
     * another user, so the call is the user's own.
     */
    @Test
    void usage_ofACallWithoutAnAgent_isTheUsersOwn_whoseNameNoOtherUserCanRegister() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "1", "decode-rate", "0", "output-tokens", "10");
        start(GatewaySettings.of(List.of(backend(a, 4)), "least_outstanding"));
        String other = token("other");
        assertThat(post(other, "/api/v1/agents", "{\"agent_id\":\"team\"}", Map.of()).statusCode())
                .as("named like the user 'team'").isEqualTo(409);
        String body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"one two three\"}]}";

        assertThat(chat(body).status()).isEqualTo(200);

        assertThat(get("/api/v1/llm/usage").at("/agents/team/requests").asInt()).isEqualTo(1);
        String ownToken = token;
        token = other;
        assertThat(get("/api/v1/llm/usage").at("/agents").has("team")).as("another user's usage").isFalse();
        token = ownToken;
    }

    /**
     * Regression: usage was kept per agent id, so a user who registered an id another user had
     * deleted read that user's tokens, cost and calls (and today's use) as its new agent's.
     */
    @Test
    void usage_ofAnAgentIdDeletedAndRegisteredAgain_startsAfresh_whoeverRegistersIt() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "1", "decode-rate", "0", "output-tokens", "10");
        start(GatewaySettings.of(List.of(backend(a, 4)), "least_outstanding").withQuotas(Quotas.Settings.parse(
                RequestBody.MAPPER.readTree("{\"agent\":{\"daily_tokens\":1000}}"))));
        String other = token("other");
        String body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"one two three\"}]}";
        Map<String, String> asX = Map.of(LlmRoutes.AGENT_HEADER, "x");
        post(token, "/api/v1/agents", "{\"agent_id\":\"x\"}", Map.of());
        assertThat(chat(body, asX).status()).isEqualTo(200);
        assertThat(chat(body, asX).status()).isEqualTo(200);
        assertThat(get("/api/v1/llm/usage").at("/agents/x/requests").asInt()).isEqualTo(2);
        assertThat(delete(token, "/api/v1/agents/x")).isEqualTo(200);

        assertThat(post(other, "/api/v1/agents", "{\"agent_id\":\"x\"}", Map.of()).statusCode()).isEqualTo(201);
        assertThat(get(other, "/api/v1/llm/usage").at("/agents").has("x")).as("the earlier owner's").isFalse();
        assertThat(post(other, "/v1/chat/completions", body, asX).statusCode()).isEqualTo(200);
        JsonNode theirs = get(other, "/api/v1/llm/usage").at("/agents/x");
        assertThat(theirs.path("requests").asInt()).isEqualTo(1);
        assertThat(theirs.path("total_tokens").asInt()).isEqualTo(14);
        assertThat(theirs.path("tokens_today").asInt()).as("today's use of this registration").isEqualTo(14);
        JsonNode mine = get("/api/v1/llm/usage");
        assertThat(mine.at("/agents").has("x")).as("another user's agent now").isFalse();
        assertThat(mine.at("/keys/team/requests").asInt()).as("what the user spent stays its own").isEqualTo(2);

        // The same user registering the id again starts afresh too, as the agent's messages do;
        // the seed's delete path deletes as the API's does.
        assertThat(delete(other, "/agents/x")).isEqualTo(200);
        post(other, "/api/v1/agents", "{\"agent_id\":\"x\"}", Map.of());
        assertThat(get(other, "/api/v1/llm/usage").at("/agents").has("x")).isFalse();
        assertThat(get(other, "/api/v1/llm/usage").at("/keys/other/requests").asInt()).isEqualTo(1);

        JsonNode all = get(adminToken(), "/api/v1/llm/usage");
        assertThat(all.at("/agents/x/requests").asInt()).as("admins see the id's totals").isEqualTo(3);
        assertThat(all.at("/keys/team/requests").asInt()).isEqualTo(2);
        assertThat(all.at("/keys/other/requests").asInt()).isEqualTo(1);
        assertThat(all.at("/models/m/requests").asInt()).isEqualTo(3);
        assertThat(metrics()).contains("swarmbus_llm_usage_requests_total{kind=\"model\",name=\"m\"} 3.0");
    }

    /**
     * Regression: X-Swarmbus-Task accounted a call to any task id, so a user could add to the
     * cost of another user's task, or of one that does not exist.
     */
    @Test
    void aCallsTask_mustBeOneTheCallerMaySee_elseNothingIsCalledOrCounted() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "1", "decode-rate", "0", "output-tokens", "10");
        start(GatewaySettings.of(List.of(backend(a, 4)), "least_outstanding"));
        String other = token("other");
        String theirs = task(other, "nobody");
        String mine = task(token, "nobody");
        post(token, "/api/v1/agents", "{\"agent_id\":\"worker\",\"capabilities\":[\"review\"]}", Map.of());
        String assignedToMine = task(adminToken(), "review"); // not mine, but run by my agent
        String body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"one two three\"}]}";

        for (String hidden : List.of(theirs, "task-ffff")) {
            Reply refused = chat(body, Map.of(LlmRoutes.TASK_HEADER, hidden));
            assertThat(refused.status()).as(hidden).isEqualTo(404);
            assertThat(refused.body().at("/error/param").asText()).isEqualTo(LlmRoutes.TASK_HEADER);
            assertThat(refused.body().at("/error/message").asText()).contains(LlmRoutes.TASK_HEADER, hidden);
        }
        post(token, "/api/v1/agents", "{\"agent_id\":\"planner\"}", Map.of());
        assertThat(post(token, "/api/v1/messages", """
                {"from": "planner", "to": "llm", "type": "llm_request", "correlation_id": "c-1",
                 "headers": {"task_id": "%s"}, "content": {"model": "m", "messages": []}}
                """.formatted(theirs), Map.of()).statusCode()).isEqualTo(201);
        JsonNode answer = RequestBody.MAPPER.readTree(post(token, "/api/v1/agents/planner/receive",
                "{\"max_messages\":1,\"timeout\":10}", Map.of()).body()).at("/messages/0/content");
        assertThat(answer.path("status").asInt()).isEqualTo(404);
        assertThat(answer.at("/error/message").asText()).contains("task_id", theirs);
        assertThat(a.simulator().stats().requests()).as("nothing reached the backend").isZero();
        assertThat(get("/api/v1/llm/usage").at("/keys").has("team")).as("nothing was counted").isFalse();

        assertThat(chat(body, Map.of(LlmRoutes.TASK_HEADER, mine)).status()).isEqualTo(200);
        assertThat(chat(body, Map.of(LlmRoutes.AGENT_HEADER, "worker", LlmRoutes.TASK_HEADER, assignedToMine))
                .status()).isEqualTo(200);
        JsonNode all = get(adminToken(), "/api/v1/llm/usage");
        assertThat(all.at("/tasks/" + mine + "/requests").asInt()).isEqualTo(1);
        assertThat(all.at("/tasks/" + assignedToMine + "/requests").asInt()).isEqualTo(1);
        assertThat(all.at("/tasks").has(theirs)).isFalse();
        assertThat(all.at("/tasks").has("task-ffff")).isFalse();
        assertThat(all.at("/keys/team/requests").asInt()).isEqualTo(2);
    }

    /** Regression: /metrics, which answers without credentials, named every user, agent and task with its spending. */
    @Test
    void publicMetrics_countUsagePerModel_andNameNoUserAgentOrTask() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "1", "decode-rate", "0", "output-tokens", "10");
        start(GatewaySettings.of(List.of(backend(a, 4)), "least_outstanding"));
        post(token, "/api/v1/agents", "{\"agent_id\":\"planner\"}", Map.of());
        String body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"one two three\"}]}";
        String task = task(token, "nobody");
        assertThat(chat(body, Map.of(LlmRoutes.AGENT_HEADER, "planner", LlmRoutes.TASK_HEADER, task)).status())
                .isEqualTo(200);
        assertThat(chat(body).status()).isEqualTo(200);

        String metrics = metrics();
        assertThat(metrics).contains("swarmbus_llm_usage_requests_total{kind=\"model\",name=\"m\"} 2.0")
                .doesNotContain("kind=\"agent\"").doesNotContain("kind=\"key\"").doesNotContain("kind=\"task\"")
                .doesNotContain("\"team\"").doesNotContain("\"planner\"").doesNotContain(task);
        assertThat(get("/api/v1/llm/usage").at("/agents/planner/requests").asInt()).as("still there for its owner")
                .isEqualTo(1);
    }

    @Test
    void anLlmRequestMessage_isAnsweredInTheSendersInbox_withItsCorrelationId() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "1", "decode-rate", "0", "output-tokens", "6");
        start(GatewaySettings.of(List.of(backend(a, 4)), "least_outstanding"));
        post(token, "/api/v1/agents", "{\"agent_id\":\"planner\"}", Map.of());
        String task = task(token, "nobody");
        assertThat(post(token, "/api/v1/messages", """
                {"from": "planner", "to": "llm", "type": "llm_request", "correlation_id": "c-1",
                 "headers": {"task_id": "%s"},
                 "content": {"model": "m", "stream": true, "messages": [{"role": "user", "content": "plan the day"}]}}
                """.formatted(task), Map.of()).statusCode()).isEqualTo(201);
        assertThat(post(token, "/api/v1/messages", """
                {"from": "planner", "to": "llm", "type": "llm_request", "correlation_id": "c-2",
                 "content": {"model": "huge", "messages": []}}
                """, Map.of()).statusCode()).isEqualTo(201);
        assertThat(post(token, "/api/v1/messages", """
                {"from": "planner", "to": "llm", "type": "llm_request", "correlation_id": "c-3",
                 "content": {"model": 5, "messages": []}}
                """, Map.of()).statusCode()).isEqualTo(201);

        Map<String, JsonNode> byCorrelation = new java.util.HashMap<>();
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (byCorrelation.size() < 3 && System.nanoTime() < deadline) {
            JsonNode got = RequestBody.MAPPER.readTree(post(token, "/api/v1/agents/planner/receive",
                    "{\"max_messages\":10,\"timeout\":2}", Map.of()).body());
            got.path("messages").forEach(m -> byCorrelation.put(m.path("correlation_id").asText(), m));
        }
        JsonNode answer = byCorrelation.get("c-1");
        assertThat(answer.path("type").asText()).isEqualTo("llm_response");
        assertThat(answer.path("from").asText()).isEqualTo("llm");
        assertThat(answer.at("/content/choices/0/message/content").asText().split(" ")).hasSize(6);
        JsonNode refused = byCorrelation.get("c-2").path("content");
        assertThat(refused.path("status").asInt()).isEqualTo(404);
        assertThat(refused.at("/error/code").asText()).isEqualTo("model_not_found");
        // Regression: a model that is not a string was looked for by its text and not found (404);
        // HTTP refuses the same body as a 400 naming the field.
        JsonNode notAString = byCorrelation.get("c-3").path("content");
        Reply overHttp = chat("{\"model\":5,\"messages\":[]}", Map.of());
        assertThat(overHttp.status()).isEqualTo(400);
        assertThat(notAString.path("status").asInt()).isEqualTo(400);
        assertThat(notAString.path("error")).isEqualTo(overHttp.body().path("error"));

        JsonNode usage = get("/api/v1/llm/usage");
        assertThat(usage.at("/agents/planner/completion_tokens").asInt()).isEqualTo(6);
        assertThat(usage.at("/keys/team/requests").asInt()).as("billed to the sender's owner").isEqualTo(1);
        assertThat(get("/api/v1/agents").toString()).doesNotContain("\"llm\"");
        assertThat(post(token, "/api/v1/agents", "{\"agent_id\":\"llm\"}", Map.of()).statusCode()).isEqualTo(409);
    }

    /** Regression: a request whose sender was deleted before its answer stayed unacknowledged, to be asked again. */
    @Test
    void anLlmRequestWhoseSenderIsDeletedMeanwhile_isAcknowledged_notAskedAgain() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "1000", "decode-rate", "0", "output-tokens", "6");
        start(GatewaySettings.of(List.of(backend(a, 4)), "least_outstanding"));
        post(token, "/api/v1/agents", "{\"agent_id\":\"planner\"}", Map.of());
        assertThat(post(token, "/api/v1/messages", """
                {"from": "planner", "to": "llm", "type": "llm_request", "correlation_id": "c-1",
                 "content": {"model": "m", "messages": [{"role": "user", "content": "plan the day"}]}}
                """, Map.of()).statusCode()).isEqualTo(201);
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (a.simulator().stats().requests() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(delete(token, "/api/v1/agents/planner")).isEqualTo(200);

        io.swarmbus.messaging.AgentId llm = io.swarmbus.messaging.AgentId.of("llm");
        deadline = System.nanoTime() + 5_000_000_000L;
        while (bus.inboxStats(llm).leased() + bus.inboxStats(llm).pending() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(bus.inboxStats(llm).leased()).as("acknowledged, not left to be delivered again").isZero();
        assertThat(bus.inboxStats(llm).pending()).isZero();
    }

    /** Regression: an llm_request with reply_to "llm" had the llm address answer itself, without end. */
    @Test
    void anLlmRequestAskingForItsAnswerAtTheLlmAddress_isRefused_ratherThanAnsweredInALoop() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "1", "decode-rate", "0", "output-tokens", "6");
        start(GatewaySettings.of(List.of(backend(a, 4)), "least_outstanding"));
        post(token, "/api/v1/agents", "{\"agent_id\":\"planner\"}", Map.of());
        assertThat(post(token, "/api/v1/messages", """
                {"from": "planner", "to": "llm", "type": "llm_request", "correlation_id": "c-1", "reply_to": "llm",
                 "content": {"model": "m", "messages": [{"role": "user", "content": "plan the day"}]}}
                """, Map.of()).statusCode()).isEqualTo(201);

        JsonNode answer = RequestBody.MAPPER.readTree(post(token, "/api/v1/agents/planner/receive",
                "{\"max_messages\":1,\"timeout\":10}", Map.of()).body()).at("/messages/0");
        assertThat(answer.path("correlation_id").asText()).isEqualTo("c-1");
        assertThat(answer.at("/content/status").asInt()).isEqualTo(400);
        assertThat(answer.at("/content/error/message").asText()).contains("reply_to");
        Thread.sleep(500);
        assertThat(bus.stats().sent()).as("the request and its one answer").isEqualTo(2);
        assertThat(a.simulator().stats().requests()).isZero();
    }

    @Test
    void anAnswerTooLargeForAMessage_isAnsweredWithAnError_notAskedForAgainAndAgain() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "1", "decode-rate", "0", "output-tokens", "2000");
        start(GatewaySettings.of(List.of(backend(a, 4)), "least_outstanding"), java.util.Optional.empty(),
                BusConfig.builder(dir).maxMessageBytes(4096).build());
        post(token, "/api/v1/agents", "{\"agent_id\":\"planner\"}", Map.of());
        assertThat(post(token, "/api/v1/messages", """
                {"from": "planner", "to": "llm", "type": "llm_request", "correlation_id": "long",
                 "content": {"model": "m", "max_tokens": 2000, "messages": [{"role": "user", "content": "go on"}]}}
                """, Map.of()).statusCode()).isEqualTo(201);

        JsonNode got = RequestBody.MAPPER.readTree(post(token, "/api/v1/agents/planner/receive",
                "{\"max_messages\":10,\"timeout\":10}", Map.of()).body());

        JsonNode answer = got.path("messages").get(0);
        assertThat(answer.path("correlation_id").asText()).isEqualTo("long");
        assertThat(answer.at("/content/status").asInt()).isEqualTo(413);
        assertThat(answer.at("/content/error/message").asText()).contains("does not fit in a message", "max_tokens");
        assertThat(a.simulator().stats().requests()).as("the model was asked once").isEqualTo(1);
        io.swarmbus.messaging.AgentId llm = io.swarmbus.messaging.AgentId.of("llm");
        long deadline = System.nanoTime() + 5_000_000_000L; // acked just after the answer is sent
        while (bus.inboxStats(llm).leased() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(bus.inboxStats(llm).leased()).as("the request was acked").isZero();
    }

    @Test
    void theScalingSignal_asksForBackendsWhileRequestsQueue_andForAgentsWhenTheirBacklogGrows() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "600", "decode-rate", "0");
        start(GatewaySettings.of(List.of(backend(a, 1)), "least_outstanding"));
        post(token, "/api/v1/agents", "{\"agent_id\":\"worker-1\"}", Map.of());
        for (int i = 0; i < 25; i++) {
            assertThat(post(token, "/api/v1/messages", "{\"from\":\"worker-1\",\"to\":\"worker-1\",\"content\":\"job "
                    + i + "\"}", Map.of()).statusCode()).isEqualTo(201);
        }
        List<Thread> calls = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            calls.add(Thread.ofVirtual().start(() -> {
                try {
                    chat("{\"model\":\"m\",\"messages\":[]}");
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }));
        }
        long deadline = System.nanoTime() + 5_000_000_000L;
        JsonNode busy = get("/api/v1/scaling");
        while (busy.at("/backends/queued").asInt() < 2 && System.nanoTime() < deadline) {
            busy = get("/api/v1/scaling");
        }
        assertThat(busy.at("/backends/in_flight").asInt()).isEqualTo(1);
        assertThat(busy.at("/backends/desired").asInt()).as("3 requests, 1 slot each, 80%% busy").isEqualTo(4);
        assertThat(busy.at("/agents/desired").asInt()).as("LLM-bound: more agents would only queue").isEqualTo(1);
        for (Thread call : calls) {
            call.join(10_000);
        }
        // A call's slot is given back just after its answer is written, so the client may be a
        // moment ahead of the count.
        JsonNode idle = get("/api/v1/scaling");
        while (idle.at("/backends/in_flight").asInt() > 0 && System.nanoTime() < deadline + 10_000_000_000L) {
            idle = get("/api/v1/scaling");
        }
        assertThat(idle.at("/backends/desired").asInt()).isEqualTo(1);
        assertThat(idle.at("/agents/backlog").asInt()).isEqualTo(25);
        assertThat(idle.at("/agents/desired").asInt()).isEqualTo(2);
        assertThat(idle.at("/agents/reason").asText()).contains("scale up");
        String metrics = metrics();
        assertThat(metrics).contains("swarmbus_scaling_desired_agents").contains("swarmbus_scaling_desired_backends 1.0");
        post(token, "/api/v1/agents/worker-1/heartbeat", "{\"status\":\"offline\"}", Map.of());
        JsonNode crashed = get("/api/v1/scaling");
        assertThat(crashed.at("/agents/backlog").asInt()).as("an offline agent's work still waits").isEqualTo(25);
        assertThat(crashed.at("/agents/desired").asInt()).isPositive();
        assertThat(crashed.at("/agents/reason").asText()).contains("scale up");
    }

    /** Regression: an error without a parameter to name left out {@code param}, which OpenAI always sends. */
    @Test
    void errorsNamingNoParameter_carryParamNull_inOpenAisFourFields() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "1", "decode-rate", "0");
        start(GatewaySettings.of(List.of(backend(a, 4)), "least_outstanding"));
        JsonNode unknown = chat("{\"model\":\"huge\",\"messages\":[]}").body().get("error");
        JsonNode anonymous = RequestBody.MAPPER.readTree(post(null, "/v1/chat/completions", "{\"model\":\"m\"}",
                Map.of()).body()).get("error");
        for (JsonNode error : List.of(unknown, anonymous)) {
            assertThat(error.properties()).extracting(Map.Entry::getKey)
                    .as(error.toString()).containsExactly("message", "type", "param", "code");
            assertThat(error.get("param").isNull()).as(error.toString()).isTrue();
        }
        assertThat(chat("{\"model\":7}").body().at("/error/param").asText()).isEqualTo("model");
    }

    @Test
    void badRequests_getOpenAiShapedErrors_andAgentsMustBeOwned() throws Exception {
        LlmSimServer a = sim("model", "m", "overhead-ms", "1", "decode-rate", "0");
        start(GatewaySettings.of(List.of(backend(a, 4)), "least_outstanding"));
        Reply malformed = chat("{\"model\":");
        assertThat(malformed.status()).isEqualTo(400);
        assertThat(malformed.body().at("/error/type").asText()).isEqualTo("invalid_request_error");
        assertThat(chat("[1,2]").status()).isEqualTo(400);
        // Regression: a missing model answered code null and no param, unlike a model of the wrong type.
        for (String body : new String[] {"{\"messages\":[]}", "{\"model\":\"\",\"messages\":[]}", "{\"model\":7}"}) {
            Reply refused = chat(body);
            assertThat(refused.status()).as(body).isEqualTo(400);
            assertThat(refused.body().at("/error/type").asText()).as(body).isEqualTo("invalid_request_error");
            assertThat(refused.body().at("/error/code").asText()).as(body).isEqualTo("invalid_argument");
            assertThat(refused.body().at("/error/param").asText()).as(body).isEqualTo("model");
            assertThat(refused.body().at("/error/message").asText()).as(body).contains("'model'");
        }
        Reply twice = chat("{\"model\":\"m\",\"messages\":[],\"model\":\"other\"}");
        assertThat(twice.status()).as("a backend might read the other model").isEqualTo(400);
        assertThat(twice.body().at("/error/message").asText()).contains("Duplicate field 'model'");
        Reply oversized = chat("{\"model\":\"m\",\"messages\":[],\"pad\":\"" + "x".repeat(3 << 20) + "\"}");
        assertThat(oversized.status()).isEqualTo(413);
        assertThat(oversized.body().at("/error/code").asText()).isEqualTo("request_too_large");
        HttpResponse<String> unknown = post(token, "/v1/nothing", "{}", Map.of());
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(RequestBody.MAPPER.readTree(unknown.body()).at("/error/type").asText())
                .isEqualTo("invalid_request_error");
        HttpResponse<String> wrongMethod = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                + v1Port() + "/v1/chat/completions")).header("Authorization", "Bearer " + token).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(wrongMethod.statusCode()).isEqualTo(405);
        assertThat(RequestBody.MAPPER.readTree(wrongMethod.body()).at("/error/message").asText()).contains("GET");
        assertThat(wrongMethod.headers().firstValue("Allow")).hasValue("POST");
        HttpResponse<String> models = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                + v1Port() + "/v1/models")).header("Authorization", "Bearer " + token).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(RequestBody.MAPPER.readTree(models.body()).at("/data/0/id").asText()).isEqualTo("m");

        HttpResponse<String> anonymous = post(null, "/v1/chat/completions", "{\"model\":\"m\"}", Map.of());
        assertThat(anonymous.statusCode()).isEqualTo(401);
        assertThat(RequestBody.MAPPER.readTree(anonymous.body()).at("/error/type").asText())
                .isEqualTo("authentication_error");

        String other = token("other");
        post(other, "/api/v1/agents", "{\"agent_id\":\"theirs\"}", Map.of());
        post(token, "/api/v1/agents", "{\"agent_id\":\"mine\"}", Map.of());
        assertThat(chat("{\"model\":\"m\",\"messages\":[]}", Map.of(LlmRoutes.AGENT_HEADER, "theirs")).status())
                .isEqualTo(404);
        assertThat(chat("{\"model\":\"m\",\"messages\":[]}", Map.of(LlmRoutes.AGENT_HEADER, "mine",
                LlmRoutes.PRIORITY_HEADER, "high")).status()).isEqualTo(200);
        // Regression: a bad agent header was refused naming "agent_id", a field the request does not have.
        Reply badAgent = chat("{\"model\":\"m\",\"messages\":[]}", Map.of(LlmRoutes.AGENT_HEADER, "not valid"));
        assertThat(badAgent.status()).isEqualTo(400);
        assertThat(badAgent.body().at("/error/param").asText()).isEqualTo(LlmRoutes.AGENT_HEADER);
        assertThat(badAgent.body().at("/error/message").asText()).contains("'not valid'")
                .startsWith(LlmRoutes.AGENT_HEADER + ": ");
        // Regression: a bad priority header was refused naming "priority", a field the request does not have.
        for (String priority : new String[] {"urgent", "9"}) {
            Reply refused = chat("{\"model\":\"m\",\"messages\":[]}", Map.of(LlmRoutes.PRIORITY_HEADER, priority));
            assertThat(refused.status()).as(priority).isEqualTo(400);
            assertThat(refused.body().at("/error/param").asText()).as(priority).isEqualTo(LlmRoutes.PRIORITY_HEADER);
            assertThat(refused.body().at("/error/message").asText()).as(priority)
                    .startsWith(LlmRoutes.PRIORITY_HEADER + ": ");
        }
        // Regression: a negative timeout was taken as 1 ms without a word.
        for (String timeout : new String[] {"-5", "soon"}) {
            Reply refused = chat("{\"model\":\"m\",\"messages\":[]}", Map.of(LlmRoutes.TIMEOUT_HEADER, timeout));
            assertThat(refused.status()).as(timeout).isEqualTo(400);
            assertThat(refused.body().at("/error/type").asText()).as(timeout).isEqualTo("invalid_request_error");
            assertThat(refused.body().at("/error/param").asText()).as(timeout).isEqualTo(LlmRoutes.TIMEOUT_HEADER);
        }
        assertThat(chat("{\"model\":\"m\",\"messages\":[]}", Map.of(LlmRoutes.TIMEOUT_HEADER, "0")).status())
                .isEqualTo(200);
        assertThat(get("/api/v1/llm/usage").at("/agents/mine/requests").asInt()).isEqualTo(1);
    }
}
