package io.swarmbus.examples;

import io.swarmbus.client.AgentWorker;
import io.swarmbus.client.SupervisorCoordinator;
import io.swarmbus.client.SwarmbusClient;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A supervisor hands out two kinds of work; two workers with different capabilities take them.
 * {@code ExamplesTest} runs it against a real server; {@link #main} runs it against one at the
 * given address (default {@code http://127.0.0.1:8080}, which {@code ./swarmbus serve --dev} starts).
 */
public final class SupervisorWithTwoWorkers {
    private SupervisorWithTwoWorkers() {}

    public static void main(String[] args) throws Exception {
        String server = args.length > 0 ? args[0] : "http://127.0.0.1:8080";
        run(SwarmbusClient.login(server, "example-team", "example-password")).forEach((task, outcome) ->
                System.out.println(task + " -> " + outcome));
    }

    /** Runs the example on {@code client}'s server and returns each task's outcome by id. */
    public static Map<String, String> run(SwarmbusClient client) throws InterruptedException {
        SupervisorCoordinator supervisor = new SupervisorCoordinator(client, "planner");
        supervisor.agentRegistry().registerAgent("planner", "supervisor", List.of("planning"), 10);

        // The workers run while the try block does; closing them lets running tasks finish.
        try (AgentWorker calculator = AgentWorker.builder(client, "calculator").capabilities("math").maxConcurrentTasks(2)
                        .handler(task -> Map.of("sum", task.parameters().path("a").asInt()
                                + task.parameters().path("b").asInt()))
                        .start();
                AgentWorker writer = AgentWorker.builder(client, "writer").capabilities("text").maxConcurrentTasks(2)
                        .handler(task -> Map.of("title", task.parameters().path("topic").asText().toUpperCase()))
                        .start()) {
            Map<String, String> outcomes = new LinkedHashMap<>();
            List<String> ids = List.of(
                    supervisor.assignTask("add", "add two numbers", Map.of("a", 2, "b", 40), List.of("math"), "high")
                            .orElseThrow(),
                    supervisor.assignTask("title", "write a title", Map.of("topic", "swarms"), List.of("text"), "medium")
                            .orElseThrow());
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (outcomes.size() < ids.size() && System.nanoTime() < deadline) {
                supervisor.processIncomingMessages();
                for (String id : ids) {
                    supervisor.outcome(id).ifPresent(outcome -> outcomes.put(id, outcome.path("agent_id").asText()
                            + " " + outcome.path("status").asText() + " " + outcome.path("result")));
                }
                Thread.sleep(50);
            }
            System.out.printf("calculator ran %d, writer ran %d at the end%n", calculator.runningTasks(),
                    writer.runningTasks());
            return outcomes;
        }
    }
}
