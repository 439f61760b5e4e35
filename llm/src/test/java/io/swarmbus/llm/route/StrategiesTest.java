package io.swarmbus.llm.route;

import static org.assertj.core.api.Assertions.assertThat;

import io.swarmbus.llm.BackendSpec;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class StrategiesTest {
    static final long NOW = 1_000_000_000_000L;

    static Backend backend(int index, int weight, int rpm, double inputCost) {
        return new Backend(new BackendSpec("b" + index, URI.create("http://127.0.0.1:" + (9000 + index)),
                Optional.empty(), List.of("m"), weight, 64, rpm, 0, inputCost, 0), index);
    }

    static List<Backend> four() {
        List<Backend> backends = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            backends.add(backend(i, 1, 0, 0));
        }
        return backends;
    }

    static LlmCall call(String prompt) {
        return new LlmCall("m", "agent", 1, io.swarmbus.llm.PromptText.words(prompt), Long.MAX_VALUE);
    }

    static Map<Backend, Integer> counts(RoutingStrategy strategy, List<Backend> backends, int n) {
        Map<Backend, Integer> counts = new HashMap<>();
        for (int i = 0; i < n; i++) {
            counts.merge(strategy.choose(backends, call("hello"), NOW), 1, Integer::sum);
        }
        return counts;
    }

    @Test
    void roundRobin_takesEachBackendInTurn() {
        List<Backend> backends = four();
        RoutingStrategy strategy = Strategies.named("round_robin");
        for (int i = 0; i < 12; i++) {
            assertThat(strategy.choose(backends, call("x"), NOW)).isSameAs(backends.get(i % 4));
        }
    }

    @Test
    void weighted_sharesTrafficByWeight() {
        List<Backend> backends = List.of(backend(0, 3, 0, 0), backend(1, 1, 0, 0));
        Map<Backend, Integer> counts = counts(Strategies.named("weighted"), backends, 20_000);
        assertThat(counts.get(backends.get(0))).isBetween(14_400, 15_600); // 75% ± 3 points
    }

    @Test
    void leastOutstanding_picksTheLeastBusy_andSpreadsTies() {
        List<Backend> backends = four();
        backends.get(0).started(NOW);
        backends.get(1).started(NOW);
        backends.get(3).started(NOW);
        RoutingStrategy strategy = Strategies.named("least_outstanding");
        assertThat(strategy.choose(backends, call("x"), NOW)).isSameAs(backends.get(2));

        Map<Backend, Integer> ties = counts(strategy, four(), 4_000);
        assertThat(ties.values()).allSatisfy(n -> assertThat(n).isBetween(850, 1_150));
    }

    @Test
    void peakEwma_avoidsABackendAtOnceAfterOneSlowAnswer() {
        List<Backend> backends = four();
        for (Backend b : backends) {
            b.answered(NOW, 10_000_000L); // 10 ms each
        }
        backends.get(2).answered(NOW + 1, 900_000_000L); // one slow answer: the peak counts at once
        Map<Backend, Integer> counts = counts(Strategies.named("peak_ewma"), backends, 3_000);
        assertThat(counts.getOrDefault(backends.get(2), 0)).isZero();
        // and it decays: a second of fast answers later it is back in the running
        backends.get(2).answered(NOW + 3_000_000_000L, 10_000_000L);
        assertThat(backends.get(2).ewmaNanos(NOW + 3_000_000_000L)).isLessThan(100_000_000L);
    }

    @Test
    void powerOfTwo_neverPicksTheBusiestOfTheTwo() {
        List<Backend> backends = four();
        for (int i = 0; i < 10; i++) {
            backends.get(1).started(NOW);
        }
        Map<Backend, Integer> counts = counts(Strategies.named("power_of_two"), backends, 3_000);
        assertThat(counts.getOrDefault(backends.get(1), 0)).isZero();
        assertThat(counts.keySet()).hasSize(3);
    }

    @Test
    void prefixAffinity_sendsASharedPrefixWhereItWent_unlessThatBackendIsOverloaded() {
        List<Backend> backends = four();
        RoutingStrategy strategy = Strategies.named("prefix_affinity");
        String system = "you are a careful planner ".repeat(20); // 100 words: six full blocks
        LlmCall first = call(system + "turn one");
        Backend home = strategy.choose(backends, first, NOW);
        strategy.routed(home, first);
        for (int turn = 2; turn < 20; turn++) {
            LlmCall next = call(system + "turn one and then turn " + turn);
            Backend chosen = strategy.choose(backends, next, NOW);
            assertThat(chosen).isSameAs(home);
            strategy.routed(chosen, next);
        }
        // An unrelated prompt goes by load.
        home.started(NOW);
        assertThat(strategy.choose(backends, call("something else entirely ".repeat(10)), NOW)).isNotSameAs(home);
        // Overloaded relative to the others (more than 1.5 × least + 4): the prefix spills over.
        for (int i = 0; i < 5; i++) {
            home.started(NOW);
        }
        assertThat(strategy.choose(backends, call(system + "turn one again"), NOW)).isNotSameAs(home);
    }

    @Test
    void peakEwma_countsABackendNotYetAnswered_asAverage_notAsInstant() {
        List<Backend> backends = four();
        for (int i = 0; i < 3; i++) {
            backends.get(i).answered(NOW, 10_000_000L);
        }
        for (int i = 0; i < 3; i++) {
            backends.get(3).started(NOW); // busy with its first calls, none answered yet
        }
        Map<Backend, Integer> counts = counts(Strategies.named("peak_ewma"), backends, 100);
        assertThat(counts).doesNotContainKey(backends.get(3));
        List<Backend> fresh = four(); // nothing answered anywhere: load decides
        fresh.get(0).started(NOW);
        assertThat(counts(Strategies.named("peak_ewma"), fresh, 100)).doesNotContainKey(fresh.get(0));
    }

    @Test
    void prefixAffinity_sharesAPrefixEveryBackendHolds_byLoad() {
        List<Backend> backends = four();
        RoutingStrategy strategy = Strategies.named("prefix_affinity");
        String system = "you are one of many agents in a swarm ".repeat(10);
        for (Backend b : backends) {
            strategy.routed(b, call(system + "warm " + b.index()));
        }
        backends.get(0).started(NOW);
        backends.get(1).started(NOW);
        backends.get(3).started(NOW);
        for (int i = 0; i < 20; i++) {
            assertThat(strategy.choose(backends, call(system + "a new conversation " + i), NOW))
                    .isSameAs(backends.get(2));
        }
    }

    @Test
    void usageBased_picksTheMostHeadroomUnderRpm() {
        List<Backend> backends = List.of(backend(0, 1, 100, 0), backend(1, 1, 1_000, 0));
        for (int i = 0; i < 50; i++) {
            backends.get(0).started(NOW); // 50% of its rpm
        }
        for (int i = 0; i < 100; i++) {
            backends.get(1).started(NOW); // 10% of its rpm, though more requests
        }
        assertThat(Strategies.named("usage_based").choose(backends, call("x"), NOW)).isSameAs(backends.get(1));
    }

    @Test
    void costBased_picksTheCheapest() {
        List<Backend> backends = List.of(backend(0, 1, 0, 5.0), backend(1, 1, 0, 0.5), backend(2, 1, 0, 2.0));
        Map<Backend, Integer> counts = counts(Strategies.named("cost_based"), backends, 100);
        assertThat(counts).containsOnlyKeys(backends.get(1));
    }

    @Test
    void onlyPrefixAffinityAndCostBased_readThePrompt() {
        for (String name : Strategies.NAMES) {
            assertThat(Strategies.named(name).readsPrompt()).as(name)
                    .isEqualTo(name.equals("prefix_affinity") || name.equals("cost_based"));
        }
    }

    @Test
    void unknownStrategy_namesTheValidOnes() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Strategies.named("fastest"))
                .hasMessageContaining("prefix_affinity").hasMessageContaining("fastest");
    }
}
