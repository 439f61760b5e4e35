package io.swarmbus.swarm;

import io.swarmbus.SwarmbusException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Consensus over members' answers. Answers are compared after normalizing case, surrounding and
 * repeated white space and a final full stop, so "Paris." and "paris" are one answer; the winning
 * answer is reported as its first voter wrote it. Ties go to the answer given first.
 *
 * @param algorithm how the votes were counted
 * @param reached whether the algorithm's condition for agreement holds
 * @param answer the leading answer, if anyone answered
 * @param confidence the leading answer's share: of the votes cast (majority), of the weight cast
 *     (weighted), or of all members, answering or not (quorum, unanimous); 0 to 1
 * @param tally votes (or weight) per distinct answer, most first
 * @param votes the votes counted
 * @param members how many members were asked, answering or not
 */
public record Consensus(ConsensusAlgorithm algorithm, boolean reached, Optional<String> answer, double confidence,
        Map<String, Double> tally, List<Vote> votes, int members) {

    /** One member's answer and the weight its vote carries. */
    public record Vote(String member, String answer, double weight) {
        public Vote {
            if (!(weight >= 0) || Double.isInfinite(weight)) {
                throw SwarmbusException.invalid("weights", "a vote's weight must be finite and at least 0, was " + weight);
            }
        }
    }

    /** The default quorum: two thirds of the members. */
    public static final double DEFAULT_QUORUM = 2.0 / 3.0;

    /**
     * Decides over {@code votes} from {@code members} members asked (members that failed or timed
     * out did not vote). {@code quorum} is the share of members that must agree under
     * {@link ConsensusAlgorithm#QUORUM}, above 0 and at most 1.
     */
    public static Consensus decide(ConsensusAlgorithm algorithm, List<Vote> votes, int members, double quorum) {
        if (!(quorum > 0 && quorum <= 1)) {
            throw SwarmbusException.invalid("quorum", "quorum must be above 0 and at most 1, was " + quorum);
        }
        if (members < votes.size()) {
            throw new IllegalArgumentException(votes.size() + " votes from " + members + " members");
        }
        boolean weighted = algorithm == ConsensusAlgorithm.WEIGHTED;
        Map<String, Double> byKey = new LinkedHashMap<>();
        Map<String, String> firstWording = new LinkedHashMap<>();
        double cast = 0;
        for (Vote vote : votes) {
            String key = normalize(vote.answer());
            double weight = weighted ? vote.weight() : 1;
            byKey.merge(key, weight, Double::sum);
            firstWording.putIfAbsent(key, vote.answer().strip());
            cast += weight;
        }
        String leader = null;
        for (Map.Entry<String, Double> entry : byKey.entrySet()) { // in order of first vote: ties go to the first
            if (leader == null || entry.getValue() > byKey.get(leader)) {
                leader = entry.getKey();
            }
        }
        double top = leader == null ? 0 : byKey.get(leader);
        boolean tied = leader != null && byKey.values().stream().filter(v -> v == top).count() > 1;
        boolean reached = leader != null && switch (algorithm) {
            case MAJORITY_VOTE, WEIGHTED -> top > cast / 2 && !tied;
            case QUORUM -> top >= Math.ceil(quorum * members - 1e-9) && !tied;
            case UNANIMOUS -> votes.size() == members && byKey.size() == 1;
        };
        double base = switch (algorithm) {
            case MAJORITY_VOTE, WEIGHTED -> cast;
            case QUORUM, UNANIMOUS -> members;
        };
        Map<String, Double> tally = new LinkedHashMap<>();
        byKey.entrySet().stream().sorted((a, b) -> Double.compare(b.getValue(), a.getValue()))
                .forEach(e -> tally.put(firstWording.get(e.getKey()), e.getValue()));
        return new Consensus(algorithm, reached, Optional.ofNullable(leader).map(firstWording::get),
                base == 0 ? 0 : top / base, tally, List.copyOf(votes), members);
    }

    /** The form answers are compared in. */
    static String normalize(String answer) {
        String text = answer.strip().replaceAll("\\s+", " ").toLowerCase(Locale.ROOT);
        return text.endsWith(".") ? text.substring(0, text.length() - 1).stripTrailing() : text;
    }
}
