package io.swarmbus.client;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.client.Types.Agent;
import io.swarmbus.client.Types.Delivery;
import io.swarmbus.client.Types.SendResult;
import io.swarmbus.client.Types.Task;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A typed client for the Swarmbus HTTP API. Thread-safe; one per process is enough.
 *
 * <p>Requests the server did not take in are retried with backoff: when the connection is
 * refused or times out, and on 429 (after its {@code Retry-After}, if that is at most 10 s) and 503. Sends carry an idempotency key (a
 * batch, one per message; a body with its own {@code idempotency_key}, that one), so a retried send is
 * stored once. {@link #close} lets go of the client's connections.
 *
 * <p>A client made by {@link #login} keeps the credentials: when a call is answered 401 (its token
 * expired, or the server no longer takes it) it signs in again, once for all the threads that were
 * refused the same token, and repeats the call once; a second 401 is thrown. Repeating is safe
 * because a 401 comes before the server does anything (a receive refused at the end of its wait
 * hands back what it leased; its acks, repeated, are answered {@code not_held}). A client made by
 * {@link #withToken} has no credentials and throws the 401.
 */
public final class SwarmbusClient implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final int ATTEMPTS = 5;
    /** The longest {@code Retry-After} waited out before a retry; a longer one fails the call at once. */
    static final long MAX_RETRY_AFTER_MILLIS = 10_000;

    private final String base;
    /** The body of {@code POST /auth/token} to sign in again with; null for a client given a token. */
    private final ObjectNode credentials;
    /** Held while signing in again, so that threads refused the same token sign in once between them. */
    private final ReentrantLock signingIn = new ReentrantLock(); // not synchronized: that pins a virtual thread on 21
    private volatile String token;
    private final HttpClient http;

    SwarmbusClient(String base, String token, Duration connectTimeout) {
        this(base, token, null, connectTimeout);
    }

    private SwarmbusClient(String base, String token, ObjectNode credentials, Duration connectTimeout) {
        this.base = base.replaceAll("/+$", "");
        this.token = token;
        this.credentials = credentials;
        this.http = HttpClient.newBuilder().connectTimeout(connectTimeout).build();
    }

    /** A client that authenticates with {@code token}, and throws the 401 once the server refuses it. */
    public static SwarmbusClient withToken(String baseUrl, String token) {
        return new SwarmbusClient(baseUrl, token, Duration.ofSeconds(5));
    }

    /**
     * Logs in as {@code username} and returns a client with the token, which signs in again when
     * the token expires (see above).
     */
    public static SwarmbusClient login(String baseUrl, String username, String password) {
        ObjectNode credentials = JSON.createObjectNode().put("username", username).put("password", password);
        SwarmbusClient client = new SwarmbusClient(baseUrl, null, credentials, Duration.ofSeconds(5));
        try {
            client.token = client.signIn();
            return client;
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
    }

    // ---------------------------------------------------------------- agents

    /** Registers (or re-registers) an agent; {@code role} e.g. worker or supervisor. */
    public Agent registerAgent(String agentId, String role, Collection<String> capabilities, int maxConcurrentTasks,
            Map<String, String> metadata) {
        ObjectNode body = JSON.createObjectNode().put("agent_id", agentId).put("role", role)
                .put("max_concurrent_tasks", maxConcurrentTasks);
        body.set("capabilities", strings(capabilities));
        body.set("metadata", JSON.valueToTree(metadata));
        return Agent.of(call("POST", "/api/v1/agents", body));
    }

    /** Tells the server the agent is alive; {@code status} and {@code currentTasks} may be null. */
    public Agent heartbeat(String agentId, String status, Integer currentTasks, Map<String, Double> health) {
        ObjectNode body = JSON.createObjectNode();
        if (status != null) {
            body.put("status", status);
        }
        if (currentTasks != null) {
            body.put("current_tasks", currentTasks);
        }
        body.set("health", JSON.valueToTree(health));
        return Agent.of(call("POST", "/api/v1/agents/" + path(agentId) + "/heartbeat", body));
    }

    public Agent agent(String agentId) {
        return Agent.of(call("GET", "/api/v1/agents/" + path(agentId), null));
    }

    /** Your agents with every one of {@code capabilities}; only those with a free slot if {@code availableOnly}. */
    public List<Agent> findAgents(Collection<String> capabilities, boolean availableOnly, int limit) {
        String query = "?limit=" + limit + (capabilities.isEmpty() ? "" : "&capabilities="
                + path(String.join(",", capabilities))) + (availableOnly ? "&available=true" : "");
        List<Agent> agents = new ArrayList<>();
        call("GET", "/api/v1/agents" + query, null).path("agents").forEach(a -> agents.add(Agent.of(a)));
        return agents;
    }

    /** The agent {@code strategy} (least_loaded, round_robin, random, weighted) picks; empty if none is free. */
    public Optional<Agent> bestAgent(Collection<String> capabilities, String strategy) {
        try {
            return Optional.of(Agent.of(call("GET", "/api/v1/registry/best?strategy=" + path(strategy)
                    + (capabilities.isEmpty() ? "" : "&capabilities=" + path(String.join(",", capabilities))), null)));
        } catch (SwarmbusApiException e) {
            if (e.status() == 404) {
                return Optional.empty();
            }
            throw e;
        }
    }

    public JsonNode registryStats() {
        return call("GET", "/api/v1/registry/stats", null);
    }

    public void deleteAgent(String agentId) {
        call("DELETE", "/api/v1/agents/" + path(agentId), null);
    }

    // ---------------------------------------------------------------- messages

    /**
     * Sends a message: {@code message} is the body of {@code POST /api/v1/messages}
     * ({@code from}, {@code to} | {@code group} | {@code topic}, {@code content}, {@code type},
     * {@code priority}, ...).
     */
    public SendResult send(ObjectNode message) {
        return SendResult.of(call("POST", "/api/v1/messages", message, idempotencyKey(message)));
    }

    /** Sends {@code content} from one agent to another. */
    public SendResult send(String from, String to, String type, Object content, String priority) {
        ObjectNode body = JSON.createObjectNode().put("from", from).put("to", to).put("type", type)
                .put("priority", priority);
        body.set("content", JSON.valueToTree(content));
        return send(body);
    }

    /**
     * Leases up to {@code max} messages for {@code agent}, waiting up to {@code wait} for the first;
     * each stays invisible to others for {@code visibility} unless acked.
     */
    public List<Delivery> receive(String agent, int max, Duration wait, Duration visibility) {
        return receive(agent, max, wait, visibility, null);
    }

    /**
     * Acks {@code acks} (what the previous receive leased and the caller has handled), then
     * receives as {@link #receive(String, int, Duration, Duration)} does, in one request: a consumer
     * loop's ack costs no request of its own. The acks are durable before anything is leased.
     */
    public List<Delivery> ackAndReceive(String agent, Collection<String> acks, int max, Duration wait,
            Duration visibility) {
        ObjectNode body = JSON.createObjectNode();
        body.set("ack", strings(acks));
        return receive(agent, max, wait, visibility, body);
    }

    private List<Delivery> receive(String agent, int max, Duration wait, Duration visibility, ObjectNode body) {
        String query = "?max_messages=" + max + "&timeout=" + wait.toMillis() / 1000.0 + "&visibility_timeout="
                + visibility.toMillis() / 1000.0;
        List<Delivery> got = new ArrayList<>();
        call("POST", "/api/v1/agents/" + path(agent) + "/receive" + query, body, null, wait.plusSeconds(30))
                .path("messages").forEach(m -> got.add(Delivery.of(m)));
        return got;
    }

    public void ack(String agent, Collection<String> messageIds) {
        ObjectNode body = JSON.createObjectNode();
        body.set("message_ids", strings(messageIds));
        call("POST", "/api/v1/agents/" + path(agent) + "/ack", body);
    }

    /** Extends leases {@code agent} still holds to {@code visibility} from now; returns the ids extended. */
    public List<String> extendLease(String agent, Collection<String> messageIds, Duration visibility) {
        ObjectNode body = JSON.createObjectNode().put("visibility_timeout", visibility.toMillis() / 1000.0);
        body.set("message_ids", strings(messageIds));
        List<String> extended = new ArrayList<>();
        call("POST", "/api/v1/agents/" + path(agent) + "/extend", body).path("extended")
                .forEach(id -> extended.add(id.asText()));
        return extended;
    }

    /** Acks one message; false if it is not leased to {@code agent} (any more). */
    public boolean ackOne(String agent, String messageId) {
        ObjectNode body = JSON.createObjectNode().put("message_id", messageId);
        return call("POST", "/api/v1/agents/" + path(agent) + "/ack", body).path("acked").size() == 1;
    }

    /** The server's message counters. */
    public JsonNode stats() {
        return call("GET", "/api/v1/stats", null);
    }

    /** Gives a leased message back, visible again after {@code delay}. */
    public void nack(String agent, String messageId, Duration delay) {
        call("POST", "/api/v1/agents/" + path(agent) + "/nack", JSON.createObjectNode().put("message_id", messageId)
                .put("delay_seconds", delay.toMillis() / 1000.0));
    }

    /** Sends to each of your agents with {@code role} and/or {@code capability} (either may be null). */
    public JsonNode broadcast(String from, String role, String capability, String type, Object content, String priority) {
        ObjectNode body = JSON.createObjectNode().put("from", from).put("type", type).put("priority", priority);
        if (role != null) {
            body.put("role", role);
        }
        if (capability != null) {
            body.put("capability", capability);
        }
        body.set("content", JSON.valueToTree(content));
        return call("POST", "/api/v1/messages/broadcast", body, UUID.randomUUID().toString());
    }

    /**
     * Sends many messages in one request (1 to 1,000 bodies as for {@link #send(ObjectNode)}); one
     * result per message, in order: {@code message_id} or {@code error}.
     */
    public JsonNode sendBatch(List<ObjectNode> messages) {
        ObjectNode body = JSON.createObjectNode();
        ArrayNode keyed = body.putArray("messages");
        for (ObjectNode message : messages) { // keyed, so that a retried batch stores each message once
            keyed.add(message.hasNonNull("idempotency_key") ? message
                    : message.deepCopy().put("idempotency_key", UUID.randomUUID().toString()));
        }
        return call("POST", "/api/v1/messages/batch", body).path("results");
    }

    /** A message with each delivery's status. */
    public JsonNode message(String messageId) {
        return call("GET", "/api/v1/messages/" + path(messageId), null);
    }

    /** History, newest first: {@code query} as for {@code GET /api/v1/messages} (agent, peer, type, since, until, limit). */
    public JsonNode history(Map<String, String> query) {
        StringBuilder q = new StringBuilder();
        query.forEach((k, v) -> q.append(q.isEmpty() ? '?' : '&').append(path(k)).append('=').append(path(v)));
        return call("GET", "/api/v1/messages" + q, null).path("messages");
    }

    /** The first 100 of {@code agent}'s dead letters, oldest first. */
    public JsonNode deadLetters(String agent) {
        return call("GET", "/api/v1/agents/" + path(agent) + "/dead-letters", null);
    }

    /**
     * A page of {@code agent}'s dead letters, oldest first: at most {@code limit} (1 to 1,000), after
     * message {@code after} (the last id of the page before), or from the first if it is null.
     */
    public JsonNode deadLetters(String agent, int limit, String after) {
        return call("GET", "/api/v1/agents/" + path(agent) + "/dead-letters?limit=" + limit
                + (after == null ? "" : "&after=" + path(after)), null);
    }

    /** Puts a dead letter back in {@code agent}'s inbox. */
    public void replay(String agent, String messageId) {
        call("POST", "/api/v1/agents/" + path(agent) + "/dead-letters/" + path(messageId) + "/replay", null);
    }

    // ---------------------------------------------------------------- groups and topics

    public JsonNode createGroup(String name, Collection<String> members) {
        ObjectNode body = JSON.createObjectNode().put("group_name", name);
        body.set("agent_ids", strings(members));
        return call("POST", "/api/v1/groups", body);
    }

    public JsonNode joinGroup(String name, String agent) {
        return call("PUT", "/api/v1/groups/" + path(name) + "/members/" + path(agent), null);
    }

    public JsonNode leaveGroup(String name, String agent) {
        return call("DELETE", "/api/v1/groups/" + path(name) + "/members/" + path(agent), null);
    }

    public void deleteGroup(String name) {
        call("DELETE", "/api/v1/groups/" + path(name), null);
    }

    /** Sends to every member of a group; {@code message} as for {@link #send(ObjectNode)} without an address. */
    public SendResult sendToGroup(String name, ObjectNode message) {
        return SendResult.of(call("POST", "/api/v1/groups/" + path(name) + "/messages", message,
                idempotencyKey(message)));
    }

    public JsonNode subscribe(String topic, String agent) {
        return call("POST", "/api/v1/topics/" + path(topic) + "/subscribers", JSON.createObjectNode().put("agent_id", agent));
    }

    public JsonNode unsubscribe(String topic, String agent) {
        return call("DELETE", "/api/v1/topics/" + path(topic) + "/subscribers/" + path(agent), null);
    }

    /** Sends to every subscriber of a topic; {@code message} as for {@link #send(ObjectNode)} without an address. */
    public SendResult publish(String topic, ObjectNode message) {
        return SendResult.of(call("POST", "/api/v1/topics/" + path(topic) + "/messages", message,
                idempotencyKey(message)));
    }

    // ---------------------------------------------------------------- agents (more) and administration

    /** Changes the given fields of an agent's profile ({@code description}, {@code role}, {@code capabilities}, ...). */
    public Agent updateAgent(String agentId, ObjectNode changes) {
        return Agent.of(call("PUT", "/api/v1/agents/" + path(agentId), changes));
    }

    /** Creates a user (admins only). */
    public JsonNode createUser(String username, String password, boolean admin) {
        return call("POST", "/api/v1/users", JSON.createObjectNode().put("username", username).put("password", password)
                .put("admin", admin));
    }

    /** Creates an admin API key (admins only); shown once. */
    public String createApiKey() {
        return call("POST", "/api/v1/api-keys", JSON.createObjectNode()).path("api_key").asText();
    }

    // ---------------------------------------------------------------- tasks

    /**
     * Creates a task: {@code task} is the body of {@code POST /api/v1/tasks} ({@code type},
     * {@code description}, {@code parameters}, {@code required_capabilities}, {@code priority},
     * {@code timeout_seconds}, {@code max_retries}, {@code parent_id}, {@code created_by}).
     */
    public Task createTask(ObjectNode task) {
        return Task.of(call("POST", "/api/v1/tasks", task));
    }

    public Task task(String taskId) {
        return Task.of(call("GET", "/api/v1/tasks/" + path(taskId), null));
    }

    public Task reportProgress(String taskId, String agentId, int percent) {
        return Task.of(call("POST", "/api/v1/tasks/" + path(taskId) + "/progress",
                JSON.createObjectNode().put("agent_id", agentId).put("progress", percent)));
    }

    public Task completeTask(String taskId, String agentId, Object result) {
        ObjectNode body = JSON.createObjectNode().put("agent_id", agentId);
        body.set("result", JSON.valueToTree(result));
        return Task.of(call("POST", "/api/v1/tasks/" + path(taskId) + "/complete", body));
    }

    public Task failTask(String taskId, String agentId, String error) {
        return Task.of(call("POST", "/api/v1/tasks/" + path(taskId) + "/fail",
                JSON.createObjectNode().put("agent_id", agentId).put("error", error)));
    }

    public Task cancelTask(String taskId, String reason) {
        return Task.of(call("POST", "/api/v1/tasks/" + path(taskId) + "/cancel",
                JSON.createObjectNode().put("reason", reason)));
    }

    public JsonNode taskStats() {
        return call("GET", "/api/v1/tasks/stats", null);
    }

    /** Your tasks, newest first; {@code status} may be null. */
    public List<Task> tasks(String status, int limit) {
        List<Task> tasks = new ArrayList<>();
        call("GET", "/api/v1/tasks?limit=" + limit + (status == null ? "" : "&status=" + path(status)), null)
                .path("tasks").forEach(t -> tasks.add(Task.of(t)));
        return tasks;
    }

    /** Closes the client's connections; calls after it fail as if the server were unreachable. */
    @Override
    public void close() {
        http.close();
    }

    // ---------------------------------------------------------------- plumbing

    JsonNode call(String method, String path, JsonNode body) {
        return call(method, path, body, null);
    }

    private JsonNode call(String method, String path, JsonNode body, String idempotencyKey) {
        return call(method, path, body, idempotencyKey, Duration.ofSeconds(30));
    }

    private JsonNode call(String method, String path, JsonNode body, String idempotencyKey, Duration timeout) {
        return call(method, path, body, idempotencyKey, timeout, true);
    }

    /** A new token for the credentials, asked for without one. */
    private String signIn() {
        return call("POST", "/auth/token", credentials, null, Duration.ofSeconds(30), false).path("access_token").asText();
    }

    /**
     * Signs in again unless another thread already has since {@code refused} was refused; returns
     * the token to repeat the call with. A failure to sign in is thrown to the caller.
     */
    private String signInAgain(String refused) {
        signingIn.lock();
        try {
            if (refused.equals(token)) {
                token = signIn();
            }
            return token;
        } finally {
            signingIn.unlock();
        }
    }

    private JsonNode call(String method, String path, JsonNode body, String idempotencyKey, Duration timeout,
            boolean authorized) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path)).timeout(timeout)
                .header("Content-Type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(write(body)));
        if (idempotencyKey != null) {
            request.header("Idempotency-Key", idempotencyKey);
        }
        String sent = authorized ? token : null;
        boolean signedInAgain = false;
        long backoff = 100;
        for (int attempt = 1; ; attempt++) {
            if (sent != null) {
                request.setHeader("Authorization", "Bearer " + sent);
            }
            HttpResponse<String> response;
            try {
                response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
            } catch (ConnectException | HttpConnectTimeoutException e) { // never reached the server: safe to repeat
                if (attempt >= ATTEMPTS) {
                    throw new SwarmbusApiException(0, "unreachable", "cannot reach " + base + ": " + e, null);
                }
                backoff = pause(backoff, 0);
                continue;
            } catch (IOException e) {
                throw new SwarmbusApiException(0, "unreachable", method + " " + path + " failed: " + e, null);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SwarmbusApiException(0, "interrupted", method + " " + path + " was interrupted", null);
            }
            int status = response.statusCode();
            if ((status == 429 || status == 503) && attempt < ATTEMPTS) {
                long asked = retryAfterMillis(response);
                if (asked <= MAX_RETRY_AFTER_MILLIS) {
                    backoff = pause(backoff, asked);
                    continue;
                }
                // Longer than a caller would wait unawares, such as a rate limit's whole minute
                // or a proxy's hour: the error goes to the caller, who can choose to wait.
            }
            if (status == 401 && sent != null && credentials != null && !signedInAgain) {
                // Refused before anything was done (see the class comment): safe to repeat, once.
                sent = signInAgain(sent);
                signedInAgain = true;
                continue;
            }
            JsonNode json = read(response.body());
            if (status >= 400) {
                throw new SwarmbusApiException(status, json.path("error").asText("http_" + status),
                        json.path("message").asText(response.body()), json.has("field") ? json.get("field").asText() : null);
            }
            return json;
        }
    }

    /**
     * How long the answer's {@code Retry-After} asks to wait: seconds, or the HTTP date a proxy may
     * send instead; 0 if it has none, or one that cannot be read.
     */
    private static long retryAfterMillis(HttpResponse<?> response) {
        String value = response.headers().firstValue("Retry-After").orElse("0").trim();
        try {
            long seconds = Long.parseLong(value);
            return seconds > Long.MAX_VALUE / 1000 ? Long.MAX_VALUE : seconds * 1000;
        } catch (NumberFormatException notSeconds) {
            try {
                ZonedDateTime at = ZonedDateTime.parse(value, DateTimeFormatter.RFC_1123_DATE_TIME);
                return Duration.between(Instant.now(), at).toMillis();
            } catch (DateTimeParseException notADate) {
                return 0;
            }
        }
    }

    /** Sleeps the backoff (or what the server asked for, if longer) and returns the next backoff. */
    private static long pause(long backoff, long asked) {
        try {
            Thread.sleep(Math.max(backoff, asked));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return Math.min(backoff * 2, 2_000);
    }

    private static String write(JsonNode body) {
        try {
            return JSON.writeValueAsString(body);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("cannot render a request body", e);
        }
    }

    private static JsonNode read(String body) {
        try {
            return body.isEmpty() ? JSON.createObjectNode() : JSON.readTree(body);
        } catch (JsonProcessingException e) {
            return JSON.createObjectNode().put("message", body);
        }
    }

    /**
     * A fresh key for the {@code Idempotency-Key} header, or none when the body names its own:
     * the server refuses a header that differs from the body's, and the body's key alone already
     * makes a retry of it stored once.
     */
    private static String idempotencyKey(ObjectNode message) {
        return message.hasNonNull("idempotency_key") ? null : UUID.randomUUID().toString();
    }

    private static ArrayNode strings(Collection<String> values) {
        ArrayNode array = JSON.createArrayNode();
        values.forEach(array::add);
        return array;
    }

    private static String path(String segment) {
        return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
    }
}
