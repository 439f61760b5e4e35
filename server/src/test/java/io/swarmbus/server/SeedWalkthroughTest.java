package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The "Swarms DB" seed's curl walk-through, step by step and verbatim (dev mode signs the seed's
 * users up): token, register, send, receive, create a group, send to the group.
 */
class SeedWalkthroughTest {
    @TempDir
    Path dir;
    MessageBus bus;
    HttpServer server;
    final HttpClient client = HttpClient.newHttpClient();

    @BeforeEach
    void start() {
        bus = MessageBus.open(BusConfig.builder(dir).build());
        server = HttpServer.start(bus, ServerSettings.forTests(dir));
    }

    @AfterEach
    void stop() {
        server.close();
        bus.close();
    }

    JsonNode curl(String method, String path, String token, String contentType, String body, int expected)
            throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .method(method, HttpRequest.BodyPublishers.ofString(body));
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        if (contentType != null) {
            request.header("Content-Type", contentType);
        }
        HttpResponse<String> response = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(method + " " + path + ": " + response.body()).isEqualTo(expected);
        return RequestBody.MAPPER.readTree(response.body());
    }

    String token(String user) throws Exception {
        return curl("POST", "/auth/token", null, "application/json",
                "{\"username\":\"" + user + "\", \"password\":\"password\"}", 200).get("access_token").asText();
    }

    @Test
    void theSeedsCurlWalkthrough_runsVerbatim() throws Exception {
        // The other agents the walk-through addresses register themselves first.
        for (String other : new String[] {"agent2", "agent3", "agent4"}) {
            curl("POST", "/agents/register", token(other), "application/json",
                    "{\"agent_id\":\"" + other + "\", \"description\":\"helper\"}", 201);
        }

        // curl -X POST http://localhost:8000/auth/token -H "Content-Type: application/json" \
        //   -d '{"username":"agent1", "password":"password"}'
        String token = token("agent1");

        // curl -X POST .../agents/register -H "Authorization: Bearer YOUR_TOKEN" ...
        curl("POST", "/agents/register", token, "application/json",
                "{\"agent_id\":\"agent1\", \"description\":\"AI Assistant Agent\"}", 201);

        // curl -X POST .../messages ...
        JsonNode sent = curl("POST", "/messages", token, "application/json", """
                {
                    "content": "Hello, can you analyze this data?",
                    "receiver_id": "agent2",
                    "message_type": "command",
                    "priority": 2
                  }""", 201);
        assertThat(sent.get("message_id").asText()).hasSize(16);

        // curl -X POST .../agents/receive -H "Authorization: Bearer YOUR_TOKEN" -d "max_messages=10&timeout=2.0"
        // (curl -d sends application/x-www-form-urlencoded)
        JsonNode received = curl("POST", "/agents/receive", token, "application/x-www-form-urlencoded",
                "max_messages=10&timeout=2.0", 200);
        assertThat(received.get("messages")).isEmpty(); // nothing was sent to agent1 yet

        // curl -X POST .../groups ...
        curl("POST", "/groups", token, "application/json", """
                {
                    "group_name": "analysis_team",
                    "agent_ids": ["agent2", "agent3", "agent4"]
                  }""", 201);

        // curl -X POST .../groups/message ...
        JsonNode toGroup = curl("POST", "/groups/message", token, "application/json", """
                {
                    "group_name": "analysis_team",
                    "content": "Everyone, please review these results.",
                    "message_type": "chat"
                  }""", 201);
        assertThat(toGroup.get("recipients").asInt()).isEqualTo(3);

        // agent2 sees both messages, highest priority first, and acks one through PUT /messages/{id}/status.
        String agent2 = token("agent2");
        JsonNode inbox = curl("POST", "/agents/receive", agent2, "application/x-www-form-urlencoded",
                "max_messages=10&timeout=2.0", 200).get("messages");
        assertThat(inbox).hasSize(2);
        assertThat(inbox.get(0).get("content").asText()).isEqualTo("Hello, can you analyze this data?");
        curl("PUT", "/messages/" + inbox.get(0).get("id").asText() + "/status", agent2, "application/json",
                "{\"status\":\"processed\"}", 200);
        assertThat(curl("GET", "/messages/" + sent.get("message_id").asText(), agent2, null, "", 200)
                .get("deliveries").get(0).get("status").asText()).isEqualTo("acked");
        assertThat(curl("GET", "/agents/agent2/messages", agent2, null, "", 200).get("count").asInt()).isEqualTo(2);
    }

    /**
     * The "Agent Communication System" seed's {@code AgentMessage}, as its {@code to_json} writes it:
     * sender and recipient are {@code from_agent} and {@code to_agent}. They are another name for
     * {@code from} and {@code to} wherever those are read; a body naming two different senders or
     * recipients is refused naming both rather than one being dropped unread.
     */
    @Test
    void theAgentCommunicationSeedsMessage_sendsWithFromAgentAndToAgent() throws Exception {
        String sender = token("agent_001");
        String receiver = token("agent_002");
        for (String[] agent : new String[][] {{"agent_001", sender}, {"agent_002", receiver}}) {
            curl("POST", "/agents/register", agent[1], "application/json", "{\"agent_id\":\"" + agent[0] + "\"}", 201);
        }
        String message = """
                {"message_id": "m-1", "from_agent": "agent_001", "to_agent": "agent_002",
                 "message_type": "task_assignment", "content": {"task": "process_data"}, "priority": "high",
                 "timestamp": "2024-01-15T10:31:00"}""";
        for (String path : new String[] {"/messages", "/api/v1/messages"}) {
            curl("POST", path, sender, "application/json", message, 201);
        }
        JsonNode inbox = curl("POST", "/agents/receive", receiver, "application/x-www-form-urlencoded",
                "max_messages=10", 200).get("messages");
        assertThat(inbox).hasSize(2);
        for (JsonNode received : inbox) {
            assertThat(received.get("from").asText()).isEqualTo("agent_001");
            assertThat(received.get("to").asText()).isEqualTo("agent_002");
            assertThat(received.get("type").asText()).isEqualTo("task_assignment");
            assertThat(received.at("/content/task").asText()).isEqualTo("process_data");
        }

        JsonNode twoSenders = curl("POST", "/messages", sender, "application/json",
                "{\"from\":\"agent_001\",\"from_agent\":\"agent_002\",\"to_agent\":\"agent_002\",\"content\":1}", 400);
        assertThat(twoSenders.get("field").asText()).isEqualTo("from_agent");
        assertThat(twoSenders.get("message").asText()).contains("'from'").contains("'from_agent'");
        JsonNode twoRecipients = curl("POST", "/api/v1/messages", sender, "application/json",
                "{\"from_agent\":\"agent_001\",\"to\":\"agent_001\",\"to_agent\":\"agent_002\",\"content\":1}", 400);
        assertThat(twoRecipients.get("field").asText()).isEqualTo("to_agent");
        assertThat(twoRecipients.get("message").asText()).contains("'to'").contains("'to_agent'");
        JsonNode seedTwoRecipients = curl("POST", "/messages", sender, "application/json",
                "{\"receiver_id\":\"agent_001\",\"to_agent\":\"agent_002\",\"content\":1}", 400);
        assertThat(seedTwoRecipients.get("message").asText()).contains("'receiver_id'").contains("'to_agent'");
        JsonNode toAGroup = curl("POST", "/groups/message", sender, "application/json",
                "{\"group_name\":\"g\",\"to_agent\":\"agent_002\",\"content\":1}", 400);
        assertThat(toAGroup.get("field").asText()).as("the route sends to its group, not to to_agent")
                .isEqualTo("to_agent");
        JsonNode nowhere = curl("POST", "/messages", sender, "application/json",
                "{\"from_agent\":\"agent_001\",\"content\":1}", 400);
        assertThat(nowhere.get("message").asText()).contains("'to_agent'");
        assertThat(curl("GET", "/agents/agent_002/messages", receiver, null, "", 200).get("count").asInt())
                .as("nothing refused was sent").isEqualTo(2);
    }
}
