package io.swarmbus.swarm;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * A strategy's run over a swarm: every step with its task, agent and outcome, and the result.
 *
 * @param status {@code completed} when every step answered, {@code partial} when some failed but
 *     a result was still made from the rest, {@code failed} when none could be made
 * @param result the strategy's result (its shape is per strategy; see docs/swarms.md)
 */
public record Execution(Strategy strategy, String status, JsonNode result, List<Step> steps, Instant startedAt,
        Instant finishedAt) {

    /**
     * One piece of work of the run.
     *
     * @param round 1 for most steps; the debate round, or the position in a sequence
     * @param kind what was asked ({@link Workers.Work#kind})
     * @param taskId the task it ran as, if one was created
     * @param agent the agent that answered (or last had it)
     * @param output the answer, when it came
     * @param error why not, when it did not
     * @param millis how long it took
     */
    public record Step(int round, String kind, Optional<String> taskId, Optional<String> agent, Optional<JsonNode> output,
            Optional<String> error, long millis) {
        public boolean succeeded() {
            return output.isPresent();
        }
    }
}
