package io.swarmbus.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.LongAdder;

/**
 * How well the LLM gateway's routing strategies use their backends, strategy beside strategy in
 * one run. The backends are {@code llm-sim} with realistic latency (prefill, batched decoding, a
 * prefix cache), so what differs between strategies is where each call lands. Two workloads:
 *
 * <p>{@code conversations}: {@code --agents} agents, each a closed loop of streamed chat calls on
 * its own conversation. A conversation opens with a system prompt every agent shares (400 words)
 * and a task of its own (40–80 words); each answer is appended, followed by a new user message
 * of 50–250 words (a tool's output, say); after 6–14 calls the agent starts a new conversation.
 * The same seed gives every target the same conversations. Per target: calls completed, output
 * tokens a second, time to the first content event (TTFT, measured here) mean and p99, total
 * latency p99, and the share of prompt tokens the backends found in their prefix caches (from
 * the usage of each stream's last chunk), then the calls and cache hits per backend (from their
 * {@code /sim/stats}).
 *
 * <p>{@code slow}: non-streamed calls with short prompts, open loop at {@code --rate} a second,
 * latency from each call's scheduled send time (no coordinated omission); p50, p90 and p99, and
 * how the calls of the measured window spread over the backends (one of which the caller has
 * made slow).
 *
 * <pre>
 * java -cp bench/target/swarmbus-bench.jar io.swarmbus.bench.LlmRouting conversations|slow \
 *     --target NAME=GATEWAY_URL,SIM_URL,.. [--target ..] [--seconds 15] [--warmup 15|3] [--agents 64] \
 *     [--rate 40] [--seed 1] [--summary FILE] [--username bench --password bench-password]
 * </pre>
 *
 * <p>{@code --warmup} is how long the load runs unmeasured before the measured {@code --seconds}:
 * by default 15 s for {@code conversations} (a freshly started gateway compiles its hot paths
 * and the caches fill) and 3 s for {@code slow}.
 *
 * <p>{@code --summary FILE} lets strategies measured by separate runs (each against freshly
 * started processes) be compared: each run appends its targets' headline figures to the file and
 * compares every strategy recorded there with the first.
 *
 * <p>A target is a gateway, named by its strategy, and the sims behind it (for their counters). The
 * load generator gets a token from each gateway with the username and password (a server in dev
 * mode signs the user up).
 */
public final class LlmRouting {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MODEL = "sim-model";
    private static final String[] VOCABULARY = ("agent tool call result file line error test build deploy query "
            + "table row column index plan step check review merge branch commit diff patch config value key "
            + "request response status latency cache token model prompt context message queue worker task lease "
            + "retry timeout budget score rank search read write open close list find update delete create parse "
            + "schema field type string number array object null true false user system assistant function "
            + "argument return output input log trace span metric alert host port path route handler service "
            + "client server node cluster shard replica leader vote term snapshot journal record offset")
            .split(" ");
    private static final int SYSTEM_WORDS = 400;

    private final String credentials;
    private final int seconds;
    private final int warmup;
    private final long seed;

    private LlmRouting(String credentials, int seconds, int warmup, long seed) {
        this.credentials = credentials;
        this.seconds = seconds;
        this.warmup = warmup;
        this.seed = seed;
    }

    /** A gateway, named by its strategy, and the simulated backends behind it. */
    record Target(String name, String gateway, List<String> sims) {
        static Target parse(String option) {
            String[] named = option.split("=", 2);
            List<String> urls = List.of(named[1].split(","));
            return new Target(named[0], urls.getFirst(), urls.subList(1, urls.size()));
        }
    }

    public static void main(String[] args) throws Exception {
        String workload = args.length > 0 ? args[0] : "";
        List<Target> targets = new ArrayList<>();
        String username = "bench";
        String password = "bench-password";
        int seconds = 15;
        int warmup = -1;
        int agents = 64;
        int rate = 40;
        long seed = 1;
        Optional<Path> summaries = Optional.empty();
        for (int i = 1; i < args.length; i++) {
            switch (args[i]) {
                case "--target" -> targets.add(Target.parse(args[++i]));
                case "--username" -> username = args[++i];
                case "--password" -> password = args[++i];
                case "--seconds" -> seconds = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--agents" -> agents = Integer.parseInt(args[++i]);
                case "--rate" -> rate = Integer.parseInt(args[++i]);
                case "--seed" -> seed = Long.parseLong(args[++i]);
                case "--summary" -> summaries = Optional.of(Path.of(args[++i]));
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (seconds < 1 || targets.isEmpty()) {
            throw new IllegalArgumentException("give at least one --target and --seconds of 1 or more");
        }
        String credentials = JSON.createObjectNode().put("username", username).put("password", password).toString();
        switch (workload) {
            case "conversations" -> new LlmRouting(credentials, seconds, warmup < 0 ? 15 : warmup, seed)
                    .conversations(targets, agents, summaries);
            case "slow" -> new LlmRouting(credentials, seconds, warmup < 0 ? 3 : warmup, seed).slow(targets, rate);
            default -> throw new IllegalArgumentException("the first argument is the workload: conversations or slow");
        }
    }

    // ---- conversations ----

    /** One target's headline figures, as compared between strategies. */
    record Summary(String name, double tokensPerSecond, double ttftMean, double totalP99) {
        static Summary parse(String line) {
            String[] f = line.split("\t");
            return new Summary(f[0], Double.parseDouble(f[1]), Double.parseDouble(f[2]), Double.parseDouble(f[3]));
        }

        String line() {
            return name + "\t" + tokensPerSecond + "\t" + ttftMean + "\t" + totalP99 + "\n";
        }
    }

    private void conversations(List<Target> targets, int agents, Optional<Path> summaries) throws Exception {
        List<Summary> all = new ArrayList<>();
        if (summaries.isPresent() && Files.exists(summaries.get())) {
            Files.readAllLines(summaries.get()).stream().filter(l -> !l.isBlank()).map(Summary::parse).forEach(all::add);
        }
        if (all.isEmpty()) {
            header(agents);
        }
        for (Target target : targets) {
            Tally tally = conversations(target, agents);
            tally.print(target, seconds);
            Summary summary = new Summary(target.name(), tally.completionTokens.sum() / (double) seconds,
                    tally.ttftMean(), tally.totalP99());
            all.add(summary);
            if (summaries.isPresent()) {
                Files.writeString(summaries.get(), summary.line(), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            }
        }
        for (int i = 1; i < all.size(); i++) {
            Summary first = all.getFirst();
            Summary other = all.get(i);
            System.out.printf("%s vs %s: output tokens/s %.2fx, mean TTFT %.2fx, p99 total %.2fx%n", first.name(),
                    other.name(), first.tokensPerSecond() / other.tokensPerSecond(), first.ttftMean() / other.ttftMean(),
                    first.totalP99() / other.totalP99());
        }
    }

    private void header(int agents) {
        System.out.printf("Multi-turn agents: %d agents, closed loop, streamed; system prompt %d words shared, "
                + "6-14 calls per conversation, 50-250 new words per call; %d cores, JDK %s; %d s warm-up, "
                + "%d s measured per strategy%n", agents, SYSTEM_WORDS, Runtime.getRuntime().availableProcessors(),
                Runtime.version(), warmup, seconds);
        System.out.printf("%-18s %7s %10s %10s %10s %10s %11s %9s %7s%n", "strategy", "calls", "out tok/s",
                "TTFT mean", "TTFT p99", "total p99", "prompt/call", "cache hit", "errors");
    }

    private Tally conversations(Target target, int agents) throws Exception {
        long started = System.nanoTime();
        long from = started + warmup * 1_000_000_000L;
        Tally tally = new Tally(from, from + seconds * 1_000_000_000L);
        String token = login(target);
        List<Thread> threads = new ArrayList<>();
        for (int a = 0; a < agents; a++) {
            int agent = a;
            threads.add(Thread.ofVirtual().start(() -> agent(agent, target, token, tally)));
        }
        sleepUntil(tally.from);
        List<JsonNode> before = simStats(target);
        sleepUntil(tally.to);
        List<JsonNode> after = simStats(target);
        for (Thread thread : threads) {
            thread.join();
        }
        tally.backends(before, after);
        return tally;
    }

    /** One agent: conversation after conversation until the measured window ends. */
    private void agent(int agent, Target target, String token, Tally tally) {
        Random random = new Random(seed * 1_000_003 + agent);
        String path = "/v1/chat/completions";
        int number = 0;
        Conversation conversation = new Conversation(agent, number++, random);
        RawHttp connection = null;
        sleep(random.nextInt(1_000)); // agents start spread over a second, not all at once
        while (System.nanoTime() < tally.to) {
            byte[] request = RawHttp.request("POST", target.gateway(), path, token, conversation.body());
            Call call = new Call(System.nanoTime());
            try {
                if (connection == null) {
                    connection = new RawHttp(target.gateway());
                }
                int status = connection.events(request, call::event);
                if (status != 200 || !call.complete()) {
                    tally.error(System.nanoTime());
                    sleep(100);
                    continue;
                }
            } catch (IOException e) {
                tally.error(System.nanoTime());
                closeQuietly(connection);
                connection = null;
                sleep(100);
                continue;
            }
            tally.add(call, System.nanoTime());
            if (!conversation.answered(call.content.toString(), random)) {
                conversation = new Conversation(agent, number++, random);
            }
        }
        closeQuietly(connection);
    }

    /** The shared system prompt: the same words for every agent, target and run. */
    private static String systemPrompt() {
        return words(new Random(0x5157_0001L), SYSTEM_WORDS);
    }

    private static String words(Random random, int count) {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < count; i++) {
            text.append(i == 0 ? "" : " ").append(VOCABULARY[random.nextInt(VOCABULARY.length)]);
        }
        return text.toString();
    }

    /**
     * One agent's conversation: the shared system prompt and the agent's task, then each answer
     * followed by a new message, so every call's prompt extends the previous call's.
     */
    private static final class Conversation {
        private static final String SYSTEM = systemPrompt();
        private final ObjectNode request = JSON.createObjectNode();
        private final ArrayNode messages;
        private final int calls;
        private int answered;

        Conversation(int agent, int number, Random random) {
            request.put("model", MODEL).put("stream", true).putObject("stream_options").put("include_usage", true);
            messages = request.putArray("messages");
            calls = 6 + random.nextInt(9);
            message("system", SYSTEM);
            message("user", "task " + agent + "." + number + ": " + words(random, 40 + random.nextInt(41)));
        }

        String body() {
            return request.toString();
        }

        /** Appends the answer and the next message; false when the conversation has had its calls. */
        boolean answered(String answer, Random random) {
            if (++answered >= calls) {
                return false;
            }
            message("assistant", answer);
            message("user", words(random, 50 + random.nextInt(201)));
            return true;
        }

        private void message(String role, String content) {
            messages.addObject().put("role", role).put("content", content);
        }
    }

    /** What one streamed call brought: when its first content arrived, the content, its usage. */
    private static final class Call {
        private final long sent;
        private long firstToken;
        private final StringBuilder content = new StringBuilder();
        private JsonNode usage;
        private boolean done;

        Call(long sent) {
            this.sent = sent;
        }

        void event(String data, long at) throws IOException {
            if (data.equals("[DONE]")) {
                done = true;
                return;
            }
            JsonNode chunk = JSON.readTree(data);
            String piece = chunk.path("choices").path(0).path("delta").path("content").asText("");
            if (!piece.isEmpty()) {
                if (firstToken == 0) {
                    firstToken = at;
                }
                content.append(piece);
            }
            if (chunk.hasNonNull("usage")) {
                usage = chunk.get("usage");
            }
        }

        boolean complete() {
            return done && firstToken != 0 && usage != null;
        }
    }

    /** The calls that ended inside the measured window, and the backends' counters across it. */
    private static final class Tally {
        final long from;
        final long to;
        final ConcurrentLinkedQueue<long[]> latencies = new ConcurrentLinkedQueue<>();
        final LongAdder promptTokens = new LongAdder();
        final LongAdder cachedTokens = new LongAdder();
        final LongAdder completionTokens = new LongAdder();
        final LongAdder errors = new LongAdder();
        private long[] ttfts = new long[0];
        private long[] totals = new long[0];
        private final List<String> perBackend = new ArrayList<>();

        Tally(long from, long to) {
            this.from = from;
            this.to = to;
        }

        void add(Call call, long ended) {
            if (ended < from || ended > to) {
                return;
            }
            latencies.add(new long[] {call.firstToken - call.sent, ended - call.sent});
            promptTokens.add(call.usage.path("prompt_tokens").asLong());
            cachedTokens.add(call.usage.path("prompt_tokens_details").path("cached_tokens").asLong());
            completionTokens.add(call.usage.path("completion_tokens").asLong());
        }

        void error(long at) {
            if (at >= from && at <= to) {
                errors.increment();
            }
        }

        void backends(List<JsonNode> before, List<JsonNode> after) {
            ttfts = latencies.stream().mapToLong(l -> l[0]).sorted().toArray();
            totals = latencies.stream().mapToLong(l -> l[1]).sorted().toArray();
            long calls = 0;
            for (int i = 0; i < before.size(); i++) {
                calls += delta(before, after, i, "requests");
            }
            for (int i = 0; i < before.size(); i++) {
                long prompt = delta(before, after, i, "prompt_tokens");
                perBackend.add(String.format("%.0f%% of calls, %.0f%% cached", 100.0
                        * delta(before, after, i, "requests") / Math.max(1, calls),
                        100.0 * delta(before, after, i, "cached_tokens") / Math.max(1, prompt)));
            }
        }

        double ttftMean() {
            return Arrays.stream(ttfts).average().orElse(0) / 1e6;
        }

        double totalP99() {
            return totals.length == 0 ? 0 : OpenLoop.percentile(totals, 0.99);
        }

        void print(Target target, int seconds) {
            int n = ttfts.length;
            System.out.printf("%-18s %,7d %,10.0f %7.1f ms %7.1f ms %7.0f ms %11.0f %8.1f%% %7d%n", target.name(), n,
                    completionTokens.sum() / (double) seconds, ttftMean(),
                    n == 0 ? 0 : OpenLoop.percentile(ttfts, 0.99), totalP99(),
                    promptTokens.sum() / (double) Math.max(1, n),
                    100.0 * cachedTokens.sum() / Math.max(1, promptTokens.sum()), errors.sum());
            System.out.println("    backends: " + String.join("; ", perBackend));
        }
    }

    // ---- one slow backend ----

    private void slow(List<Target> targets, int rate) throws Exception {
        System.out.printf("One slow backend: open loop %d calls/s, not streamed, short prompts; %d cores, JDK %s; "
                + "%d s warm-up, %d s measured per strategy%n", rate, Runtime.getRuntime().availableProcessors(),
                Runtime.version(), warmup, seconds);
        System.out.printf("%-18s %7s %10s %10s %10s %7s  %s%n", "strategy", "calls", "p50", "p90", "p99", "errors",
                "calls per backend");
        for (Target target : targets) {
            slow(target, rate);
        }
    }

    private void slow(Target target, int rate) throws Exception {
        int warm = rate * warmup;
        int total = rate * (warmup + seconds);
        long[] latencies = new long[total];
        ConcurrentLinkedQueue<RawHttp> idle = new ConcurrentLinkedQueue<>();
        String token = login(target);
        Future<List<JsonNode>> measuring = null;
        long interval = 1_000_000_000L / rate;
        long start = System.nanoTime() + 20_000_000;
        try (ExecutorService calls = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < total; i++) {
                long scheduled = start + i * interval;
                OpenLoop.waitUntil(scheduled);
                if (i == warm) {
                    measuring = calls.submit(() -> simStats(target)); // the counters as the window opens
                }
                int n = i;
                byte[] request = RawHttp.request("POST", target.gateway(), "/v1/chat/completions", token,
                        shortRequest(n));
                calls.submit(() -> latencies[n] = call(target, idle, request) - scheduled);
            }
        }
        List<JsonNode> before = measuring.get();
        List<JsonNode> after = simStats(target);
        idle.forEach(LlmRouting::closeQuietly);
        long[] measured = Arrays.stream(latencies, warm, total).filter(l -> l > 0).sorted().toArray();
        long calls = 0;
        for (int i = 0; i < before.size(); i++) {
            calls += delta(before, after, i, "requests");
        }
        List<String> shares = new ArrayList<>();
        for (int i = 0; i < before.size(); i++) {
            shares.add(String.format("%.0f%%", 100.0 * delta(before, after, i, "requests") / Math.max(1, calls)));
        }
        System.out.printf("%-18s %,7d %7.0f ms %7.0f ms %7.0f ms %7d  %s%n", target.name(), measured.length,
                OpenLoop.percentile(measured, 0.5), OpenLoop.percentile(measured, 0.9),
                OpenLoop.percentile(measured, 0.99), total - warm - measured.length, String.join(" ", shares));
    }

    /** A chat request of about 40 words that differs from call to call; not streamed. */
    private String shortRequest(int n) {
        ObjectNode request = JSON.createObjectNode().put("model", MODEL);
        String content = "call " + n + ": " + words(new Random(seed * 31 + n), 40);
        request.putArray("messages").addObject().put("role", "user").put("content", content);
        return request.toString();
    }

    /** Sends one call on an idle connection (or a new one); its end time, or 0 if it failed. */
    private static long call(Target target, ConcurrentLinkedQueue<RawHttp> idle, byte[] request) {
        RawHttp connection = idle.poll();
        try {
            RawHttp.Response response;
            try {
                connection = connection == null ? new RawHttp(target.gateway()) : connection;
                response = connection.exchange(request);
            } catch (IOException closed) {
                // A keep-alive connection the server closed while idle: once more, anew.
                closeQuietly(connection);
                connection = new RawHttp(target.gateway());
                response = connection.exchange(request);
            }
            long end = System.nanoTime();
            idle.add(connection);
            return response.status() == 200 ? end : 0;
        } catch (IOException e) {
            closeQuietly(connection);
            return 0;
        }
    }

    // ---- shared ----

    /** A token from the target's gateway. */
    private String login(Target target) throws IOException {
        try (RawHttp connection = new RawHttp(target.gateway())) {
            RawHttp.Response response = connection.exchange(RawHttp.request("POST", target.gateway(), "/auth/token",
                    null, credentials));
            String token = JSON.readTree(response.body()).path("access_token").asText("");
            if (response.status() != 200 || token.isEmpty()) {
                throw new IOException("no token from " + target.gateway() + ": " + response.status() + " "
                        + response.body());
            }
            return token;
        }
    }

    /** Each sim's {@code /sim/stats}. */
    private List<JsonNode> simStats(Target target) throws IOException {
        List<JsonNode> stats = new ArrayList<>();
        for (String sim : target.sims()) {
            try (RawHttp connection = new RawHttp(sim)) {
                stats.add(JSON.readTree(connection.exchange(RawHttp.request("GET", sim, "/sim/stats", null, null))
                        .body()));
            }
        }
        return stats;
    }

    private static long delta(List<JsonNode> before, List<JsonNode> after, int sim, String counter) {
        return after.get(sim).path(counter).asLong() - before.get(sim).path(counter).asLong();
    }

    private static void sleepUntil(long nanoTime) throws InterruptedException {
        long left = nanoTime - System.nanoTime();
        if (left > 0) {
            Thread.sleep(left / 1_000_000, (int) (left % 1_000_000));
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void closeQuietly(RawHttp connection) {
        if (connection != null) {
            try {
                connection.close();
            } catch (IOException e) {
                // closing a socket that is already broken
            }
        }
    }
}
