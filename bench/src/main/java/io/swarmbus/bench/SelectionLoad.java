package io.swarmbus.bench;

import io.swarmbus.messaging.AgentId;
import io.swarmbus.registry.AgentInfo;
import io.swarmbus.registry.AgentProfile;
import io.swarmbus.registry.Registry;
import io.swarmbus.registry.SelectionStrategy;
import io.swarmbus.storage.DurableTable;
import io.swarmbus.storage.FsyncPolicy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;

/**
 * Best-agent selection with many registered agents: registers {@code --agents} (default 100,000)
 * with 3 to 5 of 40 capabilities each, then times {@code Registry.best} for each strategy with one
 * or two required capabilities, while assignments and completions keep loads changing.
 *
 * <pre>
 * java -cp bench/target/swarmbus-bench.jar io.swarmbus.bench.SelectionLoad [--agents 100000] [--calls 200000]
 * </pre>
 */
public final class SelectionLoad {
    private SelectionLoad() {}

    public static void main(String[] args) throws Exception {
        int agents = 100_000;
        int calls = 200_000;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--agents" -> agents = Integer.parseInt(args[++i]);
                case "--calls" -> calls = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Path dir = Files.createTempDirectory("swarmbus-selection");
        Random random = new Random(42);
        List<String> capabilities = new ArrayList<>();
        for (int c = 0; c < 40; c++) {
            capabilities.add("skill-" + c);
        }
        try (Registry registry = Registry.open(DurableTable.open(dir, FsyncPolicy.INTERVAL), Clock.systemUTC(),
                Duration.ofHours(1))) {
            long started = System.nanoTime();
            for (int a = 0; a < agents; a++) {
                Set<String> held = new HashSet<>();
                while (held.size() < 3 + random.nextInt(3)) {
                    held.add(capabilities.get(skewed(random, capabilities.size())));
                }
                registry.register(new AgentProfile(AgentId.of("agent-" + a), "", "worker", held, 1 + random.nextInt(8),
                        Map.of(), "bench"));
            }
            System.out.printf("registered %,d agents in %.1f s (%d cores, JDK %s)%n", agents,
                    (System.nanoTime() - started) / 1e9, Runtime.getRuntime().availableProcessors(), Runtime.version());
            for (SelectionStrategy strategy : SelectionStrategy.values()) {
                measure(registry, strategy, capabilities, calls, random);
            }
        } finally {
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** Capability popularity falls off, as real skills do: low indexes are common. */
    private static int skewed(Random random, int n) {
        return (int) Math.min(n - 1, Math.floor(-Math.log(1 - random.nextDouble()) * n / 4));
    }

    private static void measure(Registry registry, SelectionStrategy strategy, List<String> capabilities, int calls,
            Random random) {
        long[] nanos = new long[calls];
        List<AgentId> running = new ArrayList<>();
        int found = 0;
        for (int i = -calls / 5; i < calls; i++) { // the first fifth warms up
            Set<String> required = new HashSet<>();
            required.add(capabilities.get(skewed(random, capabilities.size())));
            if (random.nextBoolean()) {
                required.add(capabilities.get(skewed(random, capabilities.size())));
            }
            long t0 = System.nanoTime();
            Optional<AgentInfo> chosen = registry.best(Optional.empty(), required, strategy, Set.of());
            long took = System.nanoTime() - t0;
            if (i >= 0) {
                nanos[i] = took;
            }
            if (chosen.isPresent()) {
                found++;
                AgentId agent = chosen.get().profile().id();
                registry.taskAssigned(agent);
                running.add(agent);
            }
            // Keep about 20,000 tasks running: loads change, but agents do not fill up.
            while (running.size() > 20_000) {
                registry.taskFinished(running.remove(random.nextInt(running.size())), true, Duration.ofMillis(200));
            }
        }
        for (AgentId agent : running) {
            registry.taskFinished(agent, true, Duration.ofMillis(200));
        }
        Arrays.sort(nanos);
        System.out.printf("%-14s p50 %7.1f µs  p99 %7.1f µs  p99.9 %7.1f µs  max %8.1f µs  (%d%% found an agent)%n",
                strategy.wireName(), nanos[calls / 2] / 1e3, nanos[(int) (calls * 0.99)] / 1e3,
                nanos[(int) (calls * 0.999)] / 1e3, nanos[calls - 1] / 1e3, 100L * found / (calls + calls / 5));
    }
}
