package io.swarmbus.llm;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Set;

/**
 * What one key (principal) or agent may use of the LLM gateway; 0 means no limit.
 *
 * @param rpm requests in any minute
 * @param tpm tokens (prompt and completion) in any minute
 * @param dailyTokens tokens in a UTC day
 * @param dailyCost cost in a UTC day, in the unit of the backends' prices
 */
public record Quota(long rpm, long tpm, long dailyTokens, double dailyCost) {
    public static final Quota NONE = new Quota(0, 0, 0, 0);
    private static final Set<String> FIELDS = Set.of("rpm", "tpm", "daily_tokens", "daily_cost");

    public Quota {
        if (rpm < 0 || tpm < 0 || dailyTokens < 0 || !(dailyCost >= 0) || Double.isInfinite(dailyCost)) {
            throw new IllegalArgumentException("rpm, tpm, daily_tokens and daily_cost must be 0 (no limit) or more");
        }
    }

    /** From {@code {"rpm": 60, "tpm": 100000, "daily_tokens": 0, "daily_cost": 5.0}}; absent fields are 0. */
    public static Quota parse(JsonNode node) {
        if (!node.isObject()) {
            throw new IllegalArgumentException("a quota must be a map of rpm, tpm, daily_tokens, daily_cost");
        }
        node.fieldNames().forEachRemaining(name -> {
            if (!FIELDS.contains(name)) {
                throw new IllegalArgumentException("unknown quota field '" + name + "'; known: " + FIELDS);
            }
            if (!node.get(name).isNumber()) {
                throw new IllegalArgumentException("quota field '" + name + "' must be a number");
            }
        });
        return new Quota(node.path("rpm").asLong(0), node.path("tpm").asLong(0), node.path("daily_tokens").asLong(0),
                node.path("daily_cost").asDouble(0));
    }
}
