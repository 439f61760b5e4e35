package io.swarmbus.llm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;

/**
 * Token usage and cost, kept per agent, per task, per key (principal), per backend and per model.
 * Totals are saved with the gateway's state, so they outlive a restart.
 */
public final class UsageLedger {
    /** The kinds of name usage is kept under. */
    public static final List<String> KINDS = List.of("agent", "task", "key", "backend", "model");

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

    /** Told of each name the first time usage is recorded under it (metrics register it then). */
    public interface NewName {
        void added(String kind, String name, Usage usage);
    }

    private final Map<String, Map<String, Usage>> byKind = new ConcurrentHashMap<>();
    private final List<NewName> listeners = new CopyOnWriteArrayList<>();

    /** Records one answered request under each of its names; {@code task} may be null. */
    public void record(String agent, String task, String key, String backend, String model, int prompt,
            int completion, double cost) {
        add("agent", agent, 1, prompt, completion, cost);
        if (task != null) {
            add("task", task, 1, prompt, completion, cost);
        }
        add("key", key, 1, prompt, completion, cost);
        add("backend", backend, 1, prompt, completion, cost);
        add("model", model, 1, prompt, completion, cost);
    }

    public void onNewName(NewName listener) {
        listeners.add(listener);
        byKind.forEach((kind, names) -> names.forEach((name, usage) -> listener.added(kind, name, usage)));
    }

    private void add(String kind, String name, long requests, long prompt, long completion, double cost) {
        Map<String, Usage> names = byKind.computeIfAbsent(kind, k -> new ConcurrentHashMap<>());
        Usage usage = names.get(name);
        if (usage == null) {
            Usage created = new Usage();
            usage = names.putIfAbsent(name, created);
            if (usage == null) {
                usage = created;
                for (NewName listener : listeners) {
                    listener.added(kind, name, created);
                }
            }
        }
        usage.requests.add(requests);
        usage.promptTokens.add(prompt);
        usage.completionTokens.add(completion);
        usage.cost.add(cost);
    }

    /** Usage of every name of {@code kind} (see {@link #KINDS}), sorted by name. */
    public Map<String, Usage> of(String kind) {
        return new TreeMap<>(byKind.getOrDefault(kind, Map.of()));
    }

    /** Every total, to save. */
    public ObjectNode toJson() {
        ObjectNode root = OpenAiWire.JSON.createObjectNode();
        byKind.forEach((kind, names) -> {
            ObjectNode kindNode = root.putObject(kind);
            names.forEach((name, u) -> kindNode.putArray(name).add(u.requests()).add(u.promptTokens())
                    .add(u.completionTokens()).add(u.cost()));
        });
        return root;
    }

    /** Adds what {@link #toJson} saved (at start, into an empty ledger). */
    public void restore(JsonNode saved) {
        saved.properties().forEach(kind -> kind.getValue().properties().forEach(entry -> {
            JsonNode v = entry.getValue();
            add(kind.getKey(), entry.getKey(), v.path(0).asLong(), v.path(1).asLong(), v.path(2).asLong(),
                    v.path(3).asDouble());
        }));
    }
}
