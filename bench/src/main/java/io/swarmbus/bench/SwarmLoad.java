package io.swarmbus.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntFunction;

/**
 * Seed 003 §6.2's swarm operations through the HTTP API, timed one by one from the client:
 * joining a swarm until it has {@code --members} members, its status with all of them in it,
 * creating agent networks and reading their status, and every member leaving. Each phase runs
 * {@code --concurrency} clients in a closed loop; latencies are per request, client to client.
 *
 * <pre>
 * RATE_LIMIT_PER_MINUTE=100000000 ./swarmbus serve --dev &amp;
 * java -cp bench/target/swarmbus-bench.jar io.swarmbus.bench.SwarmLoad [--server URL] [--members 1000]
 *      [--networks 1000] [--network-size 100] [--status-calls 2000] [--concurrency 8]
 * </pre>
 */
public final class SwarmLoad {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] ROLES = {"load-balancer", "resource-optimizer", "task-coordinator", "monitor"};

    private final String server;
    /** Each client thread's own keep-alive connection. */
    private final ThreadLocal<RawHttp> connection = new ThreadLocal<>();
    private final int concurrency;
    /** The clients' threads, kept across phases so each keeps its connection. */
    private final ExecutorService clients;
    private String token;

    private SwarmLoad(String server, int concurrency) {
        this.server = server;
        this.concurrency = concurrency;
        this.clients = Executors.newFixedThreadPool(concurrency);
    }

    public static void main(String[] args) throws Exception {
        String server = "http://127.0.0.1:8080";
        int members = 1000;
        int networks = 1000;
        int networkSize = 100;
        int statusCalls = 2000;
        int concurrency = 8;
        int rounds = 2;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--server" -> server = args[++i];
                case "--members" -> members = Integer.parseInt(args[++i]);
                case "--networks" -> networks = Integer.parseInt(args[++i]);
                case "--network-size" -> networkSize = Integer.parseInt(args[++i]);
                case "--status-calls" -> statusCalls = Integer.parseInt(args[++i]);
                case "--concurrency" -> concurrency = Integer.parseInt(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        SwarmLoad load = new SwarmLoad(server, concurrency);
        for (int round = 1; round <= rounds; round++) {
            // The JIT is still compiling the server's hot paths for tens of seconds after start:
            // the last round is the one to read.
            System.out.printf("round %d of %d%s%n", round, rounds, round < rounds ? " (warm-up)" : "");
            load.run("sl-" + ProcessHandle.current().pid() + "-" + round, members, networks,
                    Math.min(networkSize, members), statusCalls);
        }
        load.clients.shutdownNow();
    }

    private void run(String prefix, int members, int networks, int networkSize, int statusCalls) throws Exception {
        token = null;
        timed("GET /health (trivial route, baseline)", statusCalls, i -> "GET /health");
        token = call("POST", "/auth/token", "{\"username\":\"" + prefix + "\",\"password\":\"swarmload-pw\"}")
                .get("access_token").asText();
        String[] agents = new String[members];
        for (int i = 0; i < members; i++) {
            agents[i] = prefix + "-" + i;
        }
        timed("register agents (setup)", members, i -> "POST /api/v1/agents {\"agent_id\":\"" + agents[i]
                + "\",\"role\":\"worker\"}");
        String swarm = call("POST", "/swarm/join", "{\"role\":\"task-coordinator\",\"capability\":\"bench\","
                + "\"agent_id\":\"" + agents[0] + "\"}").get("swarm_id").asText();
        timed("swarm join", members - 1, i -> "POST /swarm/join {\"role\":\"" + ROLES[i % ROLES.length]
                + "\",\"capability\":\"bench\",\"region\":\"r" + (i % 3) + "\",\"agent_id\":\"" + agents[i + 1]
                + "\",\"swarm_id\":\"" + swarm + "\"}");
        timed("swarm status (" + members + " members)", statusCalls, i -> "GET /swarm/status");
        timed("swarm list (" + members + " members)", statusCalls / 4, i -> "GET /swarm/list");
        Random random = new Random(7);
        String[] networkIds = new String[networks];
        timed("network create (" + networkSize + " agents)", networks, i -> {
            List<String> chosen = new ArrayList<>(List.of(agents));
            java.util.Collections.shuffle(chosen, new Random(random.nextLong()));
            return "POST /api/v1/agents/networks {\"name\":\"n" + i + "\",\"coordination_strategy\":\"map-reduce\","
                    + "\"agents\":" + json(chosen.subList(0, networkSize)) + "}";
        }, (i, body) -> networkIds[i] = body.get("id").asText());
        timed("network status", statusCalls, i -> "GET /api/v1/agents/networks/" + networkIds[i % networks] + "/status");
        String[] memberIds = new String[members];
        JsonNode list = call("GET", "/swarm/list", null);
        int n = 0;
        for (JsonNode member : list.at("/swarms/0/members")) {
            memberIds[n++] = member.get("member_id").asText();
        }
        int leaving = n;
        timed("swarm leave", leaving, i -> "POST /swarm/leave {\"swarm_id\":\"" + swarm + "\",\"member_id\":\""
                + memberIds[i] + "\"}");
    }

    private void timed(String name, int count, IntFunction<String> request) throws Exception {
        timed(name, count, request, (i, body) -> { });
    }

    /** Runs {@code count} requests ("METHOD /path body") on the clients and prints their latencies. */
    private void timed(String name, int count, IntFunction<String> request, Answered answered) throws Exception {
        long[] nanos = new long[count];
        java.util.concurrent.atomic.AtomicInteger next = new java.util.concurrent.atomic.AtomicInteger();
        long start = System.nanoTime();
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < concurrency; c++) {
            running.add(clients.submit(() -> {
                for (int i = next.getAndIncrement(); i < count; i = next.getAndIncrement()) {
                    String[] parts = request.apply(i).split(" ", 3);
                    long t0 = System.nanoTime();
                    JsonNode body = call(parts[0], parts[1], parts.length > 2 ? parts[2] : null);
                    nanos[i] = System.nanoTime() - t0;
                    answered.accept(i, body);
                }
                return null;
            }));
        }
        for (Future<?> client : running) {
            client.get();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        Arrays.sort(nanos);
        System.out.printf("%-36s n=%-6d %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms%n", name, count,
                count / seconds, nanos[count / 2] / 1e6, nanos[(int) Math.min(count - 1, Math.ceil(count * 0.99) - 1)] / 1e6,
                nanos[count - 1] / 1e6);
    }

    private interface Answered {
        void accept(int index, JsonNode body);
    }

    /**
     * One request on this thread's connection. The load generator shares the server's two cores,
     * so it speaks raw HTTP/1.1: {@code java.net.http.HttpClient} cost more CPU per request than
     * the routes it timed, and its own scheduling added to their tails.
     */
    private JsonNode call(String method, String path, String body) throws IOException {
        RawHttp http = connection.get();
        if (http == null) {
            http = new RawHttp(server);
            connection.set(http);
        }
        RawHttp.Response response = http.exchange(RawHttp.request(method, server, path, token, body));
        if (response.status() >= 300) {
            throw new IllegalStateException(method + " " + path + " answered " + response.status() + ": "
                    + response.body());
        }
        return JSON.readTree(response.body());
    }

    private static String json(List<String> values) {
        return "[\"" + String.join("\",\"", values) + "\"]";
    }
}
