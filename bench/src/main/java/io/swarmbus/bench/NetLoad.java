package io.swarmbus.bench;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Load generator for a running server, in its own process, over the network API: W1 and W3 over
 * the WebSocket, and REST send (with auth) against a trivial route of the same server.
 *
 * <pre>
 * ./swarmbus serve --dev &amp;      # in another terminal, or with JWT_SECRET in production mode
 * java -cp bench/target/swarmbus-bench.jar io.swarmbus.bench.NetLoad [w1|w3|rest|all]
 *      [longpoll [--receivers 10000] [--rate 5000] [--ack | --ack-next]]
 *      [--server http://127.0.0.1:8080] [--seconds 10]
 * </pre>
 */
public final class NetLoad {
    /** W1 inboxes per producer; see {@link #w1}. */
    private static final int SINKS_PER_PRODUCER = 4;
    private static final String CONTENT = "\"" + "x".repeat(1022) + "\"";
    private static final Pattern ACCESS_TOKEN = Pattern.compile("\"access_token\":\"([^\"]+)\"");
    private static final Pattern SCHEDULED = Pattern.compile("\"scheduled\":\"(\\d+)\"");
    /** A delivery's scheduled send time, then its attempt number, which a delivery view lists after its headers. */
    private static final Pattern SCHEDULED_ATTEMPT = Pattern.compile("\"scheduled\":\"(\\d+)\".*?\"attempt\":(\\d+)", Pattern.DOTALL);
    private static final Pattern ACKED = Pattern.compile("\"acked\":(\\d+)");
    private static final Pattern DELIVERED_ID = Pattern.compile("\\{\"id\":\"([0-9a-f]{16})\",\"from\"");
    private static final Pattern DELIVERY_ID = Pattern.compile("\"delivery\":\\{\"id\":\"([0-9a-f]{16})\"");

    private final String server;
    private final int seconds;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final String token;
    private boolean binary;
    /** W2 consumers subscribe with {@code "batch":true}: many deliveries per frame. */
    private boolean batchedDeliveries;
    /** Long-poll receivers ack what they receive ({@code --ack}); by default it stays leased. */
    private boolean longPollAcks;
    /** Long-poll receivers ack what they received in their next receive ({@code --ack-next}). */
    private boolean ackNext;
    /** Agents this run registered through {@link #agent}: deleted when their workload ends. */
    private final List<String> created = new ArrayList<>();

    private NetLoad(String server, int seconds) throws Exception {
        this.server = server;
        this.seconds = seconds;
        this.token = token("netload-" + ProcessHandle.current().pid());
    }

    /** Runs the named workloads against {@code --server}. */
    public static void main(String[] args) throws Exception {
        String workload = "all";
        String server = "http://127.0.0.1:8080";
        int seconds = 10;
        int producers = 32;
        boolean text = false;
        boolean batchedDeliveries = false;
        boolean longPollAcks = false;
        boolean ackNext = false;
        int batch = 1;
        int rate = 5_000;
        int receivers = 10_000;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--producers" -> producers = Integer.parseInt(args[++i]);
                case "--text" -> text = true;
                case "--batched-deliveries" -> batchedDeliveries = true;
                case "--ack" -> longPollAcks = true;
                case "--ack-next" -> ackNext = true;
                case "--batch" -> batch = Integer.parseInt(args[++i]);
                case "--rate" -> rate = Integer.parseInt(args[++i]);
                case "--receivers" -> receivers = Integer.parseInt(args[++i]);
                case "--server" -> server = args[++i];
                case "--seconds" -> seconds = Integer.parseInt(args[++i]);
                default -> workload = args[i];
            }
        }
        NetLoad load = new NetLoad(server, seconds);
        load.binary = !text;
        load.batchedDeliveries = batchedDeliveries;
        load.longPollAcks = longPollAcks;
        load.ackNext = ackNext;
        System.out.printf("swarmbus network load against %s: %d cores here, JDK %s, %d s per run%n", server,
                Runtime.getRuntime().availableProcessors(), Runtime.version(), seconds);
        for (String run : workload.equals("all") ? List.of("rest", "w1", "w3") : List.of(workload)) {
            switch (run) {
                case "w1" -> load.w1(producers, 256, batch);
                case "w2" -> load.w2(producers == 32 ? 8 : producers, 256, batch);
                case "w3" -> load.w3(rate);
                case "rest" -> load.rest(32);
                case "longpoll" -> load.longPoll(receivers, rate);
                default -> throw new IllegalArgumentException("unknown workload " + run
                        + "; use w1, w2, w3, rest, longpoll or all");
            }
            load.deleteAgents();
        }
    }

    /**
     * Deletes the agents the last workload registered, with whatever they left pending (W1 leaves
     * about a million messages per pass): a warm-up pass should leave the server's JIT warm, not
     * its heap full of another pass's backlog for the measured pass's collector to trace.
     */
    private void deleteAgents() throws Exception {
        for (String agent : created) {
            HttpRequest request = HttpRequest.newBuilder(URI.create(server + "/api/v1/agents/" + agent))
                    .header("Authorization", "Bearer " + token).DELETE().build();
            int status = http.send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
            if (status >= 300) {
                System.err.printf("could not delete agent %s: status %d%n", agent, status);
            }
        }
        created.clear();
    }

    // ---------------------------------------------------------------- plumbing

    private String token(String user) throws Exception {
        HttpResponse<String> response = post("/auth/token", "{\"username\":\"" + user
                + "\",\"password\":\"netload-password\"}", null);
        Matcher m = ACCESS_TOKEN.matcher(response.body());
        if (!m.find()) {
            throw new IllegalStateException("no token from " + server + " (dev mode signs users up): " + response.body());
        }
        return m.group(1);
    }

    private HttpResponse<String> post(String path, String body, String bearer) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(server + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (bearer != null) {
            request.header("Authorization", "Bearer " + bearer);
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    private String agent(String name) throws Exception {
        String id = name + "-" + ProcessHandle.current().pid();
        post("/api/v1/agents", "{\"agent_id\":\"" + id + "\"}", token);
        created.add(id);
        return id;
    }

    private String sendFrame(String ref, String from, String to, String extra) {
        return "{\"op\":\"send\",\"ref\":\"" + ref + "\",\"message\":{\"from\":\"" + from + "\",\"to\":\"" + to
                + "\",\"content\":" + CONTENT + extra + "}}";
    }

    /** A send frame carrying its scheduled send time in a header, for latency measured by receivers. */
    private String sendFrame(String ref, String from, String to, long scheduled) {
        return sendFrame(ref, from, to, ",\"headers\":{\"scheduled\":\"" + scheduled + "\"}");
    }

    /** Builds frame {@code i} for its scheduled time. */
    private interface ScheduledFrame {
        String frame(int i, long scheduled);
    }

    /**
     * Sends {@code total} frames on one new socket, open-loop at {@code rate} per second, answers
     * read and dropped by a thread of its own, and returns the socket.
     */
    private RawWebSocket sendOpenLoop(int rate, int total, ScheduledFrame frames) throws IOException {
        RawWebSocket producer = socket();
        Thread.ofPlatform().daemon().start(() -> drain(producer));
        OpenLoop.send(rate, total, "  sender: scheduled -> frame written", (i, scheduled) -> producer.write(
                RawWebSocket.frame(frames.frame(i, scheduled).getBytes(StandardCharsets.UTF_8), binary), true));
        return producer;
    }

    private static void drain(RawWebSocket socket) {
        try {
            while (socket.read() != null) {
                // answers are not measured here
            }
        } catch (IOException closed) {
            // the run is over
        }
    }

    private RawWebSocket socket() throws IOException {
        return RawWebSocket.connect(server.replaceFirst("^http", "ws") + "/api/v1/ws", token);
    }

    // ---------------------------------------------------------------- workloads

    /**
     * W1: producers, one WebSocket each, each keeping {@code window} sends in flight, {@code batch}
     * sends per frame ({@code send_batch} when more than one).
     */
    private void w1(int producers, int window, int batch) throws Exception {
        String from = agent("w1-producer");
        WindowedProducers sending = new WindowedProducers(window, batch);
        for (int p = 0; p < producers; p++) {
            // Inboxes of their own for each producer, taken in turn: nothing drains them, and at
            // 160,000 msg/s one inbox per producer reached messaging.max_inbox_depth (100,000) in
            // a pass, after which every send to it was refused.
            List<String> sinks = new ArrayList<>();
            for (int k = 0; k < SINKS_PER_PRODUCER; k++) {
                sinks.add(agent("w1-sink-" + p + "-" + k));
            }
            sending.start(producer(from, sinks, batch));
        }
        double rate = WindowedProducers.perSecond(sending.sent, seconds);
        sending.stop();
        System.out.printf("%-62s %,12.0f msg/s%n", "W1 WebSocket durable send, " + producers + " x " + window
                + " in flight, " + batch + " per " + (binary ? "binary" : "text") + " frame", rate);
        sending.printRefusals();
    }

    /**
     * W2: {@code pairs} producers as in W1, each sending to its own consumer; each consumer is a
     * WebSocket subscription that acks what it received, in one ack per burst of deliveries read.
     * Counts messages acknowledged by the server per second.
     */
    private void w2(int pairs, int window, int batch) throws Exception {
        String from = agent("w2-producer");
        WindowedProducers sending = new WindowedProducers(window, batch);
        LongAdder acked = new LongAdder();
        List<RawWebSocket> consumers = new ArrayList<>();
        for (int p = 0; p < pairs; p++) {
            String consumer = agent("w2-consumer-" + p);
            RawWebSocket ws = socket();
            consumers.add(ws);
            ws.send("{\"op\":\"subscribe\",\"agent\":\"" + consumer + "\",\"max_messages\":256,\"batch\":"
                    + batchedDeliveries + "}");
            Thread.ofPlatform().daemon().start(() -> consume(ws, consumer, acked));
            sending.start(producer(from, List.of(consumer), batch));
        }
        double rate = WindowedProducers.perSecond(acked, seconds);
        sending.stop();
        for (RawWebSocket consumer : consumers) {
            consumer.close();
        }
        System.out.printf("%-62s %,12.0f msg/s%n", "W2 WebSocket send -> receive -> ack, " + pairs + " + " + pairs
                + ", " + batch + " send(s) per frame" + (batchedDeliveries ? ", batched deliveries" : ""), rate);
        sending.printRefusals();
    }

    /** Reads deliveries and acks them: one ack frame for all deliveries read before the socket ran dry. */
    private static void consume(RawWebSocket ws, String agent, LongAdder acked) {
        StringBuilder ids = new StringBuilder();
        try {
            for (String frame = ws.read(); frame != null; frame = ws.read()) {
                Matcher id = DELIVERED_ID.matcher(frame);
                while (id.find()) {
                    ids.append(ids.isEmpty() ? "\"" : ",\"").append(id.group(1)).append('"');
                }
                if (frame.startsWith("{\"op\":\"acked\"")) {
                    Matcher n = ACKED.matcher(frame);
                    if (n.find()) {
                        acked.add(Long.parseLong(n.group(1)));
                    }
                }
                if (!ids.isEmpty() && (!ws.buffered() || ids.length() > 256 * 19)) {
                    ws.send("{\"op\":\"ack\",\"agent\":\"" + agent + "\",\"message_ids\":[" + ids + "]}");
                    ids.setLength(0);
                }
            }
        } catch (IOException closed) {
            // the run is over
        }
    }

    /**
     * A producer on a new socket: frames from {@code from} to each of {@code sinks} in turn,
     * {@code batch} sends per frame ({@code send_batch} when more than one).
     */
    private WindowedProducers.Connection producer(String from, List<String> sinks, int batch) throws IOException {
        RawWebSocket ws = socket();
        List<byte[]> frames = new ArrayList<>();
        for (String to : sinks) {
            String json = batch == 1 ? sendFrame("w", from, to, "") : batchFrame(from, to, batch);
            frames.add(RawWebSocket.frame(json.getBytes(StandardCharsets.UTF_8), binary));
        }
        return new WindowedProducers.Connection() {
            private int next;

            @Override
            public void write() throws IOException {
                ws.write(frames.get(next), false);
                next = (next + 1) % frames.size();
            }

            @Override
            public void flush() throws IOException {
                ws.flush();
            }

            @Override
            public WindowedProducers.Answer read() throws IOException {
                String answer = ws.read(); // every frame is answered by exactly one frame
                return answer == null ? null : new WindowedProducers.Answer(count(answer, "\"message_id\""), answer);
            }

            @Override
            public void close() throws IOException {
                ws.close();
            }
        };
    }

    private String batchFrame(String from, String to, int batch) {
        StringBuilder frame = new StringBuilder("{\"op\":\"send_batch\",\"ref\":\"w1\",\"messages\":[");
        for (int i = 0; i < batch; i++) {
            frame.append(i == 0 ? "" : ",").append("{\"from\":\"").append(from).append("\",\"to\":\"").append(to)
                    .append("\",\"content\":").append(CONTENT).append('}');
        }
        return frame.append("]}").toString();
    }

    private static int count(String text, String needle) {
        int n = 0;
        for (int at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length())) {
            n++;
        }
        return n;
    }

    /** W3: one producer open-loop at {@code rate}/s, one subscribed consumer; latency from the schedule. */
    private void w3(int rate) throws Exception {
        String to = agent("w3-consumer");
        String from = agent("w3-producer");
        int warmup = rate * 3;
        int total = warmup + rate * seconds;
        long[] latencies = new long[total];
        long[] scheduledAt = new long[total];
        CountDownLatch done = new CountDownLatch(total);
        RawWebSocket consumer = socket();
        consumer.send("{\"op\":\"subscribe\",\"agent\":\"" + to + "\",\"max_messages\":256}");
        Thread.ofPlatform().daemon().start(() -> {
            int index = 0;
            try {
                for (String frame = consumer.read(); frame != null; frame = consumer.read()) {
                    long now = System.nanoTime();
                    Matcher scheduled = SCHEDULED.matcher(frame);
                    if (!scheduled.find()) {
                        continue; // an ack's answer
                    }
                    if (index < total) {
                        scheduledAt[index] = Long.parseLong(scheduled.group(1));
                        latencies[index] = now - scheduledAt[index];
                        index++;
                    }
                    Matcher id = DELIVERY_ID.matcher(frame);
                    if (id.find()) {
                        consumer.send("{\"op\":\"ack\",\"agent\":\"" + to + "\",\"message_ids\":[\"" + id.group(1)
                                + "\"]}");
                    }
                    done.countDown();
                }
            } catch (IOException e) {
                if (done.getCount() > 0) {
                    System.err.println("w3 consumer: " + e); // else closed at the end of the run
                }
            }
        });
        RawWebSocket producer = sendOpenLoop(rate, total, (i, scheduled) -> sendFrame("w3", from, to, scheduled));
        done.await();
        long[] measured = Arrays.copyOfRange(latencies, warmup, total);
        printWorstSeconds(Arrays.copyOfRange(scheduledAt, warmup, total), measured, measured.length);
        OpenLoop.print("W3 WebSocket open loop " + rate + "/s, scheduled -> received", measured);
        producer.close();
        consumer.close();
    }

    /**
     * Holds {@code receivers} long-poll receives open at once (one agent each, REST, one keep-alive
     * connection and virtual thread each), while one WebSocket producer sends open-loop at
     * {@code rate}/s spread over them; latency runs from each message's scheduled send time to its
     * arrival at a receiver. By default receivers never ack, so every message stays leased, on the
     * server's heap, for the run; with {@code --ack} each receiver acks what it received before it
     * polls again, which doubles the requests; with {@code --ack-next} its next receive carries the
     * acks ({@code "ack": [...]}), as a consumer loop would. The receivers are deleted at the end, so a warm-up
     * pass leaves nothing behind.
     */
    private void longPoll(int receivers, int rate) throws Exception {
        String prefix = "lp-" + ProcessHandle.current().pid() + "-";
        List<String> agents = new ArrayList<>();
        for (int i = 0; i < receivers; i++) {
            agents.add(prefix + i);
        }
        eachOnSixteenConnections(agents, "POST", agent -> "/api/v1/agents",
                agent -> "{\"agent_id\":\"" + agent + "\"}", 201);
        String from = agent("lp-producer");
        int warmup = rate * 3;
        int total = warmup + rate * seconds;
        long[] latencies = new long[total];
        long[] scheduledAt = new long[total];
        int[] index = {0};
        AtomicBoolean running = new AtomicBoolean(true);
        LongAdder waiting = new LongAdder();
        LongAdder failures = new LongAdder();
        LongAdder redeliveries = new LongAdder();
        for (String agent : agents) {
            String receivePath = "/api/v1/agents/" + agent + "/receive?max_messages=10&timeout=20";
            byte[] receive = RawHttp.request("POST", server, receivePath, token, null);
            String ackPath = "/api/v1/agents/" + agent + "/ack";
            Thread.ofVirtual().start(() -> {
                try (RawHttp connection = new RawHttp(server)) {
                    String toAck = "";
                    while (running.get()) {
                        waiting.increment();
                        RawHttp.Response response = connection.exchange(toAck.isEmpty() ? receive
                                : RawHttp.request("POST", server, receivePath, token, "{\"ack\":[" + toAck + "]}"));
                        waiting.decrement();
                        long now = System.nanoTime();
                        if (response.status() != 200) {
                            failures.increment();
                            continue;
                        }
                        Matcher m = SCHEDULED_ATTEMPT.matcher(response.body());
                        while (m.find()) {
                            // A message whose lease ran out comes again; its latency from the first
                            // scheduled time would be the lease, not the delivery's.
                            if (!m.group(2).equals("1")) {
                                redeliveries.increment();
                                continue;
                            }
                            synchronized (latencies) {
                                if (index[0] < total) {
                                    long scheduled = Long.parseLong(m.group(1));
                                    scheduledAt[index[0]] = scheduled;
                                    latencies[index[0]++] = now - scheduled;
                                }
                            }
                        }
                        if (longPollAcks || ackNext) {
                            List<String> ids = new ArrayList<>();
                            Matcher id = DELIVERED_ID.matcher(response.body());
                            while (id.find()) {
                                ids.add("\"" + id.group(1) + "\"");
                            }
                            if (ackNext) {
                                toAck = String.join(",", ids);
                            } else if (!ids.isEmpty() && connection.exchange(RawHttp.request("POST", server, ackPath, token,
                                    "{\"message_ids\":[" + String.join(",", ids) + "]}")).status() != 200) {
                                failures.increment();
                            }
                        }
                    }
                } catch (IOException e) {
                    failures.increment();
                }
            });
        }
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (waiting.sum() < receivers && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        System.out.printf("%-62s %,12d%n", "long-poll receivers waiting before the producer starts", waiting.sum());
        RawWebSocket producer = sendOpenLoop(rate, total,
                (i, scheduled) -> sendFrame("lp", from, agents.get(i % receivers), scheduled));
        long end = System.nanoTime() + 30_000_000_000L;
        while (System.nanoTime() < end) {
            synchronized (latencies) {
                if (index[0] >= total) {
                    break;
                }
            }
            Thread.sleep(100);
        }
        running.set(false);
        int got;
        synchronized (latencies) {
            got = index[0];
        }
        printWorstSeconds(scheduledAt, latencies, got);
        long[] measured = Arrays.copyOfRange(latencies, Math.min(warmup, got), got);
        Arrays.sort(measured);
        System.out.printf("%-62s p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  (%,d of %,d delivered, %,d failed polls,"
                        + " %,d redeliveries after a lease ran out not counted)%n",
                receivers + " long-poll receivers" + (longPollAcks ? " (acking)" : ackNext ? " (acking in the next receive)" : "") + ", " + rate
                        + "/s, scheduled -> received",
                OpenLoop.percentile(measured, 0.5), OpenLoop.percentile(measured, 0.99),
                OpenLoop.percentile(measured, 0.999), got, total, failures.sum(), redeliveries.sum());
        producer.close();
        eachOnSixteenConnections(agents, "DELETE", agent -> "/api/v1/agents/" + agent, agent -> null, 200);
        System.exit(0); // the pollers' open requests would otherwise hold the JVM for their timeout
    }

    /** Sends one request per agent, spread over 16 keep-alive connections, each answered with {@code expected}. */
    private void eachOnSixteenConnections(List<String> agents, String method, Function<String, String> path,
            Function<String, String> body, int expected) throws InterruptedException {
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 16; t++) {
            int first = t;
            threads.add(Thread.ofVirtual().start(() -> {
                try (RawHttp connection = new RawHttp(server)) {
                    for (int i = first; i < agents.size(); i += 16) {
                        String agent = agents.get(i);
                        RawHttp.Response response = connection.exchange(
                                RawHttp.request(method, server, path.apply(agent), token, body.apply(agent)));
                        if (response.status() != expected) {
                            throw new IllegalStateException(method + " " + path.apply(agent) + ": " + response);
                        }
                    }
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            }));
        }
        for (Thread thread : threads) {
            thread.join();
        }
    }

    /** Per second of scheduled send time, the worst latency: shows whether a tail is one stall or spread out. */
    private static void printWorstSeconds(long[] scheduledAt, long[] latencies, int count) {
        long first = Long.MAX_VALUE;
        for (int i = 0; i < count; i++) {
            first = Math.min(first, scheduledAt[i]);
        }
        java.util.TreeMap<Long, Long> worst = new java.util.TreeMap<>();
        for (int i = 0; i < count; i++) {
            worst.merge((scheduledAt[i] - first) / 1_000_000_000L, latencies[i], Math::max);
        }
        StringBuilder line = new StringBuilder();
        worst.forEach((second, max) -> line.append(String.format(" %ds:%.0f", second, max / 1e6)));
        // The wall-clock start lets a stall be matched with the server's log or a JFR recording.
        java.time.Instant start = java.time.Instant.now().minusNanos(System.nanoTime() - first);
        System.out.printf("%-62s%s%n", "worst latency (ms) per second from " + start, line);
    }

    /** REST send with auth versus {@code GET /health} on the same server, closed loop, same clients. */
    private void rest(int clients) throws Exception {
        String from = agent("rest-producer");
        List<HttpRequest> sends = new ArrayList<>();
        List<HttpRequest> healths = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            // One inbox per client: one inbox would fill up (messaging.max_inbox_depth).
            String body = "{\"from\":\"" + from + "\",\"to\":\"" + agent("rest-sink-" + c) + "\",\"content\":"
                    + CONTENT + "}";
            sends.add(HttpRequest.newBuilder(URI.create(server + "/api/v1/messages"))
                    .header("Content-Type", "application/json").header("Authorization", "Bearer " + token)
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build());
            healths.add(HttpRequest.newBuilder(URI.create(server + "/health")).GET().build());
        }
        double[] trivial = closedLoop(healths, 200);
        double[] sent = closedLoop(sends, 201);
        System.out.printf("%-62s %,10.0f req/s  p99 %.3f ms%n", "REST GET /health (trivial route), " + clients
                + " clients", trivial[0], trivial[1]);
        System.out.printf("%-62s %,10.0f req/s  p99 %.3f ms  (%.0f%% of trivial)%n", "REST POST /api/v1/messages "
                + "with auth, 1 KiB, " + clients + " clients", sent[0], sent[1], 100 * sent[0] / trivial[0]);
    }

    /** One client per request, each repeating its own; returns {requests per second, p99 ms} over the measured window. */
    private double[] closedLoop(List<HttpRequest> requests, int expected) throws Exception {
        int clients = requests.size();
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicBoolean measuring = new AtomicBoolean(false);
        List<long[]> perClient = new ArrayList<>();
        LongAdder count = new LongAdder();
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            long[] samples = new long[2_000_000 / clients];
            perClient.add(samples);
            int[] n = {0};
            HttpRequest request = requests.get(c);
            threads.add(Thread.ofPlatform().daemon().start(() -> {
                while (running.get()) {
                    long t0 = System.nanoTime();
                    try {
                        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
                        if (response.statusCode() != expected) {
                            throw new IllegalStateException("status " + response.statusCode() + ": " + response.body());
                        }
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                    if (measuring.get()) {
                        count.increment();
                        if (n[0] < samples.length) {
                            samples[n[0]++] = System.nanoTime() - t0;
                        }
                    }
                }
                samples[samples.length - 1] = n[0]; // how many are real
            }));
        }
        Thread.sleep(3_000);
        measuring.set(true);
        long started = System.nanoTime();
        Thread.sleep(seconds * 1_000L);
        measuring.set(false);
        double elapsed = (System.nanoTime() - started) / 1e9;
        long total = count.sum();
        running.set(false);
        for (Thread thread : threads) {
            thread.join();
        }
        List<Long> all = new ArrayList<>();
        for (long[] samples : perClient) {
            int n = (int) samples[samples.length - 1];
            for (int i = 0; i < n && i < samples.length - 1; i++) {
                all.add(samples[i]);
            }
        }
        long[] sorted = all.stream().mapToLong(Long::longValue).sorted().toArray();
        return new double[] {total / elapsed, OpenLoop.percentile(sorted, 0.99)};
    }
}
