package io.swarmbus.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/**
 * The client commands of {@code swarmbus}: each is one HTTP call to a running server, printed
 * readably or, with {@code --json}, as the server's JSON. {@code --server} and {@code --token}
 * default to {@code $SWARMBUS_SERVER} (else {@code http://127.0.0.1:8080}) and
 * {@code $SWARMBUS_TOKEN}.
 */
final class Cli {
    static final String USAGE = """
              token          --username U --password P            prints a token (export SWARMBUS_TOKEN=...)
              user add       --username U --password P [--admin]   (admin)
              agent register --id A [--description D] [--role worker] [--capabilities a,b] [--max-tasks 1]
              agent list     [--capabilities a,b] [--status active,idle] [--available]
              agent heartbeat --id A [--status active|busy|idle|offline] [--current-tasks N]
              agent delete   --id A
              send           (--to A | --group G | --topic T | --broadcast) --content JSON
                             [--from A] [--type chat] [--priority low|medium|high|critical|0-3]
              receive        --agent A [--max 10] [--wait SECONDS] [--ack]
              ack            --agent A --id MESSAGE_ID
              group create   --name G --members a,b,c
              group add      --name G --agent A
              group send     --name G --content JSON [--from A]
              topic subscribe --topic T --agent A
              topic publish  --topic T --content JSON [--from A]
              history        [--agent A] [--limit 20]
              task create    --type T [--capabilities a,b] [--parameters JSON] [--priority P]
                             [--timeout SECONDS] [--retries N] [--created-by AGENT]
              task get       --id TASK_ID
              task list      [--status S] [--limit 20]
              task cancel    --id TASK_ID [--reason TEXT]
              task stats
              client options: --server URL --token TOKEN --json
            """;

    private final PrintStream out;
    private final Map<String, String> env;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    /** A failed call, already phrased for the user. */
    static final class Failure extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Failure(String message) {
            super(message);
        }
    }

    Cli(PrintStream out, Map<String, String> env) {
        this.out = out;
        this.env = env;
    }

    /** Runs {@code command} (one or two words) with {@code options}. */
    void run(String command, Map<String, String> options) {
        String server = options.getOrDefault("server", env.getOrDefault("SWARMBUS_SERVER", "http://127.0.0.1:8080"));
        Optional<String> token = Optional.ofNullable(options.getOrDefault("token", env.get("SWARMBUS_TOKEN")));
        Call call = new Call(server, token, options.containsKey("json"));
        switch (command) {
            case "token" -> call.token(required(options, "username"), required(options, "password"));
            case "user add" -> call.print(call.post("/api/v1/users", object().put("username", required(options, "username"))
                    .put("password", required(options, "password")).put("admin", options.containsKey("admin"))),
                    r -> "created user " + r.path("username").asText());
            case "agent register" -> {
                ObjectNode body = object().put("agent_id", required(options, "id"))
                        .put("description", options.getOrDefault("description", ""))
                        .put("role", options.getOrDefault("role", "worker"))
                        .put("max_concurrent_tasks", integer(options, "max-tasks", 1));
                var capabilities = body.putArray("capabilities");
                for (String capability : options.getOrDefault("capabilities", "").split(",")) {
                    if (!capability.isBlank()) {
                        capabilities.add(capability.trim());
                    }
                }
                call.print(call.post("/api/v1/agents", body), r -> r.path("registration").asText() + " "
                        + r.path("agent_id").asText() + " (" + r.path("role").asText() + ", capabilities "
                        + r.path("capabilities") + ")");
            }
            case "agent list" -> call.print(call.get("/api/v1/agents" + query(options, "capabilities", "status",
                    "available")), r -> {
                StringBuilder text = new StringBuilder(r.path("count").asInt() + " agent(s)");
                r.path("agents").forEach(a -> text.append(String.format("%n  %-24s %-12s %-8s load %d/%d  pending %-6d %s",
                        a.path("agent_id").asText(), a.path("role").asText(), a.path("status").asText(),
                        a.path("current_tasks").asInt(), a.path("max_concurrent_tasks").asInt(),
                        a.path("pending").asInt(), a.path("capabilities"))));
                return text.toString();
            });
            case "agent heartbeat" -> {
                ObjectNode body = object();
                if (options.containsKey("status")) {
                    body.put("status", options.get("status"));
                }
                if (options.containsKey("current-tasks")) {
                    body.put("current_tasks", integer(options, "current-tasks", 0));
                }
                call.print(call.post("/api/v1/agents/" + path(required(options, "id")) + "/heartbeat", body),
                        r -> r.path("agent_id").asText() + " " + r.path("status").asText());
            }
            case "agent delete" -> call.print(call.send("DELETE", "/api/v1/agents/" + path(required(options, "id")), null),
                    r -> "deleted " + r.path("agent_id").asText());
            case "send" -> send(call, "/api/v1/messages", options, true);
            case "receive" -> receive(call, options);
            case "ack" -> call.print(call.post("/api/v1/agents/" + path(required(options, "agent")) + "/ack",
                    object().put("message_id", required(options, "id"))),
                    r -> "acked " + r.path("acked").size() + ", not held " + r.path("not_held").size());
            case "group create" -> {
                ArrayNode members = RequestBody.MAPPER.createArrayNode();
                for (String member : required(options, "members").split(",")) {
                    members.add(member.trim());
                }
                ObjectNode body = object().put("group_name", required(options, "name"));
                body.set("agent_ids", members);
                call.print(call.post("/api/v1/groups", body), r -> "created group " + r.path("group_name").asText()
                        + " " + r.path("agent_ids"));
            }
            case "group add" -> call.print(call.send("PUT", "/api/v1/groups/" + path(required(options, "name"))
                    + "/members/" + path(required(options, "agent")), null),
                    r -> "group " + r.path("group_name").asText() + " = " + r.path("agent_ids"));
            case "group send" -> send(call, "/api/v1/groups/" + path(required(options, "name")) + "/messages", options, false);
            case "topic subscribe" -> call.print(call.post("/api/v1/topics/" + path(required(options, "topic"))
                    + "/subscribers", object().put("agent_id", required(options, "agent"))),
                    r -> "topic " + r.path("topic").asText() + " subscribers " + r.path("subscribers"));
            case "topic publish" -> send(call, "/api/v1/topics/" + path(required(options, "topic")) + "/messages",
                    options, false);
            case "task create" -> {
                ObjectNode body = object().put("type", required(options, "type"))
                        .put("priority", options.getOrDefault("priority", "medium"))
                        .put("timeout_seconds", integer(options, "timeout", 300)).put("max_retries", integer(options, "retries", 3));
                body.set("parameters", json(options.getOrDefault("parameters", "{}"), "parameters"));
                var capabilities = body.putArray("required_capabilities");
                for (String capability : options.getOrDefault("capabilities", "").split(",")) {
                    if (!capability.isBlank()) {
                        capabilities.add(capability.trim());
                    }
                }
                if (options.containsKey("created-by")) {
                    body.put("created_by", options.get("created-by"));
                }
                call.print(call.post("/api/v1/tasks", body), Cli::describeTask);
            }
            case "task get" -> call.print(call.get("/api/v1/tasks/" + path(required(options, "id"))), Cli::describeTask);
            case "task list" -> call.print(call.get("/api/v1/tasks?limit=" + integer(options, "limit", 20)
                    + (options.containsKey("status") ? "&status=" + path(options.get("status")) : "")), r -> {
                StringBuilder text = new StringBuilder(r.path("count").asInt() + " task(s), newest first");
                r.path("tasks").forEach(t -> text.append(String.format("%n  %s", describeTask(t))));
                return text.toString();
            });
            case "task cancel" -> call.print(call.post("/api/v1/tasks/" + path(required(options, "id")) + "/cancel",
                    object().put("reason", options.getOrDefault("reason", "cancelled from the command line"))),
                    Cli::describeTask);
            case "task stats" -> call.print(call.get("/api/v1/tasks/stats"), r -> String.format(
                    "%d task(s) %s; completion rate %.2f, mean %.0f ms, p95 %.0f ms, %d completed in the last minute",
                    r.path("total_tasks").asInt(), r.path("by_status"), r.path("completion_rate").asDouble(),
                    r.path("mean_duration_ms").asDouble(), r.path("p95_duration_ms").asDouble(),
                    r.path("completed_last_minute").asInt()));
            case "history" -> {
                String query = "?limit=" + options.getOrDefault("limit", "20")
                        + Optional.ofNullable(options.get("agent")).map(a -> "&agent=" + path(a)).orElse("");
                call.print(call.get("/api/v1/messages" + query), r -> {
                    StringBuilder text = new StringBuilder(r.path("count").asInt() + " message(s), newest first");
                    r.path("messages").forEach(m -> text.append(String.format("%n  %s  %s -> %s  %s  %s", m.path("id").asText(),
                            m.path("from").asText(), target(m), m.path("type").asText(), m.path("content"))));
                    return text.toString();
                });
            }
            default -> throw new IllegalArgumentException("unknown command '" + command + "'");
        }
    }

    private void send(Call call, String path, Map<String, String> options, boolean addressed) {
        ObjectNode body = object();
        if (addressed) {
            long given = java.util.stream.Stream.of("to", "group", "topic", "broadcast").filter(options::containsKey).count();
            if (given != 1) {
                throw new IllegalArgumentException("give exactly one of --to, --group, --topic or --broadcast");
            }
            for (String field : new String[] {"to", "group", "topic"}) {
                if (options.containsKey(field)) {
                    body.put(field, required(options, field));
                }
            }
            if (options.containsKey("broadcast")) {
                body.put("broadcast", true);
            }
        }
        Optional.ofNullable(options.get("from")).ifPresent(v -> body.put("from", v));
        Optional.ofNullable(options.get("type")).ifPresent(v -> body.put("type", v));
        Optional.ofNullable(options.get("priority")).ifPresent(v -> body.put("priority", v));
        String content = required(options, "content");
        try {
            body.set("content", RequestBody.MAPPER.readTree(content));
        } catch (IOException e) {
            body.put("content", content); // not JSON: send it as a string
        }
        call.print(call.post(path, body), r -> "sent " + r.path("message_id").asText() + " to "
                + r.path("recipients").asInt() + " recipient(s)");
    }

    private void receive(Call call, Map<String, String> options) {
        String agent = required(options, "agent");
        ObjectNode body = object().put("max_messages", Integer.parseInt(options.getOrDefault("max", "10")))
                .put("timeout", Double.parseDouble(options.getOrDefault("wait", "0")));
        JsonNode reply = call.post("/api/v1/agents/" + path(agent) + "/receive", body);
        call.print(reply, r -> {
            StringBuilder text = new StringBuilder(r.path("count").asInt() + " message(s) for " + agent);
            r.path("messages").forEach(m -> text.append(String.format("%n  %s  from %-12s %-8s %-13s attempt %d  %s",
                    m.path("id").asText(), m.path("from").asText(), m.path("priority").asText(), m.path("type").asText(),
                    m.path("attempt").asInt(), m.path("content"))));
            return text.toString();
        });
        if (options.containsKey("ack") && reply.path("count").asInt() > 0) {
            ArrayNode ids = RequestBody.MAPPER.createArrayNode();
            reply.path("messages").forEach(m -> ids.add(m.path("id").asText()));
            ObjectNode ack = object();
            ack.set("message_ids", ids);
            JsonNode acked = call.post("/api/v1/agents/" + path(agent) + "/ack", ack);
            if (!call.json) {
                out.println("acked " + acked.path("acked").size() + " message(s)");
            }
        }
    }

    private static String target(JsonNode m) {
        if (m.has("to")) {
            return m.path("to").asText();
        }
        if (m.has("group")) {
            return "group " + m.path("group").asText();
        }
        return m.has("topic") ? "topic " + m.path("topic").asText() : "everyone";
    }

    private static String describeTask(com.fasterxml.jackson.databind.JsonNode t) {
        return t.path("task_id").asText() + "  " + t.path("type").asText() + "  " + t.path("status").asText()
                + (t.path("assignee").isTextual() ? " on " + t.path("assignee").asText() : "")
                + "  attempts " + t.path("attempts").asInt()
                + (t.has("result") ? "  result " + t.path("result") : "")
                + (t.has("error") ? "  error: " + t.path("error").asText() : "");
    }

    private static com.fasterxml.jackson.databind.JsonNode json(String text, String option) {
        try {
            return RequestBody.MAPPER.readTree(text);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException("--" + option + " must be JSON, e.g. '{\"doc\":\"q3.pdf\"}'");
        }
    }

    /** {@code ?name=value&...} for the options given among {@code names} (empty if none). */
    private static String query(Map<String, String> options, String... names) {
        StringBuilder query = new StringBuilder();
        for (String name : names) {
            if (options.containsKey(name)) {
                query.append(query.isEmpty() ? '?' : '&').append(name).append('=').append(path(options.get(name)));
            }
        }
        return query.toString();
    }

    private static int integer(Map<String, String> options, String name, int fallback) {
        String value = options.get(name);
        try {
            return value == null ? fallback : Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " must be a whole number, was '" + value + "'");
        }
    }

    private static ObjectNode object() {
        return RequestBody.MAPPER.createObjectNode();
    }

    private static String path(String segment) {
        return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static String required(Map<String, String> options, String name) {
        String value = options.get(name);
        if (value == null || value.equals("true")) {
            throw new IllegalArgumentException("missing --" + name);
        }
        return value;
    }

    /** One server, one token, one output format. */
    private final class Call {
        private final String server;
        private final Optional<String> token;
        private final boolean json;

        Call(String server, Optional<String> token, boolean json) {
            this.server = server.endsWith("/") ? server.substring(0, server.length() - 1) : server;
            this.token = token;
            this.json = json;
        }

        void token(String username, String password) {
            JsonNode reply = send("POST", "/auth/token", object().put("username", username).put("password", password));
            print(reply, r -> r.path("access_token").asText());
        }

        JsonNode get(String path) {
            return send("GET", path, null);
        }

        JsonNode post(String path, JsonNode body) {
            return send("POST", path, body);
        }

        JsonNode send(String method, String path, JsonNode body) {
            HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(server + path))
                    .timeout(Duration.ofSeconds(120))
                    .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                            : HttpRequest.BodyPublishers.ofString(body.toString()))
                    .header("Content-Type", "application/json");
            token.ifPresent(t -> request.header("Authorization", "Bearer " + t));
            HttpResponse<String> response;
            try {
                response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
            } catch (ConnectException e) {
                throw new Failure("cannot reach the server at " + server + " (is `swarmbus serve` running?)");
            } catch (IOException e) {
                throw new Failure("request to " + server + " failed: " + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new Failure("interrupted");
            }
            JsonNode reply;
            try {
                reply = RequestBody.MAPPER.readTree(response.body());
            } catch (IOException e) {
                throw new Failure("the server answered " + response.statusCode() + " with something that is not JSON");
            }
            if (response.statusCode() >= 400) {
                throw new Failure(reply.path("error").asText("error") + " (" + response.statusCode() + "): "
                        + reply.path("message").asText());
            }
            return reply;
        }

        void print(JsonNode reply, java.util.function.Function<JsonNode, String> readable) {
            out.println(json ? reply.toString() : readable.apply(reply));
        }
    }
}
