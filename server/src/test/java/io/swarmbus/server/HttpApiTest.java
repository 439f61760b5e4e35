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
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The HTTP API over real HTTP on a random port. */
class HttpApiTest {
    @TempDir
    Path dir;
    MessageBus bus;
    HttpServer server;
    final HttpClient client = HttpClient.newHttpClient();

    record Reply(int status, JsonNode body, HttpResponse<String> raw) {}

    String token;

    @BeforeEach
    void start() throws Exception {
        open(BusConfig.builder(dir));
        token = call("POST", "/auth/token", "{\"username\":\"tester\",\"password\":\"tester-password\"}")
                .body().get("access_token").asText();
    }

    /** Starts the bus with {@code config} and a server on it, on the data of any run before. */
    void open(BusConfig.Builder config) {
        bus = MessageBus.open(config.build());
        ServerSettings defaults = ServerSettings.forTests(dir);
        server = HttpServer.start(bus, new ServerSettings(dir, "127.0.0.1", 0, 64 * 1024, true,
                defaults.jwtSecret(), defaults.tokenLifetime(), 10_000, defaults.adminPassword()));
    }

    @AfterEach
    void stop() {
        server.close();
        bus.close();
    }

    /** Asserts a 400 whose {@code "field"} names {@code field}. */
    static void assertRefused(Reply reply, String field) {
        assertThat(reply.status()).as(reply.raw().body()).isEqualTo(400);
        assertThat(reply.body().get("field").asText()).isEqualTo(field);
    }

    Reply call(String method, String path, String body) throws Exception {
        return call(method, path, body, "application/json");
    }

    Reply call(String method, String path, String body, String contentType) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .timeout(Duration.ofSeconds(30))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            request.header("Content-Type", contentType);
        }
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        HttpResponse<String> response;
        try {
            response = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
        } catch (java.io.IOException e) {
            // The server closes a connection after refusing a body it did not read (413), and the
            // client may still be writing it, or reuse a pooled connection just as it closes: once
            // more, as NegativeRoutesTest does. Not what these tests are about.
            response = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
        }
        JsonNode json = response.body().isEmpty() ? null : RequestBody.MAPPER.readTree(response.body());
        return new Reply(response.statusCode(), json, response);
    }

    /** {@link #call} on another thread: a long-poll to wait on. */
    CompletableFuture<Reply> callAsync(String method, String path, String body) {
        return callAsync(method, path, body, "application/json");
    }

    CompletableFuture<Reply> callAsync(String method, String path, String body, String contentType) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return call(method, path, body, contentType);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    /** Sends {@code count} messages from a to b, their contents 0, 1, ...; their ids in order. */
    List<String> sendFromAToB(int count) throws Exception {
        List<String> ids = new java.util.ArrayList<>();
        for (int i = 0; i < count; i++) {
            ids.add(call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":" + i + "}")
                    .body().get("message_id").asText());
        }
        return ids;
    }

    void register(String... agents) throws Exception {
        for (String agent : agents) {
            assertThat(call("POST", "/api/v1/agents", "{\"agent_id\":\"" + agent + "\"}").status()).isEqualTo(201);
        }
    }

    @Test
    void sendReceiveAck_overHttp() throws Exception {
        register("agent1", "agent2");

        Reply sent = call("POST", "/api/v1/messages", """
                {"from":"agent1","receiver_id":"agent2","content":"Hello, can you analyze this data?",
                 "message_type":"command","priority":2}""");
        Reply got = call("POST", "/api/v1/agents/agent2/receive?max_messages=10&timeout=2.0", null);

        assertThat(sent.status()).isEqualTo(201);
        String id = sent.body().get("message_id").asText();
        assertThat(got.status()).isEqualTo(200);
        JsonNode message = got.body().get("messages").get(0);
        assertThat(message.get("id").asText()).isEqualTo(id);
        assertThat(message.get("content").asText()).isEqualTo("Hello, can you analyze this data?");
        assertThat(message.get("type").asText()).isEqualTo("command");
        assertThat(message.get("priority").asText()).isEqualTo("high");
        assertThat(message.get("attempt").asInt()).isEqualTo(1);

        Reply acked = call("POST", "/api/v1/agents/agent2/ack", "{\"message_ids\":[\"" + id + "\"]}");
        assertThat(acked.body().get("acked").get(0).asText()).isEqualTo(id);
        Reply record = call("GET", "/api/v1/messages/" + id, null);
        assertThat(record.body().get("deliveries").get(0).get("status").asText()).isEqualTo("acked");
    }

    /** Regression: a parameter in both the query and the body was read from the query, the body's silently dropped. */
    @Test
    void aParameterGivenInTheQueryAndTheBody_differently_is400_whileTheSameValueTwiceIsFine() throws Exception {
        register("a", "b");
        List<String> ids = sendFromAToB(3);

        Reply both = call("POST", "/api/v1/agents/b/receive?max_messages=1", "{\"max_messages\":3}");
        assertRefused(both, "max_messages");
        assertThat(both.body().get("message").asText()).isEqualTo("'max_messages' is given in both the query and "
                + "the body, differently ('1' and '3'); give it once");
        Reply form = call("POST", "/api/v1/agents/b/receive?timeout=0", "timeout=1",
                "application/x-www-form-urlencoded");
        assertRefused(form, "timeout");
        Reply extend = call("POST", "/api/v1/agents/b/extend?visibility_timeout=60",
                "{\"message_ids\":[\"" + ids.get(0) + "\"],\"visibility_timeout\":90}");
        assertRefused(extend, "visibility_timeout");
        assertThat(call("GET", "/api/v1/messages/" + ids.get(0), null).body().get("deliveries").get(0)
                .get("status").asText()).isEqualTo("pending");

        Reply same = call("POST", "/api/v1/agents/b/receive?max_messages=2", "{\"max_messages\":2.0}");
        assertThat(same.status()).isEqualTo(200);
        assertThat(same.body().get("count").asInt()).isEqualTo(2);
    }

    /** Regression: a parameter given twice in the query ({@code ?timeout=0&timeout=5}) was read from its first. */
    @Test
    void aParameterGivenTwiceInTheQueryOrForm_differently_is400_whileTheSameValueTwiceIsFine() throws Exception {
        register("a", "b");
        List<String> ids = sendFromAToB(3);

        // The long-poll, answered in front of Javalin, and a Javalin route alike.
        Reply receive = call("POST", "/api/v1/agents/b/receive?max_messages=1&timeout=0&max_messages=3", null);
        assertRefused(receive, "max_messages");
        assertThat(receive.body().get("message").asText()).isEqualTo("'max_messages' is given more than once in "
                + "the query, differently ('1' and '3'); give it once");
        Reply form = call("POST", "/api/v1/agents/b/receive", "timeout=0&max_messages=1&max_messages=2",
                "application/x-www-form-urlencoded");
        assertThat(form.status()).isEqualTo(400);
        assertThat(form.body().get("message").asText()).contains("more than once in the form");
        Reply history = call("GET", "/api/v1/messages?agent_id=a&limit=1&limit=2", null);
        assertRefused(history, "limit");
        assertThat(call("GET", "/api/v1/messages/" + ids.get(0), null).body().get("deliveries").get(0)
                .get("status").asText()).as("nothing leased by a refused receive").isEqualTo("pending");

        Reply same = call("POST", "/api/v1/agents/b/receive?max_messages=2&max_messages=2&timeout=0", null);
        assertThat(same.status()).isEqualTo(200);
        assertThat(same.body().get("count").asInt()).isEqualTo(2);
    }

    /** Regression: acks in both the query and the body were taken from the query, the body's left leased. */
    @Test
    void receiveAcksGivenInTheQueryAndTheBody_differently_are400_andNothingIsAcked() throws Exception {
        register("a", "b");
        List<String> ids = sendFromAToB(2);
        assertThat(call("POST", "/api/v1/agents/b/receive?max_messages=2", null).body().get("count").asInt())
                .isEqualTo(2);

        Reply both = call("POST", "/api/v1/agents/b/receive?ack=" + ids.get(0), "{\"ack\":[\"" + ids.get(1) + "\"]}");
        assertRefused(both, "ack");
        Reply form = call("POST", "/api/v1/agents/b/receive?ack=" + ids.get(0), "ack=" + ids.get(1),
                "application/x-www-form-urlencoded");
        assertRefused(form, "ack");
        for (String id : ids) {
            assertThat(call("GET", "/api/v1/messages/" + id, null).body().get("deliveries").get(0)
                    .get("status").asText()).isEqualTo("leased");
        }

        Reply same = call("POST", "/api/v1/agents/b/receive?ack=" + ids.get(1) + "," + ids.get(0),
                "{\"ack\":[\"" + ids.get(0) + "\",\"" + ids.get(1) + "\"]}");
        assertThat(same.status()).isEqualTo(200);
        assertThat(same.body().get("acked")).hasSize(2);
    }

    @Test
    void receive_acksThePreviousBatchFirst_andRefusesBadAcksBeforeAckingAnything() throws Exception {
        register("a", "b");
        List<String> ids = sendFromAToB(3);
        Reply first = call("POST", "/api/v1/agents/b/receive", "{\"max_messages\":1,\"ack\":[]}");
        assertThat(first.body().get("messages").get(0).get("id").asText()).isEqualTo(ids.get(0));
        assertThat(first.body().get("acked")).isEmpty();
        assertThat(first.body().get("not_held")).isEmpty();

        // A bad id, a bad receive parameter: 400, and the lease on the first message stays.
        Reply badId = call("POST", "/api/v1/agents/b/receive", "{\"ack\":[\"" + ids.get(0) + "\",\"zz\"]}");
        assertRefused(badId, "ack");
        Reply notArray = call("POST", "/api/v1/agents/b/receive", "{\"ack\":\"" + ids.get(0) + "\"}");
        assertThat(notArray.body().get("field").asText()).isEqualTo("ack");
        Reply badMax = call("POST", "/api/v1/agents/b/receive?max_messages=0&ack=" + ids.get(0), null);
        assertRefused(badMax, "max_messages");
        assertThat(call("GET", "/api/v1/messages/" + ids.get(0), null).body().get("deliveries").get(0)
                .get("status").asText()).isEqualTo("leased");

        // Acked durably, then the next two leased; an id never leased is reported, not refused.
        Reply next = call("POST", "/api/v1/agents/b/receive", "{\"max_messages\":2,\"ack\":[\"" + ids.get(0)
                + "\",\"" + ids.get(2) + "\"]}");
        assertThat(next.status()).isEqualTo(200);
        assertThat(next.body().get("acked").get(0).asText()).isEqualTo(ids.get(0));
        assertThat(next.body().get("not_held").get(0).asText()).isEqualTo(ids.get(2));
        assertThat(next.body().get("count").asInt()).isEqualTo(2);
        assertThat(call("GET", "/api/v1/messages/" + ids.get(0), null).body().get("deliveries").get(0)
                .get("status").asText()).isEqualTo("acked");

        // The query or a form lists them comma-separated; without 'ack' the answer has no ack fields.
        Reply form = call("POST", "/api/v1/agents/b/receive", "ack=" + ids.get(1) + ",%20" + ids.get(2),
                "application/x-www-form-urlencoded");
        assertThat(form.body().get("acked")).hasSize(2);
        assertThat(call("POST", "/api/v1/agents/b/receive", null).body().has("acked")).isFalse();

        // A JSON body is read whatever its Content-Type, as the ack route reads its own: its acks
        // and max_messages were dropped unread, the acked message coming back when its lease ran out.
        List<String> more = sendFromAToB(2);
        Reply leased = call("POST", "/api/v1/agents/b/receive", "{\"max_messages\":1}", "text/plain");
        assertThat(leased.body().get("count").asInt()).isEqualTo(1);
        Reply untyped = call("POST", "/api/v1/agents/b/receive", "{\"ack\":[\"" + more.get(0) + "\"]}", "text/plain");
        assertThat(untyped.body().get("acked")).hasSize(1);
        Reply curlDefault = call("POST", "/api/v1/agents/b/receive", "{\"ack\":[\"" + more.get(1) + "\"]}",
                "application/x-www-form-urlencoded"); // curl -d '{...}'
        assertThat(curlDefault.body().get("acked")).hasSize(1);
    }

    @Test
    void receive_longPoll_wakesWhenAMessageArrives() throws Exception {
        register("a", "b");
        CompletableFuture<Reply> waiting = callAsync("POST", "/api/v1/agents/b/receive", "max_messages=5&timeout=20",
                "application/x-www-form-urlencoded");
        Thread.sleep(200);
        assertThat(waiting).isNotDone();

        call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":{\"n\":1}}");

        Reply got = waiting.get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(got.body().get("messages").get(0).get("content").get("n").asInt()).isEqualTo(1);
    }

    /**
     * Ten messages of 900 KiB, more than the default max_receive_bytes of 8 MiB together: a
     * receive asking for a thousand gets the nine that fit, the tenth stays queued unleased.
     */
    @Test
    void receive_stopsBeforeMaxReceiveBytes_andTheNextReceiveGetsTheRest() throws Exception {
        register("a", "tester");
        var tester = io.swarmbus.messaging.AgentId.of("tester");
        List<String> sent = new java.util.ArrayList<>();
        for (int i = 0; i < 10; i++) {
            sent.add(bus.send(io.swarmbus.messaging.SendRequest.builder(io.swarmbus.messaging.AgentId.of("a"),
                    io.swarmbus.messaging.Address.agent(tester)).content("\"" + i + "x".repeat(900 << 10) + "\"")
                    .build()).id().toString());
        }

        Reply first = call("POST", "/api/v1/agents/tester/receive?max_messages=1000", null);

        assertThat(first.status()).isEqualTo(200);
        assertThat(first.body().get("count").asInt()).isEqualTo(9);
        assertThat(first.body().get("messages").findValuesAsText("id")).containsExactlyElementsOf(sent.subList(0, 9));
        assertThat(bus.message(io.swarmbus.messaging.MessageId.parse(sent.get(9))).orElseThrow().deliveries())
                .singleElement().satisfies(d -> {
                    assertThat(d.status()).isEqualTo(io.swarmbus.messaging.DeliveryStatus.PENDING);
                    assertThat(d.attempts()).isZero();
                });
        Reply rest = call("POST", "/agents/receive", "{\"max_messages\":1000}"); // the seed's route, bounded alike
        assertThat(rest.body().get("messages").findValuesAsText("id")).containsExactly(sent.get(9));
        assertThat(rest.body().get("messages").get(0).get("attempt").asInt()).isEqualTo(1);
    }

    @Test
    void receive_longPoll_whoseAgentIsDeletedMeanwhile_is404() throws Exception {
        register("a", "b");
        CompletableFuture<Reply> waiting = callAsync("POST", "/api/v1/agents/b/receive?timeout=20", null);
        Thread.sleep(200);
        assertThat(waiting).isNotDone();

        assertThat(call("DELETE", "/api/v1/agents/b", null).status()).isEqualTo(200);

        Reply got = waiting.get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(got.status()).as(got.body().toString()).isEqualTo(404);
        assertThat(got.body().get("message").asText()).contains("deleted while this receive waited");
    }

    /** Regression: a server shutting down cut its waiting long-polls off without an answer. */
    @Test
    void receive_longPoll_waitingWhenTheServerCloses_isAnswered503_orWithItsAcksOutcome() throws Exception {
        register("a", "b");
        CompletableFuture<Reply> waiting = callAsync("POST", "/api/v1/agents/b/receive?timeout=20", null);
        CompletableFuture<Reply> acking = callAsync("POST", "/api/v1/agents/a/receive", "{\"timeout\":20,\"ack\":[]}"); // acks, then waits
        for (String agent : List.of("a", "b")) {
            for (long end = System.nanoTime() + 10_000_000_000L; System.nanoTime() < end
                    && bus.inboxStats(io.swarmbus.messaging.AgentId.of(agent)).waitingReceivers() == 0; ) {
                Thread.sleep(10);
            }
        }

        server.close();

        Reply got = waiting.get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(got.status()).as(got.raw().body()).isEqualTo(503);
        assertThat(got.body().get("error").asText()).isEqualTo("unavailable");
        assertThat(got.body().get("message").asText()).contains("shutting down");
        Reply acked = acking.get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(acked.status()).as("its acks are done, so it says how they went").isEqualTo(200);
        assertThat(acked.body().get("messages")).isEmpty();
        assertThat(acked.body().has("acked")).as(acked.raw().body()).isTrue();
        var b = io.swarmbus.messaging.AgentId.of("b");
        bus.send(io.swarmbus.messaging.SendRequest.builder(io.swarmbus.messaging.AgentId.of("a"),
                io.swarmbus.messaging.Address.agent(b)).content("\"after\"").build());
        assertThat(bus.inboxStats(b).pending()).as("no receive of the closed server took it").isEqualTo(1);
    }

    @Test
    void receive_longPollOutlastsTheConnectionsIdleTimeoutAndKeepsItsConnection() throws Exception {
        register("patient");
        server.idleTimeout(Duration.ofMillis(300));
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", server.port())) { // opened under the short timeout
            socket.setSoTimeout(10_000);
            var in = new java.io.BufferedReader(new java.io.InputStreamReader(socket.getInputStream(),
                    java.nio.charset.StandardCharsets.ISO_8859_1));
            for (int poll = 0; poll < 2; poll++) {
                long started = System.nanoTime();
                socket.getOutputStream().write(("POST /api/v1/agents/patient/receive?timeout=1 HTTP/1.1\r\n"
                        + "Host: 127.0.0.1\r\nAuthorization: Bearer " + token + "\r\nContent-Length: 0\r\n\r\n")
                        .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
                assertThat(in.readLine()).as("poll %d's status line", poll).isEqualTo("HTTP/1.1 200 OK");
                int length = 0;
                for (String header = in.readLine(); !header.isEmpty(); header = in.readLine()) {
                    if (header.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                        length = Integer.parseInt(header.substring(15).trim());
                    }
                }
                char[] body = new char[length];
                for (int read = 0; read < length; ) {
                    int got = in.read(body, read, length - read);
                    assertThat(got).as("bytes of poll %d's body", poll).isPositive();
                    read += got;
                }
                assertThat(RequestBody.MAPPER.readTree(new String(body)).get("count").asInt()).isZero();
                assertThat(Duration.ofNanos(System.nanoTime() - started)).isGreaterThan(Duration.ofMillis(900));
            }
        }
    }

    /** Regression: a GET of the batch and broadcast routes was read as a malformed message id (400). */
    @Test
    void getOfAPostOnlyMessagesRoute_isTheWrongMethod() throws Exception {
        for (String path : List.of("/api/v1/messages/batch", "/api/v1/messages/broadcast", "/messages/broadcast")) {
            Reply get = call("GET", path, null);
            assertThat(get.status()).as(path).isEqualTo(405);
            assertThat(get.body().get("error").asText()).isEqualTo("method_not_allowed");
            assertThat(get.body().get("message").asText()).contains(path, "POST");
            assertThat(get.raw().headers().firstValue("Allow")).as("HTTP asks a 405 to name the methods").hasValue("POST");
        }
        assertThat(call("GET", "/messages/batch", null).status()).as("no such route on the seed's paths").isEqualTo(400);
    }

    @Test
    void receive_leavesOtherMethodsToJavalinTakesATrailingSlashAndRefusesBadParameters() throws Exception {
        register("a", "b");
        call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":1}");

        Reply get = call("GET", "/api/v1/agents/b/receive", null);
        assertThat(get.status()).isEqualTo(405);
        assertThat(get.body().get("error").asText()).isEqualTo("method_not_allowed");
        assertThat(get.body().get("message").asText()).isEqualTo(
                "method GET is not allowed on /api/v1/agents/b/receive; it takes POST");
        assertThat(get.raw().headers().firstValue("Allow")).hasValue("POST");
        Reply patch = call("PATCH", "/api/v1/agents/b", null);
        assertThat(patch.status()).isEqualTo(405);
        assertThat(patch.raw().headers().firstValue("Allow")).hasValue("GET, PUT, DELETE, HEAD");
        register("receive"); // other methods reach Javalin's routes: the seed's DELETE /agents/{id}
        assertThat(call("DELETE", "/agents/receive", null).status()).isEqualTo(200);
        assertThat(call("GET", "/api/v1/agents/receive", null).status()).isEqualTo(404);
        Reply slash = call("POST", "/api/v1/agents/b/receive/?max_messages=1", null);
        assertThat(slash.status()).isEqualTo(200);
        assertThat(slash.body().get("count").asInt()).isEqualTo(1);
        assertThat(call("POST", "/api/v1/agents/b/receive?max_messages=x", null).body().get("field").asText())
                .isEqualTo("max_messages");
        assertThat(call("POST", "/api/v1/agents/b/receive", "{\"timeout\":-1}").body().get("field").asText())
                .isEqualTo("timeout");
        Reply badEncoding = call("POST", "/api/v1/agents/b/receive", "timeout=%zz", "application/x-www-form-urlencoded");
        assertThat(badEncoding.status()).isEqualTo(400);
        assertThat(badEncoding.body().get("message").asText()).contains("URL encoding");
        String metrics = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                .build(), HttpResponse.BodyHandlers.ofString()).body();
        assertThat(metrics)
                .containsPattern("http_server_requests_seconds_count\\{method=\"POST\",route=\"/api/v1/agents/\\{id}/receive\",status=\"200\"} 1");
    }

    @Test
    void groupsAndTopics_fanOut() throws Exception {
        register("lead", "w1", "w2");
        assertThat(call("POST", "/api/v1/groups", "{\"group_name\":\"team\",\"agent_ids\":[\"w1\",\"w2\"]}")
                .status()).isEqualTo(201);
        Reply toGroup = call("POST", "/api/v1/groups/team/messages", "{\"from\":\"lead\",\"content\":\"go\"}");
        call("POST", "/api/v1/topics/news/subscribers", "{\"agent_id\":\"w2\"}");
        Reply published = call("POST", "/api/v1/topics/news/messages", "{\"from\":\"lead\",\"content\":\"extra\"}");

        assertThat(toGroup.body().get("recipients").asInt()).isEqualTo(2);
        assertThat(published.body().get("recipients").asInt()).isEqualTo(1);
        assertThat(call("POST", "/api/v1/agents/w2/receive", null).body().get("count").asInt()).isEqualTo(2);
        assertThat(call("GET", "/api/v1/groups/team", null).body().get("agent_ids").size()).isEqualTo(2);
    }

    @Test
    void errors_areJsonWithCodeMessageAndField() throws Exception {
        register("a", "b");

        Reply malformed = call("POST", "/api/v1/messages", "{\"from\":\"a\",");
        Reply missing = call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\"}");
        Reply wrongType = call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":1,\"priority\":9}");
        Reply unknown = call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"ghost\",\"content\":1}");
        Reply noRoute = call("GET", "/api/v1/nothing-here", null);
        Reply badId = call("GET", "/api/v1/messages/not-an-id", null);
        Reply tooBig = call("POST", "/api/v1/messages",
                "{\"from\":\"a\",\"to\":\"b\",\"content\":\"" + "x".repeat(100_000) + "\"}");

        assertThat(malformed.status()).isEqualTo(400);
        assertThat(malformed.body().get("error").asText()).isEqualTo("invalid_argument");
        assertThat(malformed.body().get("field").asText()).isEqualTo("body");
        assertThat(missing.body().get("field").asText()).isEqualTo("content");
        assertRefused(wrongType, "priority");
        assertThat(unknown.status()).isEqualTo(404);
        assertThat(unknown.body().get("message").asText()).contains("ghost");
        assertThat(noRoute.status()).isEqualTo(404);
        assertThat(noRoute.body().get("error").asText()).isEqualTo("not_found");
        assertThat(badId.status()).isEqualTo(400);
        assertThat(tooBig.status()).isEqualTo(413);
        assertThat(tooBig.body().get("error").asText()).isEqualTo("request_too_large");
        assertThat(tooBig.body().get("message").asText()).as("not Jetty's bare 'Content Too Large'")
                .matches("the request body is larger than the limit of \\d+ bytes \\(server.max_request_bytes\\)");
        Reply tooDeep = call("POST", "/api/v1/messages",
                "{\"from\":\"a\",\"to\":\"b\",\"content\":" + "[".repeat(1500) + "]".repeat(1500) + "}");
        Reply longNumber = call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":"
                + "9".repeat(1200) + "}");
        for (Reply beyondALimit : List.of(tooDeep, longNumber)) {
            assertThat(beyondALimit.status()).isEqualTo(400);
            assertThat(beyondALimit.body().get("field").asText()).isEqualTo("body");
            assertThat(beyondALimit.body().get("message").asText()).startsWith("the request body exceeds a JSON limit")
                    .doesNotContain("StreamReadConstraints");
        }
    }

    @Test
    void bodiesWithoutContentLength_areReadAndLimitedAsOthers() throws Exception {
        register("a", "b");
        String small = "{\"from\":\"a\",\"to\":\"b\",\"content\":\"chunked\"}";
        String large = "{\"from\":\"a\",\"to\":\"b\",\"content\":\"" + "x".repeat(100_000) + "\"}";

        HttpResponse<String> sent = sendChunked(small);
        HttpResponse<String> tooBig = sendChunkedUntilAnswered(large);

        assertThat(sent.statusCode()).as(sent.body()).isEqualTo(201);
        assertThat(tooBig.statusCode()).isEqualTo(413);
        assertThat(RequestBody.MAPPER.readTree(tooBig.body()).get("error").asText()).isEqualTo("request_too_large");
        assertThat(RequestBody.MAPPER.readTree(tooBig.body()).get("message").asText()).contains("server.max_request_bytes");
        Reply received = call("POST", "/api/v1/agents/b/receive", "{\"max_messages\":10}");
        assertThat(received.body().get("messages")).hasSize(1);
        assertThat(received.body().get("messages").get(0).get("content").asText()).isEqualTo("chunked");
    }

    /**
     * The server answers 413 and closes while the client may still be writing the rest of the
     * body; the close can reset the connection before the client has read the answer. That race
     * is TCP's, not the server's: try again, but never more than three times.
     */
    HttpResponse<String> sendChunkedUntilAnswered(String body) throws Exception {
        for (int attempt = 1; ; attempt++) {
            try {
                return sendChunked(body);
            } catch (java.io.IOException e) {
                if (attempt == 3) {
                    throw e;
                }
            }
        }
    }

    /** A send whose body has no Content-Length: the client streams it in chunks. */
    HttpResponse<String> sendChunked(String body) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/api/v1/messages"))
                .timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json")
                .header("Authorization", "Bearer " + token)
                .POST(HttpRequest.BodyPublishers.ofInputStream(
                        () -> new java.io.ByteArrayInputStream(body.getBytes(java.nio.charset.StandardCharsets.UTF_8))))
                .build();
        return client.send(request, HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void batchSend_answersEachMessageOnItsOwn() throws Exception {
        register("a", "b");

        Reply batch = call("POST", "/api/v1/messages/batch", "{\"messages\": ["
                + "{\"from\":\"a\",\"to\":\"b\",\"content\":{\"n\":1}},"
                + "{\"from\":\"a\",\"to\":\"ghost\",\"content\":{\"n\":2}},"
                + "{\"from\":\"a\",\"to\":\"b\",\"content\":{\"n\":3},\"priority\":\"urgent\"},"
                + "{\"from\":\"a\",\"to\":\"b\",\"content\":{\"n\":4},\"priority\":\"critical\"},"
                + "\"not a message\"]}");

        assertThat(batch.status()).isEqualTo(200);
        JsonNode results = batch.body().get("results");
        assertThat(results.get(0).has("message_id")).isTrue();
        assertThat(results.get(1).get("error").asText()).isEqualTo("not_found");
        assertThat(results.get(2).get("field").asText()).isEqualTo("priority");
        assertThat(results.get(3).has("message_id")).isTrue();
        assertThat(results.get(4).get("status").asInt()).isEqualTo(400);
        assertThat(results.get(4).get("field").asText()).isEqualTo("messages");
        JsonNode got = call("POST", "/api/v1/agents/b/receive", null).body().get("messages");
        assertThat(got).hasSize(2);
        assertThat(got.get(0).get("content").get("n").asInt()).isEqualTo(4);
    }

    @Test
    void batchSend_withAnIdempotencyKeyHeader_isRefused_andSendsNothing() throws Exception {
        register("a", "b");
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                        + "/api/v1/messages/batch"))
                .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
                .header("Idempotency-Key", "k-1")
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\": [{\"from\":\"a\",\"to\":\"b\",\"content\":1},"
                        + "{\"from\":\"a\",\"to\":\"b\",\"content\":2}]}")).build();
        HttpResponse<String> refused = client.send(request, HttpResponse.BodyHandlers.ofString());

        assertThat(refused.statusCode()).isEqualTo(400);
        assertThat(RequestBody.MAPPER.readTree(refused.body()).get("field").asText()).isEqualTo("Idempotency-Key");
        assertThat(call("POST", "/api/v1/agents/b/receive", null).body().get("count").asInt()).isZero();
    }

    @Test
    void anIdempotencyKeyHeaderAndADifferentBodyKey_areRefused_theSameOneTwiceIsNot() throws Exception {
        register("a", "b");
        java.util.function.Function<String, HttpRequest> send = key -> HttpRequest.newBuilder(URI.create(
                        "http://127.0.0.1:" + server.port() + "/api/v1/messages"))
                .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
                .header("Idempotency-Key", "k-1")
                .POST(HttpRequest.BodyPublishers.ofString("{\"from\":\"a\",\"to\":\"b\",\"content\":1,"
                        + "\"idempotency_key\":\"" + key + "\"}")).build();

        HttpResponse<String> differ = client.send(send.apply("k-2"), HttpResponse.BodyHandlers.ofString());
        HttpResponse<String> same = client.send(send.apply("k-1"), HttpResponse.BodyHandlers.ofString());

        assertThat(differ.statusCode()).isEqualTo(400);
        assertThat(RequestBody.MAPPER.readTree(differ.body()).get("field").asText()).isEqualTo("idempotency_key");
        assertThat(same.statusCode()).isEqualTo(201);
    }

    @Test
    void traceparent_travelsWithTheMessage() throws Exception {
        register("a", "b");
        String traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/api/v1/messages"))
                .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
                .header("traceparent", traceparent)
                .POST(HttpRequest.BodyPublishers.ofString("{\"from\":\"a\",\"to\":\"b\",\"content\":1}")).build();
        assertThat(client.send(request, HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(201);

        JsonNode got = call("POST", "/api/v1/agents/b/receive", null).body().get("messages").get(0);
        assertThat(got.get("headers").get("traceparent").asText()).isEqualTo(traceparent);

        HttpRequest invalid = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/api/v1/messages"))
                .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
                .header("traceparent", "00-" + "0".repeat(32) + "-00f067aa0ba902b7-01")
                .POST(HttpRequest.BodyPublishers.ofString("{\"from\":\"a\",\"to\":\"b\",\"content\":2}")).build();
        assertThat(client.send(invalid, HttpResponse.BodyHandlers.ofString()).statusCode()).as("sent all the same").isEqualTo(201);
        JsonNode untraced = call("POST", "/api/v1/agents/b/receive", null).body().get("messages").get(0);
        assertThat(untraced.has("headers")).as("an all-zero trace id is invalid: not passed on").isFalse();
    }

    @Test
    void metrics_exposeEngineCountersAndHttpLatency() throws Exception {
        register("a", "b");
        call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":1}");
        call("GET", "/api/v1/messages/0000000000000001", null);
        call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":2}");
        call("POST", "/api/v1/agents/b/receive", "{\"max_messages\":1}");
        String signedIn = token;
        token = null;
        assertThat(call("POST", "/api/v1/agents/b/receive", "{}").status()).isEqualTo(401);
        token = signedIn;

        HttpResponse<String> scrape = client.send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + server.port() + "/metrics")).build(), HttpResponse.BodyHandlers.ofString());

        assertThat(scrape.statusCode()).isEqualTo(200);
        assertThat(scrape.body()).contains("swarmbus_messages_sent_total 2.0", "swarmbus_inbox_pending 1.0",
                "swarmbus_journal_fsyncs_total", "swarmbus_delivery_latency_seconds_count 1");
        assertThat(scrape.body()).as("a and b; not the server's own swarmbus and llm inboxes").contains("swarmbus_agents 2.0");
        assertThat(call("GET", "/api/v1/stats", null).body().get("agents").asInt()).isEqualTo(2);
        assertThat(scrape.body()).containsPattern(
                "http_server_requests_seconds_count\\{method=\"POST\",route=\"/api/v1/messages\",status=\"201\"} 2");
        assertThat(scrape.body()).contains("status=\"404\"");
        assertThat(scrape.body()).as("refused before Javalin matched the route, counted by its template")
                .containsPattern("http_server_requests_seconds_count\\{method=\"POST\",route=\"/api/v1/agents/\\{id}/receive\",status=\"401\"} 1");
    }

    /** Regression: every made-up method an anonymous client sent added a histogram of some 70 series. */
    @Test
    void metrics_countUnknownMethodsAsOther_soClientsCannotAddSeries() throws Exception {
        token = null;
        for (String method : List.of("FOO1", "FOO2", "BAR-X")) {
            assertThat(call(method, "/nowhere", null).status()).isEqualTo(404);
            assertThat(call(method, "/healthz", null).status()).isEqualTo(405);
        }

        String scrape = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                .build(), HttpResponse.BodyHandlers.ofString()).body();
        assertThat(scrape).doesNotContain("method=\"FOO1\"", "method=\"FOO2\"", "method=\"BAR-X\"");
        assertThat(scrape).containsPattern(
                "http_server_requests_seconds_count\\{method=\"other\",route=\"unmatched\",status=\"404\"} 3");
        assertThat(scrape).containsPattern(
                "http_server_requests_seconds_count\\{method=\"other\",route=\"unmatched\",status=\"405\"} 3");
    }

    @Test
    void readyz_isReady_until_theMessageBusTakesNoMoreWork() throws Exception {
        token = null;
        assertThat(call("GET", "/readyz", null).body().get("status").asText()).isEqualTo("ready");
        bus.close();
        Reply closed = call("GET", "/readyz", null);
        assertThat(closed.status()).isEqualTo(503);
        assertThat(closed.body().get("error").asText()).isEqualTo("unavailable");
        assertThat(closed.body().get("message").asText()).isEqualTo("the message bus is closed");
        assertThat(call("GET", "/healthz", null).status()).as("the process is alive all the same").isEqualTo(200);
    }

    /**
     * Regression: a server that had begun to shut down, refusing receives with 503 while it waited
     * for those under way, still answered ready, so a balancer kept sending it work.
     */
    @Test
    void readyz_isNotReady_onceTheServerBeginsToShutDown() throws Exception {
        register("b");
        URI readyz = URI.create("http://127.0.0.1:" + server.port() + "/readyz");
        try (java.net.Socket slow = new java.net.Socket("127.0.0.1", server.port())) {
            // A receive whose body is still coming: the server waits for it (up to 2 s) before it stops.
            slow.getOutputStream().write(("POST /api/v1/agents/b/receive HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                    + token + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8));
            slow.getOutputStream().flush();
            Thread.sleep(200); // the receive is under way
            CompletableFuture<Void> closing = CompletableFuture.runAsync(server::close);
            HttpResponse<String> answer = null;
            for (long end = System.nanoTime() + 1_500_000_000L; System.nanoTime() < end && !closing.isDone();
                    Thread.sleep(20)) {
                answer = client.send(HttpRequest.newBuilder(readyz).build(), HttpResponse.BodyHandlers.ofString());
                if (answer.statusCode() != 200) {
                    break;
                }
            }
            assertThat(answer).isNotNull();
            assertThat(answer.statusCode()).as(answer.body()).isEqualTo(503);
            JsonNode body = RequestBody.MAPPER.readTree(answer.body());
            assertThat(body.get("error").asText()).isEqualTo("unavailable");
            assertThat(body.get("message").asText()).isEqualTo("the server is shutting down; try again once it is back");
            closing.join();
        }
    }

    /** Regression: with its data directory deleted, a server answered ready and took sends into deleted files. */
    @Test
    void readyz_isNotReady_onceTheDataDirectoryIsDeleted() throws Exception {
        Path doomed = dir.resolve("doomed");
        // No snapshot on close: there will be no directory to write it to.
        try (MessageBus doomedBus = MessageBus.open(BusConfig.builder(doomed).snapshotOnClose(false).build());
                HttpServer doomedServer = HttpServer.start(doomedBus, ServerSettings.forTests(doomed))) {
            URI readyz = URI.create("http://127.0.0.1:" + doomedServer.port() + "/readyz");
            assertThat(client.send(HttpRequest.newBuilder(readyz).build(), HttpResponse.BodyHandlers.ofString())
                    .statusCode()).isEqualTo(200);

            try (java.util.stream.Stream<Path> files = java.nio.file.Files.walk(doomed)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
            }
            assertThat(doomed).doesNotExist();

            // Looked at once a second at most: the answer may lag the deletion by that much.
            HttpResponse<String> answer = null;
            for (long end = System.nanoTime() + 5_000_000_000L; System.nanoTime() < end; Thread.sleep(100)) {
                answer = client.send(HttpRequest.newBuilder(readyz).build(), HttpResponse.BodyHandlers.ofString());
                if (answer.statusCode() != 200) {
                    break;
                }
            }
            assertThat(answer.statusCode()).isEqualTo(503);
            JsonNode body = RequestBody.MAPPER.readTree(answer.body());
            assertThat(body.get("error").asText()).isEqualTo("unavailable");
            assertThat(body.get("message").asText()).isEqualTo("the data directory is gone (deleted, moved or unmounted)");
        }
    }

    @Test
    void metrics_countEveryStageOfADelivery() throws Exception {
        register("a", "b");
        for (int i = 1; i <= 3; i++) {
            call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":" + i + "}");
        }
        String first = call("POST", "/api/v1/agents/b/receive", "{\"max_messages\":1}").body().at("/messages/0/id").asText();
        call("POST", "/api/v1/agents/b/ack", "{\"message_id\":\"" + first + "\"}");
        // The second message, given back until it runs out of attempts (5 by default): a dead letter.
        for (int attempt = 1; attempt <= 5; attempt++) {
            JsonNode got = call("POST", "/api/v1/agents/b/receive", "{\"max_messages\":1}").body().at("/messages/0");
            assertThat(got.get("attempt").asInt()).isEqualTo(attempt);
            call("POST", "/api/v1/agents/b/nack", "{\"message_id\":\"" + got.get("id").asText() + "\"}");
        }

        String scrape = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                .build(), HttpResponse.BodyHandlers.ofString()).body();
        assertThat(scrape).contains("swarmbus_messages_sent_total 3.0", "swarmbus_messages_delivered_total 6.0",
                "swarmbus_messages_acked_total 1.0", "swarmbus_messages_dead_lettered_total 1.0",
                "swarmbus_dead_letters 1.0", "swarmbus_inbox_pending 1.0", "swarmbus_inbox_leased 0.0");
        assertThat(scrape).containsPattern("swarmbus_messages_nacked_total [45]\\.0");
        assertThat(scrape).containsPattern("swarmbus_inbox_depth_max [1-9]");
    }

    @Test
    void aNackThatUsesUpTheLastDelivery_answersDeadLettered_onTheNackRouteAndTheSeedsStatusRoute() throws Exception {
        register("a", "b");
        for (String route : List.of("nack", "status")) {
            String id = call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":\"" + route + "\"}")
                    .body().get("message_id").asText();
            for (int attempt = 1; attempt <= 5; attempt++) { // max_deliveries is 5 by default
                assertThat(call("POST", "/api/v1/agents/b/receive", "{\"max_messages\":1}").body().at("/messages/0/id")
                        .asText()).isEqualTo(id);
                Reply nacked = route.equals("nack")
                        ? call("POST", "/api/v1/agents/b/nack", "{\"message_id\":\"" + id + "\"}")
                        : call("PUT", "/messages/" + id + "/status", "{\"status\":\"failed\",\"agent_id\":\"b\"}");
                assertThat(nacked.status()).as(route + " " + nacked.body()).isEqualTo(200);
                assertThat(nacked.body().get("status").asText()).as(route + ", attempt " + attempt)
                        .isEqualTo(attempt < 5 ? "requeued" : "dead_lettered");
            }
            assertThat(call("GET", "/api/v1/agents/b/dead-letters", null).body().toString()).contains(id);
        }
    }

    /** Regression: the whole dead-letter queue came in one answer, however long. */
    @Test
    void deadLetters_comeInPagesOldestFirst_eachStartingAfterTheLastIdOfTheOneBefore() throws Exception {
        register("a", "b");
        List<String> ids = sendFromAToB(5);
        io.swarmbus.messaging.AgentId b = io.swarmbus.messaging.AgentId.of("b");
        for (int attempt = 1; attempt <= 5; attempt++) { // max_deliveries is 5 by default
            for (var delivery : bus.receive(b, 10)) {
                bus.nack(b, delivery.id(), Duration.ZERO);
            }
        }

        List<String> pages = new java.util.ArrayList<>();
        String after = "";
        for (int page = 0; page < 3; page++) {
            JsonNode answer = call("GET", "/api/v1/agents/b/dead-letters?limit=2" + after, null).body();
            List<String> got = answer.findValues("id").stream().map(JsonNode::asText).toList();
            pages.add(String.join(",", got));
            after = "&after=" + got.getLast();
        }

        assertThat(pages).containsExactly(ids.get(0) + "," + ids.get(1), ids.get(2) + "," + ids.get(3), ids.get(4));
        assertThat(call("GET", "/api/v1/agents/b/dead-letters", null).body().get("count").asInt()).isEqualTo(5);
        Reply badLimit = call("GET", "/api/v1/agents/b/dead-letters?limit=1001", null);
        assertRefused(badLimit, "limit");
        assertThat(call("GET", "/api/v1/agents/b/dead-letters?after=xyz", null).body().get("field").asText())
                .isEqualTo("after");
    }

    /** Regression: GET /api/v1/agents/{id}/messages took `limit` and ignored every other filter. */
    @Test
    void anAgentsHistory_takesTheFiltersOfTheHistoryRoute() throws Exception {
        register("a", "b", "c");
        call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":1,\"type\":\"command\"}");
        call("POST", "/api/v1/messages", "{\"from\":\"c\",\"to\":\"b\",\"content\":2,\"conversation_id\":\"c1\"}");
        String newest = call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":3}")
                .body().get("message_id").asText();

        assertThat(call("GET", "/api/v1/agents/b/messages", null).body().get("count").asInt()).isEqualTo(3);
        assertThat(call("GET", "/api/v1/agents/b/messages?type=command", null).body().findValues("content").toString())
                .isEqualTo("[1]");
        assertThat(call("GET", "/api/v1/agents/b/messages?peer=c", null).body().findValues("content").toString())
                .isEqualTo("[2]");
        assertThat(call("GET", "/api/v1/agents/b/messages?conversation_id=c1", null).body().get("count").asInt())
                .isEqualTo(1);
        assertThat(call("GET", "/api/v1/agents/b/messages?before=" + newest, null).body().get("count").asInt())
                .isEqualTo(2);
        assertThat(call("GET", "/api/v1/agents/b/messages?type=bad%20type", null).status()).isEqualTo(400);
    }

    @Test
    void replayingADeadLetterPastItsTtl_isRefused_insteadOfAnsweredReplayedAndExpiredUnread() throws Exception {
        register("a", "b");
        String id = call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":1,\"ttl_seconds\":1}")
                .body().get("message_id").asText();
        io.swarmbus.messaging.AgentId b = io.swarmbus.messaging.AgentId.of("b");
        for (int attempt = 1; attempt <= 5; attempt++) { // max_deliveries is 5 by default
            bus.receive(b, 1);
            bus.nack(b, io.swarmbus.messaging.MessageId.parse(id), Duration.ZERO);
        }
        Thread.sleep(1_100);

        Reply replay = call("POST", "/api/v1/agents/b/dead-letters/" + id + "/replay", null);

        assertThat(replay.status()).as(String.valueOf(replay.body())).isEqualTo(409);
        assertThat(replay.body().get("error").asText()).isEqualTo("invalid_state");
        assertThat(replay.body().get("message").asText()).contains("expired");
        assertThat(call("GET", "/api/v1/agents/b/dead-letters", null).body().get("count").asInt()).isEqualTo(1);
    }

    @Test
    void aSendsExpiresAtOrTtl_setsItsExpiry_insteadOfBeingIgnored() throws Exception {
        register("a", "b");
        java.time.Instant at = java.time.Instant.now().plusSeconds(60).truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
        Reply byInstant = call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":1,\"expires_at\":\""
                + at + "\"}");
        Reply byTtl = call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":1,\"ttl\":60}");
        Reply past = call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":1,"
                + "\"expires_at\":\"2020-01-01T00:00:00Z\"}");
        Reply both = call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":1,\"ttl_seconds\":5,"
                + "\"expires_at\":\"" + at + "\"}");

        assertThat(byInstant.status()).as(byInstant.body().toString()).isEqualTo(201);
        String expires = call("GET", "/api/v1/messages/" + byInstant.body().get("message_id").asText(), null).body()
                .get("expires_at").asText();
        assertThat(Duration.between(at, java.time.Instant.parse(expires)).abs()).isLessThan(Duration.ofSeconds(1));
        assertThat(call("GET", "/api/v1/messages/" + byTtl.body().get("message_id").asText(), null).body()
                .has("expires_at")).isTrue();
        for (Reply refused : List.of(past, both)) {
            assertThat(refused.status()).as(refused.body().toString()).isEqualTo(400);
            assertThat(refused.body().get("field").asText()).isEqualTo("expires_at");
        }
        assertThat(call("POST", "/api/v1/agents/b/receive?max_messages=10", null).body().get("count").asInt())
                .as("the expired one was not sent").isEqualTo(2);
    }

    @Test
    void historyPagedWithBefore_neitherSkipsNorRepeats_messagesOfOneMillisecond() throws Exception {
        register("a", "b");
        StringBuilder batch = new StringBuilder();
        for (int i = 0; i < 30; i++) { // a batch: many share a created_at, so `until` cannot page them
            batch.append(i == 0 ? "" : ",").append("{\"from\":\"a\",\"to\":\"b\",\"content\":").append(i).append('}');
        }
        List<String> sent = new java.util.ArrayList<>();
        call("POST", "/api/v1/messages/batch", "{\"messages\":[" + batch + "]}").body().get("results")
                .forEach(result -> sent.addFirst(result.get("message_id").asText()));
        List<String> acked = new java.util.ArrayList<>(); // finished ones are searched apart from the live
        call("POST", "/api/v1/agents/b/receive?max_messages=15", null).body().get("messages")
                .forEach(m -> acked.add("\"" + m.get("id").asText() + "\""));
        call("POST", "/api/v1/agents/b/ack", "{\"message_ids\":" + acked + "}");

        List<String> paged = new java.util.ArrayList<>();
        String before = "";
        for (int page = 0; page < 10 && paged.size() < 30; page++) {
            JsonNode messages = call("GET", "/api/v1/messages?agent=b&limit=7" + before, null).body().get("messages");
            messages.forEach(m -> paged.add(m.get("id").asText()));
            before = "&before=" + paged.getLast();
        }

        assertThat(paged).containsExactlyElementsOf(sent);
        Reply bad = call("GET", "/api/v1/messages?before=soon", null);
        assertRefused(bad, "before");
    }

    @Test
    void history_filtersByPeerTypeConversationAndTime() throws Exception {
        register("a", "b", "c");
        call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":1,\"conversation_id\":\"plan\"}");
        call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"c\",\"content\":2,\"type\":\"command\"}");
        Thread.sleep(20);
        java.time.Instant middle = java.time.Instant.now();
        Thread.sleep(20);
        call("POST", "/api/v1/messages", "{\"from\":\"b\",\"to\":\"a\",\"content\":3,\"conversation_id\":\"plan\"}");

        assertThat(contents("agent=a&peer=b")).containsExactly("3", "1");
        assertThat(contents("agent=a&type=command")).containsExactly("2");
        assertThat(contents("conversation_id=plan")).containsExactly("3", "1");
        assertThat(contents("agent=a&since=" + middle)).containsExactly("3");
        assertThat(contents("agent=a&until=" + middle)).containsExactly("2", "1");
        Reply bad = call("GET", "/api/v1/messages?since=yesterday", null);
        assertRefused(bad, "since");
    }

    /** The contents of the history that {@code query} selects, newest first. */
    List<String> contents(String query) throws Exception {
        Reply reply = call("GET", "/api/v1/messages?" + query, null);
        assertThat(reply.status()).as(query + " " + reply.body()).isEqualTo(200);
        return reply.body().get("messages").findValuesAsText("content");
    }

    @Test
    void stream_pushesDeliveriesThatAreAckedOverRest() throws Exception {
        register("a", "b");
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                + "/api/v1/agents/b/stream")).header("Authorization", "Bearer " + token)
                .header("Accept", "text/event-stream").build();
        HttpResponse<java.util.stream.Stream<String>> stream = client.send(request, HttpResponse.BodyHandlers.ofLines());
        assertThat(stream.statusCode()).isEqualTo(200);
        java.util.Iterator<String> lines = stream.body().iterator();

        call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":{\"pushed\":true}}");
        String data = null;
        while (lines.hasNext()) {
            String line = lines.next();
            if (line.startsWith("data:")) {
                data = line.substring(5).trim();
                break;
            }
        }
        stream.body().close();

        JsonNode event = RequestBody.MAPPER.readTree(data);
        assertThat(event.get("content").get("pushed").asBoolean()).isTrue();
        assertThat(event.get("attempt").asInt()).isEqualTo(1);
        Reply acked = call("POST", "/api/v1/agents/b/ack", "{\"message_id\":\"" + event.get("id").asText() + "\"}");
        assertThat(acked.body().get("acked")).hasSize(1);
    }

    /** Regression: the stream refused ?token=, which is all a browser's EventSource can send. */
    @Test
    void stream_takesTheTokenInTheQuery_asABrowsersEventSourceMust_andOnlyThere() throws Exception {
        register("b");
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                + "/api/v1/agents/b/stream?token=" + token)).header("Accept", "text/event-stream").build();
        HttpResponse<java.util.stream.Stream<String>> stream = client.send(request, HttpResponse.BodyHandlers.ofLines());
        assertThat(stream.statusCode()).isEqualTo(200);
        java.util.Iterator<String> lines = stream.body().iterator();
        assertThat(lines.next()).contains("streaming deliveries for b");

        String saved = token;
        token = null;
        try {
            assertThat(call("GET", "/api/v1/agents/b?token=" + saved, null).status()).as("other routes: headers only")
                    .isEqualTo(401);
        } finally {
            token = saved;
        }

        // Regression: a stream still open when the server closed left Javalin looping on both cores.
        server.close();
        StringBuilder rest = new StringBuilder();
        lines.forEachRemaining(line -> rest.append(line).append('\n'));
        assertThat(rest.toString()).contains("event: error", "\"unavailable\"", "shutting down");
    }

    @Test
    void openApi_describesEveryRoute() throws Exception {
        Reply doc = call("GET", "/openapi.json", null);

        assertThat(doc.status()).isEqualTo(200);
        assertThat(doc.body().get("openapi").asText()).startsWith("3.1");
        JsonNode paths = doc.body().get("paths");
        for (String path : new String[] {"/auth/token", "/agents/register", "/messages", "/agents/receive", "/groups",
                "/groups/message", "/messages/{id}/status", "/api/v1/messages/batch", "/api/v1/agents/{id}/stream",
                "/api/v1/topics/{topic}/messages", "/metrics"}) {
            assertThat(paths.has(path)).as(path).isTrue();
        }
        assertThat(paths.get("/messages").get("post").get("security")).isNotEmpty();
        assertThat(paths.get("/api/v1/messages/batch").get("post").get("responses").has("200")).isTrue();
        assertThat(paths.get("/api/v1/agents").get("post").get("responses").has("201")).isTrue();
        assertThat(paths.get("/agents/register").get("post").get("responses").has("201")).isTrue();
        assertThat(paths.get("/api/v1/ws").get("get").get("responses").has("101")).isTrue();
        assertThat(paths.get("/health").get("get").get("security")).isEmpty();
        assertThat(paths.get("/api/v1/agents/{id}/dead-letters/{message_id}/replay").get("post").get("parameters"))
                .hasSize(2);
    }

    @Test
    void health_andStats_answer() throws Exception {
        assertThat(call("GET", "/healthz", null).body().get("status").asText()).isEqualTo("ok");
        assertThat(call("GET", "/readyz", null).status()).isEqualTo(200);
        assertThat(call("GET", "/api/v1/stats", null).body().has("sent")).isTrue();
    }

    /**
     * Regression: a broadcast narrowed by role counted messages past their TTL against
     * max_inbox_depth, so an inbox of expired messages refused it whole.
     */
    @Test
    void broadcastByRole_toAnInboxFullOfExpiredMessages_isAccepted() throws Exception {
        register("a", "b");
        stop();
        open(BusConfig.builder(dir).maxInboxDepth(1));
        token = call("POST", "/auth/token", "{\"username\":\"tester\",\"password\":\"tester-password\"}")
                .body().get("access_token").asText();
        call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":0,\"ttl_seconds\":0.2}");
        Thread.sleep(300);

        Reply sent = call("POST", "/api/v1/messages/broadcast", "{\"from\":\"a\",\"role\":\"worker\",\"content\":1}");

        assertThat(sent.status()).as(sent.raw().body()).isEqualTo(201);
        assertThat(sent.body().get("agent_ids").toString()).isEqualTo("[\"b\"]");
    }

    /**
     * Regression: an extend without visibility_timeout made a lease end the default from now, and
     * so cut a longer one short: here a 30 s lease, to the 0.3 s default.
     */
    @Test
    void extend_withoutALength_neverShortensALease() throws Exception {
        stop();
        open(BusConfig.builder(dir).defaultVisibility(Duration.ofMillis(300)));
        token = call("POST", "/auth/token", "{\"username\":\"tester\",\"password\":\"tester-password\"}")
                .body().get("access_token").asText();
        register("a", "b");
        String id = sendFromAToB(1).getFirst();
        call("POST", "/api/v1/agents/b/receive?visibility_timeout=30", null);

        Reply extended = call("POST", "/api/v1/agents/b/extend", "{\"message_ids\":[\"" + id + "\"]}");
        Thread.sleep(700);

        assertThat(extended.body().get("extended").toString()).isEqualTo("[\"" + id + "\"]");
        assertThat(call("POST", "/api/v1/agents/b/receive", null).body().get("count").asInt())
                .as("still leased").isZero();
    }

    /**
     * Regression: an agent's pending count and the swarmbus_inbox_pending gauge counted messages
     * past their TTL until the agent next received.
     */
    @Test
    void pending_inAnAgentsInfoAndTheGauge_leavesOutMessagesPastTheirTtl() throws Exception {
        register("a", "b");
        call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":0,\"ttl_seconds\":0.2}");
        call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":1}");
        Thread.sleep(300);

        Reply info = call("GET", "/api/v1/agents/b", null);
        String metrics = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                .build(), HttpResponse.BodyHandlers.ofString()).body();

        assertThat(info.body().get("pending").asInt()).as(info.raw().body()).isEqualTo(1);
        assertThat(metrics).contains("swarmbus_inbox_pending 1.0");
    }

    /** Regression: a repeated broadcast answered without the not_reached its first answer had. */
    @Test
    void aRepeatedBroadcast_answersWithTheNotReachedOfTheFirst() throws Exception {
        register("a", "b", "c");
        stop();
        open(BusConfig.builder(dir).maxInboxDepth(1));
        token = call("POST", "/auth/token", "{\"username\":\"tester\",\"password\":\"tester-password\"}")
                .body().get("access_token").asText();
        call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":0}");
        String broadcast = "{\"from\":\"a\",\"broadcast\":true,\"content\":1,\"idempotency_key\":\"B\"}";

        Reply first = call("POST", "/api/v1/messages", broadcast);
        Reply again = call("POST", "/api/v1/messages", broadcast);

        assertThat(first.status()).as(first.raw().body()).isEqualTo(201);
        assertThat(first.body().get("not_reached").asInt()).isEqualTo(1);
        assertThat(again.status()).isEqualTo(200);
        assertThat(again.body().get("duplicate").asBoolean()).isTrue();
        for (String field : List.of("message_id", "recipients", "not_reached", "not_reached_agent_ids", "status")) {
            assertThat(again.body().get(field)).as(field).isEqualTo(first.body().get(field));
        }
    }

    /**
     * Regression: each copy of a broadcast narrowed by role was keyed {@code key/agent}, so a
     * direct send to b keyed {@code K/b} and the copy for b of a broadcast keyed {@code K} were
     * taken for one another, whichever came first.
     */
    @Test
    void broadcastByRole_andADirectSendKeyedLikeOneOfItsCopies_areNotDuplicates() throws Exception {
        register("a", "b", "c");

        Reply direct = call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":0,\"idempotency_key\":\"K/b\"}");
        Reply broadcast = call("POST", "/api/v1/messages/broadcast",
                "{\"from\":\"a\",\"role\":\"worker\",\"content\":1,\"idempotency_key\":\"K\"}");
        Reply again = call("POST", "/api/v1/messages/broadcast",
                "{\"from\":\"a\",\"role\":\"worker\",\"content\":1,\"idempotency_key\":\"K\"}");
        Reply broadcastFirst = call("POST", "/api/v1/messages/broadcast",
                "{\"from\":\"a\",\"role\":\"worker\",\"content\":2,\"idempotency_key\":\"L\"}");
        Reply directAfter = call("POST", "/api/v1/messages", "{\"from\":\"a\",\"to\":\"b\",\"content\":3,\"idempotency_key\":\"L/b\"}");

        assertThat(direct.status()).isEqualTo(201);
        assertThat(broadcast.status()).as(broadcast.raw().body()).isEqualTo(201);
        assertThat(broadcast.body().get("message_ids").toString()).doesNotContain(direct.body().get("message_id").asText());
        assertThat(again.status()).isEqualTo(200);
        assertThat(again.body().get("message_ids")).isEqualTo(broadcast.body().get("message_ids"));
        assertThat(broadcastFirst.status()).isEqualTo(201);
        assertThat(directAfter.status()).as(directAfter.raw().body()).isEqualTo(201);
        JsonNode got = call("POST", "/api/v1/agents/b/receive", null).body().get("messages");
        assertThat(got.findValuesAsText("content")).containsExactly("0", "1", "2", "3");
        assertThat(got.get(1).get("idempotency_key").asText()).as("the key the sender gave").isEqualTo("K");
    }
}
