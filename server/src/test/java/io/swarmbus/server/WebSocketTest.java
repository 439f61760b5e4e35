package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The persistent WebSocket: many sends in flight, a continuous consumer, acks; auth on connect. */
class WebSocketTest {
    @TempDir
    Path dir;
    MessageBus bus;
    HttpServer server;
    final HttpClient client = HttpClient.newHttpClient();

    @BeforeEach
    void start() {
        bus = MessageBus.open(BusConfig.builder(dir).build());
        server = HttpServer.start(bus, ServerSettings.forTests(dir));
    }

    @AfterEach
    void stop() {
        server.close();
        bus.close();
    }

    /** Collects text frames. */
    static final class Frames implements WebSocket.Listener {
        final BlockingQueue<JsonNode> received = new LinkedBlockingQueue<>();
        private final StringBuilder partial = new StringBuilder();
        private final java.util.concurrent.CompletableFuture<Integer> closed = new java.util.concurrent.CompletableFuture<>();
        /** While set, no more frames are asked for: the client stops reading its socket. */
        volatile boolean paused;
        final java.util.concurrent.atomic.AtomicInteger pings = new java.util.concurrent.atomic.AtomicInteger();
        private volatile WebSocket socket;

        @Override
        public void onOpen(WebSocket socket) {
            this.socket = socket;
            socket.request(1);
        }

        /** Reads again after {@link #paused}. */
        void resume() {
            paused = false;
            socket.request(1);
        }

        /** While {@link #paused}, reads one frame more. */
        void readOne() {
            socket.request(1);
        }

        @Override
        public CompletionStage<?> onText(WebSocket socket, CharSequence data, boolean last) {
            partial.append(data);
            if (last) {
                try {
                    received.add(RequestBody.MAPPER.readTree(partial.toString()));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                partial.setLength(0);
            }
            if (!paused || !last) { // a large frame comes in parts: the one begun is read whole
                socket.request(1);
            }
            return null;
        }

        @Override
        public CompletionStage<?> onPing(WebSocket socket, java.nio.ByteBuffer message) {
            pings.incrementAndGet();
            return WebSocket.Listener.super.onPing(socket, message); // answers with a pong
        }

        @Override
        public CompletionStage<?> onClose(WebSocket socket, int statusCode, String reason) {
            closed.complete(statusCode);
            return null;
        }

        /** The close code the server sent, waited for up to 10 s. */
        int closeCode() throws Exception {
            return closed.get(10, TimeUnit.SECONDS);
        }

        JsonNode next() throws InterruptedException {
            JsonNode frame = received.poll(10, TimeUnit.SECONDS);
            assertThat(frame).as("a frame within 10 s").isNotNull();
            return frame;
        }
    }

    /** Reads the answer to a subscribe, which comes before any of its deliveries. */
    static void expectSubscribed(Frames frames, String agent) throws InterruptedException {
        JsonNode answer = frames.next();
        assertThat(answer.get("op").asText()).as(answer.toString()).isEqualTo("subscribed");
        assertThat(answer.get("agent").asText()).isEqualTo(agent);
    }

    String token(String user) throws Exception {
        HttpResponse<String> response = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                + server.port() + "/auth/token")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"username\":\"" + user + "\",\"password\":\"password-1\"}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        return RequestBody.MAPPER.readTree(response.body()).get("access_token").asText();
    }

    void register(String token, String agent) throws Exception {
        client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/api/v1/agents"))
                .header("Content-Type", "application/json").header("Authorization", "Bearer " + token)
                .POST(HttpRequest.BodyPublishers.ofString("{\"agent_id\":\"" + agent + "\"}")).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** A socket of user "team", after registering {@code agents} for it. */
    WebSocket connectAsTeam(Frames frames, String... agents) throws Exception {
        String token = token("team");
        for (String agent : agents) {
            register(token, agent);
        }
        return connect("?token=" + token, frames);
    }

    WebSocket connect(String query, Frames frames) {
        return client.newWebSocketBuilder()
                .buildAsync(URI.create("ws://127.0.0.1:" + server.port() + "/api/v1/ws" + query), frames).join();
    }

    /** A producer's and a consumer's sockets, each with the frames it receives. */
    record Ends(WebSocket producer, Frames producerFrames, WebSocket consumer, Frames consumerFrames) {}

    /** Registers agents "producer" and "consumer" for user "team" and opens a socket for each. */
    Ends producerAndConsumer() throws Exception {
        String token = token("team");
        register(token, "producer");
        register(token, "consumer");
        Frames producerFrames = new Frames();
        Frames consumerFrames = new Frames();
        return new Ends(connect("?token=" + token, producerFrames), producerFrames,
                connect("?token=" + token, consumerFrames), consumerFrames);
    }

    @Test
    void producerAndConsumer_onOneConnectionEach() throws Exception {
        Ends ends = producerAndConsumer();
        Frames producerFrames = ends.producerFrames();
        Frames consumerFrames = ends.consumerFrames();
        WebSocket producer = ends.producer();
        WebSocket consumer = ends.consumer();
        consumer.sendText("{\"op\":\"subscribe\",\"agent\":\"consumer\",\"max_messages\":50}", true).join();
        expectSubscribed(consumerFrames, "consumer");

        int count = 200;
        for (int i = 0; i < count; i++) {
            producer.sendText("{\"op\":\"send\",\"ref\":\"" + i + "\",\"message\":{\"from\":\"producer\","
                    + "\"to\":\"consumer\",\"content\":{\"n\":" + i + "}}}", true).join();
        }
        Set<String> refs = new HashSet<>();
        for (int i = 0; i < count; i++) {
            JsonNode answer = producerFrames.next();
            assertThat(answer.get("op").asText()).isEqualTo("sent");
            refs.add(answer.get("ref").asText());
        }
        // Deliveries and ack answers share the consumer's socket and may interleave.
        Set<String> delivered = new HashSet<>();
        int acked = 0;
        while (delivered.size() < count || acked < count) {
            JsonNode frame = consumerFrames.next();
            switch (frame.get("op").asText()) {
                case "message" -> {
                    String id = frame.get("delivery").get("id").asText();
                    assertThat(delivered.add(id)).as("delivered once: " + id).isTrue();
                    consumer.sendText("{\"op\":\"ack\",\"ref\":\"a\",\"agent\":\"consumer\",\"message_ids\":[\""
                            + id + "\"]}", true).join();
                }
                case "acked" -> acked += frame.get("acked").asInt();
                default -> throw new AssertionError("unexpected frame " + frame);
            }
        }

        assertThat(refs).hasSize(count);
        assertThat(acked).isEqualTo(count);
        assertThat(bus.inboxStats(io.swarmbus.messaging.AgentId.of("consumer")).depth()).isZero();
        producer.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
        consumer.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
    }

    /**
     * Frames queued together are written together: small ones kept by Jetty for the next, a large
     * one (over a quarter of the output buffer) written with what was kept. Each arrives whole and
     * in order.
     */
    @Test
    void deliveriesQueuedTogether_arriveWholeAndInOrder_largeAndSmallAlike() throws Exception {
        Ends ends = producerAndConsumer();
        ends.consumer().sendText("{\"op\":\"subscribe\",\"agent\":\"consumer\",\"max_messages\":50}", true).join();
        expectSubscribed(ends.consumerFrames(), "consumer");
        int count = 21;
        StringBuilder batch = new StringBuilder("{\"op\":\"send_batch\",\"ref\":\"b\",\"messages\":[");
        for (int i = 0; i < count; i++) {
            int pad = i == 10 ? 40_000 : 100 + i;
            batch.append(i > 0 ? "," : "").append("{\"from\":\"producer\",\"to\":\"consumer\",\"content\":{\"n\":")
                    .append(i).append(",\"pad\":\"").append("x".repeat(pad)).append("\"}}");
        }
        ends.producer().sendText(batch.append("]}").toString(), true).join();

        // A frame kept and never written would still arrive with the next ping, seconds later.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        for (int i = 0; i < count; i++) {
            JsonNode frame = ends.consumerFrames().received.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
            assertThat(frame).as("delivery %d within 5 s of the send", i).isNotNull();
            assertThat(frame.get("op").asText()).isEqualTo("message");
            JsonNode content = frame.get("delivery").get("content");
            assertThat(content.get("n").asInt()).isEqualTo(i);
            assertThat(content.get("pad").asText()).hasSize(i == 10 ? 40_000 : 100 + i);
        }
        assertThat(ends.producerFrames().next().get("op").asText()).isEqualTo("sent_batch");
    }

    @Test
    void aClosedSocketsSubscription_stopsWaiting_andLeasesNothingMore() throws Exception {
        Frames frames = new Frames();
        WebSocket consumer = connectAsTeam(frames, "producer", "consumer");
        AgentId agent = AgentId.of("consumer");
        consumer.sendText("{\"op\":\"subscribe\",\"agent\":\"consumer\"}", true).join();
        awaitWaitingReceivers(agent, 1);

        consumer.sendClose(WebSocket.NORMAL_CLOSURE, "gone").join();
        awaitWaitingReceivers(agent, 0); // at once, not when the subscription's 5 s receive would have ended
        bus.send(io.swarmbus.messaging.SendRequest.builder(AgentId.of("producer"), io.swarmbus.messaging.Address.agent(agent))
                .content("\"after the close\"").build());

        assertThat(bus.receive(agent, 10)).as("ready for another receiver, not leased to the closed socket")
                .singleElement().satisfies(d -> assertThat(d.attempt()).isEqualTo(1));
    }

    @Test
    void aQuietSubscription_isPingedSoThatTheIdleTimeoutDoesNotCloseIt() throws Exception {
        Frames frames = new Frames();
        WebSocket consumer = connectAsTeam(frames, "consumer");
        consumer.sendText("{\"op\":\"subscribe\",\"agent\":\"consumer\"}", true).join();

        long deadline = System.nanoTime() + SocketRoutes.PING_INTERVAL.toNanos() + TimeUnit.SECONDS.toNanos(5);
        while (frames.pings.get() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }

        assertThat(frames.pings.get()).as("pinged within the interval").isPositive();
        assertThat(consumer.isInputClosed()).isFalse();
        consumer.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
    }

    private void awaitWaitingReceivers(AgentId agent, int expected) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        while (bus.inboxStats(agent).waitingReceivers() != expected && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(bus.inboxStats(agent).waitingReceivers()).isEqualTo(expected);
    }

    /**
     * Regression: a subscription was confirmed only when refused, could be made twice for one agent,
     * and lasted until the socket closed.
     */
    @Test
    void aSubscription_isConfirmed_madeOncePerAgent_andEndedByUnsubscribeAfterWhatWasQueued() throws Exception {
        Frames frames = new Frames();
        WebSocket socket = connectAsTeam(frames, "a", "b");
        AgentId b = AgentId.of("b");
        socket.sendText("{\"op\":\"subscribe\",\"ref\":\"s1\",\"agent\":\"b\"}", true).join();
        expectSubscribed(frames, "b");
        socket.sendText("{\"op\":\"subscribe\",\"ref\":\"s2\",\"agent\":\"b\",\"max_messages\":5}", true).join();
        JsonNode twice = frames.next();
        bus.send(io.swarmbus.messaging.SendRequest.builder(AgentId.of("a"), io.swarmbus.messaging.Address.agent(b))
                .content("1").build());
        JsonNode delivered = frames.next();

        socket.sendText("{\"op\":\"unsubscribe\",\"ref\":\"u\",\"agent\":\"b\"}", true).join();
        JsonNode unsubscribed = frames.next();
        awaitWaitingReceivers(b, 0);
        bus.send(io.swarmbus.messaging.SendRequest.builder(AgentId.of("a"), io.swarmbus.messaging.Address.agent(b))
                .content("2").build());
        socket.sendText("{\"op\":\"unsubscribe\",\"ref\":\"u2\",\"agent\":\"b\"}", true).join();
        JsonNode notSubscribed = frames.next();

        assertThat(twice.get("op").asText()).as(twice.toString()).isEqualTo("error");
        assertThat(twice.get("ref").asText()).isEqualTo("s2");
        assertThat(twice.get("error").asText()).isEqualTo("already_exists");
        assertThat(delivered.at("/delivery/content").asInt()).isEqualTo(1);
        assertThat(unsubscribed.get("op").asText()).as(unsubscribed.toString()).isEqualTo("unsubscribed");
        assertThat(unsubscribed.get("ref").asText()).isEqualTo("u");
        assertThat(unsubscribed.get("agent").asText()).isEqualTo("b");
        assertThat(notSubscribed.get("error").asText()).as("nothing came after unsubscribed").isEqualTo("not_found");
        assertThat(bus.inboxStats(b).pending()).as("left in the inbox, not leased").isEqualTo(1);
        socket.sendText("{\"op\":\"subscribe\",\"agent\":\"b\"}", true).join();
        expectSubscribed(frames, "b");
        assertThat(frames.next().at("/delivery/content").asInt()).isEqualTo(2);
        socket.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
    }

    @Test
    void batchedSubscription_deliversManyMessagesPerFrame_eachOnceWithItsContent() throws Exception {
        String token = token("team");
        register(token, "producer");
        register(token, "consumer");
        int count = 300;
        for (int i = 0; i < count; i++) {
            bus.send(io.swarmbus.messaging.SendRequest.builder(io.swarmbus.messaging.AgentId.of("producer"),
                    io.swarmbus.messaging.Address.agent("consumer")).content("{\"n\":" + i + "}").build());
        }
        Frames frames = new Frames();
        WebSocket consumer = connect("?token=" + token, frames);
        consumer.sendText("{\"op\":\"subscribe\",\"agent\":\"consumer\",\"max_messages\":128,\"batch\":true}", true)
                .join();
        expectSubscribed(frames, "consumer");

        // Deliveries and the answers to acks come in whatever order they are ready: the next
        // receive is made as a frame goes out, so an ack's answer may come before later deliveries.
        Set<Integer> seen = new HashSet<>();
        int batchFrames = 0;
        int acked = 0;
        while (seen.size() < count || acked < count) {
            JsonNode frame = frames.next();
            if (frame.get("op").asText().equals("acked")) {
                acked += frame.get("acked").asInt();
                continue;
            }
            assertThat(frame.get("op").asText()).isEqualTo("messages");
            JsonNode deliveries = frame.get("deliveries");
            assertThat(deliveries.size()).isBetween(1, 128);
            batchFrames++;
            StringBuilder ids = new StringBuilder();
            for (JsonNode delivery : deliveries) {
                assertThat(seen.add(delivery.get("content").get("n").asInt())).isTrue();
                assertThat(delivery.get("attempt").asInt()).isEqualTo(1);
                ids.append(ids.isEmpty() ? "\"" : ",\"").append(delivery.get("id").asText()).append('"');
            }
            consumer.sendText("{\"op\":\"ack\",\"agent\":\"consumer\",\"message_ids\":[" + ids + "]}", true).join();
        }

        assertThat(batchFrames).as("300 messages in frames of at most 128").isBetween(3, count - 1);
        assertThat(acked).isEqualTo(count);
        assertThat(bus.inboxStats(io.swarmbus.messaging.AgentId.of("consumer")).depth()).isZero();
        consumer.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
    }

    /** As a REST receive: a batch frame holds no more than max_receive_bytes (8 MiB by default) of messages. */
    @Test
    void batchedSubscription_stopsEachFrameBeforeMaxReceiveBytes() throws Exception {
        String token = token("team");
        register(token, "producer");
        register(token, "consumer");
        for (int i = 0; i < 10; i++) {
            bus.send(io.swarmbus.messaging.SendRequest.builder(AgentId.of("producer"),
                    io.swarmbus.messaging.Address.agent("consumer")).content("\"" + i + "x".repeat(900 << 10) + "\"")
                    .build());
        }
        Frames frames = new Frames();
        WebSocket consumer = connect("?token=" + token, frames);

        consumer.sendText("{\"op\":\"subscribe\",\"agent\":\"consumer\",\"max_messages\":1000,\"batch\":true}", true)
                .join();
        expectSubscribed(frames, "consumer");

        java.util.List<Integer> sizes = new java.util.ArrayList<>();
        StringBuilder order = new StringBuilder();
        while (order.length() < 10) {
            JsonNode frame = frames.next();
            assertThat(frame.get("op").asText()).isEqualTo("messages");
            sizes.add(frame.get("deliveries").size());
            frame.get("deliveries").forEach(d -> order.append(d.get("content").asText().charAt(0)));
        }
        assertThat(sizes).as("nine of 900 KiB fit in 8 MiB, the tenth comes next").containsExactly(9, 1);
        assertThat(order.toString()).isEqualTo("0123456789");
        consumer.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
    }

    @Test
    void aMessageAsLargeAsRestTakes_travelsInOneFrame() throws Exception {
        Frames frames = new Frames();
        WebSocket socket = connectAsTeam(frames, "a", "b");
        String content = "x".repeat(512 * 1024); // past Jetty's default of 64 KiB a frame

        socket.sendText("{\"op\":\"send\",\"message\":{\"from\":\"a\",\"to\":\"b\",\"content\":\"" + content
                + "\"}}", true).join();

        assertThat(frames.next().get("op").asText()).isEqualTo("sent");
        assertThat(bus.receive(io.swarmbus.messaging.AgentId.of("b"), 1).getFirst().message().content())
                .hasSize(content.length() + 2);
        socket.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
    }

    /**
     * A frame larger than {@code server.max_request_bytes} closes the socket with 1009. The frame is
     * written by hand, and only one byte past the limit of it: a client still sending the rest when
     * the server closes gets a reset, which throws away the close frame before it is read.
     */
    @Test
    void aFrameLargerThanTheRequestLimit_closesTheSocketWith1009() throws Exception {
        String token = token("team");
        register(token, "a");
        int limit = 2 * 1024 * 1024; // ServerSettings.forTests keeps the default server.max_request_bytes
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", server.port())) {
            socket.setSoTimeout(10_000);
            var out = socket.getOutputStream();
            var in = new java.io.DataInputStream(socket.getInputStream());
            out.write(("GET /api/v1/ws?token=" + token + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    + "Sec-WebSocket-Version: 13\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            String status = readHeaders(in);
            assertThat(status).startsWith("HTTP/1.1 101");

            // A masked text frame that says it holds 3 MiB; the mask is zero, so the payload goes as is.
            var header = java.nio.ByteBuffer.allocate(14).put((byte) 0x81).put((byte) (0x80 | 127))
                    .putLong(3L * 1024 * 1024).putInt(0);
            out.write(header.array());
            byte[] payload = new byte[limit + 1];
            java.util.Arrays.fill(payload, (byte) 'x');
            out.write(payload);
            out.flush();

            int first = in.readUnsignedByte();
            assertThat(first & 0x0f).as("a close frame").isEqualTo(0x8);
            int length = in.readUnsignedByte() & 0x7f;
            assertThat(length).as("a close frame with a code").isGreaterThanOrEqualTo(2);
            assertThat(in.readUnsignedShort()).isEqualTo(1009);
        }
    }

    /** Reads an HTTP answer's head; returns its status line. */
    private static String readHeaders(java.io.DataInputStream in) throws java.io.IOException {
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            head.append((char) in.readUnsignedByte());
        }
        return head.substring(0, head.indexOf("\r\n"));
    }

    @Test
    void aConsumerThatStopsReading_stallsNothing_holdsOnlyWhatItWasSent_andGetsTheRestOnceItReadsAgain() throws Exception {
        Ends ends = producerAndConsumer();
        Frames consumerFrames = ends.consumerFrames();
        WebSocket consumer = ends.consumer();
        consumerFrames.paused = true; // so it reads the subscribe's answer, then one delivery, then nothing
        consumer.sendText("{\"op\":\"subscribe\",\"agent\":\"consumer\",\"max_messages\":10}", true).join();
        expectSubscribed(consumerFrames, "consumer");
        consumerFrames.readOne();
        // 18 MB: more than the loopback's socket buffers hold, so the server's writes must wait.
        int count = 300;
        String content = "x".repeat(60_000);
        for (int i = 0; i < count; i++) {
            ends.producer().sendText("{\"op\":\"send\",\"message\":{\"from\":\"producer\",\"to\":\"consumer\","
                    + "\"content\":\"" + i + content + "\"}}", true).join();
        }
        for (int i = 0; i < count; i++) {
            assertThat(ends.producerFrames().next().get("op").asText()).isEqualTo("sent");
        }
        String first = consumerFrames.next().get("delivery").get("id").asText();

        // With the server's writes to it pending, the consumer's own frames are still read and done.
        consumer.sendText("{\"op\":\"ack\",\"ref\":\"first\",\"agent\":\"consumer\",\"message_ids\":[\""
                + first + "\"]}", true).join();
        io.swarmbus.messaging.AgentId agent = io.swarmbus.messaging.AgentId.of("consumer");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (bus.inboxStats(agent).depth() == count && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(bus.inboxStats(agent).depth()).as("the ack was done while the writes waited").isEqualTo(count - 1);
        // The stalled socket holds leased only what it has written and one receive more: the rest
        // is still there for the agent's other receivers.
        java.util.List<io.swarmbus.messaging.Delivery> other = bus.receive(agent, 1);
        assertThat(other).as("a message left for another receiver").hasSize(1);
        bus.ack(agent, other.getFirst().id());

        consumerFrames.resume();
        Set<String> delivered = new HashSet<>(Set.of(first, other.getFirst().id().toString()));
        boolean ackAnswered = false;
        while (delivered.size() < count || !ackAnswered) {
            JsonNode frame = consumerFrames.next();
            switch (frame.get("op").asText()) {
                case "message" -> {
                    JsonNode delivery = frame.get("delivery");
                    assertThat(delivered.add(delivery.get("id").asText())).as("delivered once").isTrue();
                    String text = delivery.get("content").asText();
                    assertThat(text.endsWith(content) && text.substring(0, text.length() - content.length())
                            .matches("\\d+")).as("the content as sent").isTrue();
                }
                case "acked" -> ackAnswered = frame.get("ref").asText().equals("first");
                default -> throw new AssertionError("unexpected frame " + frame);
            }
        }
        assertThat(delivered).hasSize(count);
        ends.producer().sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
        consumer.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
    }

    @Test
    void binaryFrames_carryTheSameJson() throws Exception {
        Frames frames = new Frames();
        WebSocket socket = connectAsTeam(frames, "a", "b");

        socket.sendBinary(java.nio.ByteBuffer.wrap(("{\"op\":\"send\",\"ref\":\"r\\\"1\",\"message\":{\"from\":\"a\","
                + "\"to\":\"b\",\"content\":\"caf\u00e9\"}}").getBytes(java.nio.charset.StandardCharsets.UTF_8)), true).join();

        JsonNode sent = frames.next();
        assertThat(sent.get("op").asText()).isEqualTo("sent");
        assertThat(sent.get("ref").asText()).isEqualTo("r\"1");
        assertThat(bus.receive(io.swarmbus.messaging.AgentId.of("b"), 1).getFirst().message().content())
                .isEqualTo("\"caf\u00e9\"");
    }

    @Test
    void sendBatch_answersEachMessageInOrder_inOneFrame() throws Exception {
        String alice = token("alice");
        register(alice, "a");
        register(alice, "b");
        register(token("bob"), "bobs");
        Frames frames = new Frames();
        WebSocket socket = connect("?token=" + alice, frames);

        socket.sendText("{\"op\":\"send_batch\",\"ref\":\"b1\",\"messages\":["
                + "{\"from\":\"a\",\"to\":\"b\",\"content\":1},"
                + "{\"from\":\"a\",\"to\":\"b\",\"content\":2,\"priority\":\"urgent-ish\"},"
                + "{\"from\":\"bobs\",\"to\":\"b\",\"content\":3},"
                + "{\"from\":\"a\",\"to\":\"nobody\",\"content\":4},"
                + "{\"from\":\"a\",\"to\":\"b\",\"content\":5},"
                + "7]}", true).join();
        socket.sendText("{\"op\":\"send_batch\",\"ref\":\"b2\",\"messages\":[]}", true).join();

        // The refusal of the empty batch is immediate; the first batch answers once durable.
        java.util.Map<String, JsonNode> byRef = new java.util.HashMap<>();
        for (int i = 0; i < 2; i++) {
            JsonNode frame = frames.next();
            byRef.put(frame.get("ref").asText(), frame);
        }
        JsonNode answer = byRef.get("b1");
        JsonNode results = answer.get("results");
        assertThat(answer.get("op").asText()).isEqualTo("sent_batch");
        assertThat(answer.get("ref").asText()).isEqualTo("b1");
        assertThat(results).hasSize(6);
        assertThat(results.get(0).get("message_id").asText()).hasSize(16);
        assertThat(results.get(1).get("field").asText()).isEqualTo("priority");
        assertThat(results.get(2).get("error").asText()).isEqualTo("not_found"); // another user's agent
        assertThat(results.get(3).get("status").asInt()).isEqualTo(404);
        assertThat(results.get(4).get("recipients").asInt()).isEqualTo(1);
        // An item that is not an object is refused on its own, as POST /api/v1/messages/batch does.
        assertThat(results.get(5).get("status").asInt()).isEqualTo(400);
        assertThat(results.get(5).get("field").asText()).isEqualTo("messages");
        assertThat(bus.receive(io.swarmbus.messaging.AgentId.of("b"), 10)).extracting(d -> d.message().content())
                .containsExactly("1", "5");
        JsonNode empty = byRef.get("b2");
        assertThat(empty.get("op").asText()).isEqualTo("error");
        assertThat(empty.get("field").asText()).isEqualTo("messages");
    }

    /** A broadcast that passes over full inboxes says so, naming only the caller's own, as over REST. */
    @Test
    void aSendThatPassesOverAFullInbox_saysSoInItsAnswer_namingOnlyTheCallersOwnAgents() throws Exception {
        stop();
        bus = MessageBus.open(BusConfig.builder(dir).maxInboxDepth(1).build());
        server = HttpServer.start(bus, ServerSettings.forTests(dir));
        String alice = token("alice");
        for (String agent : java.util.List.of("a", "c", "mine-full")) {
            register(alice, agent);
        }
        register(token("bob"), "bobs-full");
        Frames frames = new Frames();
        WebSocket socket = connect("?token=" + alice, frames);
        socket.sendText("{\"op\":\"send_batch\",\"messages\":[{\"from\":\"a\",\"to\":\"mine-full\",\"content\":1},"
                + "{\"from\":\"a\",\"to\":\"bobs-full\",\"content\":1}]}", true).join();
        assertThat(frames.next().get("results").findValues("recipients")).hasSize(2);

        socket.sendText("{\"op\":\"send\",\"ref\":\"s1\",\"message\":{\"from\":\"a\",\"broadcast\":true,\"content\":2}}", true).join();
        JsonNode sent = frames.next();
        socket.sendText("{\"op\":\"send_batch\",\"ref\":\"b1\",\"messages\":[{\"from\":\"a\",\"broadcast\":true,"
                + "\"content\":3}]}", true).join();
        JsonNode allFull = frames.next().get("results").get(0);

        assertThat(sent.get("op").asText()).as(sent.toString()).isEqualTo("sent");
        assertThat(sent.get("recipients").asInt()).as("c").isEqualTo(1);
        assertThat(sent.get("not_reached").asInt()).isEqualTo(2);
        assertThat(sent.get("not_reached_agent_ids").toString()).isEqualTo("[\"mine-full\"]");
        assertThat(allFull.get("status").asInt()).as(allFull.toString()).isEqualTo(429);
        assertThat(allFull.toString()).doesNotContain("bobs-full");
    }

    /**
     * On a socket of agents "producer" and "consumer": sends one message to the consumer, subscribes
     * it with a 30 s lease, and returns the delivery.
     */
    private static JsonNode sendOneAndLeaseIt(WebSocket socket, Frames frames) throws InterruptedException {
        socket.sendText("{\"op\":\"send\",\"message\":{\"from\":\"producer\",\"to\":\"consumer\",\"content\":1}}",
                true).join();
        assertThat(frames.next().get("op").asText()).isEqualTo("sent");
        socket.sendText("{\"op\":\"subscribe\",\"agent\":\"consumer\",\"visibility_timeout\":30}", true).join();
        expectSubscribed(frames, "consumer");
        return frames.next().get("delivery");
    }

    /**
     * Regression: an extend without visibility_timeout made a lease end the default from now, and
     * so cut a longer one short: here a 30 s lease, to the 0.3 s default, and redelivered it.
     */
    @Test
    void anExtendWithoutALength_neverShortensALease_asOverRest() throws Exception {
        stop();
        bus = MessageBus.open(BusConfig.builder(dir).defaultVisibility(java.time.Duration.ofMillis(300)).build());
        server = HttpServer.start(bus, ServerSettings.forTests(dir));
        Frames frames = new Frames();
        WebSocket socket = connectAsTeam(frames, "producer", "consumer");
        String id = sendOneAndLeaseIt(socket, frames).get("id").asText();

        socket.sendText("{\"op\":\"extend\",\"ref\":\"e\",\"agent\":\"consumer\",\"message_id\":\"" + id + "\"}",
                true).join();

        assertThat(frames.next().get("extended")).extracting(JsonNode::asText).containsExactly(id);
        assertThat(frames.received.poll(700, TimeUnit.MILLISECONDS)).as("no redelivery: still leased").isNull();
        socket.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
    }

    @Test
    void aConsumer_extendsAndGivesBackLeasesOnTheSocket_asOverRest() throws Exception {
        Frames frames = new Frames();
        WebSocket socket = connectAsTeam(frames, "producer", "consumer");
        JsonNode first = sendOneAndLeaseIt(socket, frames);
        String id = first.get("id").asText();

        socket.sendText("{\"op\":\"extend\",\"ref\":\"e\",\"agent\":\"consumer\",\"message_id\":\"" + id
                + "\",\"visibility_timeout\":60}", true).join();
        JsonNode extended = frames.next();
        assertThat(extended.get("op").asText()).isEqualTo("extended");
        assertThat(extended.get("ref").asText()).isEqualTo("e");
        assertThat(extended.get("extended")).extracting(JsonNode::asText).containsExactly(id);
        socket.sendText("{\"op\":\"nack\",\"ref\":\"n\",\"agent\":\"consumer\",\"message_id\":\"" + id + "\"}",
                true).join();
        // The answer and the redelivery it causes come in either order.
        JsonNode[] next = {frames.next(), frames.next()};
        JsonNode nacked = next[0].has("delivery") ? next[1] : next[0];
        JsonNode again = (next[0].has("delivery") ? next[0] : next[1]).get("delivery");
        assertThat(nacked.get("op").asText()).isEqualTo("nacked");
        assertThat(nacked.get("status").asText()).isEqualTo("requeued");
        assertThat(again.get("id").asText()).isEqualTo(id);
        assertThat(again.get("attempt").asInt()).isEqualTo(2);

        socket.sendText("{\"op\":\"nack\",\"ref\":\"bad\",\"agent\":\"consumer\",\"message_id\":\"" + id
                + "\",\"delay_seconds\":-1}", true).join();
        JsonNode refused = frames.next();
        assertThat(refused.get("op").asText()).isEqualTo("error");
        assertThat(refused.get("field").asText()).isEqualTo("delay_seconds");
        assertThat(refused.get("message").asText()).as("quoted as sent, as REST does").endsWith("was -1");
        socket.sendText("{\"op\":\"extend\",\"ref\":\"bad\",\"agent\":\"consumer\",\"message_id\":\"" + id
                + "\",\"visibility_timeout\":-1}", true).join();
        refused = frames.next();
        assertThat(refused.get("field").asText()).isEqualTo("visibility_timeout");
        assertThat(refused.get("message").asText()).endsWith("was -1");
        // A number of seconds as a numeric string, as REST takes it.
        socket.sendText("{\"op\":\"extend\",\"ref\":\"s\",\"agent\":\"consumer\",\"message_id\":\"" + id
                + "\",\"visibility_timeout\":\"60\"}", true).join();
        assertThat(frames.next().get("op").asText()).isEqualTo("extended");
        socket.sendText("{\"op\":\"nack\",\"ref\":\"bad\",\"agent\":\"consumer\",\"message_id\":\"" + id
                + "\",\"delay_seconds\":\"soon\"}", true).join();
        refused = frames.next();
        assertThat(refused.get("field").asText()).isEqualTo("delay_seconds");
        assertThat(refused.get("message").asText()).endsWith("was 'soon'");
        socket.sendText("{\"op\":\"ack\",\"agent\":\"consumer\",\"message_id\":\"" + id + "\"}", true).join();
        assertThat(frames.next().get("acked").asInt()).isEqualTo(1);
        socket.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
    }

    @Test
    void aNackThatUsesUpTheLastDelivery_isAnsweredDeadLettered() throws Exception {
        Frames frames = new Frames();
        WebSocket socket = connectAsTeam(frames, "producer", "consumer");
        socket.sendText("{\"op\":\"send\",\"message\":{\"from\":\"producer\",\"to\":\"consumer\",\"content\":1}}",
                true).join();
        String id = frames.next().get("message_id").asText();
        io.swarmbus.messaging.AgentId consumer = io.swarmbus.messaging.AgentId.of("consumer");
        for (int attempt = 1; attempt < 5; attempt++) { // max_deliveries is 5 by default
            bus.receive(consumer, 1);
            bus.nack(consumer, io.swarmbus.messaging.MessageId.parse(id), java.time.Duration.ZERO);
        }
        bus.receive(consumer, 1);

        socket.sendText("{\"op\":\"nack\",\"ref\":\"last\",\"agent\":\"consumer\",\"message_id\":\"" + id + "\"}",
                true).join();

        JsonNode nacked = frames.next();
        assertThat(nacked.get("op").asText()).as(nacked.toString()).isEqualTo("nacked");
        assertThat(nacked.get("status").asText()).isEqualTo("dead_lettered");
        assertThat(bus.deadLetters(consumer)).hasSize(1);
        socket.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
    }

    @Test
    void aPlainRequestWithoutTheUpgrade_isToldWhatThePathWants() throws Exception {
        HttpResponse<String> plain = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                + "/api/v1/ws")).header("Authorization", "Bearer " + token("team")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(plain.statusCode()).isEqualTo(400);
        JsonNode body = RequestBody.MAPPER.readTree(plain.body());
        assertThat(body.get("field").asText()).isEqualTo("Upgrade");
        assertThat(body.get("message").asText()).contains("is a WebSocket");
    }

    @Test
    void badToken_getsAnErrorFrameAndIsClosed() throws Exception {
        Frames frames = new Frames();
        connect("?token=not-a-token", frames);
        JsonNode error = frames.next();
        assertThat(error.get("op").asText()).isEqualTo("error");
        assertThat(error.get("error").asText()).isEqualTo("unauthenticated");
    }

    /** Regression: an upgrade was neither counted at /metrics nor in the access log, as every other request is. */
    @Test
    void upgrades_areCountedAndLogged_asEveryRequestIs() throws Exception {
        List<String> logged;
        try (CapturedLog access = CapturedLog.accessLog()) {
            Frames good = new Frames();
            WebSocket socket = connect("?token=" + token("alice"), good);
            Frames bad = new Frames();
            connect("?token=not-a-token", bad);
            assertThat(bad.next().get("error").asText()).isEqualTo("unauthenticated");
            socket.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
            logged = access.messages();
        }
        String metrics = "";
        for (long end = System.nanoTime() + 5_000_000_000L; System.nanoTime() < end
                && !metrics.contains("route=\"/api/v1/ws\",status=\"101\"} 2"); Thread.sleep(20)) {
            metrics = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                    .build(), HttpResponse.BodyHandlers.ofString()).body();
        }
        assertThat(metrics).containsPattern(
                "http_server_requests_seconds_count\\{method=\"GET\",route=\"/api/v1/ws\",status=\"101\"} 2");
        assertThat(logged).contains("method=GET route=/api/v1/ws status=101 principal=alice",
                        "method=GET route=/api/v1/ws status=101 principal=-");
    }

    @Test
    void sendAsAnotherUsersAgent_isRefusedOnTheSocket() throws Exception {
        String alice = token("alice");
        register(alice, "alice");
        String bob = token("bob");
        register(bob, "bob");
        Frames frames = new Frames();
        WebSocket socket = connect("?token=" + alice, frames);

        socket.sendText("{\"op\":\"send\",\"ref\":\"x\",\"message\":{\"from\":\"bob\",\"to\":\"alice\",\"content\":1}}",
                true).join();
        socket.sendText("{\"op\":\"nope\"}", true).join();

        JsonNode refused = frames.next();
        assertThat(refused.get("error").asText()).isEqualTo("not_found");
        assertThat(refused.get("ref").asText()).isEqualTo("x");
        JsonNode unknownOp = frames.next();
        assertThat(unknownOp.get("field").asText()).isEqualTo("op");
        assertThat(unknownOp.get("message").asText()).as("every op the socket takes is named")
                .contains("send_batch", "unsubscribe", "extend");
    }

    /**
     * A subscription whose agent was deleted and registered again by another user while its
     * socket stalled does not go on to lease the new owner's messages, as the SSE stream does not.
     */
    @Test
    void aSubscriptionsAgent_registeredAgainByAnotherUser_isNotReceivedForTheOldOwner() throws Exception {
        Ends ends = producerAndConsumer();
        Frames consumerFrames = ends.consumerFrames();
        consumerFrames.paused = true;
        ends.consumer().sendText("{\"op\":\"subscribe\",\"ref\":\"s\",\"agent\":\"consumer\",\"max_messages\":10}",
                true).join();
        expectSubscribed(consumerFrames, "consumer");
        // More than the loopback's socket buffers hold: the server's writes to the consumer wait.
        String content = "x".repeat(60_000);
        for (int i = 0; i < 300; i++) {
            ends.producer().sendText("{\"op\":\"send\",\"message\":{\"from\":\"producer\",\"to\":\"consumer\","
                    + "\"content\":\"" + content + "\"}}", true).join();
        }
        for (int i = 0; i < 300; i++) {
            assertThat(ends.producerFrames().next().get("op").asText()).isEqualTo("sent");
        }

        String team = token("team");
        client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/api/v1/agents/consumer"))
                .header("Authorization", "Bearer " + team).DELETE().build(), HttpResponse.BodyHandlers.ofString());
        String bob = token("bob");
        register(bob, "consumer");
        register(bob, "bobs");
        client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/api/v1/messages"))
                .header("Content-Type", "application/json").header("Authorization", "Bearer " + bob)
                .POST(HttpRequest.BodyPublishers.ofString("{\"from\":\"bobs\",\"to\":\"consumer\",\"content\":\"bob's\"}"))
                .build(), HttpResponse.BodyHandlers.ofString());

        consumerFrames.resume();
        JsonNode end = null;
        while (end == null) {
            JsonNode frame = consumerFrames.next();
            if (frame.get("op").asText().equals("message")) {
                assertThat(frame.at("/delivery/content").asText().equals(content)).as("the old owner's only").isTrue();
            } else {
                end = frame;
            }
        }
        assertThat(end.get("op").asText()).isEqualTo("error");
        assertThat(end.get("error").asText()).isEqualTo("not_found");
        assertThat(end.get("ref").asText()).isEqualTo("s");
        assertThat(bus.receive(AgentId.of("consumer"), 10)).extracting(d -> d.message().content())
                .containsExactly("\"bob's\"");
    }

    @Test
    void aSubscription_isRefusedBadLimitsWithItsRef_andEndsWithAnErrorWhenItsAgentIsDeleted() throws Exception {
        Frames frames = new Frames();
        WebSocket socket = connectAsTeam(frames, "a", "b");

        socket.sendText("{\"op\":\"subscribe\",\"ref\":\"s0\",\"agent\":\"b\",\"max_messages\":0}", true).join();
        JsonNode refused = frames.next();
        assertThat(refused.get("op").asText()).isEqualTo("error");
        assertThat(refused.get("ref").asText()).isEqualTo("s0");
        assertThat(refused.get("field").asText()).isEqualTo("max_messages");
        socket.sendText("{\"op\":\"subscribe\",\"ref\":\"s0\",\"agent\":\"b\",\"max_messages\":1e400}", true).join();
        refused = frames.next();
        assertThat(refused.get("field").asText()).isEqualTo("max_messages");
        assertThat(refused.get("message").asText()).as("as sent, not the infinity it parses to")
                .contains("1e400").doesNotContain("Infinity");
        socket.sendText("{\"op\":\"subscribe\",\"ref\":\"s0\",\"agent\":\"b\",\"max_messages\":\"two\"}", true).join();
        refused = frames.next();
        assertThat(refused.get("field").asText()).isEqualTo("max_messages");
        assertThat(refused.get("message").asText()).contains("whole number", "two");

        // A numeric string, as the REST receive takes it (regression: refused as not a number).
        socket.sendText("{\"op\":\"subscribe\",\"ref\":\"s1\",\"agent\":\"b\",\"max_messages\":\"5\"}", true).join();
        expectSubscribed(frames, "b");
        socket.sendText("{\"op\":\"send\",\"ref\":\"m\",\"message\":{\"from\":\"a\",\"to\":\"b\",\"content\":1}}", true).join();
        java.util.Set<String> ops = new HashSet<>();
        while (ops.size() < 2) {
            ops.add(frames.next().get("op").asText());
        }
        assertThat(ops).containsExactlyInAnyOrder("sent", "message");

        // The subscription is waiting in a long-poll; deleting the agent ends it with a frame saying why.
        bus.deleteInbox(io.swarmbus.messaging.AgentId.of("b"));
        JsonNode ended = frames.next();
        assertThat(ended.get("op").asText()).isEqualTo("error");
        assertThat(ended.get("error").asText()).isEqualTo("not_found");
        assertThat(ended.get("ref").asText()).as("which subscription ended").isEqualTo("s1");
        socket.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
    }

    @Test
    void aSubscriptionsVisibilityTimeoutPastTheLongestLease_isRefusedWithItsRef_andTheSocketStaysOpen() throws Exception {
        Frames frames = new Frames();
        WebSocket socket = connectAsTeam(frames, "a", "b");

        // Ten billion seconds once overflowed the engine's rendering of the limit, and the socket closed with 1011.
        for (String seconds : java.util.List.of("1e10", "43200.5")) {
            socket.sendText("{\"op\":\"subscribe\",\"ref\":\"s\",\"agent\":\"b\",\"visibility_timeout\":"
                    + seconds + "}", true).join();
            JsonNode refused = frames.next();
            assertThat(refused.get("op").asText()).as(seconds).isEqualTo("error");
            assertThat(refused.get("ref").asText()).isEqualTo("s");
            assertThat(refused.get("field").asText()).isEqualTo("visibility_timeout");
            assertThat(refused.get("message").asText()).contains("at most 43200 seconds");
        }
        socket.sendText("{\"op\":\"nope\"}", true).join();
        assertThat(frames.next().get("field").asText()).as("the socket still answers").isEqualTo("op");
        socket.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
    }

    @Test
    void aClientThatSendsButDoesNotReadItsAnswers_isReadNoFaster_andGetsEveryAnswerOnceItReads() throws Exception {
        Frames frames = new Frames();
        WebSocket socket = connectAsTeam(frames);
        frames.paused = true;
        String ref = "r".repeat(1000);
        String frame = "{\"op\":\"nope\",\"ref\":\"" + ref + "\"}";

        // Each is refused at once: unread, the answers once piled up in the server's memory without limit.
        int sent = 0;
        java.util.concurrent.CompletableFuture<WebSocket> last = null;
        while (sent < 60_000) {
            last = socket.sendText(frame, true);
            try {
                last.get(3, TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException stalled) {
                break;
            }
            sent++;
        }
        assertThat(sent).as("the server stopped reading a client that does not read").isLessThan(60_000);
        // Its reader waits on a thread of its own, not on the selector that serves every socket.
        Frames other = new Frames();
        WebSocket otherSocket = connectAsTeam(other);
        otherSocket.sendText("{\"op\":\"nope\",\"ref\":\"other\"}", true).get(5, TimeUnit.SECONDS);
        assertThat(other.next().get("ref").asText()).as("another socket is still answered").isEqualTo("other");
        // ... and an HTTP request too.
        assertThat(client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/health"))
                .timeout(java.time.Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString()).statusCode())
                .isEqualTo(200);

        frames.resume();
        last.get(30, TimeUnit.SECONDS);
        for (int i = 0; i <= sent; i++) {
            assertThat(frames.next().get("ref").asText()).as("answer " + i).isEqualTo(ref);
        }
        socket.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
    }

    @Test
    void aMalformedAgentId_isRefusedNamingTheFrameFieldThatHeldIt() throws Exception {
        Frames frames = new Frames();
        WebSocket socket = connectAsTeam(frames, "a");

        socket.sendText("{\"op\":\"subscribe\",\"ref\":\"s\",\"agent\":\"b b\"}", true).join();
        JsonNode refused = frames.next();
        assertThat(refused.get("error").asText()).isEqualTo("invalid_argument");
        assertThat(refused.get("field").asText()).as("the frame has no agent_id").isEqualTo("agent");
        socket.sendText("{\"op\":\"send\",\"ref\":\"m\",\"message\":{\"from\":\"\",\"to\":\"a\",\"content\":1}}", true).join();
        assertThat(frames.next().get("field").asText()).isEqualTo("from");
        socket.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
    }
}
