package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Negative cases for every route the server registers, enumerated from {@code /openapi.json} so a
 * new route is covered the day it is added: no credentials, malformed JSON, oversized bodies, and
 * another user's agents, groups and messages.
 */
class NegativeRoutesTest {
    @TempDir
    Path dir;
    MessageBus bus;
    HttpServer server;
    final HttpClient client = HttpClient.newHttpClient();
    String alice;
    String bob;
    String bobsMessage;

    record Operation(String method, String path) {}

    @BeforeEach
    void start() throws Exception {
        bus = MessageBus.open(BusConfig.builder(dir).build());
        ServerSettings d = ServerSettings.forTests(dir);
        server = HttpServer.start(bus, new ServerSettings(dir, "127.0.0.1", 0, 16 * 1024, true, d.jwtSecret(),
                d.tokenLifetime(), 100_000, d.adminPassword()));
        alice = token("alice");
        bob = token("bob");
        call("POST", "/api/v1/agents", "{\"agent_id\":\"alice\"}", alice);
        call("POST", "/api/v1/agents", "{\"agent_id\":\"bob\"}", bob);
        call("POST", "/api/v1/groups", "{\"group_name\":\"bobs\",\"agent_ids\":[\"bob\"]}", bob);
        bobsMessage = call("POST", "/api/v1/messages", "{\"from\":\"bob\",\"to\":\"bob\",\"content\":1}", bob)
                .body().get("message_id").asText();
    }

    @AfterEach
    void stop() {
        server.close();
        bus.close();
    }

    record Reply(int status, JsonNode body) {}

    String token(String user) throws Exception {
        return call("POST", "/auth/token", "{\"username\":\"" + user + "\",\"password\":\"password-1\"}", null)
                .body().get("access_token").asText();
    }

    Reply call(String method, String path, String body, String token) throws Exception {
        return call(method, path, body, token, Map.of());
    }

    Reply call(String method, String path, String body, String token, Map<String, String> headers) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json");
        headers.forEach(request::header);
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        HttpResponse<String> response;
        try {
            response = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
        } catch (java.io.IOException e) {
            // The server closes a connection after refusing a body it did not read; a pooled
            // connection can be reused just as that happens. Not what these tests are about: once more.
            response = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
        }
        JsonNode json = response.body().isEmpty() ? null : RequestBody.MAPPER.readTree(response.body());
        return new Reply(response.statusCode(), json);
    }

    List<Operation> operations() throws Exception {
        JsonNode paths = call("GET", "/openapi.json", null, null).body().get("paths");
        List<Operation> operations = new ArrayList<>();
        paths.properties().forEach(p -> p.getValue().properties().forEach(m -> {
            if (!m.getValue().get("security").isEmpty()) {
                operations.add(new Operation(m.getKey().toUpperCase(java.util.Locale.ROOT), p.getKey()));
            }
        }));
        return operations;
    }

    /** Fills path parameters with the other user's things. */
    String bobs(String path) {
        return path.replace("{id}", path.contains("/messages/") ? bobsMessage : "bob")
                .replace("{message_id}", bobsMessage).replace("{name}", "bobs").replace("{agent}", "bob")
                .replace("{topic}", "t").replace("{execution_id}", "exe-1").replace("{model}", "m");
    }

    static void assertErrorShape(Reply reply, String what) {
        assertThat(reply.body()).as(what + " answers JSON").isNotNull();
        assertThat(reply.body().has("error")).as(what + " has 'error'").isTrue();
        if (what.contains("path=/v1/")) { // OpenAI-compatible routes answer as OpenAI does (ADR 0003)
            assertThat(reply.body().get("error").has("message")).as(what + " has 'error.message'").isTrue();
            assertThat(reply.body().get("error").has("type")).as(what + " has 'error.type'").isTrue();
            return;
        }
        assertThat(reply.body().has("message")).as(what + " has 'message'").isTrue();
    }

    @Test
    void everyProtectedRoute_withoutCredentials_is401() throws Exception {
        List<Operation> operations = operations();
        assertThat(operations).hasSizeGreaterThan(30);
        for (Operation op : operations) {
            Reply reply = call(op.method(), bobs(op.path()), "{}", null);
            assertThat(reply.status()).as(op.toString()).isEqualTo(401);
            assertErrorShape(reply, op.toString());
        }
    }

    @Test
    void everyRouteWithABody_rejectsMalformedJsonAndOversizedBodies() throws Exception {
        // Path ids of alice's own things, so that each route gets as far as reading its body.
        String task = call("POST", "/api/v1/tasks", "{\"type\":\"x\"}", alice).body().get("task_id").asText();
        String network = call("POST", "/api/v1/agents/networks", "{\"name\":\"n\",\"agents\":[\"alice\"]}", alice)
                .body().get("id").asText();
        String message = call("POST", "/api/v1/messages", "{\"from\":\"alice\",\"to\":\"alice\",\"content\":1}", alice)
                .body().get("message_id").asText();
        call("POST", "/api/v1/groups", "{\"group_name\":\"alices\",\"agent_ids\":[\"alice\"]}", alice);
        // Routes that refuse before they read a body: what they answer instead.
        Map<String, Integer> refusedFirst = Map.of(
                "/api/v1/users", 403, // admins only
                "/api/v1/managed-agents/{name}/replicas", 404); // no pool: pools need an LLM backend, not set up here
        for (Operation op : operations()) {
            if (!Set.of("POST", "PUT").contains(op.method()) || OpenApiDocTest.BODYLESS.contains(
                    op.method().toLowerCase(java.util.Locale.ROOT) + " " + op.path())) {
                continue;
            }
            String path = op.path().replace("{id}", op.path().startsWith("/api/v1/tasks/") ? task
                            : op.path().startsWith("/api/v1/agents/networks/") ? network
                            : op.path().contains("/messages/") ? message : "alice")
                    .replace("{name}", "alices").replace("{agent}", "alice").replace("{topic}", "t");
            int refused = refusedFirst.getOrDefault(op.path(), 0);
            Reply malformed = call(op.method(), path, "{\"broken\":", alice);
            assertThat(malformed.status()).as(op + " malformed " + malformed.body()).isEqualTo(refused > 0 ? refused : 400);
            assertErrorShape(malformed, op + " malformed");
            if (refused == 403) {
                continue; // refused before the body is read, and the connection closed
            }
            Reply oversized = call(op.method(), path, "{\"x\":\"" + "y".repeat(40_000) + "\"}", alice);
            assertThat(oversized.status()).as(op + " oversized").isEqualTo(refused > 0 ? refused : 413);
            assertErrorShape(oversized, op + " oversized");
        }
    }

    @Test
    void anotherUsersThings_are404OrForbidden_andUntouched() throws Exception {
        Map<String, String> bodies = Map.of(
                "/api/v1/agents/{id}/ack", "{\"message_id\":\"" + bobsMessage + "\"}",
                "/api/v1/agents/{id}/nack", "{\"message_id\":\"" + bobsMessage + "\"}",
                "/api/v1/topics/{topic}/subscribers", "{\"agent_id\":\"bob\"}",
                "/messages/{id}/status", "{\"status\":\"processed\",\"agent_id\":\"bob\"}");
        for (Operation op : operations()) {
            boolean touchesOthers = op.path().contains("{") && !op.path().startsWith("/api/v1/topics/{topic}")
                    || op.path().equals("/api/v1/topics/{topic}/subscribers");
            if (!touchesOthers) {
                continue;
            }
            Reply reply = call(op.method(), bobs(op.path()), bodies.getOrDefault(op.path(),
                    "{\"from\":\"bob\",\"content\":1}"), alice);
            assertThat(reply.status()).as(op.toString()).isIn(403, 404);
            assertErrorShape(reply, op.toString());
        }
        assertThat(bus.hasInbox(io.swarmbus.messaging.AgentId.of("bob"))).isTrue();
        assertThat(bus.groupMembers("bobs")).isPresent();
        assertThat(bus.inboxStats(io.swarmbus.messaging.AgentId.of("bob")).pending()).isEqualTo(1);
    }

    @Test
    void anotherUsersGroup_takesNoMessageFromHer() throws Exception {
        List<Reply> sends = List.of(
                call("POST", "/api/v1/groups/bobs/messages", "{\"from\":\"alice\",\"content\":1}", alice),
                call("POST", "/groups/message", "{\"group_name\":\"bobs\",\"content\":1}", alice),
                call("POST", "/api/v1/messages", "{\"from\":\"alice\",\"group\":\"bobs\",\"content\":1}", alice),
                call("POST", "/api/v1/messages/batch",
                        "{\"messages\":[{\"from\":\"alice\",\"group\":\"bobs\",\"content\":1}]}", alice));

        for (int i = 0; i < 3; i++) {
            assertThat(sends.get(i).status()).as("send " + i).isEqualTo(404);
            assertErrorShape(sends.get(i), "send " + i);
        }
        assertThat(sends.get(3).body().get("results").get(0).get("status").asInt()).isEqualTo(404);
        assertThat(bus.inboxStats(io.swarmbus.messaging.AgentId.of("bob")).pending()).isEqualTo(1);
    }

    @Test
    void sharedTopicsAndMessages_nameOnlyTheCallersOwnAgents() throws Exception {
        call("POST", "/api/v1/topics/news/subscribers", "{\"agent_id\":\"alice\"}", alice);
        call("POST", "/api/v1/topics/news/subscribers", "{\"agent_id\":\"bob\"}", bob);
        String published = call("POST", "/api/v1/topics/news/messages", "{\"from\":\"bob\",\"content\":1}", bob)
                .body().get("message_id").asText();

        assertThat(call("GET", "/api/v1/topics/news", null, alice).body().get("subscribers").toString())
                .isEqualTo("[\"alice\"]");
        JsonNode seenByAlice = call("GET", "/api/v1/messages/" + published, null, alice).body().get("deliveries");
        assertThat(seenByAlice).hasSize(1);
        assertThat(seenByAlice.get(0).get("agent_id").asText()).isEqualTo("alice");
        assertThat(call("GET", "/api/v1/messages/" + published, null, bob).body().get("deliveries"))
                .as("the sender sees every delivery").hasSize(1);
    }

    @Test
    void pushStream_refusesWithItsStatusBeforeStreaming() throws Exception {
        Map<String, Integer> cases = new java.util.LinkedHashMap<>();
        cases.put("/api/v1/agents/bob/stream", 404);
        cases.put("/api/v1/agents/alice/stream?max_messages=abc", 400);
        cases.put("/api/v1/agents/alice/stream?max_messages=0", 400);
        cases.put("/api/v1/agents/alice/stream?visibility_timeout=-1", 400);
        for (var c : cases.entrySet()) {
            HttpResponse<String> response = client.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + server.port() + c.getKey()))
                    .header("Authorization", "Bearer " + alice).header("Accept", "text/event-stream").build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).as(c.getKey()).isEqualTo(c.getValue());
            assertErrorShape(new Reply(response.statusCode(), RequestBody.MAPPER.readTree(response.body())), c.getKey());
        }
        Reply noAccept = call("GET", "/api/v1/agents/alice/stream", null, alice);
        assertThat(noAccept.status()).isEqualTo(400);
        assertThat(noAccept.body().get("field").asText()).isEqualTo("Accept");
    }

    @Test
    void sendFields_withWrongTypesOrValues_are400NamingTheField() throws Exception {
        Map<String, String> cases = new java.util.LinkedHashMap<>();
        cases.put("{\"to\":\"alice\"}", "content");
        cases.put("{\"to\":\"alice\",\"content\":1,\"priority\":\"urgent\"}", "priority");
        cases.put("{\"to\":\"alice\",\"content\":1,\"priority\":7}", "priority");
        cases.put("{\"to\":\"alice\",\"content\":1,\"priority\":[1]}", "priority");
        cases.put("{\"to\":\"alice\",\"content\":1,\"priority\":4294967298}", "priority"); // once wrapped round to 2
        cases.put("{\"to\":\"alice\",\"content\":1,\"priority\":18446744073709551619}", "priority");
        cases.put("{\"to\":\"alice\",\"content\":1,\"priority\":-4294967293}", "priority");
        cases.put("{\"to\":\"alice\",\"content\":1,\"priority\":1.5}", "priority");
        cases.put("{\"to\":5,\"content\":1}", "to");
        cases.put("{\"to\":\"alice\",\"group\":\"g\",\"content\":1}", "to");
        cases.put("{\"content\":1}", "to");
        cases.put("{\"to\":\"al ice\",\"content\":1}", "to");
        cases.put("{\"to\":\"alice\",\"content\":1,\"type\":\"Not A Type\"}", "type");
        cases.put("{\"to\":\"alice\",\"content\":1,\"message_type\":\"Not A Type\"}", "message_type");
        cases.put("{\"to\":\"alice\",\"content\":1,\"headers\":{\"a\":1}}", "headers");
        cases.put("{\"to\":\"alice\",\"content\":1,\"ttl_seconds\":\"soon\"}", "ttl_seconds");
        cases.put("{\"to\":\"alice\",\"content\":1,\"ttl_seconds\":-5}", "ttl_seconds");
        cases.put("{\"to\":\"alice\",\"content\":1,\"ttl_seconds\":1e18}", "ttl_seconds"); // once overflowed the clock
        cases.put("{\"to\":\"alice\",\"content\":1,\"headers\":{\"traceparent\":\"" + "x".repeat(5000) + "\"}}", "headers");
        cases.put("{\"to\":\"alice\",\"content\":1,\"conversation_id\":\"\\ud800\"}", "body");
        cases.put("{\"to\":\"alice\",\"content\":\"\\ud800\"}", "body"); // content is kept as raw text, and checked too
        cases.put("{\"to\":\"alice\",\"receiver_id\":\"bob\",\"content\":1}", "receiver_id");
        cases.put("{\"to\":\"alice\",\"from\":\"alice\",\"sender_id\":\"alice\",\"content\":1}", "sender_id");
        cases.put("{\"to\":\"alice\",\"type\":\"chat\",\"message_type\":\"command\",\"content\":1}", "message_type");
        cases.put("[1,2]", "body");
        cases.put("{\"broadcast\":true,\"role\":\"judge\",\"content\":1}", "role"); // reached every agent, not judges
        cases.put("{\"broadcast\":true,\"capability\":\"x\",\"content\":1}", "capability");
        cases.put("{\"to\":\"alice\",\"to\":\"bob\",\"content\":1}", "body"); // the last one was sent to, silently
        cases.put("{\"to\":\"alice\",\"content\":1,\"headers\":{\"a\":\"1\",\"a\":\"2\"}}", "body");
        for (var c : cases.entrySet()) {
            Reply reply = call("POST", "/api/v1/messages", c.getKey(), alice);
            assertThat(reply.status()).as(c.getKey()).isEqualTo(400);
            assertThat(reply.body().get("field").asText()).as(c.getKey()).isEqualTo(c.getValue());
        }
        Reply pastAYear = call("POST", "/api/v1/messages", "{\"to\":\"alice\",\"content\":1,\"ttl_seconds\":31536001}", alice);
        assertThat(pastAYear.body().get("message").asText()).as("the value as given, not as a double prints")
                .endsWith("was 31536001");
        Reply badName = call("POST", "/auth/token", "{\"username\":\"x y\",\"password\":\"password-1\"}", null);
        assertThat(badName.status()).isEqualTo(400);
        assertThat(badName.body().get("field").asText()).isEqualTo("username");
        Reply numericName = call("POST", "/auth/token", "{\"username\":1e308,\"password\":\"password-1\"}", null);
        assertThat(numericName.status()).isEqualTo(400);
        assertThat(numericName.body().get("field").asText()).isEqualTo("username");
        Reply broadcastTo = call("POST", "/api/v1/messages/broadcast", "{\"to\":\"bob\",\"content\":1}", alice);
        assertThat(broadcastTo.status()).isEqualTo(400);
        assertThat(broadcastTo.body().get("field").asText()).isEqualTo("to");
        // Routes that know where a message goes refuse another address rather than ignore it.
        for (String[] c : new String[][] {
                {"/api/v1/messages/broadcast", "{\"broadcast\":false,\"content\":1}", "broadcast"},
                {"/api/v1/groups/g/messages", "{\"to\":\"bob\",\"content\":1}", "to"},
                {"/api/v1/groups/g/messages", "{\"group\":\"other\",\"content\":1}", "group"},
                {"/api/v1/topics/news/messages", "{\"broadcast\":true,\"content\":1}", "broadcast"},
                {"/groups/message", "{\"group_name\":\"g\",\"to\":\"bob\",\"content\":1}", "to"}}) {
            Reply reply = call("POST", c[0], c[1], alice);
            assertThat(reply.status()).as(c[0] + " " + c[1]).isEqualTo(400);
            assertThat(reply.body().get("field").asText()).as(c[0] + " " + c[1]).isEqualTo(c[2]);
        }
        Reply unknownId = call("GET", "/api/v1/messages/00000000000000ff", null, alice);
        assertThat(unknownId.status()).isEqualTo(404);
        Reply maybe = call("GET", "/api/v1/agents?available=maybe", null, alice);
        assertThat(maybe.status()).isEqualTo(400);
        assertThat(maybe.body().get("field").asText()).isEqualTo("available");
        Reply negative = call("POST", "/api/v1/agents/alice/receive?visibility_timeout=-3", "{}", alice);
        assertThat(negative.status()).isEqualTo(400);
        assertThat(negative.body().get("message").asText()).contains("0 or more").doesNotContain("86400");
        Reply badLimit = call("GET", "/api/v1/messages?limit=0", null, alice);
        assertThat(badLimit.status()).isEqualTo(400);
        assertThat(badLimit.body().get("field").asText()).isEqualTo("limit");
        // A history filter is refused naming the query parameter it came in.
        for (String filter : List.of("agent", "peer", "type")) {
            Reply bad = call("GET", "/api/v1/messages?" + filter + "=Not%20Valid", null, alice);
            assertThat(bad.status()).as(filter).isEqualTo(400);
            assertThat(bad.body().get("field").asText()).as(filter).isEqualTo(filter);
        }
    }

    /** Regression: reading a malformed topic, or leaving one, answered an empty topic where subscribing was a 400. */
    @Test
    void aMalformedTopicName_isA400_atEveryTopicRoute() throws Exception {
        for (String[] c : new String[][] {
                {"GET", "/api/v1/topics/not%20valid", null},
                {"DELETE", "/api/v1/topics/not%20valid/subscribers/alice", null},
                {"POST", "/api/v1/topics/not%20valid/subscribers", "{\"agent_id\":\"alice\"}"},
                {"POST", "/api/v1/topics/not%20valid/messages", "{\"content\":1}"}}) {
            Reply reply = call(c[0], c[1], c[2], alice);
            assertThat(reply.status()).as(c[0] + " " + c[1]).isEqualTo(400);
            assertThat(reply.body().get("field").asText()).as(c[0] + " " + c[1]).isEqualTo("topic");
        }
        assertThat(call("GET", "/api/v1/topics/news", null, alice).status()).isEqualTo(200);
    }

    /** Regression: a receive refused a whole number written 5.0 or 1e2, which every other body field takes. */
    @Test
    void aWholeNumberWrittenAsADecimal_isTakenByEveryParameter() throws Exception {
        for (int i = 0; i < 3; i++) {
            call("POST", "/api/v1/messages", "{\"to\":\"alice\",\"content\":" + i + "}", alice);
        }
        Reply body = call("POST", "/api/v1/agents/alice/receive", "{\"max_messages\":1.0}", alice);
        assertThat(body.status()).as(body.body().toString()).isEqualTo(200);
        assertThat(body.body().get("count").asInt()).isEqualTo(1);
        Reply exponent = call("POST", "/api/v1/agents/alice/receive", "{\"max_messages\":1e2}", alice);
        assertThat(exponent.status()).as(exponent.body().toString()).isEqualTo(200);
        assertThat(exponent.body().get("count").asInt()).isEqualTo(2);
        assertThat(call("GET", "/api/v1/messages?limit=1e1", null, alice).body().get("count").asInt()).isEqualTo(3);
        for (String refused : List.of("1.5", "1e-1", "3000000000")) {
            Reply reply = call("POST", "/api/v1/agents/alice/receive", "{\"max_messages\":" + refused + "}", alice);
            assertThat(reply.status()).as(refused).isEqualTo(400);
            assertThat(reply.body().get("field").asText()).as(refused).isEqualTo("max_messages");
        }
    }

    @Test
    void refusals_nameWhatTheClientSent_andQuoteItsValue() throws Exception {
        // The header is named as a header; the body's field keeps its own name.
        Reply longHeader = call("POST", "/api/v1/messages", "{\"to\":\"alice\",\"content\":1}", alice,
                Map.of("Idempotency-Key", "k".repeat(300)));
        assertThat(longHeader.status()).isEqualTo(400);
        assertThat(longHeader.body().get("field").asText()).isEqualTo("Idempotency-Key");
        Reply longBroadcastHeader = call("POST", "/api/v1/messages/broadcast", "{\"role\":\"r\",\"content\":1}",
                alice, Map.of("Idempotency-Key", "k".repeat(300)));
        assertThat(longBroadcastHeader.status()).isEqualTo(400);
        assertThat(longBroadcastHeader.body().get("field").asText()).isEqualTo("Idempotency-Key");
        Reply longField = call("POST", "/api/v1/messages",
                "{\"to\":\"alice\",\"content\":1,\"idempotency_key\":\"" + "k".repeat(300) + "\"}", alice);
        assertThat(longField.status()).isEqualTo(400);
        assertThat(longField.body().get("field").asText()).isEqualTo("idempotency_key");

        // A broadcast narrowed to a capability names 'capability', the field sent.
        for (String capability : List.of("", "not valid")) {
            Reply reply = call("POST", "/api/v1/messages/broadcast",
                    "{\"capability\":\"" + capability + "\",\"content\":1}", alice);
            assertThat(reply.status()).as(capability).isEqualTo(400);
            assertThat(reply.body().get("field").asText()).as(capability).isEqualTo("capability");
        }

        // A malformed group name is refused under the name it was sent as, not the engine's 'group'.
        for (String[] c : new String[][] {
                {"/api/v1/groups", "{\"group_name\":\"not valid\",\"agent_ids\":[]}"},
                {"/groups", "{\"group_name\":\"not valid\",\"agent_ids\":[]}"},
                {"/groups/message", "{\"group_name\":\"not valid\",\"content\":1}"},
                {"/api/v1/messages", "{\"group_name\":\"not valid\",\"content\":1}"}}) {
            Reply reply = call("POST", c[0], c[1], alice);
            assertThat(reply.status()).as(c[0]).isEqualTo(400);
            assertThat(reply.body().get("field").asText()).as(c[0]).isEqualTo("group_name");
        }
        Reply group = call("POST", "/api/v1/messages", "{\"group\":\"not valid\",\"content\":1}", alice);
        assertThat(group.body().get("field").asText()).isEqualTo("group");

        // A number too large for a double is quoted as sent, not as the infinity it parses to.
        for (String body : List.of("{\"max_messages\":1e400}", "{\"max_messages\":-1e400}")) {
            Reply reply = call("POST", "/api/v1/agents/alice/receive", body, alice);
            assertThat(reply.status()).as(body).isEqualTo(400);
            assertThat(reply.body().get("field").asText()).as(body).isEqualTo("max_messages");
            assertThat(reply.body().get("message").asText()).as(body).doesNotContain("Infinity").contains("1e400");
        }
        Reply query = call("POST", "/api/v1/agents/alice/receive?max_messages=1e400", "{}", alice);
        assertThat(query.body().get("message").asText()).contains("'1e400'");
    }

    @Test
    void badInputFoundByProbing_isRefusedWithItsField_andNothingOfItIsKept() throws Exception {
        // A lone surrogate was kept in a task, answered 500, then broke every task list showing it.
        Reply surrogate = call("POST", "/api/v1/tasks", "{\"type\":\"t\",\"parameters\":\"\\ud800\"}", alice);
        assertThat(surrogate.status()).isEqualTo(400);
        assertThat(surrogate.body().get("message").asText()).contains("surrogate");
        assertThat(call("GET", "/api/v1/tasks?limit=1000", null, alice).body().get("tasks")).isEmpty();
        Reply pair = call("POST", "/api/v1/tasks", "{\"type\":\"t\",\"parameters\":\"\\ud83d\\ude00\"}", alice);
        assertThat(pair.status()).as("a whole pair is text").isEqualTo(201);
        assertThat(call("GET", "/api/v1/tasks?limit=1000", null, alice).status()).isEqualTo(200);

        // "." and ".." cannot be named in a URL path, so they cannot be agents or groups.
        for (String dots : List.of(".", "..")) {
            Reply registered = call("POST", "/api/v1/agents", "{\"agent_id\":\"" + dots + "\"}", alice);
            assertThat(registered.status()).as(dots).isEqualTo(400);
            assertThat(registered.body().get("field").asText()).isEqualTo("agent_id");
            Reply group = call("POST", "/api/v1/groups", "{\"group_name\":\"" + dots + "\",\"agent_ids\":[]}", alice);
            assertThat(group.status()).as(dots).isEqualTo(400);
            assertThat(group.body().get("field").asText()).isEqualTo("group_name");
        }
        Reply dotted = call("POST", "/api/v1/agents/%2E%2E/receive", "{}", alice);
        assertThat(dotted.status()).isEqualTo(404);
        assertErrorShape(dotted, "receive for ..");

        // Leases and delays are refused in seconds, under the parameter's own name.
        String id = call("POST", "/api/v1/messages", "{\"from\":\"alice\",\"to\":\"alice\",\"content\":1}", alice)
                .body().get("message_id").asText();
        Reply lease = call("POST", "/api/v1/agents/alice/receive?visibility_timeout=50000", "{}", alice);
        assertThat(lease.status()).isEqualTo(400);
        assertThat(lease.body().get("message").asText()).doesNotContain("PT").contains("seconds");
        call("POST", "/api/v1/agents/alice/receive", "{}", alice);
        Reply delay = call("POST", "/api/v1/agents/alice/nack?delay_seconds=50000", "{\"message_id\":\"" + id + "\"}", alice);
        assertThat(delay.status()).as(String.valueOf(delay.body())).isEqualTo(400);
        assertThat(delay.body().get("field").asText()).isEqualTo("delay_seconds");
        assertThat(delay.body().get("message").asText()).doesNotContain("PT");
        // One limit, whichever check refuses the value: the engine's (50000) or the parser's (90000).
        for (String refused : List.of("/api/v1/agents/alice/receive?visibility_timeout=50000",
                "/api/v1/agents/alice/receive?visibility_timeout=90000",
                "/api/v1/agents/alice/extend?visibility_timeout=90000",
                "/api/v1/agents/alice/nack?delay_seconds=50000", "/api/v1/agents/alice/nack?delay_seconds=90000")) {
            Reply tooLong = call("POST", refused, "{\"message_id\":\"" + id + "\"}", alice);
            assertThat(tooLong.status()).as(refused).isEqualTo(400);
            assertThat(tooLong.body().get("message").asText()).as(refused).contains("43200").doesNotContain("86400");
        }
        // Both forms of ids at once: the list was ignored and the message stayed leased.
        Reply both = call("POST", "/api/v1/agents/alice/ack", "{\"message_ids\":[\"" + id + "\"],"
                + "\"message_id\":\"0000000000000000\"}", alice);
        assertThat(both.status()).isEqualTo(400);
        assertThat(both.body().get("field").asText()).isEqualTo("message_id");
    }

    @Test
    void head_answersTheStatusGetWould_withoutABody() throws Exception {
        Map<String, Integer> cases = new java.util.LinkedHashMap<>();
        cases.put("/api/v1/agents/alice", 200);
        cases.put("/api/v1/agents/bob", 404); // another user's
        cases.put("/api/v1/agents/ghost", 404);
        cases.put("/api/v1/messages/zz", 400);
        cases.put("/api/v1/agents?limit=abc", 400);
        cases.put("/api/v1/agents/alice/stream", 400); // no Accept: text/event-stream
        cases.put("/v1/models", 200); // the gateway's route, served outside Javalin
        cases.put("/v1/models/none", 404); // no backend, no model
        for (var c : cases.entrySet()) {
            Reply get = call("GET", c.getKey(), null, alice);
            Reply head = call("HEAD", c.getKey(), null, alice);
            assertThat(get.status()).as("GET " + c.getKey()).isEqualTo(c.getValue());
            assertThat(head.status()).as("HEAD " + c.getKey()).isEqualTo(c.getValue());
            assertThat(head.body()).as("HEAD " + c.getKey()).isNull();
        }
    }

    @Test
    void whatJettyRefusesBeforeAnyRoute_isAnsweredInTheApisErrorShape() throws Exception {
        Map<String, Reply> cases = new java.util.LinkedHashMap<>();
        cases.put("a path that is not UTF-8", call("GET", "/api/v1/agents/%FF", null, alice));
        cases.put("the same by PUT, which Jetty answered with no body", call("PUT", "/api/v1/agents/%FF", "{}", alice));
        cases.put("a URI over Jetty's limit", call("GET", "/api/v1/agents/" + "a".repeat(100_000), null, alice));
        cases.put("headers over Jetty's limit", call("GET", "/api/v1/agents", null, "x".repeat(20_000)));
        for (var c : cases.entrySet()) {
            assertThat(c.getValue().status()).as(c.getKey()).isBetween(400, 431);
            assertErrorShape(c.getValue(), c.getKey());
        }
        assertThat(cases.get("a path that is not UTF-8").body().get("error").asText()).isEqualTo("invalid_argument");
        assertThat(cases.get("a URI over Jetty's limit").status()).isEqualTo(414);
        assertThat(cases.get("a URI over Jetty's limit").body().get("error").asText()).isEqualTo("request_too_large");
        String metrics = client.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:"
                + server.port() + "/metrics")).build(), java.net.http.HttpResponse.BodyHandlers.ofString()).body();
        assertThat(metrics).as("counted as every answer is").containsPattern(
                "http_server_requests_seconds_count\\{method=\"PUT\",route=\"unmatched\",status=\"400\"} 1");
    }

    /** Regression: what Jetty refused before any route was counted and audited, but had no access log line. */
    @Test
    void whatJettyRefusesBeforeAnyRoute_hasItsAccessLogLine() throws Exception {
        List<String> logged;
        try (CapturedLog access = CapturedLog.accessLog()) {
            assertThat(call("PUT", "/api/v1/agents/%FF", "{}", alice).status()).isEqualTo(400);
            assertThat(call("GET", "/api/v1/agents", null, "x".repeat(20_000)).status()).isEqualTo(431);
            assertThat(call("GET", "/healthz", null, null).status()).isEqualTo(200);
            logged = access.messages();
        }
        assertThat(logged).containsExactly(
                "method=PUT route=unmatched status=400 principal=-",
                "method=GET route=unmatched status=431 principal=-",
                "method=GET route=/healthz status=200 principal=-");
    }

    @Test
    void aBodyShorterThanItsContentLength_isA400_notAServerError() throws Exception {
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", server.port())) {
            String body = "{\"agent_id\":\"half\"";
            socket.getOutputStream().write(("POST /api/v1/agents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + alice
                    + "\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n" + body)
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8));
            socket.shutdownOutput(); // the client stops mid-body
            String answer = new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertThat(answer).startsWith("HTTP/1.1 400").contains("Content-Length announced");
        }
        assertThat(call("GET", "/api/v1/agents/half", null, alice).status()).isEqualTo(404);
    }
}
