package io.swarmbus.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.Priority;
import io.swarmbus.registry.SelectionStrategy;
import io.swarmbus.swarm.Workers;
import io.swarmbus.tasks.Task;
import io.swarmbus.tasks.TaskCoordinator;
import io.swarmbus.tasks.TaskSpec;
import io.swarmbus.tasks.TaskStatus;
import java.io.IOException;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

/**
 * Swarm work as tasks: each piece of work becomes a task of type {@code swarm.<kind>} for one of
 * its candidate members, so external agents (reading {@code task_request} messages) and managed
 * agents take part alike, with the task engine's retries, timeouts and reassignment. The task's
 * parameters are the work's input plus {@code answer_schema}, the JSON Schema of the answer. The task's
 * final status completes the work: {@code completed} with its result, anything else as failed.
 */
final class TaskWorkers implements Workers {
    /** Completes the futures of swarm tasks as the coordinator reports their changes. */
    static final class Outcomes {
        private final Map<String, CompletableFuture<Answer>> waiting = new ConcurrentHashMap<>();

        /** The coordinator's listener: a task reached a final status. */
        void changed(Task task) {
            if (!task.status().isFinal()) {
                return;
            }
            CompletableFuture<Answer> future = waiting.remove(task.id());
            if (future == null) {
                return;
            }
            String agent = task.assignee().map(AgentId::value).orElse(null);
            if (task.status() == TaskStatus.COMPLETED) {
                future.complete(new Answer(task.id(), agent, parse(task.result().orElse("null"))));
            } else {
                future.completeExceptionally(new Failed(task.id(), agent, "task " + task.id() + " "
                        + task.status().wireName() + task.error().map(e -> ": " + e).orElse("")));
            }
        }
    }

    private final TaskCoordinator tasks;
    private final Outcomes outcomes;
    private final String owner;
    private final int maxRetries;

    /** Gives work to {@code owner}'s agents; a failed attempt is tried {@code maxRetries} more times. */
    TaskWorkers(TaskCoordinator tasks, Outcomes outcomes, String owner, int maxRetries) {
        this.tasks = tasks;
        this.outcomes = outcomes;
        this.owner = owner;
        this.maxRetries = maxRetries;
    }

    @Override
    public CompletableFuture<Answer> submit(Work work) {
        Set<AgentId> candidates = work.candidates().stream().map(AgentId::of).collect(Collectors.toSet());
        // A shallow copy: the input's values (a map-reduce's items among them) are shared, only read.
        ObjectNode parameters = RequestBody.MAPPER.createObjectNode().setAll(work.input());
        parameters.set("answer_schema", work.answerSchema());
        Task task;
        try {
            task = tasks.create(new TaskSpec("swarm." + work.kind(), work.instruction(), parameters.toString(),
                    Set.of(), Priority.MEDIUM, work.timeout(), maxRetries, Optional.empty(), Optional.empty(),
                    SelectionStrategy.LEAST_LOADED, owner, candidates));
        } catch (SwarmbusException e) { // say, a reduce step whose inputs are too large for one task message
            return CompletableFuture.failedFuture(new Failed(null, null, "swarm." + work.kind()
                    + " could not be given out: " + e.getMessage()));
        }
        CompletableFuture<Answer> future = new CompletableFuture<>();
        outcomes.waiting.put(task.id(), future);
        tasks.get(task.id()).ifPresent(outcomes::changed); // it may have ended before we were listening
        future.whenComplete((answer, failure) -> {
            if (failure instanceof CancellationException) { // the strategy gave up on it
                outcomes.waiting.remove(task.id());
                try {
                    tasks.cancel(task.id(), "the swarm strategy stopped waiting for it");
                } catch (RuntimeException alreadyFinished) {
                    // nothing to cancel
                }
            }
        });
        return future;
    }

    private static JsonNode parse(String json) {
        try {
            return RequestBody.MAPPER.readTree(json);
        } catch (IOException e) {
            return RequestBody.MAPPER.getNodeFactory().textNode(json);
        }
    }
}
