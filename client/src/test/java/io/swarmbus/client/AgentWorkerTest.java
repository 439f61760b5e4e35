package io.swarmbus.client;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.client.Types.Task;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.server.HttpServer;
import io.swarmbus.server.ServerSettings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The SDK against a real server on a random port: workers take tasks, report, fail over, cancel. */
class AgentWorkerTest {
    @TempDir
    Path dir;
    MessageBus bus;
    HttpServer server;
    SwarmbusClient client;
    final List<AgentWorker> workers = new ArrayList<>();

    @BeforeEach
    void start() {
        bus = MessageBus.open(BusConfig.builder(dir).build());
        // Workers poll and heartbeat far more than the default 300 requests a minute.
        server = HttpServer.start(bus, new ServerSettings(dir, "127.0.0.1", 0, 2L << 20, true, Optional.empty(),
                Duration.ofMinutes(60), 10_000_000, Optional.of("admin-password"), Optional.empty(),
                Duration.ofSeconds(2)));
        client = SwarmbusClient.login("http://127.0.0.1:" + server.port(), "team", "team-password");
        client.registerAgent("boss", "supervisor", List.of(), 10, Map.of());
    }

    @AfterEach
    void stop() {
        workers.forEach(AgentWorker::close);
        server.close();
        bus.close();
    }

    AgentWorker worker(String id, int slots, AgentWorker.TaskHandler handler, String... capabilities) {
        AgentWorker worker = AgentWorker.builder(client, id).capabilities(capabilities).maxConcurrentTasks(slots)
                .heartbeatInterval(Duration.ofMillis(300)).shutdownGrace(Duration.ofSeconds(2)).handler(handler).start();
        workers.add(worker);
        return worker;
    }

    ObjectNode task(String type, String... capabilities) {
        ObjectNode task = SwarmbusClient.JSON.createObjectNode().put("type", type).put("created_by", "boss")
                .put("timeout_seconds", 30).put("max_retries", 2);
        task.putObject("parameters").put("n", 21);
        var required = task.putArray("required_capabilities");
        for (String capability : capabilities) {
            required.add(capability);
        }
        return task;
    }

    Task await(String taskId) throws InterruptedException {
        long deadline = System.nanoTime() + 20_000_000_000L;
        Task task = client.task(taskId);
        while (!task.isFinished() && System.nanoTime() < deadline) {
            Thread.sleep(20);
            task = client.task(taskId);
        }
        return task;
    }

    /** Regression: a capability named twice threw IllegalArgumentException from Set.of. */
    @Test
    void aCapabilityNamedTwice_countsOnce() {
        worker("twice", 1, task -> null, "python", "python", "testing");

        assertThat(client.agent("twice").capabilities()).containsExactlyInAnyOrder("python", "testing");
    }

    @Test
    void workersWithDifferentCapabilities_eachGetTheirOwnTasks() throws Exception {
        worker("doubler", 2, t -> Map.of("value", t.parameters().path("n").asInt() * 2), "math");
        worker("shouter", 2, t -> Map.of("value", t.type().toUpperCase()), "text");

        Task math = await(client.createTask(task("double", "math")).taskId());
        Task text = await(client.createTask(task("shout", "text")).taskId());

        assertThat(math.status()).isEqualTo("completed");
        assertThat(math.assignee()).contains("doubler");
        assertThat(math.result().path("value").asInt()).isEqualTo(42);
        assertThat(text.assignee()).contains("shouter");
        assertThat(text.result().path("value").asText()).isEqualTo("SHOUT");
        // and every request is acked once reported (just after the result)
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (client.agent("doubler").raw().path("leased").asInt() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(client.agent("doubler").raw().path("leased").asInt()).isZero();
        assertThat(client.agent("doubler").raw().path("pending").asInt()).isZero();
    }

    @Test
    void aHandlerThatThrows_failsTheAttempt_andAnotherWorkerCompletesIt() throws Exception {
        worker("broken", 1, t -> {
            throw new IllegalStateException("no GPU");
        }, "gpu");
        worker("working", 1, t -> "rendered", "gpu");
        String id = client.createTask(task("render", "gpu")).taskId(); // equal load: "broken" first by id

        Task done = await(id);
        assertThat(done.status()).isEqualTo("completed");
        assertThat(done.assignee()).contains("working");
        assertThat(done.raw().path("failed_by").toString()).isEqualTo("[\"broken\"]");
    }

    /** Regression: the task stayed assigned, its request redelivered and the handler run again each lease. */
    @Test
    void aResultThatCannotBeWrittenAsJson_failsTheAttempt_andTheHandlerRunsOnce() throws Exception {
        java.util.concurrent.atomic.AtomicInteger runs = new java.util.concurrent.atomic.AtomicInteger();
        worker("odd", 1, t -> {
            runs.incrementAndGet();
            return new Object(); // no properties: Jackson refuses it
        }, "odd");
        String id = client.createTask(task("odd", "odd").put("max_retries", 0)).taskId();

        Task failed = await(id);
        assertThat(failed.status()).isEqualTo("failed");
        assertThat(failed.error()).hasValueSatisfying(e -> assertThat(e).contains("IllegalArgumentException"));
        assertThat(runs.get()).isEqualTo(1);
    }

    /** Regression: a handler that threw an Error was never reported; its request came back and ran again each lease. */
    @Test
    void handle_throwsAnError_failsTheAttemptOnce() throws Exception {
        java.util.concurrent.atomic.AtomicInteger runs = new java.util.concurrent.atomic.AtomicInteger();
        workers.add(AgentWorker.builder(client, "asserting").capabilities("assert").leaseDuration(Duration.ofSeconds(1))
                .heartbeatInterval(Duration.ofMillis(300)).handler(t -> {
                    runs.incrementAndGet();
                    throw new AssertionError("the input is not sorted");
                }).start());
        String id = client.createTask(task("check", "assert").put("max_retries", 0)).taskId();

        Task failed = await(id);
        assertThat(failed.status()).isEqualTo("failed");
        assertThat(failed.error()).hasValueSatisfying(e -> assertThat(e).contains("AssertionError: the input is not sorted"));
        assertThat(runs.get()).isEqualTo(1);
    }

    @Test
    void cancel_interruptsTheRunningHandler() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch interrupted = new CountDownLatch(1);
        worker("slow", 1, t -> {
            started.countDown();
            try {
                Thread.sleep(60_000);
            } catch (InterruptedException e) {
                interrupted.countDown();
                throw e;
            }
            return "late";
        }, "slow");
        String id = client.createTask(task("wait", "slow")).taskId();
        assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();

        client.cancelTask(id, "changed my mind");

        assertThat(interrupted.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(client.task(id).status()).isEqualTo("cancelled");
    }

    /**
     * Regression: a handler that kept its interrupt flag set (as it should, having caught the
     * interrupt) made the ack fail, so the cancelled task's request came back and ran again.
     */
    @Test
    void aCancelledHandlerThatKeepsItsInterruptFlag_stillHasItsRequestAcked() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        java.util.concurrent.atomic.AtomicInteger runs = new java.util.concurrent.atomic.AtomicInteger();
        worker("polite", 1, t -> {
            runs.incrementAndGet();
            started.countDown();
            try {
                Thread.sleep(60_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return "stopped";
        }, "polite");
        String id = client.createTask(task("wait", "polite")).taskId();
        assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();

        client.cancelTask(id, "changed my mind");

        long deadline = System.nanoTime() + 5_000_000_000L;
        while (client.agent("polite").raw().path("leased").asInt() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(client.agent("polite").raw().path("leased").asInt()).isZero();
        assertThat(client.agent("polite").raw().path("pending").asInt()).isZero();
        assertThat(runs.get()).isEqualTo(1);
    }

    /**
     * Regression: a cancel that came while the finished handler's result was being reported
     * interrupted the report, so the request was neither acked nor nacked and ran again.
     */
    @Test
    void cancel_whileTheResultIsReported_doesNotRunTheTaskAgain() throws Exception {
        CountDownLatch reporting = new CountDownLatch(1);
        ForwardingProxy proxy = ForwardingProxy.start("http://127.0.0.1:" + server.port(), (exchange, forward) -> {
            if (exchange.getRequestURI().getPath().endsWith("/complete")) {
                reporting.countDown();
                Thread.sleep(1_500); // time for the test's cancel to reach the worker
            }
            ForwardingProxy.reply(exchange, forward.send());
        });
        AtomicInteger runs = new AtomicInteger();
        try (SwarmbusClient viaProxy = SwarmbusClient.login(proxy.url(), "team", "team-password")) {
            workers.add(AgentWorker.builder(viaProxy, "quick").capabilities("quick").leaseDuration(Duration.ofSeconds(1))
                    .heartbeatInterval(Duration.ofMillis(300)).handler(t -> runs.incrementAndGet()).start());
            String id = client.createTask(task("quick", "quick").put("max_retries", 0)).taskId();
            assertThat(reporting.await(10, TimeUnit.SECONDS)).isTrue();

            client.cancelTask(id, "changed my mind");

            Thread.sleep(4_000); // the report's delay, then a lease and more: the time to come back
            assertThat(runs.get()).isEqualTo(1);
            assertThat(client.agent("quick").raw().path("leased").asInt()).isZero();
            assertThat(client.agent("quick").raw().path("pending").asInt()).isZero();
            workers.remove(workers.size() - 1).close();
        } finally {
            proxy.close();
        }
    }

    /** Regression: the failed report's nack threw on, ending the task's thread with a stack trace. */
    @Test
    void aTaskThatEndsWhileTheServerIsDown_isLoggedNotThrown() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AgentWorker worker = worker("stranded", 1, t -> {
            started.countDown();
            release.await();
            return "done";
        }, "stranded");
        client.createTask(task("wait", "stranded"));
        assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
        List<Throwable> uncaught = new java.util.concurrent.CopyOnWriteArrayList<>();
        Thread.UncaughtExceptionHandler before = Thread.getDefaultUncaughtExceptionHandler();
        Thread.setDefaultUncaughtExceptionHandler((thread, e) -> uncaught.add(e));
        try {
            server.close();

            release.countDown();
            long deadline = System.nanoTime() + 20_000_000_000L;
            while (worker.runningTasks() > 0 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            Thread.sleep(100); // the task's thread ends just after it frees its slot
        } finally {
            Thread.setDefaultUncaughtExceptionHandler(before);
        }
        assertThat(worker.runningTasks()).isZero();
        assertThat(uncaught).isEmpty();
    }

    /**
     * Regression: while close waited for its running tasks the agent still took new ones, which no
     * one received; they failed over once it went offline, an attempt spent (or, without retries,
     * the task failed).
     */
    @Test
    void aClosingWorker_isGivenNoNewTask() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AgentWorker closing = worker("closing", 2, t -> {
            started.countDown();
            release.await();
            return "first";
        }, "drain");
        client.createTask(task("first", "drain"));
        assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
        Thread closer = Thread.ofVirtual().start(closing::close);
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (!client.agent("closing").status().equals("busy") && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }

        String second = client.createTask(task("second", "drain").put("max_retries", 0)).taskId();
        Thread.sleep(300);
        release.countDown();
        closer.join();
        worker("next", 1, t -> "second", "drain");

        Task done = await(second);
        assertThat(done.status()).isEqualTo("completed");
        assertThat(done.assignee()).contains("next");
        assertThat(done.raw().path("failed_by")).isEmpty();
    }

    @Test
    void aTaskLongerThanItsLease_keepsTheLeaseRenewed_andIsDeliveredOnce() throws Exception {
        workers.add(AgentWorker.builder(client, "patient").capabilities("long").leaseDuration(Duration.ofSeconds(1))
                .heartbeatInterval(Duration.ofMillis(300)).handler(t -> {
                    Thread.sleep(3_500);
                    return "done";
                }).start());
        String id = client.createTask(task("long", "long")).taskId();

        Task done = await(id);
        // The worker acks the request just after reporting the result.
        var history = client.call("GET", "/api/v1/agents/patient/messages?limit=10", null).path("messages");
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!history.path(0).path("deliveries").path(0).path("status").asText().equals("acked")
                && System.nanoTime() < deadline) {
            Thread.sleep(20);
            history = client.call("GET", "/api/v1/agents/patient/messages?limit=10", null).path("messages");
        }

        assertThat(done.status()).isEqualTo("completed");
        assertThat(history).hasSize(1);
        assertThat(history.get(0).path("deliveries").get(0).path("attempts").asInt()).isEqualTo(1);
        assertThat(history.get(0).path("deliveries").get(0).path("status").asText()).isEqualTo("acked");
    }

    @Test
    void leastLoaded_spreadsAThousandTasksOverFourEqualWorkers() throws Exception {
        Map<String, Integer> done = new HashMap<>();
        CountDownLatch allCreated = new CountDownLatch(1);
        for (int w = 0; w < 4; w++) {
            String name = "w" + w;
            // Equal workers: slots for every task, and no task finishes before all are placed, so
            // each is placed by load alone. (Finishing meanwhile, shares would follow how fast each
            // worker happens to report on a busy machine, which is not what this tests.)
            worker(name, 300, t -> {
                allCreated.await();
                synchronized (done) {
                    done.merge(name, 1, Integer::sum);
                }
                return null;
            }, "work");
        }
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            ids.add(client.createTask(task("unit", "work").put("max_retries", 0)).taskId());
        }
        allCreated.countDown();
        for (String id : ids) {
            assertThat(await(id).status()).isEqualTo("completed");
        }
        assertThat(done.values()).as("tasks per worker: " + done).hasSize(4)
                .allSatisfy(n -> assertThat(n).isBetween(225, 275));
    }

    /**
     * Sends {@code to} a task_request for {@code taskId} as the server's task coordinator does, so
     * that a test can fill a worker's slots without waiting for the coordinator to pick it.
     */
    String request(String to, String taskId) {
        return client.send("boss", to, "task_request", Map.of("task_id", taskId, "type", "direct",
                "parameters", Map.of(), "attempt", 1), "medium").messageId();
    }

    JsonNode delivery(String messageId) {
        return client.message(messageId).path("deliveries").path(0);
    }

    void awaitDelivery(String messageId, String status) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!delivery(messageId).path("status").asText().equals(status) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(delivery(messageId).path("status").asText()).isEqualTo(status);
    }

    /** A one-slot worker that holds the task "first" until {@code release}, noting each task it runs. */
    AgentWorker busyWorker(String id, List<String> ran, CountDownLatch started, CountDownLatch release) {
        AgentWorker worker = AgentWorker.builder(client, id).maxConcurrentTasks(1).leaseDuration(Duration.ofSeconds(1))
                .heartbeatInterval(Duration.ofMillis(300)).shutdownGrace(Duration.ofSeconds(5)).handler(t -> {
                    ran.add(t.taskId());
                    if (t.taskId().equals("first")) {
                        started.countDown();
                        release.await();
                    }
                    return null;
                }).start();
        workers.add(worker);
        return worker;
    }

    /**
     * Regression: a request that came while every slot was busy was nacked each second, each nack
     * a delivery attempt, so that one waiting long enough was dead-lettered.
     */
    @Test
    void aRequestThatComesWhileEverySlotIsBusy_isHeldLeased_andRunsWhenASlotFrees() throws Exception {
        List<String> ran = new java.util.concurrent.CopyOnWriteArrayList<>();
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        busyWorker("full", ran, started, release);
        request("full", "first");
        assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();

        String second = request("full", "second");
        awaitDelivery(second, "leased");
        String third = request("full", "third");
        Thread.sleep(2_500); // more than two leases of a second: renewed, not given back

        assertThat(delivery(second).path("attempts").asInt()).as("held, not nacked").isEqualTo(1);
        assertThat(delivery(second).path("status").asText()).isEqualTo("leased");
        assertThat(delivery(third).path("attempts").asInt()).as("one held already: nacked").isGreaterThan(1);
        release.countDown();
        awaitDelivery(second, "acked");
        awaitDelivery(third, "acked");
        assertThat(ran).containsExactly("first", "second", "third");
        assertThat(delivery(second).path("attempts").asInt()).isEqualTo(1);
    }

    @Test
    void aHeldRequest_isDroppedOnItsCancel_andGivenBackAtOnceOnClose() throws Exception {
        List<String> ran = new java.util.concurrent.CopyOnWriteArrayList<>();
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AgentWorker worker = busyWorker("full", ran, started, release);
        request("full", "first");
        assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
        String cancelled = request("full", "cancelled");
        awaitDelivery(cancelled, "leased");

        String cancel = client.send("boss", "full", "task_cancel", Map.of("task_id", "cancelled"), "medium").messageId();

        awaitDelivery(cancel, "acked");
        awaitDelivery(cancelled, "acked");
        String givenBack = request("full", "given-back");
        awaitDelivery(givenBack, "leased");
        Thread.sleep(100); // held, as it is leased: the worker no longer receives once closed
        Thread closer = Thread.ofVirtual().start(worker::close);
        List<Types.Delivery> again = List.of();
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (again.isEmpty() && System.nanoTime() < deadline) {
            again = client.receive("full", 1, Duration.ofMillis(200), Duration.ofSeconds(30));
        }
        release.countDown();
        closer.join();

        assertThat(again).extracting(Types.Delivery::id).containsExactly(givenBack);
        assertThat(ran).containsExactly("first");
    }
}
