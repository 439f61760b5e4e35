package io.swarmbus.llm;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;

/** Token usage and cost, kept per agent, per key (principal), per backend and per model. */
public final class UsageLedger {
    /** Running totals for one name. */
    public static final class Usage {
        final LongAdder requests = new LongAdder();
        final LongAdder promptTokens = new LongAdder();
        final LongAdder completionTokens = new LongAdder();
        final DoubleAdder cost = new DoubleAdder();

        public long requests() {
            return requests.sum();
        }

        public long promptTokens() {
            return promptTokens.sum();
        }

        public long completionTokens() {
            return completionTokens.sum();
        }

        public double cost() {
            return cost.sum();
        }
    }

    private final Map<String, Map<String, Usage>> byKind = new ConcurrentHashMap<>();

    /** Records one answered request under each of its names. */
    public void record(String agent, String key, String backend, String model, int prompt, int completion,
            double cost) {
        add("agent", agent, prompt, completion, cost);
        add("key", key, prompt, completion, cost);
        add("backend", backend, prompt, completion, cost);
        add("model", model, prompt, completion, cost);
    }

    private void add(String kind, String name, int prompt, int completion, double cost) {
        Usage usage = byKind.computeIfAbsent(kind, k -> new ConcurrentHashMap<>()).computeIfAbsent(name, n -> new Usage());
        usage.requests.increment();
        usage.promptTokens.add(prompt);
        usage.completionTokens.add(completion);
        usage.cost.add(cost);
    }

    /** Usage of every name of {@code kind} (agent, key, backend, model), sorted by name. */
    public Map<String, Usage> of(String kind) {
        return new TreeMap<>(byKind.getOrDefault(kind, Map.of()));
    }
}
