package io.swarmbus.llm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.llm.route.WindowCounter;
import java.time.Clock;
import java.time.Duration;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Rate limits (requests and tokens per minute) and daily budgets (tokens and cost) per key and per
 * agent. One instance serves every request of the server, over HTTP and over the bus alike, so a
 * limit holds however the calls arrive. Daily usage is saved with the gateway's state, so a restart
 * does not hand out a fresh budget. An agent's use is counted per registration of its id: one
 * deleted and registered again, maybe by another user, is a new agent and starts with nothing used.
 */
public final class Quotas {
    /**
     * The configured quotas.
     *
     * @param perKey the quota of every key not named in {@code keys}
     * @param perAgent the quota of every agent not named in {@code agents}
     * @param keys quotas of particular keys (principals)
     * @param agents quotas of particular agents
     */
    public record Settings(Quota perKey, Quota perAgent, Map<String, Quota> keys, Map<String, Quota> agents) {
        public static final Settings NONE = new Settings(Quota.NONE, Quota.NONE, Map.of(), Map.of());

        public Settings {
            keys = Map.copyOf(keys);
            agents = Map.copyOf(agents);
        }

        /** From {@code {"key": {quota}, "agent": {quota}, "keys": {name: {quota}}, "agents": {name: {quota}}}}. */
        public static Settings parse(JsonNode node) {
            if (!node.isObject()) {
                throw new IllegalArgumentException("limits must be a map with key, agent, keys, agents");
            }
            node.fieldNames().forEachRemaining(name -> {
                if (!Set.of("key", "agent", "keys", "agents").contains(name)) {
                    throw new IllegalArgumentException("unknown limits field '" + name + "'; known: key, agent, keys, agents");
                }
            });
            return new Settings(node.has("key") ? Quota.parse(node.get("key")) : Quota.NONE,
                    node.has("agent") ? Quota.parse(node.get("agent")) : Quota.NONE, named(node.path("keys")),
                    named(node.path("agents")));
        }

        private static Map<String, Quota> named(JsonNode node) {
            Map<String, Quota> quotas = new HashMap<>();
            node.properties().forEach(e -> quotas.put(e.getKey(), Quota.parse(e.getValue())));
            return quotas;
        }

        /** Whether nothing is limited: then no call is metered at all. */
        boolean unlimited() {
            return perKey.equals(Quota.NONE) && perAgent.equals(Quota.NONE) && keys.isEmpty() && agents.isEmpty();
        }

        Quota of(String kind, String name) {
            return kind.equals("key") ? keys.getOrDefault(name, perKey) : agents.getOrDefault(name, perAgent);
        }
    }

    /** What one key or agent used: the last minute, and today. */
    private static final class Meter {
        /** The agent's registration this is the use of; null for a key, and in a meter saved before agents had one. */
        String registration;
        final WindowCounter requests = new WindowCounter();
        final WindowCounter tokens = new WindowCounter();
        long day;
        long dayTokens;
        double dayCost;

        void rollTo(long today) {
            if (day != today) {
                day = today;
                dayTokens = 0;
                dayCost = 0;
            }
        }
    }

    private final Settings settings;
    private final Clock clock;
    private final Map<String, Meter> meters = new HashMap<>(); // "key:alice", "agent:planner"

    public Quotas(Settings settings, Clock clock) {
        this.settings = settings;
        this.clock = clock;
    }

    public Settings settings() {
        return settings;
    }

    /**
     * Counts one request against the key and the agent, or refuses it (429) without counting when
     * either is over a limit. Tokens are counted when the answer says how many were used, so
     * requests already in flight can carry a key a little past its tokens per minute.
     */
    public synchronized void admit(String agent, String registration, String key, long nanos)
            throws LlmGateway.Refused {
        if (settings.unlimited()) {
            return;
        }
        long today = today();
        Meter keyMeter = meter("key", key, null, today);
        Meter agentMeter = meter("agent", agent, registration, today);
        check("key", key, keyMeter, nanos, today);
        check("agent", agent, agentMeter, nanos, today);
        for (Meter m : new Meter[] {keyMeter, agentMeter}) {
            m.requests.add(nanos, 1);
        }
    }

    /** Counts the tokens and cost an answered request used. */
    public synchronized void used(String agent, String registration, String key, int prompt, int completion,
            double cost, long nanos) {
        if (settings.unlimited()) {
            return;
        }
        long today = today();
        for (Meter m : new Meter[] {meter("key", key, null, today), meter("agent", agent, registration, today)}) {
            m.tokens.add(nanos, (long) prompt + completion);
            m.dayTokens += prompt + completion;
            m.dayCost += cost;
        }
    }

    private void check(String kind, String name, Meter meter, long nanos, long today) throws LlmGateway.Refused {
        Quota quota = settings.of(kind, name);
        String who = kind + " '" + name + "'";
        if (quota.dailyTokens() > 0 && meter.dayTokens >= quota.dailyTokens()) {
            throw overBudget(who + " has used its daily budget of " + quota.dailyTokens() + " tokens");
        }
        if (quota.dailyCost() > 0 && meter.dayCost >= quota.dailyCost()) {
            throw overBudget(who + " has used its daily budget of " + quota.dailyCost() + " (cost)");
        }
        if (quota.rpm() > 0 && meter.requests.sum(nanos) >= quota.rpm()) {
            throw new LlmGateway.Refused(429, "rate_limit_error", "rate_limit_exceeded", who + " is over its limit of "
                    + quota.rpm() + " requests per minute", meter.requests.secondsUntilBelow(nanos, quota.rpm()));
        }
        if (quota.tpm() > 0 && meter.tokens.sum(nanos) >= quota.tpm()) {
            throw new LlmGateway.Refused(429, "rate_limit_error", "rate_limit_exceeded", who + " is over its limit of "
                    + quota.tpm() + " tokens per minute", meter.tokens.secondsUntilBelow(nanos, quota.tpm()));
        }
    }

    private LlmGateway.Refused overBudget(String message) {
        long untilMidnight = Duration.between(clock.instant(),
                LocalDate.ofEpochDay(today() + 1).atStartOfDay().toInstant(ZoneOffset.UTC)).toSeconds();
        return new LlmGateway.Refused(429, "insufficient_quota", "insufficient_quota", message
                + "; it renews at 00:00 UTC", Math.max(1, untilMidnight));
    }

    private Meter meter(String kind, String name, String registration, long today) {
        Meter meter = meters.get(kind + ":" + name);
        if (meter == null || meter.registration != null && !meter.registration.equals(registration)) {
            meter = new Meter();
            meters.put(kind + ":" + name, meter);
        }
        meter.registration = registration; // one saved before meters named theirs goes on, as it did before
        meter.rollTo(today);
        return meter;
    }

    private long today() {
        return LocalDate.ofInstant(clock.instant(), ZoneOffset.UTC).toEpochDay();
    }

    /**
     * Today's tokens and cost of {@code kind} ("key" or "agent") {@code name} and its limits, for
     * the usage view; empty when nothing is limited (nothing is metered then).
     *
     * @param registration for an agent, the registration whose use to count (others' counts as
     *     none); null for a key, or for whichever registration of the agent was metered last
     */
    public synchronized Map<String, Object> today(String kind, String name, String registration) {
        if (settings.unlimited()) {
            return Map.of();
        }
        Meter meter = meters.get(kind + ":" + name);
        boolean current = meter != null && meter.day == today()
                && (registration == null || registration.equals(meter.registration));
        Quota quota = settings.of(kind, name);
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("tokens_today", current ? meter.dayTokens : 0L);
        view.put("cost_today", current ? meter.dayCost : 0.0);
        view.put("daily_tokens_limit", quota.dailyTokens());
        view.put("daily_cost_limit", quota.dailyCost());
        view.put("rpm_limit", quota.rpm());
        view.put("tpm_limit", quota.tpm());
        return view;
    }

    /** Today's usage of every key and agent, to save. */
    public synchronized ObjectNode toJson() {
        ObjectNode root = OpenAiWire.JSON.createObjectNode();
        long today = today();
        root.put("day", today);
        ObjectNode used = root.putObject("used");
        meters.forEach((name, meter) -> {
            if (meter.day == today && (meter.dayTokens > 0 || meter.dayCost > 0)) {
                ObjectNode use = used.putObject(name).put("tokens", meter.dayTokens).put("cost", meter.dayCost);
                if (meter.registration != null) {
                    use.put("registration", meter.registration);
                }
            }
        });
        return root;
    }

    /** Restores what {@link #toJson} saved, when it was saved today. */
    public synchronized void restore(JsonNode saved) {
        long today = today();
        if (saved.path("day").asLong(-1) != today) {
            return;
        }
        saved.path("used").properties().forEach(e -> {
            Meter meter = meters.computeIfAbsent(e.getKey(), n -> new Meter());
            meter.day = today;
            meter.dayTokens = e.getValue().path("tokens").asLong(0);
            meter.dayCost = e.getValue().path("cost").asDouble(0);
            meter.registration = e.getValue().path("registration").textValue();
        });
    }
}
