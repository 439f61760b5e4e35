package io.swarmbus.swarm;

import io.swarmbus.SwarmbusException;
import java.util.Arrays;
import java.util.List;

/** How a swarm works an objective; each is a workflow of tasks given to its members. */
public enum Strategy {
    /** A leader splits the objective into subtasks, workers run them in parallel, the leader consolidates. */
    HIERARCHICAL("hierarchical"),
    /** The input (its {@code items}, or the objective in chunks) is mapped in parallel, then reduced by one member. */
    MAP_REDUCE("map-reduce"),
    /** Every member solves the objective; the answer is their consensus. */
    COLLABORATIVE("collaborative"),
    /** Every member solves the objective; a judge scores the answers and the best wins. */
    COMPETITIVE("competitive"),
    /** Members answer, then answer again in rounds seeing each other's last answers; a judge decides. */
    DEBATE("debate"),
    /** Members in turn, each given the previous one's output. */
    SEQUENTIAL("sequential");

    private final String wireName;

    Strategy(String wireName) {
        this.wireName = wireName;
    }

    public String wireName() {
        return wireName;
    }

    public static List<String> wireNames() {
        return Arrays.stream(values()).map(Strategy::wireName).toList();
    }

    /** By wire name ({@code map-reduce}), constant name or with an underscore; 400 listing the valid ones otherwise. */
    public static Strategy parse(String name) {
        for (Strategy strategy : values()) {
            if (strategy.wireName.equalsIgnoreCase(name) || strategy.name().equalsIgnoreCase(name)
                    || strategy.wireName.replace('-', '_').equalsIgnoreCase(name)) {
                return strategy;
            }
        }
        throw SwarmbusException.invalid("strategy", "unknown strategy '" + name + "'; valid: " + wireNames());
    }
}
