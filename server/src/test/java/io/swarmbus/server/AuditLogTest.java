package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AuditLogTest {
    @TempDir
    Path dir;
    final HttpClient client = HttpClient.newHttpClient();

    int post(int port, String path, String token, String body) throws Exception {
        return send(port, "POST", path, token, body).statusCode();
    }

    HttpResponse<String> send(int port, String method, String path, String token, String body) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("Content-Type", "application/json").method(method, body == null
                        ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        return client.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    List<JsonNode> lines(Path audit, String prefix) throws Exception {
        Path file = audit.resolve(prefix + LocalDate.now(ZoneOffset.UTC) + ".jsonl");
        List<JsonNode> nodes = new java.util.ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            nodes.add(RequestBody.MAPPER.readTree(line));
        }
        return nodes;
    }

    /** The audit log writes on its own thread: waits until {@code count} lines are there. */
    List<JsonNode> awaitLines(Path audit, String prefix, int count) throws Exception {
        long deadline = System.nanoTime() + 5_000_000_000L;
        Path file = audit.resolve(prefix + LocalDate.now(ZoneOffset.UTC) + ".jsonl");
        while ((!Files.exists(file) || Files.readAllLines(file).size() < count) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        return lines(audit, prefix);
    }

    @Test
    void api_writesDailyJsonlFiles() throws Exception {
        Path audit = dir.resolve("audit");
        MessageBus bus = MessageBus.open(BusConfig.builder(dir.resolve("data")).maxDeliveries(1).build());
        AuditLog log = AuditLog.start(audit, 30, Clock.systemUTC());
        HttpServer server = HttpServer.start(bus, ServerSettings.forTests(dir.resolve("data")), log);
        CountDownLatch stop = new CountDownLatch(1);
        Main.recordPerformance(bus, log, Duration.ofMillis(100), stop);
        try {
            int port = server.port();
            HttpResponse<String> token = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                    + "/auth/token")).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers
                    .ofString("{\"username\":\"agent1\",\"password\":\"password\"}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            String t = RequestBody.MAPPER.readTree(token.body()).get("access_token").asText();
            post(port, "/agents/register", t, "{\"agent_id\":\"agent1\",\"description\":\"AI Assistant Agent\"}");
            post(port, "/messages", t, "{\"receiver_id\":\"agent1\",\"content\":\"x\",\"message_type\":\"command\"}");
            String received = RequestBody.MAPPER.readTree(send(port, "POST", "/api/v1/agents/agent1/receive", t, "{}").body())
                    .at("/messages/0/id").asText();
            assertThat(send(port, "PUT", "/messages/" + received + "/status", t, "{\"status\":\"acked\"}").statusCode())
                    .isEqualTo(200);
            // A nack of the last delivery: nacked, then dead-lettered.
            post(port, "/messages", t, "{\"receiver_id\":\"agent1\",\"content\":\"z\"}");
            String last = RequestBody.MAPPER.readTree(send(port, "POST", "/api/v1/agents/agent1/receive", t, "{}").body())
                    .at("/messages/0/id").asText();
            assertThat(send(port, "POST", "/api/v1/agents/agent1/nack", t, "{\"message_id\":\"" + last + "\"}").body())
                    .contains("dead_lettered");
            // The same events on the WebSocket: a delivery, and its ack.
            post(port, "/messages", t, "{\"receiver_id\":\"agent1\",\"content\":\"y\"}");
            WebSocketTest.Frames frames = new WebSocketTest.Frames();
            WebSocket socket = client.newWebSocketBuilder().buildAsync(URI.create("ws://127.0.0.1:" + port
                    + "/api/v1/ws?token=" + t), frames).join();
            socket.sendText("{\"op\":\"subscribe\",\"agent\":\"agent1\"}", true).join();
            WebSocketTest.expectSubscribed(frames, "agent1");
            String pushed = frames.next().at("/delivery/id").asText();
            socket.sendText("{\"op\":\"ack\",\"agent\":\"agent1\",\"message_ids\":[\"" + pushed + "\"]}", true).join();
            assertThat(frames.next().get("acked").asInt()).isEqualTo(1);
            socket.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
            assertThat(post(port, "/messages", t, "{\"receiver_id\":\"ghost\",\"content\":\"x\"}")).isEqualTo(404);
            assertThat(post(port, "/nowhere", t, "{}")).isEqualTo(404);
            assertThat(send(port, "DELETE", "/auth/token", null, null).statusCode()).isEqualTo(405);
            post(port, "/api/v1/agents", t, "{\"agent_id\":\"w1\",\"capabilities\":[\"x\"]}");
            post(port, "/api/v1/tasks", t, "{\"type\":\"t\",\"required_capabilities\":[\"x\"],\"max_retries\":0}");
            String task = awaitLines(audit, "task_history_", 2).getFirst().get("task_id").asText();
            post(port, "/api/v1/tasks/" + task + "/fail", t, "{\"agent_id\":\"w1\",\"error\":\"no\"}");
            Thread.sleep(300);
        } finally {
            stop.countDown();
            server.close();
            log.close();
            bus.close();
        }

        assertThat(lines(audit, "agent_activity_")).extracting(n -> n.get("event").asText())
                .containsExactly("registered", "registered");
        assertThat(lines(audit, "agent_activity_").getFirst().get("description").asText()).isEqualTo("AI Assistant Agent");
        assertThat(lines(audit, "task_history_")).extracting(n -> n.get("event").asText())
                .containsExactly("created", "assigned", "failed");
        assertThat(lines(audit, "task_history_").getLast().get("error").asText()).isEqualTo("no");
        List<JsonNode> messages = lines(audit, "message_audit_");
        assertThat(messages).extracting(n -> n.get("event").asText())
                .containsExactly("sent", "delivered", "acked", "sent", "delivered", "nacked", "dead_lettered", "sent",
                        "delivered", "acked", "sent");
        assertThat(messages.get(6).get("agent_id").asText()).isEqualTo("agent1");
        assertThat(messages.getLast().get("from_agent").asText()).as("the server's own task request").isEqualTo("swarmbus");
        assertThat(messages.getLast().get("message_type").asText()).isEqualTo("task_request");
        assertThat(messages.getFirst().get("from_agent").asText()).isEqualTo("agent1");
        assertThat(messages.getFirst().get("message_type").asText()).isEqualTo("command");
        assertThat(messages.getFirst().has("timestamp")).isTrue();
        assertThat(lines(audit, "errors_")).extracting(n -> n.get("status").asInt()).containsExactly(404, 404, 405);
        assertThat(lines(audit, "performance_")).isNotEmpty()
                .allSatisfy(n -> assertThat(n.has("sent_per_second")).isTrue());
    }

    @Test
    void aSendThatPassesOverAFullInbox_listsItInItsSentLine() throws Exception {
        Path audit = dir.resolve("audit");
        MessageBus bus = MessageBus.open(BusConfig.builder(dir.resolve("data")).maxInboxDepth(1).build());
        AuditLog log = AuditLog.start(audit, 30, Clock.systemUTC());
        HttpServer server = HttpServer.start(bus, ServerSettings.forTests(dir.resolve("data")), log);
        try {
            int port = server.port();
            HttpResponse<String> token = send(port, "POST", "/auth/token", null,
                    "{\"username\":\"agent1\",\"password\":\"password\"}");
            String t = RequestBody.MAPPER.readTree(token.body()).get("access_token").asText();
            for (String agent : List.of("agent1", "full", "open")) {
                assertThat(post(port, "/api/v1/agents", t, "{\"agent_id\":\"" + agent + "\"}")).isEqualTo(201);
            }
            assertThat(post(port, "/messages", t, "{\"receiver_id\":\"full\",\"content\":\"x\"}")).isEqualTo(201);
            assertThat(post(port, "/messages/broadcast", t, "{\"content\":\"y\"}")).isEqualTo(201);
            awaitLines(audit, "message_audit_", 2);
        } finally {
            server.close();
            log.close();
            bus.close();
        }

        JsonNode broadcast = lines(audit, "message_audit_").getLast();
        assertThat(broadcast.get("recipients").asInt()).as(broadcast.toString()).isEqualTo(1);
        assertThat(broadcast.get("not_reached").toString()).isEqualTo("[\"full\"]");
        assertThat(lines(audit, "message_audit_").getFirst().has("not_reached")).isFalse();
    }

    /** Regression: the LLM gateway's refusals (an unknown model, a limit, a full queue) were not recorded. */
    @Test
    void theLlmGatewaysRefusals_areRecordedAsEveryErrorIs() throws Exception {
        Path audit = dir.resolve("audit");
        MessageBus bus = MessageBus.open(BusConfig.builder(dir.resolve("data")).build());
        AuditLog log = AuditLog.start(audit, 30, Clock.systemUTC());
        HttpServer server = HttpServer.start(bus, ServerSettings.forTests(dir.resolve("data")), log);
        try {
            String token = RequestBody.MAPPER.readTree(send(server.port(), "POST", "/auth/token", null,
                    "{\"username\":\"agent1\",\"password\":\"password\"}").body()).get("access_token").asText();
            assertThat(post(server.port(), "/v1/chat/completions", token,
                    "{\"model\":\"no-such-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))
                    .isEqualTo(404);
            JsonNode line = awaitLines(audit, "errors_", 1).getFirst();
            assertThat(line.get("event").asText()).isEqualTo("model_not_found");
            assertThat(line.get("status").asInt()).isEqualTo(404);
            assertThat(line.get("path").asText()).isEqualTo("/v1/chat/completions");
            assertThat(line.get("message").asText()).contains("no-such-model");
        } finally {
            server.close();
            bus.close();
            log.close();
        }
    }

    /** Regression: a managed pool's replicas were registered and removed as agents with no line in agent_activity_. */
    @Test
    void aManagedPoolsReplicas_areRegisteredAndDeleted_inTheAgentActivityFile() throws Exception {
        Path audit = dir.resolve("audit");
        withGateway(audit, (port, t) -> {
            assertThat(post(port, "/api/v1/managed-agents", t, "{\"name\":\"pool\",\"model\":\"m\","
                    + "\"capabilities\":[\"write\"],\"replicas\":1}")).isEqualTo(201);
            awaitLines(audit, "agent_activity_", 1);
            assertThat(send(port, "DELETE", "/api/v1/managed-agents/pool", t, null).statusCode()).isEqualTo(200);
            awaitLines(audit, "agent_activity_", 2);
        });

        List<JsonNode> lines = lines(audit, "agent_activity_");
        assertThat(lines).extracting(n -> n.get("event").asText() + " " + n.get("agent_id").asText())
                .containsExactly("registered pool-1", "deleted pool-1");
        assertThat(lines.getFirst().get("owner").asText()).isEqualTo("team");
        assertThat(lines.getFirst().get("capabilities").toString()).isEqualTo("[\"write\"]");
        assertThat(lines.getLast().get("by").asText()).isEqualTo("team");
    }

    /**
     * Regression: what the server consumes itself (a managed replica's tasks, {@code llm_request}
     * to {@code llm}, {@code task_response} to {@code swarmbus}) had its {@code sent} line but no
     * {@code delivered} or {@code acked}, though docs/api.md promises them whichever way a message goes.
     */
    @Test
    void whatTheServerConsumesItself_hasItsDeliveredAndAckedLines() throws Exception {
        Path audit = dir.resolve("audit");
        withGateway(audit, (port, t) -> {
            // llm_request to llm: the gateway's reader takes it and answers.
            post(port, "/api/v1/agents", t, "{\"agent_id\":\"planner\"}");
            assertThat(post(port, "/api/v1/messages", t, "{\"from\":\"planner\",\"to\":\"llm\","
                    + "\"type\":\"llm_request\",\"content\":{\"model\":\"m\",\"messages\":[]}}")).isEqualTo(201);
            assertThat(send(port, "POST", "/api/v1/agents/planner/receive", t, "{\"timeout\":10}").body())
                    .contains("llm_response");
            // A task for a managed replica, which reads and acks its task_request.
            assertThat(post(port, "/api/v1/managed-agents", t, "{\"name\":\"pool\",\"model\":\"m\","
                    + "\"capabilities\":[\"write\"],\"replicas\":1}")).isEqualTo(201);
            String written = task(port, t, "write");
            awaitStatus(port, t, written, "completed");
            // A task_response to swarmbus, which the coordinator's reader takes.
            post(port, "/api/v1/agents", t, "{\"agent_id\":\"worker\",\"capabilities\":[\"review\"]}");
            String reviewed = task(port, t, "review");
            assertThat(post(port, "/api/v1/messages", t, "{\"from\":\"worker\",\"to\":\"swarmbus\","
                    + "\"type\":\"task_response\",\"content\":{\"task_id\":\"" + reviewed
                    + "\",\"result\":\"ok\"}}")).isEqualTo(201);
            awaitStatus(port, t, reviewed, "completed");
            Thread.sleep(300); // the acks' lines follow the acks' fsyncs
        });

        List<String> events = lines(audit, "message_audit_").stream().filter(n -> !n.get("event").asText().equals("sent"))
                .map(n -> n.get("event").asText() + " " + (n.has("to_agent") ? n.get("to_agent") : n.get("agent_id")).asText())
                .toList();
        assertThat(events).contains("delivered llm", "acked llm", "delivered pool-1", "acked pool-1",
                "delivered swarmbus", "acked swarmbus");
    }

    /** What a test does with a running server: its port, and a token of user {@code team}. */
    private interface ServerSteps {
        void run(int port, String token) throws Exception;
    }

    /** Runs {@code steps} on a server with the audit on in {@code audit} and the LLM simulator as its one backend. */
    private void withGateway(Path audit, ServerSteps steps) throws Exception {
        MessageBus bus = MessageBus.open(BusConfig.builder(dir.resolve("data")).build());
        AuditLog log = AuditLog.start(audit, 30, Clock.systemUTC());
        io.swarmbus.llm.sim.SimSettings sim = io.swarmbus.llm.sim.SimSettings.defaults()
                .with(java.util.Map.of("model", "m"));
        try (LlmSimServer backend = LlmSimServer.start(sim, "127.0.0.1", 0)) {
            HttpServer server = HttpServer.start(bus, ServerSettings.forTests(dir.resolve("data")).withLlm(
                    io.swarmbus.llm.GatewaySettings.of(List.of(io.swarmbus.llm.BackendSpec.ofUrl(
                            "http://127.0.0.1:" + backend.port() + "/v1", 16)), "least_outstanding")), log);
            try {
                String token = RequestBody.MAPPER.readTree(send(server.port(), "POST", "/auth/token", null,
                        "{\"username\":\"team\",\"password\":\"password\"}").body()).get("access_token").asText();
                steps.run(server.port(), token);
            } finally {
                server.close();
                log.close();
                bus.close();
            }
        }
    }

    private String task(int port, String token, String capability) throws Exception {
        HttpResponse<String> created = send(port, "POST", "/api/v1/tasks", token, "{\"type\":\"t\",\"description\":"
                + "\"do it\",\"required_capabilities\":[\"" + capability + "\"]}");
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        return RequestBody.MAPPER.readTree(created.body()).get("task_id").asText();
    }

    private void awaitStatus(int port, String token, String task, String status) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        String body = send(port, "GET", "/api/v1/tasks/" + task, token, null).body();
        while (!body.contains("\"status\":\"" + status + "\"") && System.nanoTime() < deadline) {
            Thread.sleep(50);
            body = send(port, "GET", "/api/v1/tasks/" + task, token, null).body();
        }
        assertThat(body).contains("\"status\":\"" + status + "\"");
    }

    /** Regression: Jetty's 431 and 414 were written down as 413, the status of their error code. */
    @Test
    void whatJettyRefuses_isRecordedWithTheStatusAnswered() throws Exception {
        Path audit = dir.resolve("audit");
        MessageBus bus = MessageBus.open(BusConfig.builder(dir.resolve("data")).build());
        AuditLog log = AuditLog.start(audit, 30, Clock.systemUTC());
        HttpServer server = HttpServer.start(bus, ServerSettings.forTests(dir.resolve("data")), log);
        try {
            HttpResponse<String> headers = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                    + server.port() + "/api/v1/agents")).header("X-Big", "x".repeat(20_000)).build(),
                    HttpResponse.BodyHandlers.ofString());
            HttpResponse<String> uri = send(server.port(), "GET", "/api/v1/agents/" + "a".repeat(100_000), null, null);
            assertThat(headers.statusCode()).isEqualTo(431);
            assertThat(uri.statusCode()).isEqualTo(414);
            List<JsonNode> errors = awaitLines(audit, "errors_", 2);
            assertThat(errors).extracting(e -> e.get("status").asInt()).containsExactly(431, 414);
            assertThat(errors).extracting(e -> e.get("event").asText()).containsOnly("request_too_large");
        } finally {
            server.close();
            bus.close();
            log.close();
        }
    }

    @Test
    void retention_deletesFilesOlderThanItsDays() throws Exception {
        Path audit = Files.createDirectories(dir.resolve("audit"));
        LocalDate today = LocalDate.now(ZoneOffset.UTC);
        Path old = Files.writeString(audit.resolve("message_audit_" + today.minusDays(31) + ".jsonl"), "{}\n");
        Path recent = Files.writeString(audit.resolve("errors_" + today.minusDays(2) + ".jsonl"), "{}\n");
        Path unrelated = Files.writeString(audit.resolve("notes.txt"), "keep");

        AuditLog.start(audit, 30, Clock.systemUTC()).close();

        assertThat(old).doesNotExist();
        assertThat(recent).exists();
        assertThat(unrelated).exists();
    }

    /**
     * Regression: with the directory deleted under a running server, the next file to open failed
     * and the writer thread stopped for good; files already open went on into deleted files.
     */
    @Test
    void aDeletedOrBlockedDirectory_dropsAndCountsRecords_thenWritingResumes() throws Exception {
        Path audit = dir.resolve("audit");
        try (AuditLog log = AuditLog.start(audit, 30, Clock.systemUTC());
                MessageBus bus = MessageBus.open(BusConfig.builder(dir.resolve("bus")).build())) {
            Metrics metrics = new Metrics(bus);
            metrics.audit(log);
            log.record(AuditLog.Stream.MESSAGE_AUDIT, "first", java.util.Map.of());
            assertThat(awaitLines(audit, "message_audit_", 1)).hasSize(1);

            Files.delete(audit.resolve("message_audit_" + LocalDate.now(ZoneOffset.UTC) + ".jsonl"));
            Files.delete(audit);
            Thread.sleep(1_100); // an open file is looked for once a second
            log.record(AuditLog.Stream.MESSAGE_AUDIT, "after_deletion", java.util.Map.of());
            log.record(AuditLog.Stream.ERRORS, "after_deletion", java.util.Map.of());
            assertThat(awaitLines(audit, "message_audit_", 1)).extracting(n -> n.get("event").asText())
                    .containsExactly("after_deletion");
            assertThat(awaitLines(audit, "errors_", 1)).hasSize(1);

            // A directory that cannot be made (a file is in its place): records are dropped and
            // counted, and writing resumes once it can.
            try (java.util.stream.Stream<Path> files = Files.list(audit)) {
                for (Path file : files.toList()) {
                    Files.delete(file);
                }
            }
            Files.delete(audit);
            Files.writeString(audit, "in the way");
            Thread.sleep(1_100);
            log.record(AuditLog.Stream.TASK_HISTORY, "blocked", java.util.Map.of());
            for (long end = System.nanoTime() + 5_000_000_000L; log.dropped() == 0 && System.nanoTime() < end; ) {
                Thread.sleep(20);
            }
            assertThat(log.dropped()).isEqualTo(1);
            assertThat(metrics.text()).contains("swarmbus_audit_records_dropped_total 1.0");
            Files.delete(audit);
            log.record(AuditLog.Stream.TASK_HISTORY, "unblocked", java.util.Map.of());
            assertThat(awaitLines(audit, "task_history_", 1)).extracting(n -> n.get("event").asText())
                    .containsExactly("unblocked");
        }
    }

    /**
     * Regression: a failed flush counted one record dropped of the dozens its buffer held, and
     * logged the failure again with every record; a line cut short by a full disk took the next
     * record into it.
     */
    @Test
    void aFullDisk_countsEveryRecordItLoses_andALineItCutShortEndsBeforeTheNext() throws Exception {
        Path full = Path.of("/dev/full"); // a device whose every write fails as a full disk's would
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(full));
        Path audit = Files.createDirectories(dir.resolve("audit"));
        Path today = audit.resolve("message_audit_" + LocalDate.now(ZoneOffset.UTC) + ".jsonl");
        Files.createSymbolicLink(today, full);
        try (AuditLog log = AuditLog.start(audit, 30, Clock.systemUTC())) {
            for (int i = 0; i < 2_000; i++) {
                log.record(AuditLog.Stream.MESSAGE_AUDIT, "lost", java.util.Map.of("i", i));
            }
            for (long end = System.nanoTime() + 10_000_000_000L; log.dropped() < 2_000 && System.nanoTime() < end; ) {
                Thread.sleep(20);
            }
            assertThat(log.dropped()).isEqualTo(2_000);

            Files.delete(today);
            Files.writeString(today, "{\"event\":\"cut sho"); // what a full disk left of a line
            log.record(AuditLog.Stream.MESSAGE_AUDIT, "whole", java.util.Map.of());
            List<String> lines = List.of();
            for (long end = System.nanoTime() + 5_000_000_000L; lines.size() < 2 && System.nanoTime() < end; ) {
                Thread.sleep(20);
                lines = Files.readAllLines(today);
            }
            assertThat(lines).hasSize(2);
            assertThat(lines.getFirst()).isEqualTo("{\"event\":\"cut sho");
            assertThat(RequestBody.MAPPER.readTree(lines.get(1)).get("event").asText()).isEqualTo("whole");
            assertThat(log.dropped()).isEqualTo(2_000);
        }
    }
}
