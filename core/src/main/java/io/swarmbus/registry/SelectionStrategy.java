package io.swarmbus.registry;

import io.swarmbus.SwarmbusException;
import java.util.Locale;

/** How the registry picks one agent among those able and free to take a task. */
public enum SelectionStrategy {
    /** The lowest share of its task slots in use; ties go to the lowest id. The default. */
    LEAST_LOADED,
    /** Each capable agent in turn, per set of required capabilities. */
    ROUND_ROBIN,
    /** At random: the first capable agent in id order from a randomly chosen one. */
    RANDOM,
    /**
     * At random, weighted by measured success rate and speed: weight = smoothed success rate
     * ÷ (1 + mean task seconds), times the share of free slots; among up to 64 capable agents
     * taken from a random start, so that it stays fast with many agents.
     */
    WEIGHTED;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses {@code least_loaded}, {@code round_robin}, {@code random} or {@code weighted} (dashes work too). */
    public static SelectionStrategy parse(String text) {
        try {
            return valueOf(text.trim().toUpperCase(Locale.ROOT).replace('-', '_'));
        } catch (IllegalArgumentException e) {
            throw SwarmbusException.invalid("strategy",
                    "strategy must be least_loaded, round_robin, random or weighted, was '" + text + "'");
        }
    }
}
