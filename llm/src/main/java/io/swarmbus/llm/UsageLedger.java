package io.swarmbus.llm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;

/**
 * Token usage and cost, kept per agent, per task, per key (principal), per backend and per model,
 * and for each agent also what it used in its current registration. Totals are saved with the
 * gateway's state, so they outlive a restart.
 */
public final class UsageLedger {
    /** The kinds of name usage is kept under. */
    public static final List<String> KINDS = List.of("agent", "task", "key", "backend", "model");
    /** Where {@link #toJson} keeps each agent's usage in its current registration, beside the kinds. */
    private static final String REGISTRATIONS = "registrations";

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

        private void add(long requests, long prompt, long completion, double cost) {
            this.requests.add(requests);
            this.promptTokens.add(prompt);
            this.completionTokens.add(completion);
            this.cost.add(cost);
        }

        private ArrayNode toJson(ArrayNode array) {
            return array.add(requests()).add(promptTokens()).add(completionTokens()).add(cost());
        }

        private static Usage of(JsonNode saved, int from) {
            Usage usage = new Usage();
            usage.add(saved.path(from).asLong(), saved.path(from + 1).asLong(), saved.path(from + 2).asLong(),
                    saved.path(from + 3).asDouble());
            return usage;
        }
    }

    /** What an agent used in one registration of its id. */
    private record Registered(String registration, Usage usage) {}

    /** Told of each name the first time usage is recorded under it (metrics register it then). */
    public interface NewName {
        void added(String kind, String name, Usage usage);
    }

    private final Map<String, Map<String, Usage>> byKind = new ConcurrentHashMap<>();
    private final List<NewName> listeners = new CopyOnWriteArrayList<>();
    private final Map<String, Registered> registered = new ConcurrentHashMap<>();

    /**
     * Records one answered request under each of its names; {@code task} may be null.
     *
     * @param registration the registration of the agent id the call was made in (who registered
     *     it and when), compared for equality only. An id deleted and registered again is a new
     *     agent, maybe another user's: its usage in the new registration starts from nothing,
     *     while the agent's totals keep counting.
     */
    public void record(String agent, String registration, String task, String key, String backend, String model,
            int prompt, int completion, double cost) {
        add("agent", agent, 1, prompt, completion, cost);
        registered.compute(agent, (name, part) -> {
            // A call of an earlier registration that ends after the new one's first call starts the
            // part over: rare (the id was deleted and registered again while it ran), and it hides
            // usage rather than showing it to the wrong owner.
            Registered current = part != null && part.registration().equals(registration) ? part
                    : new Registered(registration, new Usage());
            current.usage().add(1, prompt, completion, cost);
            return current;
        });
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
        usage.add(requests, prompt, completion, cost);
    }

    /** Usage of every name of {@code kind} (see {@link #KINDS}), sorted by name. */
    public Map<String, Usage> of(String kind) {
        return new TreeMap<>(byKind.getOrDefault(kind, Map.of()));
    }

    /** What {@code agent} used in {@code registration} (see {@link #record}); empty if none of its usage is from it. */
    public Optional<Usage> ofRegistration(String agent, String registration) {
        Registered part = registered.get(agent);
        return part != null && part.registration().equals(registration) ? Optional.of(part.usage()) : Optional.empty();
    }

    /** Every total, to save. */
    public ObjectNode toJson() {
        ObjectNode root = OpenAiWire.JSON.createObjectNode();
        byKind.forEach((kind, names) -> {
            ObjectNode kindNode = root.putObject(kind);
            names.forEach((name, u) -> u.toJson(kindNode.putArray(name)));
        });
        ObjectNode parts = root.putObject(REGISTRATIONS);
        registered.forEach((agent, part) -> part.usage().toJson(parts.putArray(agent).add(part.registration())));
        return root;
    }

    /** Adds what {@link #toJson} saved (at start, into an empty ledger). */
    public void restore(JsonNode saved) {
        for (String kind : KINDS) {
            saved.path(kind).properties().forEach(entry -> {
                JsonNode v = entry.getValue();
                add(kind, entry.getKey(), v.path(0).asLong(), v.path(1).asLong(), v.path(2).asLong(),
                        v.path(3).asDouble());
            });
        }
        // A file saved before usage was kept per registration has none: which registration made an
        // agent's earlier usage is unknown, so it stays in the agent's totals only.
        saved.path(REGISTRATIONS).properties().forEach(entry -> registered.put(entry.getKey(),
                new Registered(entry.getValue().path(0).asText(), Usage.of(entry.getValue(), 1))));
    }
}
