package io.swarmbus.swarm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.swarmbus.SwarmbusException;
import io.swarmbus.swarm.Consensus.Vote;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConsensusTest {
    private static List<Vote> votes(String... answers) {
        return java.util.stream.IntStream.range(0, answers.length)
                .mapToObj(i -> new Vote("m" + i, answers[i], 1)).toList();
    }

    @Test
    void majorityVote_countsAnswersAlikeAfterNormalizing_andReportsTheShare() {
        Consensus c = Consensus.decide(ConsensusAlgorithm.MAJORITY_VOTE, votes("Paris.", " paris", "Lyon", "PARIS"), 5,
                Consensus.DEFAULT_QUORUM);
        assertThat(c.reached()).isTrue();
        assertThat(c.answer()).contains("Paris.");
        assertThat(c.confidence()).isCloseTo(0.75, within(1e-9));
        assertThat(c.tally()).containsExactly(java.util.Map.entry("Paris.", 3.0), java.util.Map.entry("Lyon", 1.0));
    }

    @Test
    void majorityVote_notReached_onATieOrWithoutMoreThanHalf() {
        Consensus tie = Consensus.decide(ConsensusAlgorithm.MAJORITY_VOTE, votes("a", "b"), 2, 0.5);
        assertThat(tie.reached()).isFalse();
        assertThat(tie.answer()).contains("a"); // the first given leads a tie
        Consensus plurality = Consensus.decide(ConsensusAlgorithm.MAJORITY_VOTE, votes("a", "a", "b", "c", "d"), 5, 0.5);
        assertThat(plurality.reached()).isFalse();
        assertThat(plurality.confidence()).isCloseTo(0.4, within(1e-9));
    }

    @Test
    void weighted_lets_aHeavyMinorityWin() {
        List<Vote> votes = List.of(new Vote("expert", "42", 5), new Vote("a", "41", 1), new Vote("b", "41", 1));
        Consensus c = Consensus.decide(ConsensusAlgorithm.WEIGHTED, votes, 3, 0.5);
        assertThat(c.reached()).isTrue();
        assertThat(c.answer()).contains("42");
        assertThat(c.confidence()).isCloseTo(5.0 / 7, within(1e-9));
        assertThat(Consensus.decide(ConsensusAlgorithm.MAJORITY_VOTE, votes, 3, 0.5).answer()).contains("41");
    }

    @Test
    void quorum_countsMembersThatDidNotAnswer() {
        // 4 of 6 agree: two thirds of the members, reached; 4 of 7 (one more silent member) is not
        List<Vote> votes = votes("x", "x", "x", "x", "y");
        assertThat(Consensus.decide(ConsensusAlgorithm.QUORUM, votes, 6, Consensus.DEFAULT_QUORUM).reached()).isTrue();
        Consensus short7 = Consensus.decide(ConsensusAlgorithm.QUORUM, votes, 7, Consensus.DEFAULT_QUORUM);
        assertThat(short7.reached()).isFalse();
        assertThat(short7.confidence()).isCloseTo(4.0 / 7, within(1e-9));
    }

    @Test
    void unanimous_needsEveryMember_allAlike() {
        assertThat(Consensus.decide(ConsensusAlgorithm.UNANIMOUS, votes("ok", "OK", "ok."), 3, 1).reached()).isTrue();
        assertThat(Consensus.decide(ConsensusAlgorithm.UNANIMOUS, votes("ok", "ok"), 3, 1).reached()).isFalse();
        assertThat(Consensus.decide(ConsensusAlgorithm.UNANIMOUS, votes("ok", "no", "ok"), 3, 1).reached()).isFalse();
    }

    @Test
    void noVotes_reachNothing() {
        Consensus c = Consensus.decide(ConsensusAlgorithm.MAJORITY_VOTE, List.of(), 3, 0.5);
        assertThat(c.reached()).isFalse();
        assertThat(c.answer()).isEmpty();
        assertThat(c.confidence()).isZero();
    }

    @Test
    void badInput_isRefusedWithTheValidChoices() {
        assertThatThrownBy(() -> ConsensusAlgorithm.parse("plurality")).isInstanceOf(SwarmbusException.class)
                .hasMessageContaining("[majority-vote, weighted, quorum, unanimous]");
        assertThat(ConsensusAlgorithm.parse("MAJORITY_VOTE")).isEqualTo(ConsensusAlgorithm.MAJORITY_VOTE);
        assertThatThrownBy(() -> new Vote("m", "a", -1)).isInstanceOf(SwarmbusException.class);
        assertThatThrownBy(() -> Consensus.decide(ConsensusAlgorithm.QUORUM, List.of(), 1, 0))
                .hasMessageContaining("quorum");
    }
}
