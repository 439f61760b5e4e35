package io.swarmbus.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.server.HttpServer;
import io.swarmbus.server.ServerSettings;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Seed 001's supervisor and worker, written with its class and method names, against a real server. */
class SeedShapesTest {
    @TempDir
    Path dir;
    MessageBus bus;
    HttpServer server;
    SwarmbusClient client;

    @BeforeEach
    void start() {
        bus = MessageBus.open(BusConfig.builder(dir).build());
        server = HttpServer.start(bus, ServerSettings.forTests(dir));
        client = SwarmbusClient.login("http://127.0.0.1:" + server.port(), "backend", "backend-password");
    }

    @AfterEach
    void stop() {
        server.close();
        bus.close();
    }

    @Test
    void theSeedsSupervisorAndWorker() throws Exception {
        SupervisorCoordinator coordinator = new SupervisorCoordinator(client, "backend-supervisor-001");
        assertThat(coordinator.agentRegistry().registerAgent("backend-supervisor-001", "supervisor",
                List.of("project_management", "coordination"), 20)).isTrue();
        AgentRegistry registry = new AgentRegistry(client);
        MessageQueueManager queue = new MessageQueueManager(client);
        assertThat(registry.registerAgent("python-worker-001", "worker",
                List.of("python", "fastapi", "postgresql", "testing", "api_development"), 3)).isTrue();

        String taskId = coordinator.assignTask("api_development", "Create user authentication API",
                Map.of("framework", "fastapi", "auth", "jwt"), List.of("python", "api_development"), "high").orElseThrow();
        assertThat(registry.findBestAgent(List.of("python")).orElseThrow().agentId()).isEqualTo("python-worker-001");
        assertThat(registry.findAvailableAgents(List.of("javascript"), 10)).isEmpty();

        // The worker's loop: take the request, answer with a task_response to whoever sent it.
        List<AgentMessage> messages = queue.getMessages("python-worker-001", 5);
        assertThat(messages).hasSize(1);
        AgentMessage request = messages.getFirst();
        assertThat(request.messageType()).isEqualTo("task_request");
        assertThat(request.content().path("parameters").path("auth").asText()).isEqualTo("jwt");
        assertThat(queue.sendMessage(AgentMessage.of("python-worker-001", request.fromAgent(), "task_response",
                Map.of("task_id", taskId, "status", "completed", "result", Map.of("endpoints", 4),
                        "completion_percentage", 100), "medium"))).isTrue();
        assertThat(queue.markProcessed(request.messageId(), "python-worker-001")).isTrue();
        assertThat(queue.markProcessed(request.messageId(), "python-worker-001")).as("only once").isFalse();
        assertThat(registry.updateHeartbeat("python-worker-001", "active", 0)).isTrue();

        long deadline = System.nanoTime() + 10_000_000_000L;
        while (coordinator.outcome(taskId).isEmpty() && System.nanoTime() < deadline) {
            coordinator.processIncomingMessages();
            Thread.sleep(20);
        }
        assertThat(coordinator.outcome(taskId).orElseThrow().path("result").path("endpoints").asInt()).isEqualTo(4);
        assertThat(coordinator.getCoordinationStats()).containsEntry("completion_rate", 1.0);
        assertThat(coordinator.broadcastMessage("coordination", Map.of("standup", true), "low")).isTrue();
        assertThat(queue.getQueueStats()).containsKey("sent");
        assertThat(queue.sendMessage(AgentMessage.of("python-worker-001", "nobody", "chat", "hi", "low"))).isFalse();
    }
}
