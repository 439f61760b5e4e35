package io.swarmbus.bench;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * The LLM gateway's overhead, side by side in one run: the same chat request sent straight to the
 * backends (round-robin from the client), through nginx, and through Swarmbus. Backends are
 * {@code llm-sim --zero-latency}, so what remains is HTTP and the proxies. Measures, per target,
 * open-loop latency at given rates from each request's scheduled send time (no coordinated
 * omission), the time to the first streamed event, and the most requests a second 64 keep-alive
 * connections get.
 *
 * <pre>
 * java -cp bench/target/swarmbus-bench.jar io.swarmbus.bench.LlmLoad --direct URL,URL,.. \
 *     --target nginx=URL --target swarmbus=URL --token TOKEN [--rates 300,1000] [--seconds 10] [--warmup 30]
 *     [--prompt-words N] [--max-rounds N] [--max-only]
 * </pre>
 *
 * <p>{@code --max-rounds N} measures the most requests a second N times, the targets taking turns,
 * and prints each target's median and its median share of nginx's within a round: on a shared
 * machine whose speed drifts from minute to minute, a ratio taken within one round is steadier
 * than one taken between runs. {@code --max-only} skips the latency measurements.
 */
public final class LlmLoad {
    private static final String PROMPT = "summarise the state of the swarm in one line";

    private final String token;
    private final int seconds;
    /** The chat request every call sends, and its streamed form. */
    private final String body;
    private final String streamBody;
    /** Set while warming up: open loops run but print nothing. */
    private boolean warming;

    /** @param promptWords the prompt's length in words: 0 for a one-line prompt, else an agent-sized one */
    private LlmLoad(String token, int seconds, int promptWords) {
        this.token = token;
        this.seconds = seconds;
        StringBuilder prompt = new StringBuilder(PROMPT);
        for (int i = 0; i < promptWords; i++) {
            prompt.append(" word").append(i % 997);
        }
        this.body = "{\"model\":\"sim-model\",\"max_tokens\":16,\"messages\":[{\"role\":\"user\","
                + "\"content\":\"" + prompt + "\"}]}";
        this.streamBody = body.replace("{\"model\"", "{\"stream\":true,\"model\"");
    }

    /** Where requests go: one URL, or several taken in turn by the client's connections. */
    record Target(String name, List<String> urls) {}

    public static void main(String[] args) throws Exception {
        List<Target> targets = new ArrayList<>();
        String token = "";
        int seconds = 10;
        int connections = 64;
        int warmup = 30;
        int promptWords = 0;
        List<Integer> rates = List.of(300, 1000);
        int maxRounds = 1;
        boolean maxOnly = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--direct" -> targets.add(new Target("direct", List.of(args[++i].split(","))));
                case "--target" -> {
                    String[] named = args[++i].split("=", 2);
                    targets.add(new Target(named[0], List.of(named[1])));
                }
                case "--token" -> token = args[++i];
                case "--seconds" -> seconds = Integer.parseInt(args[++i]);
                case "--connections" -> connections = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--prompt-words" -> promptWords = Integer.parseInt(args[++i]);
                case "--rates" -> rates = Arrays.stream(args[++i].split(",")).map(Integer::parseInt).toList();
                case "--max-rounds" -> maxRounds = Integer.parseInt(args[++i]);
                case "--max-only" -> maxOnly = true;
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        LlmLoad load = new LlmLoad(token, seconds, promptWords);
        System.out.printf("LLM gateway overhead: %d cores, JDK %s, %d s per measurement, targets %s%n",
                Runtime.getRuntime().availableProcessors(), Runtime.version(), seconds,
                targets.stream().map(Target::name).toList());
        Map<String, double[]> results = new LinkedHashMap<>();
        // Warm-up, not reported: a JVM (the gateway, and llm-sim behind every target) compiles its
        // hot paths for tens of seconds under load; a 3-second warm-up left the gateway's JIT
        // using a third of its CPU in the measured phases. Streamed requests take their own path.
        load.warming = true;
        for (Target target : targets) {
            load.closedLoop(target, connections, warmup);
            if (!maxOnly) {
                load.openLoop(target, 200, load.streamBody, true);
            }
        }
        load.warming = false;
        for (int rate : maxOnly ? List.<Integer>of() : rates) {
            for (Target target : targets) {
                results.put(target.name() + "@" + rate, load.openLoop(target, rate, load.body, false));
            }
        }
        for (Target target : maxOnly ? List.<Target>of() : targets) {
            results.put(target.name() + "@ttfe", load.openLoop(target, 200, load.streamBody, true));
        }
        Map<String, List<Double>> maxima = new LinkedHashMap<>();
        for (int round = 1; round <= maxRounds; round++) {
            for (Target target : targets) {
                double rate = load.closedLoop(target, connections, seconds);
                maxima.computeIfAbsent(target.name(), name -> new ArrayList<>()).add(rate);
                System.out.printf("%-10s max %,8.0f req/s with %d connections%s%n", target.name(), rate, connections,
                        maxRounds > 1 ? " (round " + round + ")" : "");
            }
        }
        if (maxRounds > 1) {
            printMedians(maxima);
        }
        if (results.isEmpty()) {
            return;
        }
        System.out.println("\nadded over direct (ms):");
        for (String key : results.keySet()) {
            String where = key.substring(key.indexOf('@'));
            double[] direct = results.get("direct" + where);
            if (direct != null && !key.startsWith("direct@")) {
                double[] r = results.get(key);
                System.out.printf("%-22s p50 %+.3f  p99 %+.3f  p99.9 %+.3f%n", key, r[0] - direct[0], r[1] - direct[1],
                        r[2] - direct[2]);
            }
        }
    }

    /** Each target's median most requests a second, and its median share of nginx's in the same round. */
    private static void printMedians(Map<String, List<Double>> maxima) {
        List<Double> nginx = maxima.get("nginx");
        System.out.println("\nmedian over " + maxima.values().iterator().next().size() + " rounds:");
        for (Map.Entry<String, List<Double>> target : maxima.entrySet()) {
            String share = "";
            if (nginx != null && !target.getKey().equals("nginx")) {
                List<Double> shares = new ArrayList<>();
                for (int round = 0; round < nginx.size(); round++) {
                    shares.add(target.getValue().get(round) / nginx.get(round));
                }
                share = String.format("  %.2f× nginx (rounds: %s)", median(shares),
                        shares.stream().map(r -> String.format("%.2f", r)).toList());
            }
            System.out.printf("%-14s max %,8.0f req/s%s%n", target.getKey(), median(target.getValue()), share);
        }
    }

    private static double median(List<Double> values) {
        List<Double> sorted = values.stream().sorted().toList();
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }

    /**
     * Sends at {@code rate}/s for the measured seconds (after one unmeasured second) from 64
     * connections; a request waits for a free connection if all are busy, and that wait counts.
     * Returns p50, p99, p99.9 in ms.
     */
    private double[] openLoop(Target target, int rate, String body, boolean firstEvent) throws Exception {
        int warm = rate;
        int total = warm + rate * seconds;
        long[] latencies = new long[total];
        BlockingQueue<long[]> jobs = new ArrayBlockingQueue<>(total);
        CountDownLatch done = new CountDownLatch(total);
        AtomicInteger errors = new AtomicInteger();
        List<Thread> workers = new ArrayList<>();
        for (int c = 0; c < 64; c++) {
            String url = target.urls().get(c % target.urls().size());
            byte[] request = RawHttp.request("POST", url, path(url), token, body);
            workers.add(Thread.ofPlatform().daemon().start(() -> {
                RawHttp connection = null;
                long[] first = new long[1];
                try {
                    for (long[] job = jobs.take(); job[0] >= 0; job = jobs.take()) {
                        try {
                            RawHttp.Response response;
                            try {
                                if (connection == null) {
                                    connection = new RawHttp(url);
                                }
                                response = connection.exchange(request, first);
                            } catch (IOException closed) {
                                // A keep-alive connection the server closed between requests: once more, anew.
                                connection = new RawHttp(url);
                                response = connection.exchange(request, first);
                            }
                            long end = firstEvent ? first[0] : System.nanoTime();
                            if (response.status() != 200) {
                                errors.incrementAndGet();
                            }
                            latencies[(int) job[1]] = end - job[0];
                        } catch (IOException e) {
                            errors.incrementAndGet();
                            connection = null;
                        }
                        done.countDown();
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }));
        }
        long interval = 1_000_000_000L / rate;
        long start = System.nanoTime() + 20_000_000;
        for (int i = 0; i < total; i++) {
            long scheduled = start + i * interval;
            OpenLoop.waitUntil(scheduled);
            jobs.add(new long[] {scheduled, i});
        }
        done.await();
        for (int c = 0; c < workers.size(); c++) {
            jobs.add(new long[] {-1, -1});
        }
        long[] measured = Arrays.copyOfRange(latencies, warm, total);
        Arrays.sort(measured);
        double[] p = {OpenLoop.percentile(measured, 0.5), OpenLoop.percentile(measured, 0.99),
                OpenLoop.percentile(measured, 0.999)};
        if (!warming) {
            System.out.printf("%-10s %-22s p50 %7.3f ms  p99 %7.3f ms  p99.9 %7.3f ms%s%n", target.name(),
                    firstEvent ? "first event @" + rate + "/s" : "open loop " + rate + "/s", p[0], p[1], p[2],
                    errors.get() > 0 ? "  (" + errors.get() + " errors)" : "");
        }
        return p;
    }

    /** Requests per second that {@code connections} closed-loop clients get. */
    private double closedLoop(Target target, int connections, int runSeconds) throws Exception {
        LongAdder count = new LongAdder();
        AtomicBoolean running = new AtomicBoolean(true);
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < connections; c++) {
            String url = target.urls().get(c % target.urls().size());
            byte[] request = RawHttp.request("POST", url, path(url), token, body);
            threads.add(Thread.ofPlatform().daemon().start(() -> {
                while (running.get()) {
                    // Servers close keep-alive connections now and then (nginx after keepalive_requests).
                    try (RawHttp connection = new RawHttp(url)) {
                        while (running.get()) {
                            if (connection.exchange(request).status() == 200) {
                                count.increment();
                            }
                        }
                    } catch (IOException e) {
                        // reconnect
                    }
                }
            }));
        }
        Thread.sleep(1_000);
        long before = count.sum();
        long started = System.nanoTime();
        Thread.sleep(runSeconds * 1_000L);
        double rate = (count.sum() - before) / ((System.nanoTime() - started) / 1e9);
        running.set(false);
        for (Thread t : threads) {
            t.join(5_000);
        }
        return rate;
    }

    private static String path(String url) {
        String rest = url.replaceFirst("^http://[^/]+", "");
        return (rest.isEmpty() ? "" : rest.replaceAll("/$", "")) + "/v1/chat/completions";
    }
}
