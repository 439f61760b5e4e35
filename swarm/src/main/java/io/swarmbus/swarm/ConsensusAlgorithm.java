package io.swarmbus.swarm;

import io.swarmbus.SwarmbusException;
import java.util.Arrays;
import java.util.List;

/** How members' answers become one (seed 003's {@code consensus_algorithm}). */
public enum ConsensusAlgorithm {
    /** The answer most members gave; reached when more than half gave it. */
    MAJORITY_VOTE("majority-vote"),
    /** As majority, counting each member by its weight; reached past half the total weight. */
    WEIGHTED("weighted"),
    /** Reached when at least the quorum share of all members (answering or not) gave one answer. */
    QUORUM("quorum"),
    /** Reached only when every member answered, all alike. */
    UNANIMOUS("unanimous");

    private final String wireName;

    ConsensusAlgorithm(String wireName) {
        this.wireName = wireName;
    }

    public String wireName() {
        return wireName;
    }

    public static List<String> wireNames() {
        return Arrays.stream(values()).map(ConsensusAlgorithm::wireName).toList();
    }

    /** By its wire name ({@code majority-vote}) or constant name; 400 listing the valid ones otherwise. */
    public static ConsensusAlgorithm parse(String name) {
        for (ConsensusAlgorithm algorithm : values()) {
            if (algorithm.wireName.equalsIgnoreCase(name) || algorithm.name().equalsIgnoreCase(name)) {
                return algorithm;
            }
        }
        throw SwarmbusException.invalid("consensus_algorithm",
                "unknown consensus_algorithm '" + name + "'; valid: " + wireNames());
    }
}
