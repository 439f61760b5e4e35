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
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The registry over real HTTP: profiles, updates, heartbeats, liveness, discovery, selection, stats. */
class RegistryApiTest {
    @TempDir
    Path dir;
    MessageBus bus;
    HttpServer server;
    final HttpClient client = HttpClient.newHttpClient();

    record Reply(int status, JsonNode body) {}

    void start(Duration heartbeatTtl) {
        bus = MessageBus.open(BusConfig.builder(dir).build());
        server = HttpServer.start(bus, ServerSettings.forTests(dir).withHeartbeatTtl(heartbeatTtl));
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
            bus.close();
        }
    }

    Reply call(String token, String method, String path, String body) throws Exception {
        HttpResponse<String> response = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                + server.port() + path)).header("Content-Type", "application/json")
                .header("Authorization", "Bearer " + token)
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
                .build(), HttpResponse.BodyHandlers.ofString());
        return new Reply(response.statusCode(), RequestBody.MAPPER.readTree(response.body()));
    }

    String token(String user) throws Exception {
        HttpResponse<String> response = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                + server.port() + "/auth/token")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"username\":\"" + user + "\",\"password\":\"password-" + user + "\"}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        return RequestBody.MAPPER.readTree(response.body()).get("access_token").asText();
    }

    @Test
    void register_update_heartbeat_discover_select() throws Exception {
        start(Duration.ofSeconds(30));
        String alice = token("alice");
        Reply registered = call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"py\",\"agent_role\":\"worker\","
                + "\"capabilities\":[\"python\",\"testing\"],\"max_concurrent_tasks\":3,\"metadata\":{\"team\":\"a\"}}");
        call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"js\",\"role\":\"worker\",\"capabilities\":[\"javascript\"]}");
        call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"boss\",\"role\":\"supervisor\"}");
        Reply again = call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"py\",\"capabilities\":[\"python\"]}");
        Reply updated = call(alice, "PUT", "/api/v1/agents/py", "{\"capabilities\":[\"python\",\"api_development\"],"
                + "\"description\":\"builds APIs\"}");
        Reply beat = call(alice, "POST", "/api/v1/agents/js/heartbeat", "{\"status\":\"busy\",\"current_tasks\":1,"
                + "\"health\":{\"cpu\":0.9}}");

        Reply infinite = call(alice, "POST", "/api/v1/agents/js/heartbeat", "{\"health\":{\"cpu\":1e400}}");

        assertThat(infinite.status()).as("1e400 parses as infinity").isEqualTo(400);
        assertThat(infinite.body().get("field").asText()).isEqualTo("health");
        assertThat(registered.status()).isEqualTo(201);
        assertThat(registered.body().get("registration").asText()).isEqualTo("registered");
        assertThat(registered.body().get("owner").asText()).isEqualTo("alice");
        assertThat(registered.body().get("status").asText()).isEqualTo("active");
        assertThat(registered.body().get("pending").asInt()).isZero(); // the inbox, too
        assertThat(again.status()).isEqualTo(200);
        assertThat(again.body().get("registration").asText()).isEqualTo("updated");
        assertThat(updated.body().get("capabilities").toString()).isEqualTo("[\"api_development\",\"python\"]");
        assertThat(updated.body().get("description").asText()).isEqualTo("builds APIs");
        assertThat(updated.body().get("max_concurrent_tasks").asInt()).as("fields not given stay").isEqualTo(1);
        assertThat(beat.body().get("status").asText()).isEqualTo("busy");
        assertThat(beat.body().get("health").get("cpu").asDouble()).isEqualTo(0.9);

        assertThat(names(call(alice, "GET", "/api/v1/agents?capabilities=python,api_development", null)))
                .isEqualTo("[py]");
        assertThat(names(call(alice, "GET", "/api/v1/agents?status=busy", null))).isEqualTo("[js]");
        assertThat(names(call(alice, "GET", "/api/v1/agents?available=true", null))).isEqualTo("[boss, py]");
        assertThat(call(alice, "GET", "/api/v1/registry/best?capabilities=python&strategy=round_robin", null)
                .body().get("agent_id").asText()).isEqualTo("py");
        Reply none = call(alice, "GET", "/api/v1/registry/best?capabilities=javascript", null);
        assertThat(none.status()).isEqualTo(404);
        assertThat(none.body().get("message").asText()).contains("javascript");
        JsonNode stats = call(alice, "GET", "/api/v1/registry/stats", null).body();
        assertThat(stats.get("total_agents").asInt()).isEqualTo(3);
        assertThat(stats.get("by_role").get("worker").asInt()).isEqualTo(2);
        assertThat(stats.get("by_status").get("busy").asInt()).isEqualTo(1);
    }

    @Test
    void othersAgents_areInvisibleAndUntouchable() throws Exception {
        start(Duration.ofSeconds(30));
        String alice = token("alice");
        String bob = token("bob");
        call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"a1\",\"capabilities\":[\"x\"]}");

        assertThat(call(bob, "POST", "/api/v1/agents", "{\"agent_id\":\"a1\"}").status()).isEqualTo(409);
        assertThat(call(bob, "PUT", "/api/v1/agents/a1", "{\"role\":\"monitor\"}").status()).isEqualTo(404);
        assertThat(call(bob, "POST", "/api/v1/agents/a1/heartbeat", "{}").status()).isEqualTo(404);
        assertThat(call(bob, "GET", "/api/v1/agents", null).body().get("count").asInt()).isZero();
        assertThat(call(bob, "GET", "/api/v1/registry/best?capabilities=x", null).status()).isEqualTo(404);
        assertThat(call(bob, "GET", "/api/v1/registry/stats", null).body().get("total_agents").asInt()).isZero();
    }

    /** Regression: an update naming another agent_id in its body changed the path's agent and said nothing. */
    @Test
    void anUpdateNamingAnotherAgentId_isRefusedAndChangesNothing() throws Exception {
        start(Duration.ofSeconds(30));
        String alice = token("alice");
        call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"a1\",\"role\":\"worker\"}");

        Reply renamed = call(alice, "PUT", "/api/v1/agents/a1", "{\"agent_id\":\"a2\",\"role\":\"monitor\"}");
        Reply same = call(alice, "PUT", "/api/v1/agents/a1", "{\"agent_id\":\"a1\",\"description\":\"kept\"}");

        assertThat(renamed.status()).isEqualTo(400);
        assertThat(renamed.body().get("field").asText()).isEqualTo("agent_id");
        assertThat(renamed.body().get("message").asText()).contains("a2", "a1", "renamed");
        assertThat(same.status()).as("its own id is fine").isEqualTo(200);
        JsonNode a1 = call(alice, "GET", "/api/v1/agents/a1", null).body();
        assertThat(a1.get("role").asText()).isEqualTo("worker");
        assertThat(a1.get("description").asText()).isEqualTo("kept");
        assertThat(call(alice, "GET", "/api/v1/agents/a2", null).status()).isEqualTo(404);
    }

    @Test
    void badFields_get400NamingTheField() throws Exception {
        start(Duration.ofSeconds(30));
        String alice = token("alice");
        call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"a1\"}");

        assertThat(field(call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"a2\",\"role\":\"Big Boss\"}")))
                .isEqualTo("role");
        assertThat(field(call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"a2\",\"max_concurrent_tasks\":0}")))
                .isEqualTo("max_concurrent_tasks");
        // The message names no range the field does not have (it once said "from -2147483648 to ...").
        assertThat(call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"a2\",\"max_concurrent_tasks\":2.5}").body()
                .get("message").asText()).isEqualTo("'max_concurrent_tasks' must be a whole number, was 2.5");
        assertThat(call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"a2\",\"max_concurrent_tasks\":1e12}").body()
                .get("message").asText()).contains("from -2147483648 to 2147483647");
        assertThat(field(call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"a2\",\"capabilities\":\"python\"}")))
                .isEqualTo("capabilities");
        assertThat(field(call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"a2\",\"metadata\":{\"k\":1}}")))
                .isEqualTo("metadata");
        assertThat(field(call(alice, "POST", "/api/v1/agents/a1/heartbeat", "{\"status\":\"sleepy\"}")))
                .isEqualTo("status");
        assertThat(field(call(alice, "POST", "/api/v1/agents/a1/heartbeat", "{\"health\":{\"cpu\":\"high\"}}")))
                .isEqualTo("health");
        assertThat(field(call(alice, "GET", "/api/v1/registry/best?strategy=fastest", null))).isEqualTo("strategy");
        // Before, these named a field the request did not have (agent_id, required_capabilities).
        assertThat(field(call(alice, "GET", "/api/v1/registry/best?exclude=a%20b", null))).isEqualTo("exclude");
        assertThat(field(call(alice, "GET", "/api/v1/registry/best?capabilities=a%20b", null))).isEqualTo("capabilities");
        assertThat(field(call(alice, "GET", "/api/v1/tasks?assignee=a%20b", null))).isEqualTo("assignee");
        assertThat(field(call(alice, "POST", "/api/v1/tasks", "{\"type\":\"x\",\"candidates\":[\"a b\"]}")))
                .isEqualTo("candidates");
        assertThat(call(alice, "GET", "/api/v1/agents/a2", null).status()).isEqualTo(404);
    }

    @Test
    void silentAgents_goOffline_andComeBackWithAHeartbeat_andProfilesSurviveRestarts() throws Exception {
        start(Duration.ofSeconds(1));
        String alice = token("alice");
        call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"quiet\",\"role\":\"monitor\",\"capabilities\":[\"x\"]}");

        long deadline = System.nanoTime() + 10_000_000_000L;
        String status = "";
        while (System.nanoTime() < deadline && !status.equals("offline")) {
            Thread.sleep(100);
            status = call(alice, "GET", "/api/v1/agents/quiet", null).body().get("status").asText();
        }
        assertThat(status).isEqualTo("offline");
        assertThat(call(alice, "GET", "/api/v1/registry/best?capabilities=x", null).status()).isEqualTo(404);
        assertThat(call(alice, "POST", "/api/v1/agents/quiet/heartbeat", "{}").body().get("status").asText())
                .isEqualTo("active");

        server.close();
        bus.close();
        start(Duration.ofSeconds(30));
        JsonNode back = call(token("alice"), "GET", "/api/v1/agents/quiet", null).body();
        assertThat(back.get("role").asText()).isEqualTo("monitor");
        assertThat(back.get("owner").asText()).isEqualTo("alice");
    }

    static String field(Reply reply) {
        assertThat(reply.status()).as(reply.body().toString()).isEqualTo(400);
        return reply.body().get("field").asText();
    }

    static String names(Reply reply) {
        java.util.List<String> names = new java.util.ArrayList<>();
        reply.body().get("agents").forEach(a -> names.add(a.get("agent_id").asText()));
        java.util.Collections.sort(names);
        return names.toString();
    }

    @Test
    void a_delete_cut_short_between_inbox_and_profile_leaves_the_agent_registered_and_deletable() throws Exception {
        bus = MessageBus.open(BusConfig.builder(dir).build());
        MessageBus real = bus;
        // The process dies as the delete reaches the inbox: deleteInbox never happens.
        MessageBus dying = (MessageBus) java.lang.reflect.Proxy.newProxyInstance(MessageBus.class.getClassLoader(),
                new Class<?>[] {MessageBus.class}, (proxy, method, args) -> {
                    if (method.getName().equals("deleteInbox")) {
                        throw new IllegalStateException("crashed");
                    }
                    try {
                        return method.invoke(real, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        server = HttpServer.start(dying, ServerSettings.forTests(dir));
        String alice = token("alice");
        assertThat(call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"w1\"}").status()).isEqualTo(201);
        assertThat(call(alice, "DELETE", "/api/v1/agents/w1", null).status()).isEqualTo(500);
        server.close();

        server = HttpServer.start(real, ServerSettings.forTests(dir));
        alice = token("alice");
        assertThat(call(alice, "GET", "/api/v1/agents/w1", null).status()).isEqualTo(200);
        assertThat(call(alice, "DELETE", "/api/v1/agents/w1", null).status()).isEqualTo(200);
        assertThat(call(alice, "POST", "/api/v1/agents", "{\"agent_id\":\"w1\"}").status()).isEqualTo(201);
    }
}
