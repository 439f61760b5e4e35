package io.swarmbus.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.client.AgentWorker;
import io.swarmbus.client.SwarmbusClient;
import io.swarmbus.client.Types.Delivery;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Task round trips through the HTTP API: a supervisor keeps {@code --in-flight} tasks open, SDK
 * workers in this process take them and answer at once, and the supervisor hears each outcome as
 * a {@code task_response} message. Latency runs from just before {@code POST /api/v1/tasks} to
 * the outcome's arrival in the supervisor's inbox.
 *
 * <pre>
 * RATE_LIMIT_PER_MINUTE=100000000 ./swarmbus serve --dev &amp;
 * java -cp bench/target/swarmbus-bench.jar io.swarmbus.bench.TaskLoad [--server URL] [--seconds 10]
 *      [--workers 4] [--in-flight 32]
 * </pre>
 */
public final class TaskLoad {
    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    private TaskLoad() {}

    public static void main(String[] args) throws Exception {
        String server = "http://127.0.0.1:8080";
        int seconds = 10;
        int workers = 4;
        int inFlight = 32;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--server" -> server = args[++i];
                case "--seconds" -> seconds = Integer.parseInt(args[++i]);
                case "--workers" -> workers = Integer.parseInt(args[++i]);
                case "--in-flight" -> inFlight = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        run(server, seconds, workers, inFlight);
    }

    private static void run(String server, int seconds, int workers, int inFlight) throws Exception {
        long pid = ProcessHandle.current().pid();
        SwarmbusClient client = SwarmbusClient.login(server, "taskload-" + pid, "taskload-password");
        String boss = "tl-boss-" + pid;
        String capability = "tl-" + pid;
        client.registerAgent(boss, "supervisor", List.of(), 1, Map.of());
        List<AgentWorker> pool = new ArrayList<>();
        for (int w = 0; w < workers; w++) {
            pool.add(AgentWorker.builder(client, "tl-worker-" + pid + "-" + w).capabilities(capability)
                    .maxConcurrentTasks(inFlight).handler(task -> task.parameters()).start());
        }
        Semaphore open = new Semaphore(inFlight);
        AtomicBoolean measuring = new AtomicBoolean(false);
        AtomicBoolean running = new AtomicBoolean(true);
        long[] latencies = new long[5_000_000];
        AtomicInteger measured = new AtomicInteger();
        Thread outcomes = Thread.ofPlatform().start(() -> {
            while (running.get() || open.availablePermits() < inFlight) {
                List<Delivery> got = client.receive(boss, 256, Duration.ofSeconds(1), Duration.ofSeconds(60));
                long now = System.nanoTime();
                for (Delivery d : got) {
                    long sent = d.content().path("result").path("t0").asLong();
                    if (measuring.get() && d.content().path("status").asText().equals("completed")) {
                        int i = measured.getAndIncrement();
                        if (i < latencies.length) {
                            latencies[i] = now - sent;
                        }
                    }
                    open.release();
                }
                if (!got.isEmpty()) {
                    client.ack(boss, got.stream().map(Delivery::id).toList());
                }
            }
        });
        List<Thread> producers = new ArrayList<>();
        for (int p = 0; p < inFlight; p++) {
            producers.add(Thread.ofVirtual().start(() -> {
                while (running.get()) {
                    open.acquireUninterruptibly();
                    ObjectNode task = JSON.createObjectNode().put("type", "echo").put("created_by", boss)
                            .put("max_retries", 0);
                    task.putObject("parameters").put("t0", System.nanoTime());
                    task.putArray("required_capabilities").add(capability);
                    client.createTask(task);
                }
            }));
        }
        Thread.sleep(5_000); // warm-up
        measuring.set(true);
        long started = System.nanoTime();
        Thread.sleep(seconds * 1_000L);
        measuring.set(false);
        double elapsed = (System.nanoTime() - started) / 1e9;
        int count = Math.min(measured.get(), latencies.length);
        running.set(false);
        for (Thread producer : producers) {
            producer.join();
        }
        outcomes.join(30_000);
        pool.forEach(AgentWorker::close);
        long[] sorted = Arrays.copyOf(latencies, count);
        Arrays.sort(sorted);
        System.out.printf("task create -> outcome in the supervisor's inbox, %d workers, %d in flight: %,.0f tasks/s, "
                + "p50 %.2f ms, p99 %.2f ms (%,d tasks)%n", workers, inFlight, count / elapsed,
                OpenLoop.percentile(sorted, 0.5), OpenLoop.percentile(sorted, 0.99), count);
        System.exit(0);
    }
}
