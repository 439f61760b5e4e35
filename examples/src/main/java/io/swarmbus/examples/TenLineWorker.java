package io.swarmbus.examples;

import io.swarmbus.client.AgentWorker;
import io.swarmbus.client.SwarmbusClient;
import java.util.Map;

/** The README's worker: ten lines from login to taking tasks. */
public final class TenLineWorker {
    private TenLineWorker() {}

    public static void main(String[] args) throws Exception {
        var client = SwarmbusClient.login("http://127.0.0.1:8080", "me", "my-password");
        try (var worker = AgentWorker.builder(client, "summarizer-1")
                .capabilities("summarize").maxConcurrentTasks(4)
                .handler(task -> Map.of("summary", task.parameters().path("text").asText().split("\\. ")[0]))
                .start()) {
            Runtime.getRuntime().addShutdownHook(new Thread(worker::close)); // Ctrl-C: finish tasks, go offline
            Thread.currentThread().join();
        }
    }
}
