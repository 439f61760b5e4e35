package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.registry.Registry;
import io.swarmbus.storage.DurableTable;
import io.swarmbus.storage.FsyncPolicy;
import io.swarmbus.swarm.Workers;
import io.swarmbus.tasks.TaskCoordinator;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A swarm step handed to the task coordinator. */
class TaskWorkersTest {
    @TempDir
    Path dir;

    @Test
    void workTooLargeForATaskMessage_failsItsFuture_insteadOfThrowingAtTheStrategy() throws Exception {
        try (MessageBus bus = MessageBus.open(BusConfig.builder(dir.resolve("bus")).maxMessageBytes(4096).build());
                Registry registry = Registry.open(DurableTable.open(dir.resolve("registry"), FsyncPolicy.ALWAYS),
                        Clock.systemUTC(), Duration.ofSeconds(30));
                TaskCoordinator tasks = TaskCoordinator.open(DurableTable.open(dir.resolve("tasks"), FsyncPolicy.ALWAYS),
                        registry, bus, Clock.systemUTC(), AgentId.of("swarmbus"))) {
            TaskWorkers workers = new TaskWorkers(tasks, new TaskWorkers.Outcomes(), "team", 0);
            ObjectNode input = RequestBody.MAPPER.createObjectNode().put("items", "x".repeat(10_000));

            CompletableFuture<Workers.Answer> answer = workers.submit(new Workers.Work("reduce", "Combine the items",
                    input, RequestBody.MAPPER.createObjectNode(), Set.of("a"), Duration.ofSeconds(5)));

            assertThat(answer).isCompletedExceptionally();
            ExecutionException failure = org.assertj.core.api.Assertions.catchThrowableOfType(ExecutionException.class,
                    answer::get);
            assertThat(failure.getCause()).isInstanceOf(Workers.Failed.class)
                    .hasMessageContaining("swarm.reduce could not be given out").hasMessageContaining("parameters");
            assertThat(((Workers.Failed) failure.getCause()).taskId()).isNull();
            assertThat(tasks.list(t -> true, 10)).isEmpty();
        }
    }
}
