package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.swarmbus.llm.BackendSpec;
import io.swarmbus.llm.GatewaySettings;
import io.swarmbus.llm.sim.SimSettings;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.server.TestApi.Reply;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Managed LLM agents over real HTTP, calling real llm-sim backends through the gateway. */
class ManagedAgentsTest {
    @TempDir
    Path dir;
    MessageBus bus;
    HttpServer server;
    TestApi api;
    String token;
    final List<AutoCloseable> backends = new ArrayList<>();

    LlmSimServer sim(String... options) {
        Map<String, String> map = new HashMap<>();
        for (int i = 0; i < options.length; i += 2) {
            map.put(options[i], options[i + 1]);
        }
        LlmSimServer sim = LlmSimServer.start(SimSettings.defaults().with(map), "127.0.0.1", 0);
        backends.add(sim);
        return sim;
    }

    void start(String backendUrl) throws Exception {
        start(backendUrl, BusConfig.builder(dir).build());
    }

    void start(String backendUrl, BusConfig config) throws Exception {
        start(GatewaySettings.of(List.of(BackendSpec.ofUrl(backendUrl, 16)), "least_outstanding"), config);
    }

    void start(GatewaySettings llm, BusConfig config) throws Exception {
        bus = MessageBus.open(config);
        ServerSettings settings = ServerSettings.forTests(dir).withLlm(llm);
        server = HttpServer.start(bus, settings);
        api = new TestApi(server);
        token = api.token("team");
    }

    void restart() throws Exception {
        server.close();
        bus.close();
        bus = MessageBus.open(BusConfig.builder(dir).build());
        server = HttpServer.start(bus, ServerSettings.forTests(dir).withLlm(GatewaySettings.of(List.of(
                BackendSpec.ofUrl("http://127.0.0.1:" + ((LlmSimServer) backends.getFirst()).port() + "/v1", 16)),
                "least_outstanding")));
        api = new TestApi(server);
        token = api.token("team");
    }

    @AfterEach
    void stop() throws Exception {
        if (server != null) {
            server.close();
            bus.close();
        }
        for (AutoCloseable backend : backends) {
            backend.close();
        }
    }

    Reply call(String method, String path, String body) throws Exception {
        return api.call(token, method, path, body);
    }

    /** Polls {@code path} until {@code done} holds, for at most {@code seconds}. */
    JsonNode await(String path, Predicate<JsonNode> done, int seconds) throws Exception {
        long until = System.nanoTime() + Duration.ofSeconds(seconds).toNanos();
        JsonNode body = call("GET", path, null).body();
        while (!done.test(body) && System.nanoTime() < until) {
            Thread.sleep(50);
            body = call("GET", path, null).body();
        }
        assertThat(done.test(body)).as(path + " -> " + body).isTrue();
        return body;
    }

    String task(String body) throws Exception {
        Reply created = call("POST", "/api/v1/tasks", body);
        assertThat(created.status()).as(created.body().toString()).isEqualTo(201);
        return created.body().get("task_id").asText();
    }

    @Test
    void aPool_answersTasksThroughTheGateway_accountsItsTokens_andComesBackAfterARestart() throws Exception {
        LlmSimServer sim = sim("model", "m", "overhead-ms", "1", "decode-rate", "0", "output-tokens", "8");
        start("http://127.0.0.1:" + sim.port() + "/v1");
        Reply created = call("POST", "/api/v1/managed-agents", "{\"name\":\"writer\",\"model\":\"m\","
                + "\"system_prompt\":\"You write tersely.\",\"capabilities\":[\"write\"],\"replicas\":2,"
                + "\"max_tokens\":8}");
        assertThat(created.status()).as(created.body().toString()).isEqualTo(201);
        assertThat(created.body().get("replica_agents")).extracting(r -> r.get("agent_id").asText())
                .containsExactly("writer-1", "writer-2");
        JsonNode agent = call("GET", "/api/v1/agents/writer-1", null).body();
        assertThat(agent.toString()).contains("write").contains("managed_pool");

        String id = task("{\"type\":\"draft\",\"description\":\"Draft a haiku\",\"required_capabilities\":[\"write\"]}");
        JsonNode done = await("/api/v1/tasks/" + id, t -> t.path("status").asText().equals("completed"), 10);
        assertThat(done.at("/result/answer").asText().split(" ")).hasSize(8);
        String replica = done.get("assignee").asText();
        assertThat(replica).startsWith("writer-");

        // The replica counts the task in its pool just after completing it, so the count may lag the status.
        JsonNode pool = await("/api/v1/managed-agents/writer", p -> p.at("/usage/tasks_completed").asInt() == 1, 5);
        assertThat(pool.at("/usage/llm_calls").asInt()).isEqualTo(1);
        assertThat(pool.at("/usage/completion_tokens").asInt()).isEqualTo(8);
        JsonNode usage = call("GET", "/api/v1/llm/usage", null).body();
        assertThat(usage.at("/agents/" + replica + "/completion_tokens").asInt()).isEqualTo(8);
        assertThat(sim.simulator().stats().requests()).isEqualTo(1);

        restart();
        JsonNode again = call("GET", "/api/v1/managed-agents/writer", null).body();
        assertThat(again.get("replica_agents")).hasSize(2);
        String second = task("{\"type\":\"draft\",\"description\":\"Another\",\"required_capabilities\":[\"write\"]}");
        await("/api/v1/tasks/" + second, t -> t.path("status").asText().equals("completed"), 10);
    }

    /** Regression: a restart took any agent whose metadata named a pool for a replica, another user's too. */
    @Test
    void aRestart_leavesAgentsThatOnlyClaimToBeReplicas() throws Exception {
        LlmSimServer sim = sim("model", "m", "overhead-ms", "1", "decode-rate", "0", "output-tokens", "8");
        start("http://127.0.0.1:" + sim.port() + "/v1");
        assertThat(call("POST", "/api/v1/managed-agents", "{\"name\":\"writer\",\"model\":\"m\",\"replicas\":2,"
                + "\"max_replicas\":2}").status()).isEqualTo(201);
        String stranger = api.token("stranger");
        for (String agent : List.of("spy:writer", "writer-7:writer", "keep:ghost")) {
            String[] idAndPool = agent.split(":");
            Reply registered = api.call(stranger, "POST", "/api/v1/agents", "{\"agent_id\":\"" + idAndPool[0]
                    + "\",\"metadata\":{\"managed_pool\":\"" + idAndPool[1] + "\"}}");
            assertThat(registered.status()).as(registered.body().toString()).isEqualTo(201);
        }

        restart();

        String strangerAgain = api.token("stranger");
        for (String agent : List.of("spy", "writer-7", "keep")) {
            Reply theirs = api.call(strangerAgain, "GET", "/api/v1/agents/" + agent, null);
            assertThat(theirs.status()).as(agent + " " + theirs.body()).isEqualTo(200);
            assertThat(theirs.body().get("owner").asText()).isEqualTo("stranger");
        }
        assertThat(call("GET", "/api/v1/managed-agents/writer", null).body().get("replica_agents"))
                .extracting(r -> r.get("agent_id").asText()).containsExactlyInAnyOrder("writer-1", "writer-2");
    }

    /**
     * Regression: a resize of a pool deleted meanwhile (a PUT of its replicas racing its DELETE, or
     * the scaler's tick) started replicas no pool owned and saved the deleted pool again.
     */
    @Test
    void aPoolDeletedWhileBeingResized_staysDeleted_andLeavesNoReplicas() throws Exception {
        LlmSimServer sim = sim("model", "m", "overhead-ms", "1", "decode-rate", "0");
        start("http://127.0.0.1:" + sim.port() + "/v1");
        assertThat(call("POST", "/api/v1/managed-agents", "{\"name\":\"a\",\"model\":\"m\",\"max_replicas\":3}")
                .status()).isEqualTo(201);
        ManagedPool looked = server.managed().require("a", "team", false); // as PUT .../replicas looks it up

        assertThat(call("DELETE", "/api/v1/managed-agents/a", null).status()).isEqualTo(200);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> server.managed().scale(looked, 3, 1, 3))
                .isInstanceOf(io.swarmbus.SwarmbusException.class).hasMessageContaining("not found");

        for (String replica : List.of("a-1", "a-2", "a-3")) {
            assertThat(call("GET", "/api/v1/agents/" + replica, null).status()).as(replica).isEqualTo(404);
        }
        restart();
        assertThat(call("GET", "/api/v1/managed-agents/a", null).status()).isEqualTo(404);
    }

    /** Regression: a replica deleted as an agent stayed in its pool, which then took no tasks and never scaled. */
    @Test
    void aReplicaDeletedAsAnAgent_isReplaced_andThePoolKeepsTakingTasks() throws Exception {
        LlmSimServer sim = sim("model", "m", "overhead-ms", "1", "decode-rate", "0", "output-tokens", "8");
        start("http://127.0.0.1:" + sim.port() + "/v1");
        assertThat(call("POST", "/api/v1/managed-agents", "{\"name\":\"writer\",\"model\":\"m\","
                + "\"capabilities\":[\"write\"],\"replicas\":1,\"max_replicas\":1}").status()).isEqualTo(201);

        assertThat(call("DELETE", "/api/v1/agents/writer-1", null).status()).isEqualTo(200);

        String id = task("{\"type\":\"draft\",\"description\":\"Draft\",\"required_capabilities\":[\"write\"]}");
        await("/api/v1/tasks/" + id, t -> t.path("status").asText().equals("completed"), 10);
        JsonNode pool = call("GET", "/api/v1/managed-agents/writer", null).body();
        assertThat(pool.get("replica_agents")).hasSize(1);
        assertThat(pool.get("scaling_events").toString()).contains("deleted as agents");
    }

    /** Regression: a replica could take another user's name, that user's default agent id, as its own id. */
    @Test
    void aReplica_isNotNamedLikeAnotherUser() throws Exception {
        LlmSimServer sim = sim("model", "m", "overhead-ms", "1", "decode-rate", "0", "output-tokens", "8");
        start("http://127.0.0.1:" + sim.port() + "/v1");
        api.token("writer-1"); // a user, so writer-1 is that user's default agent id

        Reply created = call("POST", "/api/v1/managed-agents", "{\"name\":\"writer\",\"model\":\"m\","
                + "\"replicas\":2}");

        assertThat(created.status()).as(created.body().toString()).isEqualTo(201);
        // The scaler may resize the new pool meanwhile, so only which ids it took is certain, not how many.
        assertThat(created.body().get("replica_agents")).extracting(r -> r.get("agent_id").asText())
                .as(created.body().toString()).isNotEmpty().doesNotContain("writer-1");
        assertThat(call("GET", "/api/v1/agents/writer-1", null).status()).isEqualTo(404);
    }

    @Test
    void anAnswerTooLargeToReport_failsTheAttempt_ratherThanLeavingTheTaskRunning() throws Exception {
        LlmSimServer sim = sim("model", "m", "overhead-ms", "1", "decode-rate", "0", "output-tokens", "2000");
        start("http://127.0.0.1:" + sim.port() + "/v1", BusConfig.builder(dir).maxMessageBytes(4096).build());
        assertThat(call("POST", "/api/v1/managed-agents", "{\"name\":\"writer\",\"model\":\"m\","
                + "\"capabilities\":[\"write\"],\"replicas\":1,\"max_tokens\":2000}").status()).isEqualTo(201);

        String id = task("{\"type\":\"draft\",\"description\":\"Write at length\",\"required_capabilities\":[\"write\"],"
                + "\"max_retries\":0}");

        JsonNode failed = await("/api/v1/tasks/" + id, t -> t.path("status").asText().equals("failed"), 10);
        assertThat(failed.get("error").asText()).contains("result could not be reported", "task_response");
    }

    @Test
    void theCallCap_endsATaskWhoseAnswersNeverFitItsSchema_overEveryAttempt() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        com.sun.net.httpserver.HttpServer model = com.sun.net.httpserver.HttpServer.create(
                new InetSocketAddress("127.0.0.1", 0), 0);
        model.createContext("/v1/chat/completions", exchange -> {
            calls.incrementAndGet();
            exchange.getRequestBody().readAllBytes();
            byte[] body = ("{\"id\":\"x\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{\"index\":0,"
                    + "\"message\":{\"role\":\"assistant\",\"content\":\"I would rather chat.\"},\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":4,\"total_tokens\":9}}")
                    .getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        TestApi.listsModel(model, "m");
        model.start();
        backends.add(() -> model.stop(0));
        start("http://127.0.0.1:" + model.getAddress().getPort() + "/v1");
        call("POST", "/api/v1/managed-agents", "{\"name\":\"chatty\",\"model\":\"m\",\"capabilities\":[\"plan\"],"
                + "\"replicas\":2,\"max_llm_calls_per_task\":3}");

        String id = task("{\"type\":\"plan\",\"required_capabilities\":[\"plan\"],\"max_retries\":2,\"parameters\":"
                + "{\"answer_schema\":{\"type\":\"object\",\"properties\":{\"steps\":{\"type\":\"array\"}},"
                + "\"required\":[\"steps\"]}}}");
        JsonNode failed = await("/api/v1/tasks/" + id, t -> t.path("status").asText().equals("failed"), 10);

        assertThat(failed.get("error").asText()).contains("max_llm_calls_per_task")
                .contains("not the JSON asked for");
        assertThat(calls.get()).isEqualTo(3); // three calls over three attempts, never more
        JsonNode pool = await("/api/v1/managed-agents/chatty",
                p -> p.at("/usage/tasks_stopped_by_call_cap").asInt() >= 1, 5);
        assertThat(pool.at("/usage/llm_calls").asInt()).isEqualTo(3);
        assertThat(pool.at("/usage/prompt_tokens").asInt()).isEqualTo(15);
    }

    @Test
    void replicasScaleUpOnQueueDepth_andBackDownWhenTheQueueStaysEmpty() throws Exception {
        LlmSimServer sim = sim("model", "m", "overhead-ms", "700", "decode-rate", "0", "output-tokens", "4");
        start("http://127.0.0.1:" + sim.port() + "/v1");
        call("POST", "/api/v1/managed-agents", "{\"name\":\"crew\",\"model\":\"m\",\"capabilities\":[\"work\"],"
                + "\"replicas\":1,\"min_replicas\":1,\"max_replicas\":4,\"target_queue_per_replica\":1,"
                + "\"scale_down_after_seconds\":1}");
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            ids.add(task("{\"type\":\"work\",\"required_capabilities\":[\"work\"]}"));
        }

        JsonNode grown = await("/api/v1/managed-agents/crew", p -> p.get("replica_agents").size() == 4, 10);
        assertThat(grown.get("scaling_events").toString()).contains("tasks waiting for 1 replicas");
        for (String id : ids) {
            await("/api/v1/tasks/" + id, t -> t.path("status").asText().equals("completed"), 20);
        }
        JsonNode shrunk = await("/api/v1/managed-agents/crew", p -> p.get("replica_agents").size() == 1, 15);
        assertThat(shrunk.get("scaling_events").toString()).contains("no task waiting");
        assertThat(shrunk.get("replicas").asInt()).isEqualTo(1);
        // the replicas that stopped are gone from the registry too
        await("/api/v1/agents?limit=100", a -> a.toString().split("crew-", -1).length - 1 == 1, 5);
    }

    @Test
    void everyStrategy_runsEndToEnd_overManagedAgentsOnLlmSim() throws Exception {
        LlmSimServer sim = sim("model", "m", "overhead-ms", "1", "decode-rate", "0", "output-tokens", "12");
        start("http://127.0.0.1:" + sim.port() + "/v1");
        call("POST", "/api/v1/managed-agents", "{\"name\":\"mind\",\"model\":\"m\",\"replicas\":3,"
                + "\"system_prompt\":\"You are careful.\"}");
        String swarm = call("POST", "/swarm/join", "{\"role\":\"task-coordinator\",\"capability\":\"think\","
                + "\"agent_id\":\"mind-1\"}").body().get("swarm_id").asText();
        call("POST", "/swarm/join", "{\"role\":\"monitor\",\"capability\":\"think\",\"agent_id\":\"mind-2\","
                + "\"swarm_id\":\"" + swarm + "\"}");
        call("POST", "/swarm/join", "{\"role\":\"load-balancer\",\"capability\":\"think\",\"agent_id\":\"mind-3\","
                + "\"swarm_id\":\"" + swarm + "\"}");
        Map<String, JsonNode> runs = new HashMap<>();
        for (String strategy : List.of("hierarchical", "map-reduce", "collaborative", "competitive", "debate",
                "sequential")) {
            Reply run = call("POST", "/swarm/coordinate?wait_seconds=30", "{\"task_id\":\"" + strategy + "\","
                    + "\"strategy\":\"" + strategy + "\",\"parameters\":{\"objective\":\"Pick a name for the "
                    + "release\",\"input\":{\"choices\":[\"aurora\",\"borealis\",\"cirrus\"]}}}");
            assertThat(run.status()).as(strategy + ": " + run.body()).isEqualTo(200);
            assertThat(run.body().get("status").asText()).as(strategy + ": " + run.body()).isEqualTo("completed");
            runs.put(strategy, run.body());
        }

        JsonNode hierarchical = runs.get("hierarchical").get("results");
        assertThat(hierarchical.get("leader").asText()).isEqualTo("mind-1"); // the task-coordinator
        assertThat(hierarchical.get("subtasks").size()).isBetween(1, 4); // the model's decomposition, 2 workers
        assertThat(hierarchical.get("answer").isTextual()).isTrue();
        JsonNode collaborative = runs.get("collaborative").get("results");
        double votes = 0;
        for (JsonNode count : collaborative.at("/consensus/tally")) {
            votes += count.asDouble();
        }
        assertThat(votes).isEqualTo(3.0); // every replica voted for one of the choices
        assertThat(List.of("aurora", "borealis", "cirrus")).contains(collaborative.at("/consensus/votes/0/answer").asText());
        JsonNode competitive = runs.get("competitive").get("results");
        assertThat(competitive.get("selected_by").asText()).isEqualTo("judge");
        assertThat(List.of("mind-1", "mind-2", "mind-3")).contains(competitive.get("winner").asText());
        assertThat(runs.get("debate").at("/results/rounds")).hasSize(2);
        assertThat(runs.get("sequential").at("/results/chain")).hasSize(3);

        JsonNode pool = call("GET", "/api/v1/managed-agents/mind", null).body();
        assertThat(pool.at("/usage/llm_calls").asLong()).isEqualTo(sim.simulator().stats().requests());
        assertThat(pool.at("/usage/completion_tokens").asLong()).isEqualTo(sim.simulator().stats().completionTokens());
        assertThat(pool.at("/usage/tasks_failed").asInt()).isZero();
    }

    String cli(String... args) {
        return api.cli(token, args);
    }

    @Test
    void aReplicaThePoolStops_leavesItsSwarmAndNetwork() throws Exception {
        LlmSimServer sim = sim("model", "m", "overhead-ms", "1", "decode-rate", "0");
        start("http://127.0.0.1:" + sim.port() + "/v1");
        call("POST", "/api/v1/managed-agents", "{\"name\":\"crew\",\"model\":\"m\",\"replicas\":2}");
        String swarm = call("POST", "/swarm/join", "{\"role\":\"monitor\",\"capability\":\"x\","
                + "\"agent_id\":\"crew-1\"}").body().get("swarm_id").asText();
        call("POST", "/swarm/join", "{\"role\":\"monitor\",\"capability\":\"x\",\"agent_id\":\"crew-2\","
                + "\"swarm_id\":\"" + swarm + "\"}");
        String network = call("POST", "/api/v1/agents/networks", "{\"name\":\"crew\",\"agents\":[\"crew-1\","
                + "\"crew-2\"]}").body().get("id").asText();

        call("PUT", "/api/v1/managed-agents/crew/replicas", "{\"replicas\":1}");
        await("/api/v1/agents/networks/" + network, n -> n.get("agents").size() == 1, 10);

        // Before, the stopped replica stayed a member of both and was given work that timed out.
        assertThat(call("GET", "/swarm/list", null).body().get("swarms").get(0).get("members"))
                .extracting(m -> m.get("member_id").asText()).containsExactly("crew-1");
        assertThat(call("GET", "/api/v1/agents/networks/" + network, null).body().get("agents"))
                .extracting(JsonNode::asText).containsExactly("crew-1");
    }

    @Test
    void theCommandLine_createsScalesShowsAndDeletesAPool() throws Exception {
        LlmSimServer sim = sim("model", "m", "overhead-ms", "1", "decode-rate", "0");
        start("http://127.0.0.1:" + sim.port() + "/v1");

        assertThat(cli("managed", "create", "--name", "ops", "--model", "m", "--capabilities", "a,b", "--replicas", "2",
                "--max", "5")).isEqualTo("0 ops: 2 replicas (1 to 5) of m, queue 0; 0 LLM calls, 0+0 tokens, 0 tasks done, "
                + "0 failed");
        assertThat(cli("managed", "scale", "--name", "ops", "--replicas", "3")).startsWith("0 ops: 3 replicas (1 to 5)");
        assertThat(cli("managed", "list")).startsWith("0 1 pool(s)\n  ops: 3 replicas");
        assertThat(cli("managed", "get", "--name", "nope")).startsWith("1 ").contains("not found");
        assertThat(cli("managed", "create", "--name", "x", "--model", "m", "--replicas", "many"))
                .startsWith("2 ").contains("--replicas must be a whole number");
        assertThat(cli("managed", "delete", "--name", "ops")).isEqualTo("0 deleted ops");
    }

    /**
     * Regression: with a backend down since the server started, a pool for a model only it serves
     * was refused 400, as if no backend served it, while the gateway answers a call for that model
     * 503 until the backend says what it serves. Creation now answers as the gateway does, and a
     * model is a 400 only once every backend's models are known.
     */
    @Test
    void aPoolForAModelOfABackendDownAtStart_is503WithRetryAfter_until400OrCreated() throws Exception {
        LlmSimServer up = sim("model", "m", "overhead-ms", "1", "decode-rate", "0");
        int latePort;
        try (java.net.ServerSocket reserved = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            latePort = reserved.getLocalPort(); // free, and refusing connections once closed
        }
        start(GatewaySettings.of(List.of(BackendSpec.ofUrl("http://127.0.0.1:" + up.port() + "/v1", 16),
                BackendSpec.ofUrl("http://127.0.0.1:" + latePort + "/v1", 16)), "least_outstanding")
                .withHealthInterval(Duration.ofMillis(200)), BusConfig.builder(dir).build());

        for (String model : List.of("late", "huge")) {
            java.net.http.HttpResponse<String> refused = createRaw("{\"name\":\"early\",\"model\":\"" + model + "\"}");
            assertThat(refused.statusCode()).as(refused.body()).isEqualTo(503);
            JsonNode error = RequestBody.MAPPER.readTree(refused.body());
            assertThat(error.get("error").asText()).isEqualTo("unavailable");
            assertThat(error.get("message").asText()).contains("no backend is available yet for model '" + model + "'")
                    .contains("127.0.0.1:" + latePort);
            assertThat(refused.headers().firstValue("Retry-After")).hasValue("1");
        }
        assertThat(call("GET", "/api/v1/managed-agents/early", null).status()).as("nothing was created").isEqualTo(404);
        assertThat(call("POST", "/api/v1/managed-agents", "{\"name\":\"now\",\"model\":\"m\"}").status())
                .as("a model a known backend serves").isEqualTo(201);

        backends.add(LlmSimServer.start(SimSettings.defaults().with(Map.of("model", "late", "overhead-ms", "1",
                "decode-rate", "0")), "127.0.0.1", latePort));
        Reply created = call("POST", "/api/v1/managed-agents", "{\"name\":\"late\",\"model\":\"late\"}");
        for (long deadline = System.nanoTime() + 5_000_000_000L; created.status() == 503
                && System.nanoTime() < deadline; created = call("POST", "/api/v1/managed-agents",
                        "{\"name\":\"late\",\"model\":\"late\"}")) {
            Thread.sleep(50);
        }
        assertThat(created.status()).as(created.body().toString()).isEqualTo(201);
        Reply unknown = call("POST", "/api/v1/managed-agents", "{\"name\":\"huge\",\"model\":\"huge\"}");
        assertThat(unknown.status()).as("every backend's models are known now").isEqualTo(400);
        assertThat(unknown.body().get("field").asText()).isEqualTo("model");
        assertThat(unknown.body().get("message").asText()).contains("'huge'").contains("[late, m]");
    }

    /** A pool created with its answer's headers, which {@link TestApi.Reply} leaves out. */
    java.net.http.HttpResponse<String> createRaw(String body) throws Exception {
        return java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://127.0.0.1:" + server.port() + "/api/v1/managed-agents"))
                .header("Content-Type", "application/json").header("Authorization", "Bearer " + token)
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void badTemplatesAndStrangers_getClearErrors_andDeleteRemovesTheReplicas() throws Exception {
        LlmSimServer sim = sim("model", "m", "overhead-ms", "1", "decode-rate", "0");
        start("http://127.0.0.1:" + sim.port() + "/v1");

        Reply unknownModel = call("POST", "/api/v1/managed-agents", "{\"name\":\"a\",\"model\":\"gpt-9\"}");
        Reply badName = call("POST", "/api/v1/managed-agents", "{\"name\":\"Bad Name\",\"model\":\"m\"}");
        Reply tooMany = call("POST", "/api/v1/managed-agents", "{\"name\":\"a\",\"model\":\"m\",\"replicas\":5,"
                + "\"max_replicas\":2}");
        Reply badCap = call("POST", "/api/v1/managed-agents", "{\"name\":\"a\",\"model\":\"m\","
                + "\"max_llm_calls_per_task\":0}");
        Reply negative = call("POST", "/api/v1/managed-agents", "{\"name\":\"a\",\"model\":\"m\",\"replicas\":-1}");
        Reply negativeMin = call("POST", "/api/v1/managed-agents", "{\"name\":\"a\",\"model\":\"m\","
                + "\"min_replicas\":-1}");
        Reply missing = call("POST", "/api/v1/managed-agents", "{\"model\":\"m\"}");
        Reply ok = call("POST", "/api/v1/managed-agents", "{\"name\":\"a\",\"model\":\"m\",\"max_replicas\":3}");
        Reply duplicate = call("POST", "/api/v1/managed-agents", "{\"name\":\"a\",\"model\":\"m\"}");
        String stranger = api.token("stranger");
        Reply theirs = api.call(stranger, "GET", "/api/v1/managed-agents/a", null);
        Reply theirList = api.call(stranger, "GET", "/api/v1/managed-agents", null);
        Reply badBounds = call("PUT", "/api/v1/managed-agents/a/replicas", "{\"min_replicas\":3,\"max_replicas\":2}");
        Reply scaled = call("PUT", "/api/v1/managed-agents/a/replicas", "{\"replicas\":3}");

        assertThat(unknownModel.status()).isEqualTo(400);
        assertThat(unknownModel.body().get("message").asText()).contains("'gpt-9'").contains("[m]");
        assertThat(badName.status()).isEqualTo(400);
        assertThat(badName.body().get("field").asText()).isEqualTo("name");
        assertThat(tooMany.status()).isEqualTo(400);
        assertThat(tooMany.body().get("field").asText()).isEqualTo("replicas");
        assertThat(badCap.body().get("field").asText()).isEqualTo("max_llm_calls_per_task");
        assertThat(negative.status()).isEqualTo(400);
        assertThat(negative.body().get("field").asText()).as("regression: was max_replicas").isEqualTo("replicas");
        assertThat(negative.body().get("message").asText()).isEqualTo("replicas must be 0 or more, was -1");
        assertThat(negativeMin.body().get("field").asText()).isEqualTo("min_replicas");
        assertThat(missing.status()).isEqualTo(400);
        assertThat(ok.status()).isEqualTo(201);
        assertThat(duplicate.status()).isEqualTo(409);
        assertThat(theirs.status()).isEqualTo(404);
        assertThat(theirList.body().get("total_count").asInt()).isZero();
        assertThat(badBounds.status()).isEqualTo(400);
        assertThat(scaled.body().get("replica_agents")).hasSize(3);
        assertThat(call("GET", "/api/v1/agents/a-3", null).status()).isEqualTo(200);

        Reply deleted = call("DELETE", "/api/v1/managed-agents/a", null);
        assertThat(deleted.status()).isEqualTo(200);
        assertThat(call("GET", "/api/v1/managed-agents/a", null).status()).isEqualTo(404);
        for (String replica : List.of("a-1", "a-2", "a-3")) {
            assertThat(call("GET", "/api/v1/agents/" + replica, null).status()).isEqualTo(404);
        }
    }
}
