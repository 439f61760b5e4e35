package io.swarmbus.tasks;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.Delivery;
import io.swarmbus.messaging.FakeClock;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.messaging.Priority;
import io.swarmbus.registry.AgentProfile;
import io.swarmbus.registry.Registry;
import io.swarmbus.registry.SelectionStrategy;
import io.swarmbus.storage.DurableTable;
import io.swarmbus.storage.FsyncPolicy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TaskCoordinatorTest {
    static final AgentId SELF = AgentId.of("swarmbus");
    static final AgentId BOSS = AgentId.of("boss");

    @TempDir
    Path dir;
    final FakeClock clock = new FakeClock();
    MessageBus bus;
    Registry registry;
    TaskCoordinator tasks;

    @BeforeEach
    void open() {
        bus = MessageBus.open(BusConfig.builder(dir.resolve("bus")).clock(clock).build());
        registry = Registry.open(DurableTable.open(dir.resolve("registry"), FsyncPolicy.ALWAYS), clock,
                Duration.ofSeconds(30));
        tasks = TaskCoordinator.open(DurableTable.open(dir.resolve("tasks"), FsyncPolicy.ALWAYS), registry, bus, clock,
                SELF);
        bus.createInbox(SELF);
        bus.createInbox(BOSS);
    }

    @AfterEach
    void close() {
        tasks.close();
        registry.close();
        bus.close();
    }

    /** A task given to agent "w", which is then deleted and registered again a second later. */
    Task aTaskOfAnAgentRegisteredAgain() {
        worker("w", 1, "x");
        Task task = tasks.create(spec(3, "x"));
        clock.advance(Duration.ofSeconds(1));
        registry.deregister(AgentId.of("w"));
        worker("w", 1, "x");
        return task;
    }

    void worker(String id, int slots, String... capabilities) {
        registry.register(new AgentProfile(AgentId.of(id), "", "worker", Set.of(capabilities), slots, Map.of(), "team"));
        bus.createInbox(AgentId.of(id));
    }

    static TaskSpec spec(int maxRetries, String... capabilities) {
        return new TaskSpec("api_development", "build it", "{\"framework\":\"fastapi\"}", Set.of(capabilities),
                Priority.HIGH, Duration.ofSeconds(60), maxRetries, Optional.empty(), Optional.of(BOSS),
                SelectionStrategy.LEAST_LOADED, "team", Set.of());
    }

    List<Delivery> inbox(String agent) {
        return bus.receive(AgentId.of(agent), 100);
    }

    @Test
    void aTaskGoesToACapableAgent_andItsCreatorHearsTheResult() {
        worker("js", 1, "javascript");
        worker("py", 1, "python", "api_development");

        Task task = tasks.create(spec(2, "python", "api_development"));
        List<Delivery> requests = inbox("py");
        tasks.progress(task.id(), AgentId.of("py"), 40);
        clock.advance(Duration.ofSeconds(3));
        Task done = tasks.complete(task.id(), AgentId.of("py"), "{\"files\":3}");

        assertThat(task.status()).isEqualTo(TaskStatus.ASSIGNED);
        assertThat(task.assignee()).contains(AgentId.of("py"));
        assertThat(requests).hasSize(1);
        assertThat(requests.getFirst().message().type()).isEqualTo(TaskCoordinator.TASK_REQUEST);
        assertThat(requests.getFirst().message().content()).contains("\"task_id\":\"" + task.id() + "\"",
                "\"parameters\":{\"framework\":\"fastapi\"}", "\"attempt\":1");
        assertThat(inbox("js")).isEmpty();
        assertThat(done.status()).isEqualTo(TaskStatus.COMPLETED);
        assertThat(done.result()).contains("{\"files\":3}");
        assertThat(done.duration()).contains(Duration.ofSeconds(3));
        assertThat(registry.require(AgentId.of("py")).assignedTasks()).isZero();
        assertThat(registry.require(AgentId.of("py")).completed()).isEqualTo(1);
        Delivery outcome = inbox("boss").getFirst();
        assertThat(outcome.message().type()).isEqualTo(TaskCoordinator.TASK_RESPONSE);
        assertThat(outcome.message().content()).contains("\"status\":\"completed\"", "\"result\":{\"files\":3}");
    }

    @Test
    void whatCouldNotTravelInATaskMessage_isRefusedBeforeAnythingChanges() {
        worker("py", 1, "python");
        AgentId py = AgentId.of("py");
        int max = bus.maxMessageBytes();
        Task task = tasks.create(spec(0, "python"));
        inbox("py");

        assertThatThrownBy(() -> tasks.complete(task.id(), py, "\"" + "x".repeat(max) + "\""))
                .isInstanceOfSatisfying(SwarmbusException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCode.MESSAGE_TOO_LARGE);
                    assertThat(e.field()).contains("result");
                });
        assertThatThrownBy(() -> tasks.fail(task.id(), py, "y".repeat(max)))
                .isInstanceOfSatisfying(SwarmbusException.class, e -> assertThat(e.field()).contains("error"));
        assertThatThrownBy(() -> tasks.cancel(task.id(), "z".repeat(max)))
                .isInstanceOfSatisfying(SwarmbusException.class, e -> assertThat(e.field()).contains("reason"));
        assertThatThrownBy(() -> tasks.create(new TaskSpec("t", "", "\"" + "p".repeat(max) + "\"", Set.of("python"),
                Priority.HIGH, Duration.ofSeconds(60), 0, Optional.empty(), Optional.of(BOSS),
                SelectionStrategy.LEAST_LOADED, "team", Set.of())))
                .isInstanceOfSatisfying(SwarmbusException.class, e -> assertThat(e.field()).contains("parameters"));
        assertThat(tasks.get(task.id()).orElseThrow().status()).isEqualTo(TaskStatus.ASSIGNED);
        assertThat(registry.require(py).assignedTasks()).isEqualTo(1);
        assertThat(tasks.list(t -> true, 10)).hasSize(1);
        assertThat(inbox("boss")).isEmpty();

        // Just under what is left for it: accepted, and the creator hears it, envelope and all.
        String large = "\"" + "r".repeat(max - 1024 - 200) + "\"";
        assertThat(tasks.complete(task.id(), py, large).status()).isEqualTo(TaskStatus.COMPLETED);
        assertThat(inbox("boss").getFirst().message().content()).contains(large);
    }

    @Test
    void leastLoaded_spreadsAThousandTasksOverFourEqualWorkers() {
        for (int i = 0; i < 4; i++) {
            worker("w" + i, 1000, "work");
        }
        Map<AgentId, Integer> counts = new HashMap<>();
        for (int i = 0; i < 1000; i++) {
            counts.merge(tasks.create(spec(0, "work")).assignee().orElseThrow(), 1, Integer::sum);
        }
        assertThat(counts).hasSize(4);
        assertThat(counts.values()).allSatisfy(n -> assertThat(n).isBetween(225, 275));
    }

    @Test
    void aFailedAttempt_goesToAnotherAgent_untilRetriesRunOut() {
        worker("a", 1, "x");
        worker("b", 1, "x");
        Task task = tasks.create(spec(1, "x"));
        AgentId first = task.assignee().orElseThrow();

        Task retried = tasks.fail(task.id(), first, "out of memory");
        AgentId second = retried.assignee().orElseThrow();
        Task failed = tasks.fail(task.id(), second, "disk full");

        assertThat(retried.status()).isEqualTo(TaskStatus.ASSIGNED);
        assertThat(second).isNotEqualTo(first);
        assertThat(retried.attempts()).isEqualTo(2);
        assertThat(failed.status()).isEqualTo(TaskStatus.FAILED);
        assertThat(failed.error()).contains("disk full");
        assertThat(failed.failedBy()).containsExactly(first, second);
        assertThatThrownBy(() -> tasks.complete(task.id(), second, "{}")).isInstanceOf(SwarmbusException.class)
                .hasMessageContaining("no longer expected");
        assertThat(inbox("boss").getFirst().message().content()).contains("\"status\":\"failed\"", "disk full");
    }

    @Test
    void theOnlyCapableAgent_mayRetryItsOwnFailure() {
        worker("solo", 1, "x");
        Task task = tasks.create(spec(1, "x"));
        assertThat(tasks.fail(task.id(), AgentId.of("solo"), "flaky").assignee()).contains(AgentId.of("solo"));
    }

    /**
     * Regression: with the only other capable agent busy, a failed task went straight back to the
     * agent that had just failed it.
     */
    @Test
    void aFailedTask_waitsForABusyCapableAgent_ratherThanGoBackToTheOneThatFailedIt() {
        worker("a", 1, "x");
        worker("b", 1, "x");
        Task onA = tasks.create(spec(2, "x"));
        Task onB = tasks.create(spec(2, "x"));
        assertThat(onA.assignee()).contains(AgentId.of("a"));
        assertThat(onB.assignee()).contains(AgentId.of("b"));

        Task retry = tasks.fail(onA.id(), AgentId.of("a"), "crashed");

        assertThat(retry.status()).as("b is busy: it waits for b").isEqualTo(TaskStatus.PENDING);
        assertThat(registry.require(AgentId.of("a")).assignedTasks()).isZero();
        tasks.tick();
        assertThat(tasks.get(onA.id()).orElseThrow().status()).isEqualTo(TaskStatus.PENDING);
        tasks.complete(onB.id(), AgentId.of("b"), "{}");
        Task moved = tasks.get(onA.id()).orElseThrow();
        assertThat(moved.status()).isEqualTo(TaskStatus.ASSIGNED);
        assertThat(moved.assignee()).contains(AgentId.of("b"));
        assertThat(inbox("a")).as("one request, the first").hasSize(1);
    }

    @Test
    void aFailedTask_goesBackToTheAgentThatFailedIt_whenTheOtherCapableOnesAreOffline() {
        worker("a", 1, "x");
        worker("b", 1, "x");
        Task onA = tasks.create(spec(2, "x"));
        tasks.create(spec(2, "x")); // keeps b busy
        registry.heartbeat(AgentId.of("b"), Optional.of(io.swarmbus.registry.AgentStatus.OFFLINE), Optional.empty(),
                Map.of());

        assertThat(tasks.fail(onA.id(), AgentId.of("a"), "crashed").assignee()).contains(AgentId.of("a"));
    }

    @Test
    void attemptsThatRunPastTheirTimeout_areRetried_thenTimedOut() {
        worker("a", 1, "x");
        worker("b", 1, "x");
        Task task = tasks.create(spec(1, "x"));
        AgentId first = task.assignee().orElseThrow();
        registry.heartbeat(AgentId.of("a"), Optional.empty(), Optional.empty(), Map.of());

        clock.advance(Duration.ofSeconds(61));
        keepAlive("a", "b");
        tasks.tick();
        Task retried = tasks.get(task.id()).orElseThrow();
        clock.advance(Duration.ofSeconds(61));
        keepAlive("a", "b");
        tasks.tick();

        assertThat(retried.status()).isEqualTo(TaskStatus.ASSIGNED);
        assertThat(retried.assignee().orElseThrow()).isNotEqualTo(first);
        assertThat(inbox(first.value())).extracting(d -> d.message().type().name())
                .containsExactly("task_request", "task_cancel");
        Task timedOut = tasks.get(task.id()).orElseThrow();
        assertThat(timedOut.status()).isEqualTo(TaskStatus.TIMED_OUT);
        assertThat(timedOut.error().orElseThrow()).startsWith("timed out after 60 s");
        assertThat(registry.require(AgentId.of("a")).assignedTasks()).isZero();
        assertThat(registry.require(AgentId.of("b")).assignedTasks()).isZero();
    }

    void keepAlive(String... agents) {
        for (String agent : agents) {
            registry.heartbeat(AgentId.of(agent), Optional.empty(), Optional.empty(), Map.of());
        }
    }

    @Test
    void anAgentThatGoesOffline_losesItsTasksToAnother() {
        worker("dies", 1, "x");
        Task task = tasks.create(spec(3, "x"));
        worker("lives", 1, "x");

        clock.advance(Duration.ofSeconds(20));
        keepAlive("lives");
        clock.advance(Duration.ofSeconds(15));
        List<AgentId> lost = tasks.tick();

        assertThat(lost).containsExactly(AgentId.of("dies"));
        Task moved = tasks.get(task.id()).orElseThrow();
        assertThat(moved.assignee()).contains(AgentId.of("lives"));
        assertThat(moved.error().orElseThrow()).contains("dies went offline");
    }

    /** Regression: a retry waiting for an agent still showed the one that failed it as its assignee. */
    @Test
    void aRetryWaitingForAnAgent_hasNoAssignee_andItsLastAgentIsTheLastOfFailedBy() {
        worker("editor", 1, "x");
        Task task = tasks.create(spec(3, "x"));
        clock.advance(Duration.ofSeconds(35));
        tasks.tick(); // editor went silent: no one else can take the task

        Task waiting = tasks.get(task.id()).orElseThrow();
        assertThat(waiting.status()).isEqualTo(TaskStatus.PENDING);
        assertThat(waiting.assignee()).isEmpty();
        assertThat(waiting.failedBy()).containsExactly(AgentId.of("editor"));
        assertThat(tasks.list(t -> t.assignee().equals(Optional.of(AgentId.of("editor"))), 10)).isEmpty();
        close();
        open();
        assertThat(tasks.get(task.id()).orElseThrow().assignee()).as("after a restart").isEmpty();
    }

    @Test
    void anAgentThatSaysItIsLeaving_orIsDeleted_losesItsTasksAtTheNextTick() {
        worker("leaving", 1, "x");
        worker("deleted", 1, "x");
        Task first = tasks.create(spec(3, "x"));
        Task second = tasks.create(spec(3, "x"));
        worker("stays", 2, "x");

        registry.heartbeat(AgentId.of("leaving"), Optional.of(io.swarmbus.registry.AgentStatus.OFFLINE),
                Optional.empty(), Map.of());
        registry.deregister(AgentId.of("deleted"));
        tasks.tick();

        assertThat(tasks.get(first.id()).orElseThrow().assignee()).contains(AgentId.of("stays"));
        assertThat(tasks.get(second.id()).orElseThrow().assignee()).contains(AgentId.of("stays"));
    }

    @Test
    void anAgentDeletedAndRegisteredAgain_isANewAgent_thatMayNotReportOnTheOldOnesTask() {
        Task task = aTaskOfAnAgentRegisteredAgain();

        assertThatThrownBy(() -> tasks.complete(task.id(), AgentId.of("w"), "{}"))
                .isInstanceOfSatisfying(SwarmbusException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.INVALID_STATE));
        tasks.tick();

        Task again = tasks.get(task.id()).orElseThrow();
        assertThat(again.status()).isEqualTo(TaskStatus.ASSIGNED);
        assertThat(again.assignedAt().orElseThrow()).as("given afresh to the new registration").isAfter(
                task.assignedAt().orElseThrow());
        assertThat(tasks.complete(task.id(), AgentId.of("w"), "{}").status()).isEqualTo(TaskStatus.COMPLETED);
    }

    @Test
    void tasksWait_untilACapableAgentHasAFreeSlot_mostUrgentFirst() {
        worker("busy", 1, "x");
        Task running = tasks.create(spec(0, "x"));
        Task low = tasks.create(new TaskSpec("t", "", "{}", Set.of("x"), Priority.LOW, Duration.ofMinutes(1), 0,
                Optional.empty(), Optional.empty(), SelectionStrategy.LEAST_LOADED, "team", Set.of()));
        Task urgent = tasks.create(new TaskSpec("t", "", "{}", Set.of("x"), Priority.CRITICAL, Duration.ofMinutes(1), 0,
                Optional.empty(), Optional.empty(), SelectionStrategy.LEAST_LOADED, "team", Set.of()));

        assertThat(low.status()).isEqualTo(TaskStatus.PENDING);
        tasks.complete(running.id(), AgentId.of("busy"), "{}");
        assertThat(tasks.get(urgent.id()).orElseThrow().status()).isEqualTo(TaskStatus.ASSIGNED);
        assertThat(tasks.get(low.id()).orElseThrow().status()).isEqualTo(TaskStatus.PENDING);
    }

    @Test
    void aRequestThatCannotBeDelivered_failsThatAttempt_andTheTaskMovesOn() throws Exception {
        // Equally loaded, so the tie goes by id: "no-inbox" first.
        registry.register(new AgentProfile(AgentId.of("no-inbox"), "", "worker", Set.of("x"), 1, Map.of(), "team"));
        worker("real", 1, "x");
        Task task = tasks.create(spec(2, "x"));

        long deadline = System.nanoTime() + 5_000_000_000L;
        while (tasks.get(task.id()).orElseThrow().failedBy().isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        Task moved = tasks.get(task.id()).orElseThrow();
        assertThat(task.assignee()).contains(AgentId.of("no-inbox"));
        assertThat(moved.assignee()).contains(AgentId.of("real"));
        assertThat(moved.failedBy()).containsExactly(AgentId.of("no-inbox"));
        assertThat(moved.error().orElseThrow()).contains("could not deliver");
    }

    @Test
    void cancel_stopsATask_andTellsItsAgent() {
        worker("a", 1, "x");
        Task task = tasks.create(spec(0, "x"));
        Task cancelled = tasks.cancel(task.id(), "no longer needed");

        assertThat(cancelled.status()).isEqualTo(TaskStatus.CANCELLED);
        assertThat(inbox("a")).extracting(d -> d.message().type().name()).containsExactly("task_request", "task_cancel");
        assertThat(registry.require(AgentId.of("a")).assignedTasks()).isZero();
        assertThatThrownBy(() -> tasks.cancel(task.id(), "again")).hasMessageContaining("already cancelled");
    }

    @Test
    void subtasks_needAParentOfTheSameOwner() {
        worker("a", 5, "x");
        Task parent = tasks.create(spec(0, "x"));
        Task child = tasks.create(new TaskSpec("sub", "", "{}", Set.of("x"), Priority.MEDIUM, Duration.ofMinutes(1), 0,
                Optional.of(parent.id()), Optional.empty(), SelectionStrategy.LEAST_LOADED, "team", Set.of()));

        assertThat(child.spec().parentId()).contains(parent.id());
        assertThat(tasks.list(t -> t.spec().parentId().equals(Optional.of(parent.id())), 10)).containsExactly(child);
        assertThatThrownBy(() -> tasks.create(new TaskSpec("sub", "", "{}", Set.of(), Priority.MEDIUM,
                Duration.ofMinutes(1), 0, Optional.of(parent.id()), Optional.empty(), SelectionStrategy.RANDOM,
                "someone-else", Set.of()))).hasMessageContaining("does not exist");
    }

    @Test
    void aTasksTraceparent_survivesARestart() {
        worker("a", 4, "x");
        String trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        Task traced = tasks.create(spec(1, "x").withTraceparent(java.util.Optional.of(trace)));
        Task plain = tasks.create(spec(1, "x"));
        close();

        open();
        assertThat(tasks.get(traced.id()).orElseThrow().spec().traceparent()).contains(trace);
        assertThat(tasks.get(plain.id()).orElseThrow().spec().traceparent()).isEmpty();
    }

    @Test
    void candidates_limitWhoMayTakeATask_andSurviveARestart() {
        worker("a", 4, "x");
        worker("b", 4, "x");
        TaskSpec base = spec(1, "x");
        TaskSpec pinned = new TaskSpec(base.type(), base.description(), base.parameters(), base.requiredCapabilities(),
                base.priority(), base.timeout(), base.maxRetries(), base.parentId(), base.createdBy(),
                base.strategy(), base.owner(), Set.of(AgentId.of("b")));
        for (int i = 0; i < 4; i++) {
            assertThat(tasks.create(pinned).assignee()).contains(AgentId.of("b"));
        }
        Task fifth = tasks.create(pinned); // b has no free slot: it waits rather than go to a
        assertThat(fifth.status()).isEqualTo(TaskStatus.PENDING);
        Task failed = tasks.fail(tasks.list(t -> t.status() == TaskStatus.ASSIGNED, 1).getFirst().id(),
                AgentId.of("b"), "oops");
        assertThat(failed.assignee()).contains(AgentId.of("b")); // retried by its only candidate, older first
        assertThat(failed.attempts()).isEqualTo(2);
        assertThat(tasks.get(fifth.id()).orElseThrow().status()).isEqualTo(TaskStatus.PENDING);
        close();

        open();
        assertThat(tasks.get(failed.id()).orElseThrow().spec().candidates()).containsExactly(AgentId.of("b"));
    }

        @Test
    void tasksSurviveARestart_withTheirAgentAndLoad() {
        worker("a", 2, "x");
        Task running = tasks.create(spec(0, "x"));
        Task done = tasks.create(spec(0, "x"));
        tasks.complete(done.id(), AgentId.of("a"), "{\"ok\":true}");
        close();

        open();
        assertThat(tasks.get(running.id()).orElseThrow().status()).isEqualTo(TaskStatus.ASSIGNED);
        assertThat(tasks.get(done.id()).orElseThrow().result()).contains("{\"ok\":true}");
        assertThat(registry.require(AgentId.of("a")).assignedTasks()).isEqualTo(1);
        Task next = tasks.create(spec(0, "x"));
        assertThat(next.id()).isGreaterThan(done.id());
        assertThat(tasks.complete(running.id(), AgentId.of("a"), "{}").status()).isEqualTo(TaskStatus.COMPLETED);
    }

    @Test
    void aRestart_doesNotCountTheTaskOfADeletedAgent_againstTheIdRegisteredAgain() {
        Task task = aTaskOfAnAgentRegisteredAgain();
        close();

        open();
        tasks.tick();

        Task again = tasks.get(task.id()).orElseThrow();
        assertThat(again.status()).as("given afresh to the new registration, whose one slot is free")
                .isEqualTo(TaskStatus.ASSIGNED);
        assertThat(registry.require(AgentId.of("w")).assignedTasks()).isEqualTo(1);
    }

    @Test
    void stats_countOutcomesDurationsAndUtilization() {
        worker("a", 2, "x");
        Task one = tasks.create(spec(0, "x"));
        Task two = tasks.create(spec(0, "x"));
        clock.advance(Duration.ofSeconds(2));
        tasks.complete(one.id(), AgentId.of("a"), "{}");
        tasks.fail(two.id(), AgentId.of("a"), "no");
        tasks.create(spec(0, "x"));

        TaskStats stats = tasks.stats(Optional.empty());
        assertThat(stats.total()).isEqualTo(3);
        assertThat(stats.byStatus()).containsEntry(TaskStatus.COMPLETED, 1).containsEntry(TaskStatus.FAILED, 1)
                .containsEntry(TaskStatus.ASSIGNED, 1);
        assertThat(stats.completionRate()).isEqualTo(0.5);
        assertThat(stats.meanDurationMillis()).isEqualTo(2000);
        assertThat(stats.completedLastMinute()).isEqualTo(1);
        assertThat(stats.agents()).singleElement().satisfies(a -> {
            assertThat(a.completed()).isEqualTo(1);
            assertThat(a.failed()).isEqualTo(1);
            assertThat(a.running()).isEqualTo(1);
            assertThat(a.utilization()).isEqualTo(0.5);
        });
    }
}
