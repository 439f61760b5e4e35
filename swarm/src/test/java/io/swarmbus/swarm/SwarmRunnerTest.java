package io.swarmbus.swarm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.swarm.SwarmRunner.Member;
import io.swarmbus.swarm.SwarmRunner.Options;
import io.swarmbus.swarm.SwarmRunner.Plan;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

/** Each strategy's mechanics, with scripted agents. */
class SwarmRunnerTest {
    /** Agents as functions of (agent, work) to output; an exception is a failed attempt; null never answers. */
    static final class ScriptedWorkers implements Workers {
        final List<Work> given = Collections.synchronizedList(new ArrayList<>());
        final List<String> takenBy = Collections.synchronizedList(new ArrayList<>());
        private final BiFunction<String, Work, JsonNode> script;
        private final Map<String, Integer> turns = new ConcurrentHashMap<>();
        private int tasks;

        ScriptedWorkers(BiFunction<String, Work, JsonNode> script) {
            this.script = script;
        }

        @Override
        public synchronized CompletableFuture<Answer> submit(Work work) {
            given.add(work);
            List<String> candidates = work.candidates().stream().sorted().toList();
            String agent = candidates.get(turns.merge(work.kind(), 1, Integer::sum) % candidates.size()); // in turn
            takenBy.add(agent);
            String taskId = "task-" + (++tasks);
            CompletableFuture<Answer> answer = new CompletableFuture<>();
            Thread.startVirtualThread(() -> {
                try {
                    JsonNode output = script.apply(agent, work);
                    if (output != null) {
                        answer.complete(new Answer(taskId, agent, output));
                    }
                } catch (RuntimeException e) {
                    answer.completeExceptionally(new Failed(taskId, agent, e.getMessage()));
                }
            });
            return answer;
        }

        List<Work> of(String kind) {
            return given.stream().filter(w -> w.kind().equals(kind)).toList();
        }
    }

    static JsonNode json(String text) {
        try {
            return SwarmRunner.JSON.readTree(text);
        } catch (Exception e) {
            throw new IllegalArgumentException(e);
        }
    }

    static JsonNode answer(Object value) {
        return SwarmRunner.JSON.createObjectNode().set("answer", SwarmRunner.JSON.valueToTree(value));
    }

    static List<Member> members(String... idsAndRoles) {
        List<Member> members = new ArrayList<>();
        for (String idAndRole : idsAndRoles) {
            String[] parts = idAndRole.split(":");
            members.add(new Member(parts[0], parts.length > 1 ? parts[1] : "worker", 1));
        }
        return members;
    }

    static Execution run(ScriptedWorkers workers, Strategy strategy, String objective, JsonNode input,
            List<Member> members, Options options) {
        return new SwarmRunner(workers, Clock.systemUTC(), Duration.ofMillis(200))
                .run(new Plan(strategy, objective, input, members, options));
    }

    static Execution run(ScriptedWorkers workers, Strategy strategy, List<Member> members) {
        return run(workers, strategy, "the objective", null, members, Options.defaults());
    }

    @Test
    void hierarchical_theLeaderDecomposes_workersSolve_theLeaderConsolidates_keepingWhatFailed() {
        ScriptedWorkers workers = new ScriptedWorkers((agent, work) -> switch (work.kind()) {
            case "decompose" -> json("{\"subtasks\":[\"design\",\"build\",\"fail here\"]}");
            case "solve" -> {
                String subtask = work.input().get("subtask").asText();
                if (subtask.startsWith("fail")) {
                    throw new IllegalStateException("could not " + subtask);
                }
                yield answer(subtask.toUpperCase());
            }
            case "consolidate" -> {
                List<String> parts = new ArrayList<>();
                work.input().get("subtasks").forEach(s -> parts.add(s.path("answer").asText("(missing)")));
                yield answer(String.join("+", parts));
            }
            default -> throw new IllegalStateException(work.kind());
        });
        Execution run = run(workers, Strategy.HIERARCHICAL, members("w1", "lead:task-coordinator", "w2"));

        assertThat(run.status()).isEqualTo("partial");
        assertThat(run.result().get("answer").asText()).isEqualTo("DESIGN+BUILD+(missing)");
        assertThat(run.result().get("leader").asText()).isEqualTo("lead");
        assertThat(workers.of("decompose")).singleElement().satisfies(w -> {
            assertThat(w.candidates()).containsExactly("lead");
            assertThat(w.input().get("max_subtasks").asInt()).isEqualTo(4);
        });
        assertThat(workers.of("solve")).hasSize(3).allSatisfy(w -> assertThat(w.candidates())
                .containsExactlyInAnyOrder("w1", "w2"));
        JsonNode failed = run.result().get("subtasks").get(2);
        assertThat(failed.get("error").asText()).isEqualTo("could not fail here");
        assertThat(run.steps()).extracting(Execution.Step::kind)
                .containsExactly("decompose", "solve", "solve", "solve", "consolidate");
        assertThat(run.steps().get(3).taskId()).isPresent();
        assertThat(run.steps().get(3).succeeded()).isFalse();
    }

    @Test
    void hierarchical_aLongObjective_isChunkedIntoSubtasks_withoutAskingForADecomposition() {
        ScriptedWorkers workers = new ScriptedWorkers((agent, work) -> work.kind().equals("solve")
                ? answer(work.input().get("subtask").asText().length()) : answer("done"));
        String objective = "First paragraph. ".repeat(10) + "\n\n" + "Second paragraph here. ".repeat(10);
        Options options = new Options(Duration.ofSeconds(5), 2, ConsensusAlgorithm.MAJORITY_VOTE, 0.5, 200,
                Optional.empty(), Optional.empty());
        Execution run = run(workers, Strategy.HIERARCHICAL, objective, null, members("a", "b"), options);

        assertThat(workers.of("decompose")).isEmpty();
        assertThat(workers.of("solve")).hasSizeGreaterThan(1).allSatisfy(w -> assertThat(
                w.input().get("subtask").asText().length()).isLessThanOrEqualTo(200));
        assertThat(run.status()).isEqualTo("completed");
    }

    @Test
    void competitive_aLongObjective_isSolvedChunkByChunk_eachChunkATaskOfItsOwn() {
        ScriptedWorkers workers = new ScriptedWorkers((agent, work) -> switch (work.kind()) {
            case "solve" -> {
                assertThat(work.input().has("objective")).isFalse(); // only the chunk travels
                if (agent.equals("b") && work.input().get("index").asInt() == 1) {
                    throw new IllegalStateException("b failed a chunk");
                }
                yield answer(agent + work.input().get("index").asInt());
            }
            case "judge" -> json("{\"winner\": \"a\"}");
            default -> throw new IllegalStateException(work.kind());
        });
        String objective = "First paragraph. ".repeat(10) + "\n\n" + "Second paragraph here. ".repeat(10);
        Options options = new Options(Duration.ofSeconds(5), 2, ConsensusAlgorithm.MAJORITY_VOTE, 0.5, 200,
                Optional.empty(), Optional.empty());
        Execution run = run(workers, Strategy.COMPETITIVE, objective, null, members("a", "b", "c:monitor"), options);

        int chunks = Chunks.split(objective, 200).size();
        assertThat(chunks).isGreaterThan(1);
        assertThat(workers.of("solve")).hasSize(3 * chunks);
        assertThat(run.result().get("answer").get(1).asText()).isEqualTo("a1");
        // b's answer has a hole, so it is not a candidate; a and c are
        assertThat(workers.of("judge").getFirst().input().get("candidates")).extracting(c -> c.get("member").asText())
                .containsExactly("a", "c");
        assertThat(run.status()).isEqualTo("partial");
    }

    @Test
    void answerSchemas_offerTheChoices_andNameTheJudgesCandidates() {
        ScriptedWorkers workers = new ScriptedWorkers((agent, work) -> work.kind().equals("judge")
                ? json("{\"winner\": \"b\"}") : answer(agent.equals("a") ? "yes" : "no"));
        run(workers, Strategy.COMPETITIVE, "Ship it?", json("{\"choices\": [\"yes\", \"no\"]}"),
                members("a", "b", "j:monitor"), Options.defaults());

        JsonNode solve = workers.of("solve").getFirst().answerSchema();
        assertThat(solve.at("/properties/answer/enum").toString()).isEqualTo("[\"yes\",\"no\"]");
        assertThat(solve.at("/required/0").asText()).isEqualTo("answer");
        JsonNode verdict = workers.of("judge").getFirst().answerSchema();
        assertThat(verdict.at("/properties/winner/enum").toString()).isEqualTo("[\"a\",\"b\",\"j\"]");
        assertThat(verdict.at("/properties/scores/properties/b/maximum").asInt()).isEqualTo(10);
        assertThatThrownBy(() -> new Plan(Strategy.COLLABORATIVE, "x", json("{\"choices\": [\"only\"]}"),
                members("a"), Options.defaults())).isInstanceOf(SwarmbusException.class).hasMessageContaining("2 to 100");
    }

    @Test
    void mapReduce_mapsEachItemInParallel_andReducesWhatCameBack() throws Exception {
        ScriptedWorkers workers = new ScriptedWorkers((agent, work) -> switch (work.kind()) {
            case "map" -> {
                int item = work.input().get("item").asInt();
                if (item == 3) {
                    yield null; // never answers: the runner gives up after the step's timeout
                }
                yield answer(item * item);
            }
            case "reduce" -> {
                int sum = 0;
                for (JsonNode mapped : work.input().get("mapped")) {
                    sum += mapped.path("answer").asInt(0);
                }
                yield answer(sum);
            }
            default -> throw new IllegalStateException(work.kind());
        });
        Options options = new Options(Duration.ofMillis(300), 2, ConsensusAlgorithm.MAJORITY_VOTE, 0.5, 4_000,
                Optional.of("b"), Optional.empty());
        Execution run = run(workers, Strategy.MAP_REDUCE, "square each", json("{\"items\":[1,2,3,4]}"),
                members("a", "b", "c"), options);

        assertThat(run.result().get("answer").asInt()).isEqualTo(1 + 4 + 16);
        assertThat(run.status()).isEqualTo("partial");
        assertThat(run.result().get("mapped").get(2).get("error").asText()).contains("no answer within");
        assertThat(workers.of("map")).allSatisfy(w -> assertThat(w.candidates()).containsExactlyInAnyOrder("a", "b", "c"));
        assertThat(distinct(workers.takenBy.subList(0, 4))).hasSizeGreaterThan(1); // spread over members
        assertThat(workers.of("reduce")).singleElement().satisfies(w -> assertThat(w.candidates()).containsExactly("b"));
    }

    private static java.util.Set<String> distinct(List<String> list) {
        return new java.util.HashSet<>(list);
    }

    @Test
    void collaborative_everyMemberSolves_andTheAnswerIsTheirConsensus() {
        Map<String, String> answers = Map.of("a", "Paris", "b", "paris.", "c", "Lyon", "d", "PARIS");
        ScriptedWorkers workers = new ScriptedWorkers((agent, work) -> {
            if (agent.equals("e")) {
                throw new IllegalStateException("e crashed");
            }
            return answer(answers.get(agent));
        });
        Execution run = run(workers, Strategy.COLLABORATIVE, members("a", "b", "c", "d", "e"));

        assertThat(run.result().get("answer").asText()).isEqualTo("Paris");
        JsonNode consensus = run.result().get("consensus");
        assertThat(consensus.get("reached").asBoolean()).isTrue();
        assertThat(consensus.get("confidence").asDouble()).isCloseTo(0.75, within(1e-9));
        assertThat(consensus.get("votes")).hasSize(4);
        assertThat(consensus.get("members").asInt()).isEqualTo(5);
        assertThat(run.status()).isEqualTo("partial");
        assertThat(workers.of("solve")).extracting(Workers.Work::candidates).extracting(c -> c.iterator().next())
                .containsExactly("a", "b", "c", "d", "e"); // one each
    }

    @Test
    void collaborative_underUnanimous_reportsNoAgreementWhenOneDiffers() {
        ScriptedWorkers workers = new ScriptedWorkers((agent, work) -> answer(agent.equals("c") ? "no" : "yes"));
        Options options = new Options(Duration.ofSeconds(5), 2, ConsensusAlgorithm.UNANIMOUS, 1, 4_000,
                Optional.empty(), Optional.empty());
        Execution run = run(workers, Strategy.COLLABORATIVE, "agree?", null, members("a", "b", "c"), options);
        assertThat(run.result().get("consensus").get("reached").asBoolean()).isFalse();
        assertThat(run.result().get("answer").asText()).isEqualTo("yes");
        assertThat(run.status()).isEqualTo("completed");
    }

    @Test
    void competitive_theJudgeScores_andTheBestWins() {
        ScriptedWorkers workers = new ScriptedWorkers((agent, work) -> switch (work.kind()) {
            case "solve" -> answer("draft by " + agent);
            case "judge" -> {
                assertThat(work.input().get("candidates")).hasSize(3);
                yield json("{\"winner\":\"b\",\"scores\":{\"a\":4,\"b\":9,\"judge\":5},\"reason\":\"clearest\"}");
            }
            default -> throw new IllegalStateException(work.kind());
        });
        Execution run = run(workers, Strategy.COMPETITIVE, members("a", "b", "judge:monitor"));

        assertThat(run.result().get("winner").asText()).isEqualTo("b");
        assertThat(run.result().get("answer").asText()).isEqualTo("draft by b");
        assertThat(run.result().get("selected_by").asText()).isEqualTo("judge");
        assertThat(run.result().get("scores").get("b").asInt()).isEqualTo(9);
        assertThat(workers.of("judge")).singleElement().satisfies(w -> assertThat(w.candidates()).containsExactly("judge"));
    }

    @Test
    void competitive_withAJudgeThatAnswersNonsense_fallsBackToTheVote() {
        ScriptedWorkers workers = new ScriptedWorkers((agent, work) -> switch (work.kind()) {
            case "solve" -> answer(agent.equals("a") ? "7" : "8");
            case "judge" -> answer("I like them all");
            default -> throw new IllegalStateException(work.kind());
        });
        Execution run = run(workers, Strategy.COMPETITIVE, members("a", "b", "c"));
        assertThat(run.result().get("selected_by").asText()).isEqualTo("vote");
        assertThat(run.result().get("answer").asText()).isEqualTo("8");
        assertThat(run.result().get("winner").asText()).isEqualTo("b");
    }

    @Test
    void debate_eachRoundSeesTheOthersLastAnswers_thenAJudgeDecides() {
        ScriptedWorkers workers = new ScriptedWorkers((agent, work) -> switch (work.kind()) {
            case "solve" -> answer(agent.equals("c") ? "blue" : "green");
            case "debate" -> {
                List<String> others = new ArrayList<>();
                work.input().get("others").forEach(o -> others.add(o.get("answer").asText()));
                assertThat(work.input().get("others")).noneMatch(o -> o.get("member").asText().equals(agent));
                // persuaded when both others agree
                yield answer(others.stream().distinct().count() == 1 ? others.getFirst()
                        : work.input().get("own").asText());
            }
            case "judge" -> json("{\"winner\":0}");
            default -> throw new IllegalStateException(work.kind());
        });
        Options options = new Options(Duration.ofSeconds(5), 3, ConsensusAlgorithm.MAJORITY_VOTE, 0.5, 4_000,
                Optional.empty(), Optional.empty());
        Execution run = run(workers, Strategy.DEBATE, "sky colour?", null, members("a", "b", "c"), options);

        JsonNode rounds = run.result().get("rounds");
        assertThat(rounds).hasSize(3);
        assertThat(rounds.get(0).get(2).get("answer").asText()).isEqualTo("blue");
        assertThat(rounds.get(1).get(2).get("answer").asText()).isEqualTo("green"); // c was persuaded in round 2
        assertThat(workers.of("debate")).hasSize(6);
        assertThat(run.steps()).filteredOn(s -> s.kind().equals("debate")).extracting(Execution.Step::round)
                .containsExactly(2, 2, 2, 3, 3, 3);
        assertThat(run.result().get("winner").asText()).isEqualTo("a");
        assertThat(run.status()).isEqualTo("completed");
    }

    @Test
    void sequential_passesEachOutputOn_andSkipsAFailedLink() {
        ScriptedWorkers workers = new ScriptedWorkers((agent, work) -> {
            if (agent.equals("b")) {
                throw new IllegalStateException("b is down");
            }
            JsonNode previous = work.input().get("previous");
            return answer((previous == null || previous.isNull() ? "" : previous.asText()) + agent);
        });
        Execution run = run(workers, Strategy.SEQUENTIAL, members("a", "b", "c", "d"));

        assertThat(run.result().get("answer").asText()).isEqualTo("acd");
        assertThat(run.result().get("chain").get(1).get("error").asText()).isEqualTo("b is down");
        assertThat(run.steps()).extracting(Execution.Step::round).containsExactly(1, 2, 3, 4);
        assertThat(run.status()).isEqualTo("partial");
    }

    @Test
    void whenEveryMemberFails_theRunFails_andSaysWhy() {
        ScriptedWorkers workers = new ScriptedWorkers((agent, work) -> {
            throw new IllegalStateException(agent + " is out of tokens");
        });
        for (Strategy strategy : Strategy.values()) {
            Execution run = run(workers, strategy, members("a", "b"));
            assertThat(run.status()).as(strategy.wireName()).isEqualTo("failed");
            assertThat(run.steps()).as(strategy.wireName()).allSatisfy(s -> assertThat(s.error()).isPresent());
        }
    }

    @Test
    void badPlans_areRefusedWithAReadableMessage() {
        assertThatThrownBy(() -> Strategy.parse("swarm-magic")).isInstanceOf(SwarmbusException.class)
                .hasMessageContaining("[hierarchical, map-reduce, collaborative, competitive, debate, sequential]");
        assertThat(Strategy.parse("map_reduce")).isEqualTo(Strategy.MAP_REDUCE);
        Options withStranger = new Options(Duration.ofSeconds(5), 2, ConsensusAlgorithm.MAJORITY_VOTE, 0.5, 4_000,
                Optional.of("stranger"), Optional.empty());
        assertThatThrownBy(() -> new Plan(Strategy.HIERARCHICAL, "x", null, members("a"), withStranger))
                .hasMessageContaining("'stranger' is not a member");
        assertThatThrownBy(() -> new Plan(Strategy.HIERARCHICAL, " ", null, members("a"), Options.defaults()))
                .hasMessageContaining("objective");
        assertThatThrownBy(() -> new Plan(Strategy.DEBATE, "x", null, List.of(), Options.defaults()))
                .hasMessageContaining("at least one member");
        assertThatThrownBy(() -> new Options(Duration.ofSeconds(5), 1, ConsensusAlgorithm.MAJORITY_VOTE, 0.5, 4_000,
                Optional.empty(), Optional.empty())).hasMessageContaining("rounds");
    }

    @Test
    void aPlanThatWouldHandOutTooMuchWorkAtOnce_isRefusedBeforeAnyStep() {
        String items = "[" + "1,".repeat(SwarmRunner.MAX_PARALLEL_STEPS) + "1]";
        assertThatThrownBy(() -> new Plan(Strategy.MAP_REDUCE, "x", json("{\"items\": " + items + "}"), members("a"),
                Options.defaults())).isInstanceOf(SwarmbusException.class)
                .hasFieldOrPropertyWithValue("field", "input.items").hasMessageContaining("at most 1000");
        assertThatThrownBy(() -> new Plan(Strategy.MAP_REDUCE, "x", json("{\"items\": {\"a\": 1}}"), members("a"),
                Options.defaults())).hasMessageContaining("items must be a list");
        Options small = new Options(Duration.ofSeconds(5), 2, ConsensusAlgorithm.MAJORITY_VOTE, 0.5, 100,
                Optional.empty(), Optional.empty());
        String long1001 = "word ".repeat(20 * 1_001); // 100 characters a chunk: 1,001 chunks
        assertThatThrownBy(() -> new Plan(Strategy.MAP_REDUCE, long1001, null, members("a"), small))
                .hasFieldOrPropertyWithValue("field", "chunk_chars").hasMessageContaining("1001 pieces");
        String long600 = "word ".repeat(20 * 600);
        assertThat(new Plan(Strategy.MAP_REDUCE, long600, null, members("a", "b"), small).objective()).isEqualTo(long600);
        assertThatThrownBy(() -> new Plan(Strategy.DEBATE, long600, null, members("a", "b"), small))
                .hasMessageContaining("for each of 2 members, makes 1200 pieces");
        assertThat(new Plan(Strategy.SEQUENTIAL, long1001, null, members("a", "b"), small).members()).hasSize(2);
        String many = "[" + "1,".repeat(SwarmRunner.MAX_PARALLEL_STEPS - 1) + "1]";
        assertThat(new Plan(Strategy.MAP_REDUCE, "x", json("{\"items\": " + many + "}"), members("a"),
                Options.defaults()).input().path("items").size()).isEqualTo(SwarmRunner.MAX_PARALLEL_STEPS);
    }

    @Test
    void chunks_breakAtParagraphsThenSentences_andNeverExceedTheSize() {
        String text = "One. Two two.\n\nThree three three. " + "x".repeat(250);
        List<String> chunks = Chunks.split(text, 100);
        assertThat(chunks).allSatisfy(c -> assertThat(c.length()).isLessThanOrEqualTo(100));
        assertThat(chunks.getFirst()).isEqualTo("One. Two two. Three three three.");
        assertThat(String.join("", chunks).replace(" ", "")).isEqualTo(text.replaceAll("\\s", ""));
        assertThat(SwarmRunner.subtasksOf(json("[\"a\",{\"description\":\"b\"},\" \"]"))).containsExactly("a", "b");
        assertThat(SwarmRunner.answerOf(TextNode.valueOf("bare"))).isEqualTo(TextNode.valueOf("bare"));
    }
}
