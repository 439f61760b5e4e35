package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.llm.BackendSpec;
import io.swarmbus.llm.GatewaySettings;
import io.swarmbus.llm.sim.SimSettings;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.server.TestApi.Reply;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The request shapes {@code /openapi.json} documents ({@code openapi-requests.yaml}): they name
 * registered routes, every route with a body has one, and the required fields are those the
 * handlers require.
 */
class OpenApiDocTest {
    /** POSTs and PUTs whose handlers read no body. */
    static final Set<String> BODYLESS = Set.of(
            "post /api/v1/api-keys", // the key is generated; nothing to give
            "put /api/v1/groups/{name}/members/{agent}", // the group and agent are in the path
            "post /api/v1/agents/{id}/dead-letters/{message_id}/replay"); // the message is in the path

    @TempDir
    Path dir;
    MessageBus bus;
    LlmSimServer model; // for the managed agents and the gateway's routes
    HttpServer server;
    TestApi api;
    String alice;
    JsonNode paths;

    @BeforeEach
    void start() throws Exception {
        bus = MessageBus.open(BusConfig.builder(dir).build());
        model = LlmSimServer.start(SimSettings.defaults().with(Map.of("model", "m", "overhead-ms", "1", "decode-rate", "0")),
                "127.0.0.1", 0);
        server = HttpServer.start(bus, ServerSettings.forTests(dir).withLlm(GatewaySettings.of(
                List.of(BackendSpec.ofUrl("http://127.0.0.1:" + model.port() + "/v1", 16)), "least_outstanding")));
        api = new TestApi(server);
        alice = api.token("alice");
        api.call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"alice\"}");
        paths = api.call(null, "GET", "/openapi.json", null).body().get("paths");
    }

    @AfterEach
    void stop() {
        server.close();
        bus.close();
        model.close();
    }

    /** Every documented operation as "method path". */
    List<String> operations() {
        List<String> operations = new ArrayList<>();
        paths.properties().forEach(p -> p.getValue().fieldNames().forEachRemaining(m -> operations.add(m + " " + p.getKey())));
        return operations;
    }

    JsonNode operation(String key) {
        String[] parts = key.split(" ", 2);
        return paths.path(parts[1]).path(parts[0]);
    }

    @Test
    void everyRequestShape_namesARegisteredOperation() {
        List<String> keys = new ArrayList<>();
        ApiCatalog.requests().fieldNames().forEachRemaining(keys::add);
        assertThat(keys).hasSizeGreaterThan(40);
        assertThat(operations()).containsAll(keys);
    }

    @Test
    void everyPostAndPut_documentsItsBody_unlessItReadsNone() {
        List<String> writes = operations().stream().filter(op -> op.startsWith("post ") || op.startsWith("put "))
                .toList();
        assertThat(writes).contains(BODYLESS.toArray(String[]::new));
        for (String op : writes) {
            JsonNode body = operation(op).path("requestBody");
            if (BODYLESS.contains(op)) {
                assertThat(body.isMissingNode()).as(op + " reads no body").isTrue();
                continue;
            }
            JsonNode schema = body.path("content").path("application/json").path("schema");
            assertThat(schema.path("properties").isEmpty()).as(op + " documents its body fields").isFalse();
            schema.path("properties").properties().forEach(field -> assertThat(field.getValue().path("description")
                    .asText()).as(op + " " + field.getKey() + " is described").isNotBlank());
        }
    }

    @Test
    void documentedRequiredFields_areTheOnesTheHandlersRequire() throws Exception {
        // A body each handler accepts. Removing any one field the document marks required must be a
        // 400 naming that field, and the documented required fields plus these must be enough.
        Map<String, String> accepted = new LinkedHashMap<>();
        accepted.put("post /api/v1/agents", "{\"agent_id\":\"carol\",\"role\":\"worker\"}");
        // The address is "exactly one of" to, group, topic, broadcast: described, not required.
        accepted.put("post /api/v1/messages", "{\"from\":\"alice\",\"to\":\"alice\",\"content\":{\"n\":1}}");
        accepted.put("post /api/v1/groups", "{\"group_name\":\"team\",\"agent_ids\":[\"alice\"]}");
        accepted.put("post /api/v1/tasks", "{\"type\":\"summary\",\"description\":\"sum it up\"}");
        accepted.put("post /auth/token", "{\"username\":\"dave\",\"password\":\"password-1\"}");
        accepted.put("post /api/v1/topics/{topic}/subscribers", "{\"agent_id\":\"alice\"}");
        accepted.put("post /api/v1/agents/networks", "{\"name\":\"trio\",\"agents\":[\"alice\"]}");
        accepted.put("post /swarm/join", "{\"role\":\"monitor\",\"capability\":\"watching\",\"agent_id\":\"alice\"}");
        for (var c : accepted.entrySet()) {
            String op = c.getKey();
            String path = op.split(" ", 2)[1].replace("{topic}", "news");
            ObjectNode body = (ObjectNode) RequestBody.MAPPER.readTree(c.getValue());
            List<String> required = required(op);
            assertThat(required).as(op + " documents required fields").isNotEmpty();
            assertThat(names(body.fieldNames())).as(op + " example has them").containsAll(required);
            for (String field : required) {
                ObjectNode without = body.deepCopy();
                without.remove(field);
                Reply reply = api.call(alice, "POST", path, without.toString());
                assertThat(reply.status()).as(op + " without " + field).isEqualTo(400);
                assertThat(reply.body().path("field").asText()).as(op + " without " + field).isEqualTo(field);
            }
            Reply ok = api.call(alice, "POST", path, body.toString());
            assertThat(ok.status()).as(op + " " + ok.body()).isBetween(200, 299);
        }
    }

    @Test
    void queryParametersAndFormBodies_areDocumentedWhereTheRoutesReadThem() {
        assertThat(query("get /api/v1/agents")).contains("capabilities", "status", "available", "limit");
        assertThat(query("get /api/v1/messages")).contains("since", "until", "peer", "limit");
        assertThat(query("get /api/v1/tasks")).contains("status", "assignee", "parent_id", "type", "limit");
        assertThat(query("get /api/v1/registry/best")).contains("capabilities", "strategy", "exclude");
        assertThat(query("post /api/v1/agents/{id}/receive")).contains("max_messages", "timeout", "visibility_timeout", "ack");
        assertThat(query("post /api/v1/agents/networks/{id}/execute")).contains("wait_seconds");
        assertThat(query("get /v1/swarm/status")).contains("swarm_id");
        assertThat(query("get /api/v1/ws")).contains("token");
        assertThat(query("get /api/v1/agents/{id}/stream")).contains("max_messages", "visibility_timeout", "token");
        JsonNode since = parameter("get /api/v1/messages", "since");
        assertThat(since.path("schema").path("type").asText()).isEqualTo("string");
        assertThat(since.path("description").asText()).contains("ISO-8601");
        assertThat(parameter("get /api/v1/agents/{id}/stream", "Accept").path("required").asBoolean()).isTrue();
        for (String op : List.of("post /auth/token", "post /agents/receive", "post /api/v1/agents/{id}/receive")) {
            assertThat(names(operation(op).path("requestBody").path("content").fieldNames())).as(op)
                    .containsExactly("application/json", "application/x-www-form-urlencoded");
        }
        assertThat(operation("post /api/v1/messages").path("requestBody").path("content").path("application/json")
                .path("schema").path("properties").path("priority").path("type").toString())
                .isEqualTo("[\"integer\",\"string\"]");
    }

    @Test
    void documentedResponses_areWhatTheRoutesAnswer() throws Exception {
        // One real call per operation whose answer is documented, including the seed's aliases.
        // The answer must have every field the document marks required and no field it leaves out.
        api.call(alice, "POST", "/api/v1/messages", "{\"to\":\"alice\",\"content\":{\"n\":1},\"headers\":{\"k\":\"v\"}}");
        Map<String, Reply> answers = new LinkedHashMap<>();
        answers.put("post /auth/token", api.call(null, "POST", "/auth/token",
                "{\"username\":\"alice\",\"password\":\"password-1\"}"));
        answers.put("post /api/v1/agents", api.call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"alice-2\"}"));
        answers.put("post /agents/register", api.call(alice, "POST", "/agents/register", "{\"agent_id\":\"alice-3\"}"));
        answers.put("get /api/v1/agents/{id}", api.call(alice, "GET", "/api/v1/agents/alice", null));
        answers.put("post /api/v1/messages", api.call(alice, "POST", "/api/v1/messages",
                "{\"to\":\"alice\",\"content\":\"hi\",\"correlation_id\":\"c\",\"ttl_seconds\":60}"));
        answers.put("post /messages", api.call(alice, "POST", "/messages", "{\"receiver_id\":\"alice\",\"content\":\"hi\"}"));
        Reply received = api.call(alice, "POST", "/api/v1/agents/alice/receive?max_messages=2", null);
        answers.put("post /api/v1/agents/{id}/receive", received);
        answers.put("post /agents/receive", api.call(alice, "POST", "/agents/receive?max_messages=1&ack=", null));
        String first = received.body().at("/messages/0/id").asText();
        answers.put("post /api/v1/agents/{id}/ack", api.call(alice, "POST", "/api/v1/agents/alice/ack",
                "{\"message_ids\":[\"" + first + "\",\"00000000000000ff\"]}"));
        answers.put("post /api/v1/agents/{id}/nack", api.call(alice, "POST", "/api/v1/agents/alice/nack",
                "{\"message_id\":\"" + received.body().at("/messages/1/id").asText() + "\",\"delay_seconds\":5}"));
        answers.put("get /api/v1/messages/{id}", api.call(alice, "GET", "/api/v1/messages/" + first, null));
        answers.put("get /messages/{id}", api.call(alice, "GET", "/messages/" + first, null));
        Reply history = api.call(alice, "GET", "/api/v1/messages?agent=alice", null);
        answers.put("get /api/v1/messages", history);
        answers.put("get /api/v1/agents", api.call(alice, "GET", "/api/v1/agents", null));
        answers.put("delete /api/v1/agents/{id}", api.call(alice, "DELETE", "/api/v1/agents/alice-2", null));
        answers.put("delete /agents/{id}", api.call(alice, "DELETE", "/agents/alice-3", null));
        answers.put("get /health", api.call(null, "GET", "/health", null));
        api.call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"alice-4\"}");
        answers.put("post /api/v1/groups", api.call(alice, "POST", "/api/v1/groups",
                "{\"group_name\":\"g1\",\"agent_ids\":[\"alice\"]}"));
        answers.put("post /groups", api.call(alice, "POST", "/groups", "{\"group_name\":\"g2\",\"agent_ids\":[\"alice\"]}"));
        answers.put("get /api/v1/groups", api.call(alice, "GET", "/api/v1/groups", null));
        answers.put("get /api/v1/groups/{name}", api.call(alice, "GET", "/api/v1/groups/g1", null));
        answers.put("put /api/v1/groups/{name}/members/{agent}", api.call(alice, "PUT", "/api/v1/groups/g1/members/alice-4", null));
        answers.put("delete /api/v1/groups/{name}/members/{agent}",
                api.call(alice, "DELETE", "/api/v1/groups/g1/members/alice-4", null));
        answers.put("post /api/v1/groups/{name}/messages", api.call(alice, "POST", "/api/v1/groups/g1/messages",
                "{\"from\":\"alice\",\"content\":\"x\"}"));
        answers.put("post /groups/message", api.call(alice, "POST", "/groups/message",
                "{\"sender_id\":\"alice\",\"group_name\":\"g1\",\"content\":\"x\"}"));
        answers.put("delete /api/v1/groups/{name}", api.call(alice, "DELETE", "/api/v1/groups/g2", null));
        answers.put("post /api/v1/topics/{topic}/subscribers", api.call(alice, "POST", "/api/v1/topics/t1/subscribers",
                "{\"agent_id\":\"alice-4\"}"));
        answers.put("get /api/v1/topics/{topic}", api.call(alice, "GET", "/api/v1/topics/t1", null));
        answers.put("post /api/v1/topics/{topic}/messages", api.call(alice, "POST", "/api/v1/topics/t1/messages",
                "{\"from\":\"alice\",\"content\":\"x\"}"));
        answers.put("delete /api/v1/topics/{topic}/subscribers/{agent}",
                api.call(alice, "DELETE", "/api/v1/topics/t1/subscribers/alice-4", null));
        String admin = adminToken();
        answers.put("post /api/v1/users", api.call(admin, "POST", "/api/v1/users",
                "{\"username\":\"carol\",\"password\":\"password-2\"}"));
        answers.put("post /api/v1/api-keys", api.call(admin, "POST", "/api/v1/api-keys", null));
        answers.put("get /api/v1/stats", api.call(alice, "GET", "/api/v1/stats", null));
        answers.put("get /healthz", api.call(null, "GET", "/healthz", null));
        answers.put("get /readyz", api.call(null, "GET", "/readyz", null));
        answers.put("put /api/v1/agents/{id}", api.call(alice, "PUT", "/api/v1/agents/alice-4",
                "{\"capabilities\":[\"sql\"]}"));
        answers.put("post /api/v1/agents/{id}/heartbeat", api.call(alice, "POST", "/api/v1/agents/alice-4/heartbeat",
                "{\"status\":\"active\",\"health\":{\"cpu\":0.5}}"));
        answers.put("get /api/v1/registry/best", api.call(alice, "GET", "/api/v1/registry/best?capabilities=sql", null));
        answers.put("get /api/v1/registry/stats", api.call(alice, "GET", "/api/v1/registry/stats", null));
        answers.put("get /api/v1/agents/{id}/messages", api.call(alice, "GET", "/api/v1/agents/alice/messages", null));
        answers.put("get /agents/{id}/messages", api.call(alice, "GET", "/agents/alice/messages", null));
        api.call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"alice-5\"}");
        Reply batch = api.call(alice, "POST", "/api/v1/messages/batch",
                "{\"messages\":[{\"to\":\"alice-5\",\"content\":1},{\"to\":\"nobody\",\"content\":2}]}");
        answers.put("post /api/v1/messages/batch", batch);
        // alice-5's message, received and given back until it runs out of attempts (5 by default).
        Reply extended = null;
        for (int attempt = 0; attempt < 5; attempt++) {
            String id = api.call(alice, "POST", "/api/v1/agents/alice-5/receive", null).body().at("/messages/0/id").asText();
            if (extended == null) {
                extended = api.call(alice, "POST", "/api/v1/agents/alice-5/extend", "{\"message_ids\":[\"" + id + "\"]}");
                answers.put("put /messages/{id}/status", api.call(alice, "PUT", "/messages/" + id + "/status",
                        "{\"status\":\"failed\",\"agent_id\":\"alice-5\"}"));
            } else {
                api.call(alice, "POST", "/api/v1/agents/alice-5/nack", "{\"message_id\":\"" + id + "\"}");
            }
        }
        answers.put("post /api/v1/agents/{id}/extend", extended);
        Reply deadLetters = api.call(alice, "GET", "/api/v1/agents/alice-5/dead-letters", null);
        answers.put("get /api/v1/agents/{id}/dead-letters", deadLetters);
        assertThat(deadLetters.body().path("messages")).as("alice-5's message ran out of attempts").hasSize(1);
        answers.put("post /api/v1/agents/{id}/dead-letters/{message_id}/replay", api.call(alice, "POST",
                "/api/v1/agents/alice-5/dead-letters/" + deadLetters.body().at("/messages/0/id").asText() + "/replay", null));
        answers.put("post /api/v1/messages/broadcast", api.call(alice, "POST", "/api/v1/messages/broadcast",
                "{\"from\":\"alice\",\"content\":\"all\"}"));
        answers.put("post /messages/broadcast", api.call(alice, "POST", "/messages/broadcast",
                "{\"sender_id\":\"alice\",\"content\":\"all\"}"));
        callTaskRoutes(answers);
        callNetworkRoutes(answers);
        callSwarmRoutes(answers);
        callManagedAgentAndLlmRoutes(answers);

        List<String> documented = operations().stream().filter(op -> !response(op).isMissingNode()).toList();
        assertThat(answers.keySet()).as("a call for each documented answer").containsExactlyInAnyOrderElementsOf(documented);
        answers.forEach((op, reply) -> {
            assertThat(String.valueOf(reply.status())).as(op + " answers its documented status").isEqualTo(successStatus(op));
            JsonNode schema = response(op);
            if (schema.path("type").asText().equals("array")) {
                reply.body().forEach(item -> assertMatches("an item of " + op, schema.path("items"), item));
            } else {
                assertMatches(op, schema, reply.body());
            }
        });
        // The arrays assertMatches looked into, none of them empty, so that their items were checked.
        assertThat(received.body().path("messages")).hasSize(2);
        assertThat(batch.body().path("results")).hasSize(2);
        assertThat(history.body().at("/messages/0/deliveries")).isNotEmpty();
        Map<String, String> arrays = Map.of("get /api/v1/messages", "messages", "get /api/v1/groups", "groups",
                "get /api/v1/agents", "agents", "get /api/v1/agents/{id}/messages", "messages",
                "get /api/v1/agents/{id}/dead-letters", "messages", "get /api/v1/tasks", "tasks",
                "get /api/v1/tasks/stats", "agents", "get /swarm/list", "swarms");
        arrays.forEach((op, field) -> assertThat(answers.get(op).body().path(field)).as(op + " " + field).isNotEmpty());
    }

    /**
     * Regression: the document gave one success status per operation, though registering an agent
     * again, repeating a send with its idempotency key and subscribing again answer 200, and an
     * execution or coordination that finished within {@code wait_seconds} answers 200, not 202.
     */
    @Test
    void otherSuccessStatuses_areDocumented_withTheSameAnswer() throws Exception {
        api.call(alice, "POST", "/api/v1/groups", "{\"group_name\":\"team\",\"agent_ids\":[\"alice\"]}");
        api.call(alice, "POST", "/api/v1/topics/news/subscribers", "{\"agent_id\":\"alice\"}");
        String send = "\"content\":1,\"idempotency_key\":\"k\"";
        Map<String, String[]> again = new LinkedHashMap<>();
        again.put("post /api/v1/agents", new String[] {"/api/v1/agents", "{\"agent_id\":\"alice\"}"});
        again.put("post /agents/register", new String[] {"/agents/register", "{\"agent_id\":\"alice\"}"});
        again.put("post /api/v1/topics/{topic}/subscribers",
                new String[] {"/api/v1/topics/news/subscribers", "{\"agent_id\":\"alice\"}"});
        again.put("post /api/v1/messages", new String[] {"/api/v1/messages", "{\"to\":\"alice\"," + send + "}"});
        again.put("post /messages", new String[] {"/messages", "{\"receiver_id\":\"alice\"," + send + "}"});
        again.put("post /api/v1/messages/broadcast", new String[] {"/api/v1/messages/broadcast", "{" + send + "}"});
        again.put("post /messages/broadcast", new String[] {"/messages/broadcast", "{" + send + "}"});
        again.put("post /api/v1/groups/{name}/messages", new String[] {"/api/v1/groups/team/messages", "{" + send + "}"});
        again.put("post /groups/message", new String[] {"/groups/message", "{\"group_name\":\"team\"," + send + "}"});
        again.put("post /api/v1/topics/{topic}/messages", new String[] {"/api/v1/topics/news/messages", "{" + send + "}"});
        for (Map.Entry<String, String[]> entry : again.entrySet()) {
            String op = entry.getKey();
            String[] call = entry.getValue();
            Reply reply = api.call(alice, "POST", call[0], call[1]);
            if (reply.status() != 200) { // the first send of its key; the second is the duplicate
                reply = api.call(alice, "POST", call[0], call[1]);
            }
            assertThat(reply.status()).as(op + " " + reply.body()).isEqualTo(200);
            JsonNode answered = operation(op).path("responses").path("200");
            assertThat(answered.path("description").asText()).as(op + " documents its 200").isNotBlank();
            assertMatches(op + " answering 200", answered.at("/content/application~1json/schema"), reply.body());
        }
        for (String op : List.of("post /api/v1/agents/networks/{id}/execute", "post /swarm/coordinate",
                "post /v1/swarm/coordinate")) {
            assertThat(operation(op).path("responses").fieldNames()).toIterable().as(op).startsWith("202", "200");
        }
    }

    /**
     * Regression: a broadcast narrowed by role answers one id per agent ({@code message_ids}) and
     * no {@code message_id}, though the document required {@code message_id} and left the others out.
     */
    @Test
    void aBroadcastNarrowedByRole_answersAsDocumented() throws Exception {
        api.call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"alice-w\",\"role\":\"worker\"}");
        for (String path : List.of("/api/v1/messages/broadcast", "/messages/broadcast")) {
            Reply reply = api.call(alice, "POST", path, "{\"from\":\"alice\",\"role\":\"worker\",\"content\":\"all\"}");
            assertThat(reply.status()).as(path + " " + reply.body()).isEqualTo(201);
            assertThat(reply.body().path("message_ids")).hasSize(1);
            assertMatches(path + " with role", response("post " + path), reply.body());
        }
    }

    /**
     * Regression: an agent's owner taking it out of another user's group is answered
     * {@code group_name}, {@code agent_id} and {@code changed}, without the members, though the
     * document required {@code agent_ids} and left {@code agent_id} out.
     */
    @Test
    void anAgentsOwnerLeavingAnotherUsersGroup_isAnsweredAsDocumented() throws Exception {
        String bob = api.token("bob");
        api.call(bob, "POST", "/api/v1/agents", "{\"agent_id\":\"bob\"}");
        api.call(alice, "POST", "/api/v1/groups", "{\"group_name\":\"mixed\",\"agent_ids\":[\"alice\",\"bob\"]}");
        Reply reply = api.call(bob, "DELETE", "/api/v1/groups/mixed/members/bob", null);
        assertThat(reply.status()).as(reply.body().toString()).isEqualTo(200);
        assertThat(reply.body().path("agent_id").asText()).isEqualTo("bob");
        assertMatches("delete /api/v1/groups/{name}/members/{agent} by the agent's owner",
                response("delete /api/v1/groups/{name}/members/{agent}"), reply.body());
    }

    /** Tasks, each for alice: one completed, one failed without retries, one cancelled. */
    void callTaskRoutes(Map<String, Reply> answers) throws Exception {
        String forAlice = "\"candidates\":[\"alice\"],\"max_retries\":0";
        Reply task = api.call(alice, "POST", "/api/v1/tasks", "{\"type\":\"sum\",\"parameters\":{\"n\":1}," + forAlice + "}");
        answers.put("post /api/v1/tasks", task);
        String taskPath = "/api/v1/tasks/" + task.body().path("task_id").asText();
        answers.put("get /api/v1/tasks/{id}", api.call(alice, "GET", taskPath, null));
        answers.put("post /api/v1/tasks/{id}/progress", api.call(alice, "POST", taskPath + "/progress",
                "{\"agent_id\":\"alice\",\"progress\":50}"));
        answers.put("post /api/v1/tasks/{id}/complete", api.call(alice, "POST", taskPath + "/complete",
                "{\"agent_id\":\"alice\",\"result\":{\"sum\":1}}"));
        String failing = api.call(alice, "POST", "/api/v1/tasks", "{\"type\":\"sum\"," + forAlice + "}").body()
                .path("task_id").asText();
        answers.put("post /api/v1/tasks/{id}/fail", api.call(alice, "POST", "/api/v1/tasks/" + failing + "/fail",
                "{\"agent_id\":\"alice\",\"error\":\"no\"}"));
        String cancelled = api.call(alice, "POST", "/api/v1/tasks", "{\"type\":\"sum\"," + forAlice + "}").body()
                .path("task_id").asText();
        answers.put("post /api/v1/tasks/{id}/cancel", api.call(alice, "POST", "/api/v1/tasks/" + cancelled + "/cancel", "{}"));
        Reply tasks = api.call(alice, "GET", "/api/v1/tasks", null);
        answers.put("get /api/v1/tasks", tasks);
        Reply taskStats = api.call(alice, "GET", "/api/v1/tasks/stats", null);
        answers.put("get /api/v1/tasks/stats", taskStats);
        assertThat(tasks.body().path("tasks").findValuesAsText("status")).containsExactly("cancelled", "failed", "completed");
    }

    /** A network of alice alone, and one execution on it, whose step the test answers as alice. */
    void callNetworkRoutes(Map<String, Reply> answers) throws Exception {
        Reply network = api.call(alice, "POST", "/api/v1/agents/networks",
                "{\"name\":\"solo\",\"agents\":[\"alice\"],\"description\":\"alice alone\"}");
        answers.put("post /api/v1/agents/networks", network);
        String path = "/api/v1/agents/networks/" + network.body().path("id").asText();
        Reply started = api.call(alice, "POST", path + "/execute", "{\"task\":{\"objective\":\"six times seven?\"}}");
        answers.put("post /api/v1/agents/networks/{id}/execute", started);
        assertThat(answerSwarmTasks()).isEqualTo(1);
        Reply finished = await(path + "/executions/" + started.body().path("execution_id").asText(),
                run -> run.path("status").asText().equals("completed"));
        answers.put("get /api/v1/agents/networks/{id}/executions/{execution_id}", finished);
        answers.put("get /api/v1/agents/networks", api.call(alice, "GET", "/api/v1/agents/networks", null));
        answers.put("get /api/v1/agents/networks/{id}", api.call(alice, "GET", path, null));
        answers.put("get /api/v1/agents/networks/{id}/status", api.call(alice, "GET", path + "/status", null));
        answers.put("get /api/v1/agents/networks/{id}/optimize", api.call(alice, "GET", path + "/optimize", null));
        answers.put("get /api/v1/agents/networks/{id}/executions", api.call(alice, "GET", path + "/executions", null));
        assertThat(finished.body().path("steps")).isNotEmpty();
        assertThat(answers.get("get /api/v1/agents/networks/{id}/status").body().path("agents")).isNotEmpty();
    }

    /** At each of the seed's prefixes, a swarm of one of alice's agents: join, one coordination, consensus, leave. */
    void callSwarmRoutes(Map<String, Reply> answers) throws Exception {
        api.call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"alice-6\"}");
        for (String prefix : List.of("", "/v1")) {
            String member = prefix.isEmpty() ? "alice" : "alice-6";
            Reply joined = api.call(alice, "POST", prefix + "/swarm/join",
                    "{\"role\":\"monitor\",\"capability\":\"watching\",\"agent_id\":\"" + member + "\"}");
            String swarm = joined.body().path("swarm_id").asText();
            answers.put("post " + prefix + "/swarm/join", joined);
            answers.put("get " + prefix + "/swarm/list", api.call(alice, "GET", prefix + "/swarm/list", null));
            answers.put("get " + prefix + "/swarm/status", api.call(alice, "GET", prefix + "/swarm/status", null));
            assertThat(answers.get("get " + prefix + "/swarm/status").body()).hasSize(1);
            answers.put("post " + prefix + "/swarm/coordinate", api.call(alice, "POST", prefix + "/swarm/coordinate",
                    "{\"task_id\":\"q-" + member + "\",\"strategy\":\"sequential\",\"swarm_id\":\"" + swarm + "\","
                            + "\"parameters\":{\"objective\":\"six times seven?\"}}"));
            assertThat(answerSwarmTasks()).isEqualTo(1);
            Reply consensus = api.call(alice, "POST", prefix + "/swarm/consensus",
                    "{\"task_id\":\"q-" + member + "\",\"timeout_seconds\":10}");
            assertThat(consensus.body().path("member_votes")).isNotEmpty();
            answers.put("post " + prefix + "/swarm/consensus", consensus);
            answers.put("post " + prefix + "/swarm/leave", api.call(alice, "POST", prefix + "/swarm/leave",
                    "{\"swarm_id\":\"" + swarm + "\",\"member_id\":\"" + member + "\"}"));
        }
    }

    /** A pool of managed agents on the test's model server; the gateway's backends and usage; scaling advice. */
    void callManagedAgentAndLlmRoutes(Map<String, Reply> answers) throws Exception {
        answers.put("post /api/v1/managed-agents", api.call(alice, "POST", "/api/v1/managed-agents",
                "{\"name\":\"writer\",\"model\":\"m\"}"));
        answers.put("get /api/v1/managed-agents", api.call(alice, "GET", "/api/v1/managed-agents", null));
        answers.put("get /api/v1/managed-agents/{name}", api.call(alice, "GET", "/api/v1/managed-agents/writer", null));
        answers.put("put /api/v1/managed-agents/{name}/replicas", api.call(alice, "PUT",
                "/api/v1/managed-agents/writer/replicas", "{\"replicas\":2,\"max_replicas\":2}"));
        answers.put("delete /api/v1/managed-agents/{name}", api.call(alice, "DELETE", "/api/v1/managed-agents/writer", null));
        answers.put("get /api/v1/llm/backends", api.call(alice, "GET", "/api/v1/llm/backends", null));
        answers.put("get /api/v1/llm/usage", api.call(adminToken(), "GET", "/api/v1/llm/usage", null)); // admins see more
        answers.put("get /api/v1/scaling", api.call(alice, "GET", "/api/v1/scaling", null));
        assertThat(answers.get("put /api/v1/managed-agents/{name}/replicas").body().path("replica_agents")).hasSize(2);
        assertThat(answers.get("get /api/v1/llm/backends").body().path("backends")).hasSize(1);
        assertThat(names(answers.get("get /api/v1/llm/usage").body().fieldNames())).contains("tasks", "backends", "models");
    }

    /** Completes each swarm task assigned to one of alice's agents, as that agent, once there is one; how many. */
    int answerSwarmTasks() throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        int answered = 0;
        while (answered == 0 && System.nanoTime() < deadline) {
            for (JsonNode task : api.call(alice, "GET", "/api/v1/tasks?status=assigned", null).body().path("tasks")) {
                if (task.path("type").asText().startsWith("swarm.")) {
                    api.call(alice, "POST", "/api/v1/tasks/" + task.path("task_id").asText() + "/complete",
                            "{\"agent_id\":\"" + task.path("assignee").asText() + "\",\"result\":{\"answer\":\"42\"}}");
                    answered++;
                }
            }
            Thread.sleep(answered == 0 ? 20 : 0);
        }
        return answered;
    }

    /** GETs {@code path} as alice until {@code done} holds of the answer, for up to 10 s. */
    Reply await(String path, Predicate<JsonNode> done) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        Reply reply = api.call(alice, "GET", path, null);
        while (!done.test(reply.body()) && System.nanoTime() < deadline) {
            Thread.sleep(20);
            reply = api.call(alice, "GET", path, null);
        }
        assertThat(done.test(reply.body())).as(path + " " + reply.body()).isTrue();
        return reply;
    }

    String adminToken() throws Exception {
        return api.call(null, "POST", "/auth/token", "{\"username\":\"admin\",\"password\":\""
                + ServerSettings.forTests(dir).adminPassword().orElseThrow() + "\"}").body().get("access_token").asText();
    }

    /** The documented success status: the first of an operation's responses. */
    String successStatus(String op) {
        return operation(op).path("responses").fieldNames().next();
    }

    JsonNode response(String op) {
        JsonNode success = operation(op).path("responses").properties().iterator().next().getValue();
        return success.path("content").path("application/json").path("schema");
    }

    /**
     * The answer's fields are all documented and the required ones present; so too in each object,
     * and each array's objects, whose fields the document lists.
     */
    static void assertMatches(String what, JsonNode schema, JsonNode answer) {
        List<String> fields = names(answer.fieldNames());
        assertThat(names(schema.path("properties").fieldNames())).as(what + ": documented fields").containsAll(fields);
        List<String> required = StreamSupport.stream(schema.path("required").spliterator(), false).map(JsonNode::asText).toList();
        assertThat(fields).as(what + ": required fields present").containsAll(required);
        schema.path("properties").properties().forEach(field -> {
            JsonNode value = answer.path(field.getKey());
            JsonNode items = field.getValue().path("items");
            if (value.isObject() && field.getValue().has("properties")) {
                assertMatches(what + " " + field.getKey(), field.getValue(), value);
            } else if (value.isArray() && items.has("properties")) {
                value.forEach(item -> assertMatches(what + " " + field.getKey() + "[]", items, item));
            }
        });
    }

    List<String> required(String op) {
        JsonNode schema = operation(op).path("requestBody").path("content").path("application/json").path("schema");
        return StreamSupport.stream(schema.path("required").spliterator(), false).map(JsonNode::asText).toList();
    }

    List<String> query(String op) {
        return StreamSupport.stream(operation(op).path("parameters").spliterator(), false)
                .filter(p -> p.path("in").asText().equals("query")).map(p -> p.path("name").asText()).toList();
    }

    JsonNode parameter(String op, String name) {
        return StreamSupport.stream(operation(op).path("parameters").spliterator(), false)
                .filter(p -> p.path("name").asText().toLowerCase(Locale.ROOT).equals(name.toLowerCase(Locale.ROOT)))
                .findFirst().orElseThrow();
    }

    static List<String> names(Iterator<String> names) {
        List<String> list = new ArrayList<>();
        names.forEachRemaining(list::add);
        return list;
    }
}
