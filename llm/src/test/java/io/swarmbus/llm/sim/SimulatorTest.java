package io.swarmbus.llm.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.swarmbus.llm.PromptText;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SimulatorTest {
    static List<String> words(int n, String prefix) {
        List<String> words = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            words.add(prefix + i);
        }
        return words;
    }

    static SimSettings settings(String... options) {
        Map<String, String> map = new java.util.HashMap<>();
        for (int i = 0; i < options.length; i += 2) {
            map.put(options[i], options[i + 1]);
        }
        return SimSettings.defaults().with(map);
    }

    @Test
    void timeToFirstToken_isOverheadPlusUncachedPromptOverPrefillRate() {
        Simulator sim = new Simulator(settings("overhead-ms", "10", "prefill-rate", "1000", "block-size", "16"));
        List<String> prompt = words(160, "w");

        Simulator.Plan first = sim.plan("sim-model", prompt, 0);
        assertThat(first.cachedTokens()).isZero();
        assertThat(first.ttftNanos()).isEqualTo(170_000_000L); // 10 ms + 160 / 1000 s

        Simulator.Plan again = sim.plan("sim-model", prompt, 0);
        assertThat(again.cachedTokens()).isEqualTo(160);
        assertThat(again.ttftNanos()).isEqualTo(10_000_000L);

        // A longer conversation with the same start: the shared 10 blocks are cached, the rest is not.
        List<String> longer = new ArrayList<>(prompt);
        longer.addAll(words(40, "x"));
        Simulator.Plan grown = sim.plan("sim-model", longer, 0);
        assertThat(grown.cachedTokens()).isEqualTo(160);
        assertThat(grown.ttftNanos()).isEqualTo(50_000_000L); // 10 ms + 40 / 1000 s
    }

    @Test
    void prefixCache_sharesOnlyWholeLeadingBlocks_andEvictsTheLeastRecentlyUsed() {
        Simulator sim = new Simulator(settings("cache-blocks", "4", "block-size", "2"));
        sim.plan("sim-model", List.of("a", "b", "c", "d"), 0); // 2 blocks
        // Same second block, different first block: nothing is shared (hashes are chained).
        assertThat(sim.plan("sim-model", List.of("z", "b", "c", "d"), 0).cachedTokens()).isZero();
        assertThat(sim.plan("sim-model", List.of("a", "b", "x", "y"), 0).cachedTokens()).isEqualTo(2);
        // Capacity 4 blocks: [ab], [zb], [zb cd] and [ab xy] pushed [ab cd] out.
        assertThat(sim.plan("sim-model", List.of("a", "b", "c", "d", "e"), 0).cachedTokens()).isEqualTo(2);
        assertThat(sim.stats().cachedBlocks()).isEqualTo(4);
    }

    @Test
    void decoding_slowsAsMoreSequencesRun() throws Exception {
        Simulator sim = new Simulator(settings("decode-rate", "100", "decode-slowdown", "0.5", "max-concurrency", "8"));
        Simulator.Plan plan = sim.plan("sim-model", words(4, "w"), 0);
        Simulator.Slot one = sim.admit();
        assertThat(sim.tokenIntervalNanos(plan)).isEqualTo(10_000_000L);
        Simulator.Slot two = sim.admit();
        Simulator.Slot three = sim.admit();
        assertThat(sim.tokenIntervalNanos(plan)).isEqualTo(20_000_000L); // 1 + 0.5 × 2
        assertThat(sim.stats().running()).isEqualTo(3);
        one.close();
        two.close();
        three.close();
        three.close(); // closing twice frees one slot only
        assertThat(sim.stats().running()).isZero();
    }

    @Test
    void aFullQueue_refusesInsteadOfWaiting() throws Exception {
        Simulator sim = new Simulator(settings("max-concurrency", "1", "max-queue", "1"));
        Simulator.Slot running = sim.admit();
        Thread waiter = Thread.ofVirtual().start(() -> {
            try {
                sim.admit().close(); // gets the slot once the first is closed
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        while (sim.stats().waiting() < 1) {
            Thread.sleep(1);
        }
        assertThatThrownBy(sim::admit).isInstanceOf(Simulator.QueueFull.class);
        running.close();
        waiter.join();
        assertThat(sim.stats().rejected()).isEqualTo(1);
    }

    @Test
    void content_dependsOnlyOnModelAndPrompt_andMaxTokensTruncates() {
        Simulator one = new Simulator(SimSettings.defaults());
        Simulator other = new Simulator(SimSettings.defaults());
        List<String> prompt = words(20, "p");
        assertThat(one.plan("sim-model", prompt, 0).output()).isEqualTo(other.plan("sim-model", prompt, 0).output())
                .hasSize(32);
        assertThat(one.plan("sim-model", words(20, "q"), 0).output()).isNotEqualTo(one.plan("sim-model", prompt, 0).output());
        Simulator.Plan cut = one.plan("sim-model", prompt, 5);
        assertThat(cut.output()).hasSize(5);
        assertThat(cut.truncated()).isTrue();
        assertThat(one.embedding("hello")).isEqualTo(other.embedding("hello"));
    }

    @Test
    void failuresAndSlowness_areInjectedAtTheirRates() {
        Simulator sim = new Simulator(settings("failure-rate", "0.2", "slow-rate", "0.5", "slow-factor", "4",
                "overhead-ms", "10", "prefill-rate", "0"));
        int failed = 0;
        int slowed = 0;
        for (int i = 0; i < 2_000; i++) {
            Simulator.Plan plan = sim.plan("sim-model", words(3, "w" + i), 0);
            failed += plan.fail() ? 1 : 0;
            slowed += !plan.fail() && plan.ttftNanos() == 40_000_000L ? 1 : 0;
        }
        assertThat(failed).isBetween(320, 480);
        assertThat(slowed).isBetween(640, 960); // half of the 80% that did not fail
        assertThat(sim.stats().failures()).isEqualTo(failed);
    }

    @Test
    void badSettings_areRefusedWithTheOptionNamed() {
        assertThatThrownBy(() -> settings("decode-rate", "fast")).hasMessageContaining("--decode-rate");
        assertThatThrownBy(() -> settings("failure-rate", "2")).hasMessageContaining("--failure-rate");
        assertThatThrownBy(() -> settings("overhead-ms", "-1")).hasMessageContaining("--overhead-ms");
        assertThatThrownBy(() -> settings("warp", "9")).hasMessageContaining("--warp");
        assertThatThrownBy(() -> settings("model", " , ")).hasMessageContaining("model");
    }

    @Test
    void promptWords_readChatMessagesCompletionPromptsAndContentParts() throws Exception {
        var json = io.swarmbus.llm.OpenAiWire.JSON;
        assertThat(PromptText.words(json.readTree("{\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                + "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi  there\"}]}]}")))
                .containsExactly("system:", "be", "brief", "user:", "hi", "there");
        assertThat(PromptText.words(json.readTree("{\"prompt\":\"one two\"}"))).containsExactly("one", "two");
        assertThat(PromptText.words(json.readTree("{\"prompt\":[\"one\",\"two three\"]}")))
                .containsExactly("one", "two", "three");
    }
}
