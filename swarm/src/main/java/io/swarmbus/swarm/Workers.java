package io.swarmbus.swarm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * How a strategy gives work to agents: in the server, as tasks through the task engine (so
 * external and managed agents take part alike); in tests, scripted agents.
 */
public interface Workers {
    /**
     * Gives {@code work} to one of its candidates. Completes with the agent's answer, or
     * exceptionally ({@link Failed} when the agent failed, timed out or none could take it).
     */
    CompletableFuture<Answer> submit(Work work);

    /**
     * One piece of work.
     *
     * @param kind what is asked: {@code solve}, {@code decompose}, {@code map}, {@code reduce},
     *     {@code consolidate}, {@code judge}, {@code debate}, {@code step}
     * @param instruction what to do and what to answer with, in words an agent (or an LLM) can follow
     * @param input the objective and whatever the step works on
     * @param answerSchema the JSON Schema of the answer asked for
     * @param candidates the members that may take it
     * @param timeout how long the agent has
     */
    record Work(String kind, String instruction, ObjectNode input, ObjectNode answerSchema, Set<String> candidates,
            Duration timeout) {}

    /** An agent's answer: the task it answered and its output (JSON). */
    record Answer(String taskId, String agent, JsonNode output) {}

    /** Work that ended without an answer; says which task and agent, when known. */
    final class Failed extends RuntimeException {
        private final String taskId;
        private final String agent;

        public Failed(String taskId, String agent, String message) {
            super(message);
            this.taskId = taskId;
            this.agent = agent;
        }

        /** The task, or null if none was created. */
        public String taskId() {
            return taskId;
        }

        /** The last agent that had it, or null. */
        public String agent() {
            return agent;
        }
    }
}
