package io.swarmbus.examples;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.client.AgentWorker;
import io.swarmbus.client.SwarmbusClient;
import io.swarmbus.client.Types.Task;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.server.HttpServer;
import io.swarmbus.server.ServerSettings;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The examples against a real server: the Java supervisor with two workers, and the plain-Python
 * worker as a child process, including one killed with SIGKILL in the middle of a task.
 */
class ExamplesTest {
    static final Path PYTHON_WORKER = Path.of("python", "worker.py").toAbsolutePath();
    static final Duration TTL = Duration.ofSeconds(2);

    @TempDir
    Path dir;
    MessageBus bus;
    HttpServer server;
    String url;
    SwarmbusClient client;
    final List<Process> processes = new ArrayList<>();

    @BeforeEach
    void start() {
        bus = MessageBus.open(BusConfig.builder(dir).build());
        server = HttpServer.start(bus, new ServerSettings(dir, "127.0.0.1", 0, 2L << 20, true, Optional.empty(),
                Duration.ofMinutes(60), 10_000_000, Optional.of("admin-password"), Optional.empty(), TTL));
        url = "http://127.0.0.1:" + server.port();
        client = SwarmbusClient.login(url, "example-team", "example-password");
    }

    @AfterEach
    void stop() {
        processes.forEach(Process::destroyForcibly);
        server.close();
        bus.close();
    }

    /** A Python worker; returns its stdout lines as they come. */
    BlockingQueue<String> python(String agent) throws Exception {
        Process process = new ProcessBuilder("python3", PYTHON_WORKER.toString(), "--server", url, "--username",
                "example-team", "--password", "example-password", "--agent", agent, "--capabilities", "text",
                "--heartbeat", "0.3").redirectError(dir.resolve(agent + ".err").toFile()).start();
        processes.add(process);
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread.ofVirtual().start(() -> {
            try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line = out.readLine(); line != null; line = out.readLine()) {
                    lines.add(line);
                }
            } catch (Exception ignored) {
                // the process ended
            }
        });
        assertThat(lines.poll(20, TimeUnit.SECONDS)).as("the worker says it is ready").startsWith("ready " + agent);
        return lines;
    }

    ObjectNode task(Map<String, Object> parameters, int maxRetries) {
        ObjectNode task = new ObjectMapper().createObjectNode().put("type", "count").put("max_retries", maxRetries)
                .put("timeout_seconds", 120);
        task.set("parameters", new ObjectMapper().valueToTree(parameters));
        task.putArray("required_capabilities").add("text");
        return task;
    }

    Task await(String id, Duration within) throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        Task task = client.task(id);
        while (!task.isFinished() && System.nanoTime() < deadline) {
            Thread.sleep(20);
            task = client.task(id);
        }
        return task;
    }

    @Test
    void theJavaSupervisor_withTwoWorkersOfDifferentCapabilities() throws Exception {
        Map<String, String> outcomes = SupervisorWithTwoWorkers.run(client);

        assertThat(outcomes.values()).containsExactlyInAnyOrder("calculator completed {\"sum\":42}",
                "writer completed {\"title\":\"SWARMS\"}");
    }

    @Test
    void thePythonWorker_completesAndFailsTasks() throws Exception {
        python("py-1");

        Task counted = await(client.createTask(task(Map.of("text", "three little words"), 0)).taskId(),
                Duration.ofSeconds(20));
        Task failed = await(client.createTask(task(Map.of("fail", "boom"), 0)).taskId(), Duration.ofSeconds(20));

        assertThat(counted.status()).isEqualTo("completed");
        assertThat(counted.result().toString()).isEqualTo("{\"words\":3,\"worker\":\"py-1\",\"language\":\"python\"}");
        assertThat(failed.status()).isEqualTo("failed");
        assertThat(failed.error()).contains("RuntimeError: boom");
    }

    @Test
    @SuppressWarnings("try") // the rescuer works while the try block waits
    void aWorkerKilledMidTask_losesItToAnotherWithinTheHeartbeatTtl() throws Exception {
        python("doomed");
        String id = client.createTask(task(Map.of("text", "slow one", "sleep_seconds", 60), 2)).taskId();
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (client.agent("doomed").raw().path("leased").asInt() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(20); // until the Python worker holds the request
        }
        try (AgentWorker rescuer = AgentWorker.builder(client, "rescuer").capabilities("text")
                .heartbeatInterval(Duration.ofMillis(300)).handler(t -> Map.of("words", 2, "worker", "rescuer"))
                .start()) {
            processes.getFirst().destroyForcibly(); // SIGKILL, mid-task
            long killed = System.nanoTime();
            Task done = await(id, Duration.ofSeconds(20));
            Duration took = Duration.ofNanos(System.nanoTime() - killed);

            assertThat(done.status()).isEqualTo("completed");
            assertThat(done.assignee()).contains("rescuer");
            assertThat(done.raw().path("failed_by").toString()).isEqualTo("[\"doomed\"]");
            assertThat(done.error()).isEmpty();
            assertThat(took).as("TTL + the coordinator's tick + one receive").isLessThan(TTL.plusSeconds(4));
        }
    }

    /**
     * Regression: Ctrl-C mid-task ended it with a traceback, the task left assigned and the agent active; then
     * the heartbeats stopped with the Ctrl-C, so a last task longer than the TTL (as here) was lost.
     */
    @Test
    void ctrlC_midTask_finishesAndReportsTheTask_thenGoesOffline() throws Exception {
        BlockingQueue<String> lines = python("interrupted");
        String id = client.createTask(task(Map.of("text", "almost done", "sleep_seconds", 4), 0)).taskId();
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (client.agent("interrupted").raw().path("leased").asInt() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(20); // until the Python worker holds the request
        }

        new ProcessBuilder("kill", "-INT", Long.toString(processes.getFirst().pid())).start().waitFor();

        assertThat(processes.getFirst().waitFor(20, TimeUnit.SECONDS)).isTrue();
        List<String> said = new ArrayList<>();
        for (String line = lines.poll(5, TimeUnit.SECONDS); line != null; line = lines.poll(5, TimeUnit.SECONDS)) {
            said.add(line);
            if (line.equals("stopped")) {
                break;
            }
        }
        assertThat(said).as("stderr: " + java.nio.file.Files.readString(dir.resolve("interrupted.err")))
                .contains("complete " + id, "stopped");
        assertThat(client.task(id).status()).isEqualTo("completed");
        assertThat(client.agent("interrupted").status()).isEqualTo("offline");
    }

    /** Regression: a report, or a Ctrl-C, the server was not there to take ended the worker with a traceback. */
    @Test
    void aWorkerWhoseServerIsGoneWhenItReports_keepsRunning_andStopsCleanly() throws Exception {
        BlockingQueue<String> lines = python("stranded");
        client.createTask(task(Map.of("text", "slow one", "sleep_seconds", 1), 0));
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (client.agent("stranded").raw().path("leased").asInt() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(20); // until the Python worker holds the request
        }

        server.close();

        Path err = dir.resolve("stranded.err");
        deadline = System.nanoTime() + 10_000_000_000L;
        while (!java.nio.file.Files.readString(err).contains("report failed") && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        Thread.sleep(500);
        assertThat(java.nio.file.Files.readString(err)).contains("report failed").doesNotContain("Traceback");
        assertThat(processes.getFirst().isAlive()).isTrue();

        new ProcessBuilder("kill", "-INT", Long.toString(processes.getFirst().pid())).start().waitFor();

        assertThat(processes.getFirst().waitFor(20, TimeUnit.SECONDS)).isTrue();
        assertThat(lines.poll(5, TimeUnit.SECONDS)).isEqualTo("stopped");
        assertThat(java.nio.file.Files.readString(err)).contains("going offline failed").doesNotContain("Traceback");
        assertThat(processes.getFirst().exitValue()).isZero();
    }

    @Test
    void aRestartedWorker_resumesWithItsInbox_andKeepsWhatItFinished() throws Exception {
        BlockingQueue<String> first = python("steady");
        Task before = await(client.createTask(task(Map.of("text", "one"), 0)).taskId(), Duration.ofSeconds(20));
        // SIGTERM through the handle: Process.destroy() would also close the pipe we read "stopped" from.
        processes.getFirst().toHandle().destroy(); // it finishes its loop and says it is going offline
        assertThat(processes.getFirst().waitFor(10, TimeUnit.SECONDS)).isTrue();
        String line = first.poll(5, TimeUnit.SECONDS);
        while (line != null && !line.equals("stopped")) {
            line = first.poll(5, TimeUnit.SECONDS);
        }
        assertThat(line).as("it said goodbye; stderr: " + java.nio.file.Files.readString(dir.resolve("steady.err")))
                .isEqualTo("stopped");

        python("steady");
        Task after = await(client.createTask(task(Map.of("text", "two words"), 0)).taskId(), Duration.ofSeconds(20));

        assertThat(before.status()).isEqualTo("completed");
        assertThat(client.task(before.taskId()).result().path("words").asInt()).isEqualTo(1);
        assertThat(after.status()).isEqualTo("completed");
        assertThat(after.assignee()).contains("steady");
        assertThat(client.agent("steady").raw().path("pending").asInt()).isZero();
    }
}
