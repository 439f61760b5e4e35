package io.swarmbus.llm.route;

import io.swarmbus.llm.PromptText;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/** The routing strategies by name; each promises one property, tested in {@code StrategiesTest}. */
public final class Strategies {
    public static final Set<String> NAMES = Set.of("round_robin", "weighted", "least_outstanding", "peak_ewma",
            "power_of_two", "prefix_affinity", "usage_based", "cost_based");

    private Strategies() {}

    /** Throws naming the valid strategies if {@code name} is not one. */
    public static void check(String name) {
        if (!NAMES.contains(name)) {
            throw new IllegalArgumentException("unknown strategy '" + name + "'; use one of "
                    + NAMES.stream().sorted().toList());
        }
    }

    public static RoutingStrategy named(String name) {
        check(name);
        return switch (name) {
            case "round_robin" -> new RoundRobin();
            case "weighted" -> Strategies::weighted;
            case "least_outstanding" -> Strategies::leastOutstanding;
            case "peak_ewma" -> Strategies::peakEwma;
            case "power_of_two" -> Strategies::powerOfTwo;
            case "prefix_affinity" -> new PrefixAffinity(16, 65_536);
            case "usage_based" -> Strategies::usageBased;
            default -> new CostBased();
        };
    }

    /** Each backend in turn, whatever its load. */
    static final class RoundRobin implements RoutingStrategy {
        private final AtomicLong next = new AtomicLong();

        @Override
        public Backend choose(List<Backend> candidates, LlmCall call, long now) {
            return candidates.get((int) Math.floorMod(next.getAndIncrement(), (long) candidates.size()));
        }
    }

    /** At random in proportion to the configured weights. */
    static Backend weighted(List<Backend> candidates, LlmCall call, long now) {
        int total = candidates.stream().mapToInt(b -> b.spec().weight()).sum();
        int pick = ThreadLocalRandom.current().nextInt(total);
        for (Backend b : candidates) {
            pick -= b.spec().weight();
            if (pick < 0) {
                return b;
            }
        }
        return candidates.getLast();
    }

    /** Fewest requests in flight; ties at random so equal backends share the load. */
    static Backend leastOutstanding(List<Backend> candidates, LlmCall call, long now) {
        return lowest(candidates, b -> b.inFlight());
    }

    /**
     * Lowest (peak-EWMA latency) × (in flight + 1): a backend that turned slow is avoided at once,
     * and tried again as its estimate decays. Backends without a sample yet count as fastest, so
     * each gets measured.
     */
    static Backend peakEwma(List<Backend> candidates, LlmCall call, long now) {
        // A backend not yet answered counts as the average of those that have: scored as 0 it
        // would take every call (load times 0 is 0) until its first answer, however slow it is.
        double unmeasured = meanMeasuredEwma(candidates, now);
        return lowest(candidates, b -> {
            double ewma = b.ewmaNanos(now);
            return (ewma > 0 ? ewma : unmeasured) * (b.inFlight() + 1);
        });
    }

    /** The mean latency estimate of the backends that have answered; 1 if none has, so load alone decides. */
    private static double meanMeasuredEwma(List<Backend> candidates, long now) {
        double sum = 0;
        int measured = 0;
        for (Backend backend : candidates) {
            double ewma = backend.ewmaNanos(now);
            if (ewma > 0) {
                sum += ewma;
                measured++;
            }
        }
        return measured == 0 ? 1 : sum / measured;
    }

    /** Two at random, the one with fewer in flight: nearly least-outstanding at a fraction of the reads. */
    static Backend powerOfTwo(List<Backend> candidates, LlmCall call, long now) {
        if (candidates.size() == 1) {
            return candidates.getFirst();
        }
        ThreadLocalRandom random = ThreadLocalRandom.current();
        int first = random.nextInt(candidates.size());
        int second = random.nextInt(candidates.size() - 1);
        if (second >= first) {
            second++;
        }
        Backend a = candidates.get(first);
        Backend b = candidates.get(second);
        return b.inFlight() < a.inFlight() ? b : a;
    }

    /** Most headroom under the rpm/tpm limits, as the larger used share; unlimited backends have all. */
    static Backend usageBased(List<Backend> candidates, LlmCall call, long now) {
        return lowest(candidates, b -> Math.max(
                b.spec().rpm() == 0 ? 0 : (double) b.recentRequests(now) / b.spec().rpm(),
                b.spec().tpm() == 0 ? 0 : (double) b.recentTokens(now) / b.spec().tpm()));
    }

    /** Cheapest for this prompt (input price; output price breaks ties); load breaks the rest. */
    static final class CostBased implements RoutingStrategy {
        @Override
        public Backend choose(List<Backend> candidates, LlmCall call, long now) {
            double cheapest = Double.MAX_VALUE;
            for (Backend b : candidates) {
                cheapest = Math.min(cheapest, price(b, call));
            }
            double limit = cheapest * 1.000001;
            List<Backend> cheap = candidates.stream().filter(b -> price(b, call) <= limit).toList();
            return leastOutstanding(cheap, call, now);
        }

        @Override
        public boolean readsPrompt() {
            return true; // its length prices the input
        }
    }

    private static double price(Backend b, LlmCall call) {
        return b.spec().inputCostPerMillion() * call.words().size() + b.spec().outputCostPerMillion() * 256;
    }

    private static Backend lowest(List<Backend> candidates, java.util.function.ToDoubleFunction<Backend> score) {
        double best = Double.MAX_VALUE;
        Backend chosen = null;
        int ties = 0;
        for (Backend b : candidates) {
            double s = score.applyAsDouble(b);
            if (s < best) {
                best = s;
                chosen = b;
                ties = 1;
            } else if (s == best && ThreadLocalRandom.current().nextInt(++ties) == 0) {
                chosen = b; // reservoir sampling: each tied backend equally likely
            }
        }
        return chosen;
    }

    /**
     * Cache-aware routing. The router remembers, per backend, the prompt blocks it has sent there
     * (the same chained block hashes the backend's prefix cache keys on, in an LRU of bounded size).
     * A call goes to the backend holding the longest run of its leading blocks (the least busy of
     * those, when several hold as much), so a growing
     * conversation or a shared system prompt lands where its prefix is cached, unless that backend
     * is overloaded relative to the others (more than {@code 1.5 ×} the least-loaded one's in-flight
     * plus 4), in which case the least-loaded backend takes it and learns the prefix.
     */
    static final class PrefixAffinity implements RoutingStrategy {
        private final int blockSize;
        private final int capacity;
        private final Map<Backend, Map<Long, Boolean>> seen = new ConcurrentHashMap<>();

        PrefixAffinity(int blockSize, int capacityBlocks) {
            this.blockSize = blockSize;
            this.capacity = capacityBlocks;
        }

        @Override
        public Backend choose(List<Backend> candidates, LlmCall call, long now) {
            long[] blocks = PromptText.blockHashes(call.words(), blockSize);
            Backend leastLoaded = leastOutstanding(candidates, call, now);
            if (blocks.length == 0) {
                return leastLoaded;
            }
            List<Backend> longest = new ArrayList<>();
            int bestMatch = 0;
            for (Backend b : candidates) {
                int match = matched(b, blocks);
                if (match > bestMatch) {
                    bestMatch = match;
                    longest.clear();
                }
                if (match == bestMatch && match > 0) {
                    longest.add(b);
                }
            }
            // Backends holding the same prefix (a system prompt every one has seen) share by load:
            // favouring one would pile every new conversation onto it.
            Backend best = longest.isEmpty() ? null : leastOutstanding(longest, call, now);
            if (best == null || best.inFlight() > leastLoaded.inFlight() * 1.5 + 4) {
                return leastLoaded;
            }
            return best;
        }

        @Override
        public boolean readsPrompt() {
            return true;
        }

        @Override
        public void routed(Backend backend, LlmCall call) {
            Map<Long, Boolean> blocks = blocks(backend);
            synchronized (blocks) {
                for (long hash : PromptText.blockHashes(call.words(), blockSize)) {
                    blocks.put(hash, Boolean.TRUE);
                }
            }
        }

        private int matched(Backend b, long[] hashes) {
            Map<Long, Boolean> blocks = blocks(b);
            synchronized (blocks) {
                int n = 0;
                while (n < hashes.length && blocks.get(hashes[n]) != null) {
                    n++;
                }
                return n;
            }
        }

        private Map<Long, Boolean> blocks(Backend b) {
            return seen.computeIfAbsent(b, k -> new LinkedHashMap<>(1024, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<Long, Boolean> eldest) {
                    return size() > capacity;
                }
            });
        }
    }
}
