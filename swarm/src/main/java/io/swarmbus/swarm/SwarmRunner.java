package io.swarmbus.swarm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.SwarmbusException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs a {@link Strategy} over a swarm's members by giving them {@link Workers.Work}, and keeps
 * what it can when some members fail or time out: a failed subtask, map, vote or debate turn is
 * recorded and the strategy goes on with the rest. Blocking; run it on a thread of its own.
 *
 * <p>Every piece of work asks for a JSON answer, {@code {"answer": ...}} (the judge and the
 * decomposition ask for their own shapes, below). An agent that answers with anything else is
 * taken at its word: its whole output is the answer. Answers are compared, voted on and shown
 * as {@link #answerOf}.
 */
public final class SwarmRunner {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_SUBTASKS = 100;
    /**
     * The most pieces of work one stage of a run may hand out at once (map steps, or members times
     * chunks), so that one request cannot flood the task queue and the members' inboxes.
     */
    public static final int MAX_PARALLEL_STEPS = 1_000;

    private final Workers workers;
    private final Clock clock;
    /** How long past a step's own timeout the runner waits before it gives up on the step. */
    private final Duration grace;

    public SwarmRunner(Workers workers, Clock clock) {
        this(workers, clock, Duration.ofSeconds(5));
    }

    SwarmRunner(Workers workers, Clock clock, Duration grace) {
        this.workers = workers;
        this.clock = clock;
        this.grace = grace;
    }

    /** A swarm member as a strategy sees it: an agent, its swarm role and its vote's weight. */
    public record Member(String id, String role, double weight) {}

    /**
     * How a run goes.
     *
     * @param stepTimeout how long one member has for one step
     * @param rounds debate rounds, the first answers included (2 to 10)
     * @param consensus how collaborative votes count
     * @param quorum the share of members a quorum needs
     * @param chunkChars an objective longer than this is handled in chunks, each a subtask
     * @param leader the member that decomposes, consolidates and reduces (else a task-coordinator, else the first)
     * @param judge the member that judges (else a monitor, else the leader)
     */
    public record Options(Duration stepTimeout, int rounds, ConsensusAlgorithm consensus, double quorum, int chunkChars,
            Optional<String> leader, Optional<String> judge) {
        public Options {
            if (stepTimeout.isNegative() || stepTimeout.isZero() || stepTimeout.compareTo(Duration.ofDays(1)) > 0) {
                throw SwarmbusException.invalid("timeout_seconds", "a step's timeout must be positive and at most a day");
            }
            if (rounds < 2 || rounds > 10) {
                throw SwarmbusException.invalid("rounds", "debate rounds must be 2 to 10, was " + rounds);
            }
            if (!(quorum > 0 && quorum <= 1)) {
                throw SwarmbusException.invalid("quorum", "quorum must be above 0 and at most 1, was " + quorum);
            }
            if (chunkChars < 100 || chunkChars > 1_000_000) {
                throw SwarmbusException.invalid("chunk_chars", "chunk_chars must be 100 to 1000000, was " + chunkChars);
            }
        }

        public static Options defaults() {
            return new Options(Duration.ofMinutes(5), 2, ConsensusAlgorithm.MAJORITY_VOTE, Consensus.DEFAULT_QUORUM,
                    4_000, Optional.empty(), Optional.empty());
        }
    }

    /** What to run: a strategy, the objective, optional input (e.g. {@code {"items": [...]}}), the members. */
    public record Plan(Strategy strategy, String objective, JsonNode input, List<Member> members, Options options) {
        public Plan {
            if (objective == null || objective.isBlank() || objective.length() > 1_048_576) {
                throw SwarmbusException.invalid("objective", "objective must be 1 to 1048576 characters");
            }
            if (members.isEmpty()) {
                throw SwarmbusException.invalid("members", "a swarm needs at least one member to run a strategy");
            }
            Set<String> ids = new HashSet<>();
            members.forEach(m -> ids.add(m.id()));
            if (ids.size() != members.size()) {
                throw SwarmbusException.invalid("members", "members must be distinct");
            }
            // In a fixed order, so that with both wrong the answer names the same one every time.
            for (Map.Entry<String, Optional<String>> named : List.of(Map.entry("leader", options.leader()),
                    Map.entry("judge", options.judge()))) {
                named.getValue().filter(id -> !ids.contains(id)).ifPresent(id -> {
                    throw SwarmbusException.invalid(named.getKey(), "'" + id + "' is not a member of this swarm");
                });
            }
            input = input == null || input.isNull() ? JSON.createObjectNode() : input;
            JsonNode choices = input.path("choices");
            if (!choices.isMissingNode() && !validChoices(choices)) {
                throw SwarmbusException.invalid("input.choices", "choices must be a list of 2 to 100 distinct texts");
            }
            members = List.copyOf(members);
            requireFewEnoughSteps(strategy, objective, input, members.size(), options.chunkChars());
        }
    }

    /** Refuses a plan whose widest stage would hand out more than {@link #MAX_PARALLEL_STEPS}. */
    private static void requireFewEnoughSteps(Strategy strategy, String objective, JsonNode input, int members,
            int chunkChars) {
        JsonNode items = input.path("items");
        if (strategy == Strategy.MAP_REDUCE && !items.isMissingNode()) {
            if (!items.isArray()) {
                throw SwarmbusException.invalid("input.items", "items must be a list");
            }
            if (items.size() > MAX_PARALLEL_STEPS) {
                throw SwarmbusException.invalid("input.items", "at most " + MAX_PARALLEL_STEPS
                        + " items are mapped in one run, was " + items.size());
            }
            if (!items.isEmpty()) {
                return;
            }
        }
        if (objective.length() <= chunkChars) {
            return; // one piece of work per member at most: the swarm's own size
        }
        int chunks = Chunks.split(objective, chunkChars).size();
        long steps = switch (strategy) {
            case MAP_REDUCE -> chunks;
            case COLLABORATIVE, COMPETITIVE, DEBATE -> (long) chunks * members;
            case HIERARCHICAL, SEQUENTIAL -> 1; // hierarchical keeps MAX_SUBTASKS chunks; sequential does not chunk
        };
        if (steps > MAX_PARALLEL_STEPS) {
            throw SwarmbusException.invalid("chunk_chars", "the objective in chunks of " + chunkChars + " characters"
                    + (chunks == steps ? "" : ", for each of " + members + " members,") + " makes " + steps
                    + " pieces of work at once; at most " + MAX_PARALLEL_STEPS + ": raise chunk_chars or shorten it");
        }
    }

    private static boolean validChoices(JsonNode choices) {
        Set<String> seen = new HashSet<>();
        for (JsonNode choice : choices) {
            if (!choice.isTextual() || choice.asText().isBlank() || !seen.add(choice.asText())) {
                return false;
            }
        }
        return choices.isArray() && seen.size() >= 2 && seen.size() <= 100;
    }

    /** Runs {@code plan} to its end. */
    public Execution run(Plan plan) {
        Run run = new Run(plan);
        ObjectNode result = switch (plan.strategy()) {
            case HIERARCHICAL -> hierarchical(run);
            case MAP_REDUCE -> mapReduce(run);
            case COLLABORATIVE -> collaborative(run);
            case COMPETITIVE -> judged(run, solveAll(run, 1));
            case DEBATE -> debate(run);
            case SEQUENTIAL -> sequential(run);
        };
        return new Execution(plan.strategy(), run.status(result), result, List.copyOf(run.steps), run.started,
                clock.instant());
    }

    // ------------------------------------------------------------------ strategies

    private ObjectNode hierarchical(Run run) {
        String leader = run.leader();
        List<String> workers = run.plan.members().stream().map(Member::id).filter(id -> !id.equals(leader)).toList();
        workers = workers.isEmpty() ? List.of(leader) : workers;
        List<String> subtasks;
        if (run.plan.objective().length() > run.plan.options().chunkChars()) {
            subtasks = Chunks.split(run.plan.objective(), run.plan.options().chunkChars());
        } else {
            ObjectNode input = run.input().put("max_subtasks", Math.min(MAX_SUBTASKS, 2 * workers.size()));
            subtasks = run.await(run.submit(1, "decompose", "Split the objective into at most max_subtasks independent "
                    + "subtasks that together achieve it. Answer with JSON: {\"subtasks\": [\"...\", ...]}.", input,
                    AnswerSchemas.subtasks(input.get("max_subtasks").asInt()), Set.of(leader))).map(a -> subtasksOf(a.output())).filter(s -> !s.isEmpty())
                    .orElse(List.of(run.plan.objective()));
        }
        subtasks = subtasks.subList(0, Math.min(MAX_SUBTASKS, subtasks.size()));
        List<Pending> pending = new ArrayList<>();
        for (int i = 0; i < subtasks.size(); i++) {
            pending.add(run.submit(1, "solve", "Do this subtask of the objective. Answer with JSON: {\"answer\": ...}.",
                    run.input().put("subtask", subtasks.get(i)).put("index", i), run.freeAnswer(), Set.copyOf(workers)));
        }
        ArrayNode done = JSON.createArrayNode();
        for (int i = 0; i < subtasks.size(); i++) {
            done.add(outcome(run.await(pending.get(i)), pending.get(i)).put("subtask", subtasks.get(i)));
        }
        ObjectNode result = JSON.createObjectNode().put("leader", leader);
        result.set("answer", null);
        if (answered(done) > 0) {
            ObjectNode input = run.input();
            input.set("subtasks", done);
            run.await(run.submit(1, "consolidate", "Combine the subtasks' answers into one answer to the objective. "
                    + "Answer with JSON: {\"answer\": ...}.", input, run.freeAnswer(), Set.of(leader)))
                    .ifPresent(a -> result.set("answer", answerOf(a.output())));
        }
        result.set("subtasks", done);
        return result;
    }

    private ObjectNode mapReduce(Run run) {
        List<JsonNode> items = new ArrayList<>();
        run.plan.input().path("items").forEach(items::add);
        if (items.isEmpty()) {
            Chunks.split(run.plan.objective(), run.plan.options().chunkChars()).forEach(c -> items.add(JSON.getNodeFactory()
                    .textNode(c)));
        }
        Set<String> everyone = run.memberIds();
        // A map step gets its own item, not the whole list again: n items would otherwise make n tasks of n items each.
        ObjectNode shared = run.input();
        if (shared.get("input") instanceof ObjectNode given && given.has("items")) {
            ObjectNode rest = given.deepCopy();
            rest.remove("items");
            if (rest.isEmpty()) {
                shared.remove("input");
            } else {
                shared.set("input", rest);
            }
        }
        List<Pending> pending = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            ObjectNode input = shared.deepCopy().put("index", i);
            input.set("item", items.get(i));
            pending.add(run.submit(1, "map", "Apply the objective to this item alone. Answer with JSON: "
                    + "{\"answer\": ...}.", input, run.freeAnswer(), everyone));
        }
        ArrayNode mapped = JSON.createArrayNode();
        for (int i = 0; i < items.size(); i++) {
            mapped.add(outcome(run.await(pending.get(i)), pending.get(i)).put("index", i));
        }
        ObjectNode result = JSON.createObjectNode();
        result.set("answer", null);
        if (answered(mapped) > 0) {
            ObjectNode input = run.input();
            input.set("mapped", mapped);
            run.await(run.submit(1, "reduce", "Combine the mapped answers (some may be missing) into one answer to "
                    + "the objective. Answer with JSON: {\"answer\": ...}.", input, run.freeAnswer(), Set.of(run.leader())))
                    .ifPresent(a -> result.set("answer", answerOf(a.output())));
        }
        result.set("mapped", mapped);
        return result;
    }

    private ObjectNode collaborative(Run run) {
        Map<String, JsonNode> answers = solveAll(run, 1);
        Consensus consensus = vote(run, answers);
        ObjectNode result = JSON.createObjectNode();
        result.set("answer", consensus.answer().map(a -> answers.values().stream()
                .filter(v -> Consensus.normalize(text(v)).equals(Consensus.normalize(a))).findFirst().orElseThrow())
                .orElse(null));
        result.set("consensus", consensusJson(consensus));
        result.set("answers", byMember(answers));
        return result;
    }

    private ObjectNode debate(Run run) {
        Map<String, JsonNode> answers = solveAll(run, 1);
        ArrayNode rounds = JSON.createArrayNode().add(byMember(answers));
        for (int round = 2; round <= run.plan.options().rounds() && answers.size() > 1; round++) {
            Map<String, Pending> turns = new LinkedHashMap<>();
            for (Member member : run.plan.members()) {
                ObjectNode input = run.input().put("round", round);
                input.set("own", answers.get(member.id()));
                ArrayNode others = JSON.createArrayNode();
                answers.forEach((id, answer) -> {
                    if (!id.equals(member.id())) {
                        others.addObject().put("member", id).set("answer", answer);
                    }
                });
                input.set("others", others);
                turns.put(member.id(), run.submit(round, "debate", "These are the other members' answers from the last "
                        + "round. Weigh them against yours (own) and answer again. Answer with JSON: {\"answer\": ...}.",
                        input, run.choiceAnswer(), Set.of(member.id())));
            }
            Map<String, JsonNode> next = new LinkedHashMap<>(answers); // a member that fails keeps its last answer
            turns.forEach((id, turn) -> run.await(turn).ifPresent(a -> next.put(id, answerOf(a.output()))));
            answers = next;
            rounds.add(byMember(answers));
        }
        ObjectNode result = judged(run, answers);
        result.set("rounds", rounds);
        return result;
    }

    private ObjectNode sequential(Run run) {
        JsonNode previous = null;
        ArrayNode chain = JSON.createArrayNode();
        List<Member> members = run.plan.members();
        for (int i = 0; i < members.size(); i++) {
            ObjectNode input = run.input().put("position", i + 1).put("of", members.size());
            input.set("previous", previous);
            Pending step = run.submit(i + 1, "step", "Continue the work on the objective from the previous member's "
                    + "answer (previous; none if you are first). Answer with JSON: {\"answer\": ...}.", input,
                    run.freeAnswer(), Set.of(members.get(i).id()));
            Optional<Workers.Answer> answer = run.await(step);
            if (answer.isPresent()) {
                previous = answerOf(answer.get().output());
            }
            chain.add(outcome(answer, step));
        }
        ObjectNode result = JSON.createObjectNode();
        result.set("answer", previous);
        result.set("chain", chain);
        return result;
    }

    // ------------------------------------------------------------------ shared parts

    /** Every member solves the objective; the answers of those that did, by member. */
    private Map<String, JsonNode> solveAll(Run run, int round) {
        if (run.plan.objective().length() > run.plan.options().chunkChars()) {
            return solveAllInChunks(run, round);
        }
        Map<String, Pending> pending = new LinkedHashMap<>();
        for (Member member : run.plan.members()) {
            pending.put(member.id(), run.submit(round, "solve", "Solve the objective. Answer with JSON: "
                    + "{\"answer\": ...}.", run.input(), run.choiceAnswer(), Set.of(member.id())));
        }
        Map<String, JsonNode> answers = new LinkedHashMap<>();
        pending.forEach((id, p) -> run.await(p).ifPresent(a -> answers.put(id, answerOf(a.output()))));
        return answers;
    }

    /**
     * A long objective: each member answers it chunk by chunk, a subtask per chunk that carries only
     * its chunk, and its answer is the list of its chunks' answers. A member missing any chunk has
     * no answer (a partial answer would not compare with the others').
     */
    private Map<String, JsonNode> solveAllInChunks(Run run, int round) {
        List<String> chunks = Chunks.split(run.plan.objective(), run.plan.options().chunkChars());
        Map<String, List<Pending>> pending = new LinkedHashMap<>();
        for (Member member : run.plan.members()) {
            List<Pending> parts = new ArrayList<>();
            for (int i = 0; i < chunks.size(); i++) {
                ObjectNode input = JSON.createObjectNode().put("objective_chunk", chunks.get(i)).put("index", i)
                        .put("of", chunks.size());
                parts.add(run.submit(round, "solve", "The objective is too long to send at once; this is one chunk "
                        + "of it (index of of). Solve what this chunk asks. Answer with JSON: {\"answer\": ...}.",
                        input, run.freeAnswer(), Set.of(member.id())));
            }
            pending.put(member.id(), parts);
        }
        Map<String, JsonNode> answers = new LinkedHashMap<>();
        pending.forEach((id, parts) -> {
            ArrayNode answer = JSON.createArrayNode();
            for (Pending part : parts) {
                run.await(part).ifPresent(a -> answer.add(answerOf(a.output())));
            }
            if (answer.size() == parts.size()) {
                answers.put(id, answer);
            }
        });
        return answers;
    }

    /** A judge picks the best of {@code answers}; if it cannot, the members' vote does. */
    private ObjectNode judged(Run run, Map<String, JsonNode> answers) {
        ObjectNode result = JSON.createObjectNode();
        result.set("answer", null);
        result.putNull("winner");
        if (answers.size() == 1) {
            Map.Entry<String, JsonNode> only = answers.entrySet().iterator().next();
            result.put("winner", only.getKey()).put("selected_by", "only_answer").set("answer", only.getValue());
        } else if (answers.size() > 1) {
            ObjectNode input = run.input();
            ArrayNode candidates = input.putArray("candidates");
            answers.forEach((id, answer) -> candidates.addObject().put("member", id).set("answer", answer));
            Optional<Workers.Answer> verdict = run.await(run.submit(run.plan.options().rounds(), "judge",
                    "Score each candidate's answer to the objective from 0 to 10 and pick the best. Answer with JSON: "
                            + "{\"winner\": \"<member>\", \"scores\": {\"<member>\": 0-10, ...}, \"reason\": \"...\"}.",
                    input, AnswerSchemas.verdict(answers.keySet()), Set.of(run.judge())));
            Optional<String> winner = verdict.flatMap(v -> winnerOf(v.output(), answers));
            if (winner.isPresent()) {
                JsonNode output = verdict.get().output();
                result.put("winner", winner.get()).put("selected_by", "judge").set("answer", answers.get(winner.get()));
                result.set("scores", output.path("scores").isObject() ? output.get("scores") : null);
                result.set("reason", output.get("reason"));
            } else {
                Consensus consensus = vote(run, answers);
                String byVote = answers.keySet().stream().filter(id -> consensus.answer().map(Consensus::normalize)
                        .orElse("").equals(Consensus.normalize(text(answers.get(id))))).findFirst().orElseThrow();
                result.put("winner", byVote).put("selected_by", "vote").set("answer", answers.get(byVote));
                result.set("consensus", consensusJson(consensus));
            }
        }
        result.set("answers", byMember(answers));
        return result;
    }

    private static Optional<String> winnerOf(JsonNode verdict, Map<String, JsonNode> answers) {
        JsonNode winner = verdict.path("winner");
        if (winner.isTextual() && answers.containsKey(winner.asText())) {
            return Optional.of(winner.asText());
        }
        List<String> ids = List.copyOf(answers.keySet());
        if (winner.isIntegralNumber() && winner.asInt() >= 0 && winner.asInt() < ids.size()) {
            return Optional.of(ids.get(winner.asInt()));
        }
        JsonNode scores = verdict.path("scores");
        return ids.stream().filter(id -> scores.path(id).isNumber())
                .max((a, b) -> Double.compare(scores.get(a).asDouble(), scores.get(b).asDouble()));
    }

    private static Consensus vote(Run run, Map<String, JsonNode> answers) {
        Map<String, Double> weights = new LinkedHashMap<>();
        run.plan.members().forEach(m -> weights.put(m.id(), m.weight()));
        List<Consensus.Vote> votes = new ArrayList<>();
        answers.forEach((id, answer) -> votes.add(new Consensus.Vote(id, text(answer), weights.get(id))));
        return Consensus.decide(run.plan.options().consensus(), votes, run.plan.members().size(),
                run.plan.options().quorum());
    }

    /** A consensus as JSON: algorithm, reached, confidence, members, answer, tally and votes. */
    public static ObjectNode consensusJson(Consensus consensus) {
        ObjectNode json = JSON.createObjectNode().put("algorithm", consensus.algorithm().wireName())
                .put("reached", consensus.reached()).put("confidence", consensus.confidence())
                .put("members", consensus.members());
        consensus.answer().ifPresentOrElse(a -> json.put("answer", a), () -> json.putNull("answer"));
        ObjectNode tally = json.putObject("tally");
        consensus.tally().forEach(tally::put);
        ArrayNode votes = json.putArray("votes");
        consensus.votes().forEach(v -> votes.addObject().put("member", v.member()).put("answer", v.answer())
                .put("weight", v.weight()));
        return json;
    }

    private static ArrayNode byMember(Map<String, JsonNode> answers) {
        ArrayNode list = JSON.createArrayNode();
        answers.forEach((id, answer) -> list.addObject().put("member", id).set("answer", answer));
        return list;
    }

    private static ObjectNode outcome(Optional<Workers.Answer> answer, Pending pending) {
        ObjectNode json = JSON.createObjectNode();
        Execution.Step step = pending.step;
        step.agent().ifPresentOrElse(a -> json.put("agent", a), () -> json.putNull("agent"));
        if (answer.isPresent()) {
            json.set("answer", answerOf(answer.get().output()));
        } else {
            json.put("error", step.error().orElse("no answer"));
        }
        return json;
    }

    private static int answered(ArrayNode outcomes) {
        int n = 0;
        for (JsonNode outcome : outcomes) {
            n += outcome.has("answer") ? 1 : 0;
        }
        return n;
    }

    /** The answer in an agent's output: its {@code answer} field if it has one, else the whole output. */
    public static JsonNode answerOf(JsonNode output) {
        return output.isObject() && output.has("answer") ? output.get("answer") : output;
    }

    /** An answer as text, for comparing and voting. */
    static String text(JsonNode answer) {
        return answer.isTextual() ? answer.asText() : answer.toString();
    }

    /** Subtasks from a decomposition: {@code {"subtasks": [...]}} or a bare array, of texts or objects with a description. */
    static List<String> subtasksOf(JsonNode output) {
        JsonNode list = output.isArray() ? output : output.path("subtasks");
        if (!list.isArray() && output.isObject() && output.path("answer").isArray()) {
            list = output.get("answer");
        }
        List<String> subtasks = new ArrayList<>();
        for (JsonNode item : list) {
            String text = item.isTextual() ? item.asText()
                    : item.path("description").asText(item.path("task").asText(item.toString()));
            if (!text.isBlank()) {
                subtasks.add(text.strip());
            }
        }
        return subtasks;
    }

    // ------------------------------------------------------------------ one run

    /** A piece of work given out, and its step as recorded once it ended. */
    private static final class Pending {
        final int round;
        final String kind;
        final CompletableFuture<Workers.Answer> future;
        final long startedNanos = System.nanoTime();
        Execution.Step step;

        Pending(int round, String kind, CompletableFuture<Workers.Answer> future) {
            this.round = round;
            this.kind = kind;
            this.future = future;
        }
    }

    /** The state of one run: its plan and the steps so far, in the order they were given out. */
    private final class Run {
        final Plan plan;
        final Instant started = clock.instant();
        final List<Execution.Step> steps = new ArrayList<>();
        private final List<Pending> given = new ArrayList<>();

        Run(Plan plan) {
            this.plan = plan;
        }

        ObjectNode input() {
            ObjectNode input = JSON.createObjectNode().put("objective", plan.objective());
            if (!plan.input().isEmpty()) {
                input.set("input", plan.input());
            }
            return input;
        }

        Set<String> memberIds() {
            Set<String> ids = new java.util.LinkedHashSet<>();
            plan.members().forEach(m -> ids.add(m.id()));
            return ids;
        }

        String leader() {
            return plan.options().leader().orElseGet(() -> withRole("task-coordinator"));
        }

        String judge() {
            return plan.options().judge().orElseGet(() -> plan.members().stream().filter(m -> m.role().equals("monitor"))
                    .map(Member::id).findFirst().orElseGet(this::leader));
        }

        private String withRole(String role) {
            return plan.members().stream().filter(m -> m.role().equals(role)).map(Member::id).findFirst()
                    .orElse(plan.members().getFirst().id());
        }

        /** A free-text answer's schema. */
        ObjectNode freeAnswer() {
            return AnswerSchemas.answer(JSON.missingNode());
        }

        /** The schema of an answer to the whole objective: one of its {@code choices}, if it offers some. */
        ObjectNode choiceAnswer() {
            return AnswerSchemas.answer(plan.input().path("choices"));
        }

        Pending submit(int round, String kind, String instruction, ObjectNode input, ObjectNode answerSchema,
                Set<String> candidates) {
            CompletableFuture<Workers.Answer> future;
            try {
                future = workers.submit(new Workers.Work(kind, instruction, input, answerSchema, candidates,
                        plan.options().stepTimeout()));
            } catch (RuntimeException e) {
                future = CompletableFuture.failedFuture(e);
            }
            Pending pending = new Pending(round, kind, future);
            given.add(pending);
            return pending;
        }

        /** Waits for {@code pending} and records its step; empty if it ended without an answer. */
        Optional<Workers.Answer> await(Pending pending) {
            Optional<Workers.Answer> answer = Optional.empty();
            String error = null;
            String taskId = null;
            String agent = null;
            try {
                Workers.Answer a = pending.future.get(plan.options().stepTimeout().plus(grace).toMillis(),
                        TimeUnit.MILLISECONDS);
                answer = Optional.of(a);
                taskId = a.taskId();
                agent = a.agent();
            } catch (TimeoutException e) {
                pending.future.cancel(true);
                error = "no answer within " + plan.options().stepTimeout().toSeconds() + " s";
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                error = cause.getMessage() == null ? cause.toString() : cause.getMessage();
                if (cause instanceof Workers.Failed failed) {
                    taskId = failed.taskId();
                    agent = failed.agent();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                pending.future.cancel(true);
                error = "interrupted";
            }
            pending.step = new Execution.Step(pending.round, pending.kind, Optional.ofNullable(taskId),
                    Optional.ofNullable(agent), answer.map(Workers.Answer::output), Optional.ofNullable(error),
                    (System.nanoTime() - pending.startedNanos) / 1_000_000);
            steps.add(pending.step);
            return answer;
        }

        /** Completed when every step answered; partial when a result was made without some; failed when none was. */
        String status(ObjectNode result) {
            boolean allAnswered = steps.stream().allMatch(Execution.Step::succeeded) && given.size() == steps.size();
            if (allAnswered && !steps.isEmpty()) {
                return "completed";
            }
            JsonNode answer = result.get("answer");
            return answer != null && !answer.isNull() ? "partial" : "failed";
        }
    }
}
