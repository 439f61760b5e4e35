package io.swarmbus.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.client.Types.Delivery;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.server.HttpServer;
import io.swarmbus.server.ServerSettings;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The typed client over the messaging, group, topic and history parts of the API, and its errors. */
class SwarmbusClientTest {
    @TempDir
    Path dir;
    MessageBus bus;
    HttpServer server;
    SwarmbusClient client;

    @BeforeEach
    void start() {
        bus = MessageBus.open(BusConfig.builder(dir).build());
        server = HttpServer.start(bus, ServerSettings.forTests(dir));
        client = SwarmbusClient.login("http://127.0.0.1:" + server.port(), "team", "team-password");
        for (String agent : List.of("a", "b", "c")) {
            client.registerAgent(agent, "worker", List.of(), 1, Map.of());
        }
    }

    @AfterEach
    void stop() {
        server.close();
        bus.close();
    }

    static ObjectNode body(Object content) {
        ObjectNode body = SwarmbusClient.JSON.createObjectNode().put("from", "a");
        body.set("content", SwarmbusClient.JSON.valueToTree(content));
        return body;
    }

    @Test
    void aGroupSendThatPassesOverAFullInbox_saysWhich() {
        stop();
        bus = MessageBus.open(BusConfig.builder(dir).maxInboxDepth(1).build());
        server = HttpServer.start(bus, ServerSettings.forTests(dir));
        client = SwarmbusClient.login("http://127.0.0.1:" + server.port(), "team", "team-password");
        client.createGroup("team", List.of("b", "c"));
        assertThat(client.send(body("fills b").put("to", "b")).notReached()).isZero();

        Types.SendResult sent = client.sendToGroup("team", body("g"));

        assertThat(sent.recipients()).isEqualTo(1);
        assertThat(sent.notReached()).isEqualTo(1);
        assertThat(sent.notReachedAgentIds()).containsExactly("b");
    }

    @Test
    void groupsTopicsBatchesHistoryAndLeases() {
        client.createGroup("team", List.of("b"));
        client.joinGroup("team", "c");
        client.subscribe("news", "c");
        assertThat(client.sendToGroup("team", body("g")).recipients()).isEqualTo(2);
        assertThat(client.publish("news", body("n")).recipients()).isEqualTo(1);
        var results = client.sendBatch(List.of(body(1).put("to", "b"), body(2).put("to", "nobody")));
        assertThat(results.get(0).has("message_id")).isTrue();
        assertThat(results.get(1).path("error").asText()).isEqualTo("not_found");

        List<Delivery> forC = client.receive("c", 10, Duration.ZERO, Duration.ofSeconds(30));
        assertThat(forC).extracting(d -> d.content().asText()).containsExactlyInAnyOrder("g", "n");
        assertThat(client.extendLease("c", List.of(forC.get(0).id()), Duration.ofMinutes(5)))
                .containsExactly(forC.get(0).id());
        client.ack("c", forC.stream().map(Delivery::id).toList());
        var deliveries = client.message(forC.get(0).id()).path("deliveries");
        for (var delivery : deliveries) {
            if (delivery.path("agent_id").asText().equals("c")) {
                assertThat(delivery.path("status").asText()).isEqualTo("acked");
            }
        }
        assertThat(client.history(Map.of("agent", "b", "limit", "10"))).hasSize(2);
        assertThat(client.updateAgent("b", SwarmbusClient.JSON.createObjectNode().put("role", "monitor")).role())
                .isEqualTo("monitor");
        client.leaveGroup("team", "c");
        client.unsubscribe("news", "c");
        assertThat(client.deadLetters("b").path("count").asInt()).isZero();
        assertThat(client.deadLetters("b", 10, "0000000000000001").path("count").asInt()).isZero();

        List<Delivery> forB = client.receive("b", 10, Duration.ZERO, Duration.ofSeconds(30));
        assertThat(forB).hasSize(2);
        assertThat(client.ackAndReceive("b", forB.stream().map(Delivery::id).toList(), 10, Duration.ZERO,
                Duration.ofSeconds(30))).isEmpty();
        assertThat(client.message(forB.get(0).id()).path("deliveries").get(0).path("status").asText())
                .isEqualTo("acked");
    }

    /** Regression: a send whose body had its own idempotency_key was refused (400), its header key differing. */
    @Test
    void send_withIdempotencyKeyInBody_isStoredOnce() {
        Types.SendResult first = client.send(body("once").put("to", "b").put("idempotency_key", "order-7"));
        Types.SendResult again = client.send(body("once").put("to", "b").put("idempotency_key", "order-7"));
        Types.SendResult toGroup = client.sendToGroup(groupOf("b"), body("g").put("idempotency_key", "group-7"));
        Types.SendResult toTopic = client.publish(topicOf("c"), body("t").put("idempotency_key", "topic-7"));

        assertThat(again.duplicate()).isTrue();
        assertThat(again.messageId()).isEqualTo(first.messageId());
        assertThat(List.of(toGroup, toTopic)).extracting(Types.SendResult::recipients).containsExactly(1, 1);
        assertThat(client.receive("b", 10, Duration.ZERO, Duration.ofSeconds(30))).hasSize(2);
    }

    private String groupOf(String agent) {
        client.createGroup("of-" + agent, List.of(agent));
        return "of-" + agent;
    }

    private String topicOf(String agent) {
        client.subscribe("for-" + agent, agent);
        return "for-" + agent;
    }

    /**
     * Regression: a batch answered 503 after the server had stored it (here, by a proxy that lost
     * the answer) was sent again without idempotency keys, and every message was stored twice.
     */
    @Test
    void aBatchRetriedAfterA503_storesEachMessageOnce() throws Exception {
        AtomicInteger batches = new AtomicInteger();
        ForwardingProxy proxy = ForwardingProxy.start("http://127.0.0.1:" + server.port(), (exchange, forward) -> {
            HttpResponse<byte[]> answer = forward.send();
            if (exchange.getRequestURI().getPath().endsWith("/batch") && batches.getAndIncrement() == 0) {
                ForwardingProxy.reply(exchange, 503, "{\"error\":\"unavailable\"}".getBytes(StandardCharsets.UTF_8));
            } else {
                ForwardingProxy.reply(exchange, answer);
            }
        });
        SwarmbusClient viaProxy = SwarmbusClient.login(proxy.url(), "team", "team-password");
        try {
            JsonNode results = viaProxy.sendBatch(List.of(body(1).put("to", "b"), body(2).put("to", "b")));

            assertThat(batches.get()).as("sent twice").isEqualTo(2);
            assertThat(results.findValues("duplicate")).extracting(JsonNode::asBoolean).containsExactly(true, true);
            assertThat(client.receive("b", 10, Duration.ZERO, Duration.ofSeconds(30)))
                    .extracting(d -> d.content().asInt()).containsExactly(1, 2);
        } finally {
            viaProxy.close();
            proxy.close();
        }
    }

    /** Regression: a 429 whose Retry-After was an HTTP date (as proxies may send) threw NumberFormatException. */
    @Test
    void call_retryAfterAsAnHttpDate_waitsAndRetries() throws Exception {
        AtomicInteger refused = new AtomicInteger();
        ForwardingProxy proxy = ForwardingProxy.start("http://127.0.0.1:" + server.port(), (exchange, forward) -> {
            if (exchange.getRequestURI().getPath().equals("/api/v1/agents/b") && refused.getAndIncrement() == 0) {
                String inTwoSeconds = java.time.format.DateTimeFormatter.RFC_1123_DATE_TIME.format(
                        java.time.ZonedDateTime.now(java.time.ZoneOffset.UTC).plusSeconds(2));
                exchange.getResponseHeaders().set("Retry-After", inTwoSeconds);
                ForwardingProxy.reply(exchange, 429, new byte[0]);
            } else {
                ForwardingProxy.reply(exchange, forward.send());
            }
        });
        try (SwarmbusClient viaProxy = SwarmbusClient.login(proxy.url(), "team", "team-password")) {
            long started = System.nanoTime();

            assertThat(viaProxy.agent("b").agentId()).isEqualTo("b");

            assertThat(refused.get()).as("asked twice").isEqualTo(2);
            assertThat(Duration.ofNanos(System.nanoTime() - started)).as("waited as asked")
                    .isGreaterThan(Duration.ofMillis(900));
        } finally {
            proxy.close();
        }
    }

    /**
     * Regression: a 429 asking to wait an hour kept the call asleep for that hour. A wait longer
     * than {@code MAX_RETRY_AFTER_MILLIS} fails the call at once with the 429.
     */
    @Test
    @org.junit.jupiter.api.Timeout(10) // without the bound, the call sleeps the hour
    void call_retryAfterLongerThanTenSeconds_failsAtOnceWithThe429() throws Exception {
        AtomicInteger refused = new AtomicInteger();
        ForwardingProxy proxy = ForwardingProxy.start("http://127.0.0.1:" + server.port(), (exchange, forward) -> {
            if (exchange.getRequestURI().getPath().equals("/api/v1/agents/b")) {
                refused.incrementAndGet();
                exchange.getResponseHeaders().set("Retry-After", "3600");
                ForwardingProxy.reply(exchange, 429, "{\"error\":\"rate_limited\",\"message\":\"slow down\"}"
                        .getBytes(java.nio.charset.StandardCharsets.UTF_8));
            } else {
                ForwardingProxy.reply(exchange, forward.send());
            }
        });
        try (SwarmbusClient viaProxy = SwarmbusClient.login(proxy.url(), "team", "team-password")) {
            long started = System.nanoTime();

            assertThatThrownBy(() -> viaProxy.agent("b")).isInstanceOfSatisfying(SwarmbusApiException.class,
                    e -> assertThat(e.status()).isEqualTo(429));

            assertThat(refused.get()).as("asked once").isEqualTo(1);
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(5));
        } finally {
            proxy.close();
        }
    }

    /**
     * Regression: a connection that timed out (a server whose accept queue is full drops new
     * connections' SYNs) failed the call at once, where a refused one is retried.
     */
    @Test
    void aConnectionThatTimesOut_isTriedAgain() throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
                java.net.Socket filler1 = new java.net.Socket(listener.getInetAddress(), listener.getLocalPort());
                java.net.Socket filler2 = new java.net.Socket(listener.getInetAddress(), listener.getLocalPort());
                SwarmbusClient overloaded = new SwarmbusClient("http://127.0.0.1:" + listener.getLocalPort(), "t",
                        Duration.ofMillis(300))) {
            assertThat(List.of(filler1, filler2)).as("the accept queue is full").allMatch(java.net.Socket::isConnected);
            Thread server = Thread.ofVirtual().start(() -> { // makes room only after the first attempt timed out
                try {
                    Thread.sleep(700);
                    while (true) {
                        java.net.Socket accepted = listener.accept();
                        Thread.ofVirtual().start(() -> answerOk(accepted));
                    }
                } catch (IOException | InterruptedException closed) {
                    // the test is over
                }
            });
            long started = System.nanoTime();

            JsonNode answer = overloaded.registryStats();

            assertThat(answer.path("ok").asBoolean()).isTrue();
            assertThat(Duration.ofNanos(System.nanoTime() - started)).as("waited for room").isGreaterThan(
                    Duration.ofMillis(600));
            server.interrupt();
        }
    }

    /** Answers one HTTP request on {@code socket} with {@code {"ok":true}}; a socket that sends none is left. */
    private static void answerOk(java.net.Socket socket) {
        try (socket) {
            socket.setSoTimeout(5_000);
            var in = new java.io.BufferedReader(new java.io.InputStreamReader(socket.getInputStream(),
                    StandardCharsets.ISO_8859_1));
            for (String line = in.readLine(); line != null && !line.isEmpty(); line = in.readLine()) {
                // the request's headers; it has no body
            }
            socket.getOutputStream().write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}").getBytes(StandardCharsets.ISO_8859_1));
        } catch (IOException e) {
            // a filler connection, or the test is over
        }
    }

    @Test
    void refusals_carryStatusCodeAndField_andAnUnreachableServerSaysSo() throws Exception {
        assertThatThrownBy(() -> client.send("a", "b", "chat", "x", "urgent")).isInstanceOfSatisfying(
                SwarmbusApiException.class, e -> {
                    assertThat(e.status()).isEqualTo(400);
                    assertThat(e.code()).isEqualTo("invalid_argument");
                    assertThat(e.field()).contains("priority");
                });
        assertThatThrownBy(() -> client.agent("ghost")).isInstanceOfSatisfying(SwarmbusApiException.class,
                e -> assertThat(e.status()).isEqualTo(404));
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        SwarmbusClient nowhere = SwarmbusClient.withToken("http://127.0.0.1:" + port, "t");
        assertThatThrownBy(() -> nowhere.agent("a")).isInstanceOfSatisfying(SwarmbusApiException.class, e -> {
            assertThat(e.status()).isZero();
            assertThat(e.code()).isEqualTo("unreachable");
        });
        client.close();
        assertThatThrownBy(() -> client.agent("a")).as("closed").isInstanceOfSatisfying(SwarmbusApiException.class,
                e -> assertThat(e.code()).isEqualTo("unreachable"));
    }

    /** Restarts the server with tokens that live {@code lifetime}. */
    void restartWithTokensLiving(Duration lifetime) {
        stop();
        bus = MessageBus.open(BusConfig.builder(dir).build());
        server = HttpServer.start(bus, new ServerSettings(dir, "127.0.0.1", 0, 2L << 20, true,
                java.util.Optional.empty(), lifetime, 300, java.util.Optional.of("admin-password-for-tests")));
    }

    /** Regression: a client kept its first token, and every call failed 401 once it expired. */
    @Test
    void aLoggedInClient_signsInAgainOnce_whenItsTokenExpires_forAllItsThreads() throws Exception {
        restartWithTokensLiving(Duration.ofSeconds(2));
        AtomicInteger signIns = new AtomicInteger();
        try (ForwardingProxy proxy = ForwardingProxy.start("http://127.0.0.1:" + server.port(), (exchange, forward) -> {
                    if (exchange.getRequestURI().getPath().equals("/auth/token")) {
                        signIns.incrementAndGet();
                    }
                    ForwardingProxy.reply(exchange, forward.send());
                });
                SwarmbusClient renewing = SwarmbusClient.login(proxy.url(), "team", "team-password")) {
            String firstToken = renewing.call("POST", "/auth/token", SwarmbusClient.JSON.createObjectNode()
                    .put("username", "team").put("password", "team-password")).path("access_token").asText();
            signIns.set(1);
            renewing.registerAgent("long-lived", "worker", List.of(), 1, Map.of());
            Thread.sleep(2_100); // both tokens have expired
            SwarmbusClient fixed = SwarmbusClient.withToken(proxy.url(), firstToken);
            assertThatThrownBy(() -> fixed.agent("long-lived")).as("a fixed token is not renewed")
                    .isInstanceOfSatisfying(SwarmbusApiException.class, e -> assertThat(e.status()).isEqualTo(401));

            java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
            List<java.util.concurrent.Future<String>> calls = new java.util.ArrayList<>();
            try (var threads = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
                for (int i = 0; i < 8; i++) {
                    calls.add(threads.submit(() -> {
                        go.await();
                        return renewing.agent("long-lived").agentId();
                    }));
                }
                go.countDown();
                for (var call : calls) {
                    assertThat(call.get()).isEqualTo("long-lived");
                }
            }
            assertThat(signIns.get()).as("signed in again once, for all eight").isEqualTo(2);
        }
    }

    @Test
    void aCallRefusedAgainAfterSigningInAgain_throwsTheSecond401() throws Exception {
        AtomicInteger signIns = new AtomicInteger();
        AtomicInteger asked = new AtomicInteger();
        try (ForwardingProxy proxy = ForwardingProxy.start("http://127.0.0.1:" + server.port(), (exchange, forward) -> {
                    String path = exchange.getRequestURI().getPath();
                    if (path.equals("/auth/token")) {
                        signIns.incrementAndGet();
                    } else if (path.equals("/api/v1/agents/a")) {
                        asked.incrementAndGet();
                        ForwardingProxy.reply(exchange, 401, "{\"error\":\"unauthenticated\",\"message\":\"no\"}"
                                .getBytes(StandardCharsets.UTF_8));
                        return;
                    }
                    ForwardingProxy.reply(exchange, forward.send());
                });
                SwarmbusClient refused = SwarmbusClient.login(proxy.url(), "team", "team-password")) {
            assertThatThrownBy(() -> refused.agent("a")).isInstanceOfSatisfying(SwarmbusApiException.class,
                    e -> assertThat(e.status()).isEqualTo(401));
            assertThat(asked.get()).as("the call, then once more").isEqualTo(2);
            assertThat(signIns.get()).as("the login, then once more").isEqualTo(2);
        }
    }
}
