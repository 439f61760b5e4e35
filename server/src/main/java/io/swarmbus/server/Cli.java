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
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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
              network create --name N --agents a,b,c [--strategy round-robin|hierarchical|map-reduce|...]
                             [--description D]
              network list
              network execute [--id NET] (--task FILE_OR_JSON | --objective TEXT) [--wait 60]
              network status  [--id NET]
              network optimize [--id NET]
              swarm join     --role load-balancer|resource-optimizer|task-coordinator|monitor --capability C
                             [--region R] [--priority normal] [--swarm-id S] [--agent A]
              swarm list
              swarm status   [--swarm-id S]
              swarm coordinate --task-id T [--strategy map-reduce] [--objective TEXT] [--parameters JSON]
                             [--swarm-id S] [--wait 60]
              swarm consensus --task-id T [--algorithm majority-vote|weighted|quorum|unanimous] [--timeout 300]
              swarm leave    --swarm-id S [--member M]
              managed create --name N --model M [--system-prompt TEXT] [--capabilities a,b] [--replicas 1]
                             [--min 1] [--max R] [--max-tokens 512] [--max-llm-calls 3]
              managed list
              managed get    --name N
              managed scale  --name N [--replicas R] [--min R] [--max R]
              managed delete --name N
              client options: --server URL --token TOKEN --json
              (--name=VALUE gives a value that starts with --)
            """;

    /** Each client command's options, read from {@link #USAGE}: what the help shows is what a command takes. */
    static final Map<String, Set<String>> OPTIONS = optionsOf(USAGE);
    private static final Set<String> CLIENT_OPTIONS = Set.of("server", "token", "json");

    private final PrintStream out;
    private final Map<String, String> env;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    /** How long a call may take, beside the time it asks the server to wait. */
    private final Duration timeout;

    /** A failed call, already phrased for the user. */
    static final class Failure extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Failure(String message) {
            super(message);
        }
    }

    Cli(PrintStream out, Map<String, String> env) {
        this(out, env, Duration.ofSeconds(120));
    }

    Cli(PrintStream out, Map<String, String> env, Duration timeout) {
        this.out = out;
        this.env = env;
        this.timeout = timeout;
    }

    /**
     * The commands of a usage text and the options each names. A line starting with a word is a
     * command (its words up to the first option); a line starting with an option continues the one
     * above. Stops at the client options, which every command takes.
     */
    static Map<String, Set<String>> optionsOf(String usage) {
        Map<String, Set<String>> commands = new LinkedHashMap<>();
        Pattern option = Pattern.compile("--([a-z][a-z-]*)");
        Set<String> current = null;
        for (String line : usage.strip().lines().map(String::strip).toList()) {
            if (line.startsWith("client options:")) {
                break;
            }
            if (!line.startsWith("-") && !line.startsWith("[") && !line.startsWith("(")) {
                List<String> words = new ArrayList<>();
                for (String word : line.split("\\s+")) {
                    if (word.startsWith("-") || word.startsWith("[") || word.startsWith("(")) {
                        break;
                    }
                    words.add(word);
                }
                current = new TreeSet<>();
                commands.put(String.join(" ", words), current);
            }
            Matcher named = option.matcher(line);
            while (named.find()) {
                current.add(named.group(1));
            }
        }
        return commands;
    }

    /** The subcommands of a two-word command's first word, as the usage lists them. */
    static List<String> subcommands(String first) {
        return OPTIONS.keySet().stream().filter(c -> c.startsWith(first + " ")).map(c -> c.substring(first.length() + 1))
                .toList();
    }

    /**
     * Refuses an unknown command, and an option its command does not take: a misspelt
     * {@code --priorty} would otherwise be dropped without a word and the default used.
     */
    static void check(String command, Map<String, String> options) {
        Set<String> taken = OPTIONS.get(command);
        String[] words = command.split(" ", 2);
        if (taken == null && words.length == 2 && !subcommands(words[0]).isEmpty()) { // a misspelt subcommand
            throw new IllegalArgumentException("'" + words[0] + "' has no '" + words[1] + "'; it needs one of: "
                    + String.join(", ", subcommands(words[0])));
        }
        if (taken == null) {
            List<String> subcommands = subcommands(command);
            throw new IllegalArgumentException(subcommands.isEmpty() ? "unknown command '" + command + "'"
                    : "'" + command + "' needs one of: " + String.join(", ", subcommands));
        }
        for (String name : new TreeSet<>(options.keySet())) {
            if (!taken.contains(name) && !CLIENT_OPTIONS.contains(name)) {
                throw new IllegalArgumentException("'" + command + "' takes no --" + name + (taken.isEmpty() ? ""
                        : "; it takes " + String.join(", ", taken.stream().map(o -> "--" + o).toList())));
            }
        }
    }

    /** http(s), a host, an optional port and path prefix (a proxy's); no query or fragment, which the API's paths would follow. */
    private static boolean isServerUrl(String text) {
        if (!text.matches("https?://[^/?#\\s]+(/[^?#\\s]*)?")) {
            return false;
        }
        try {
            java.net.URI uri = new java.net.URI(text);
            return uri.getHost() != null && uri.getPort() >= -1 && uri.getPort() != 0 && uri.getPort() <= 65_535;
        } catch (java.net.URISyntaxException e) {
            return false;
        }
    }

    /**
     * {@code --token} or {@code $SWARMBUS_TOKEN}, without the white space around it that a token
     * file or a pasted line brings (a trailing CR or newline cannot go in a header). One still
     * holding a character no token has (tokens are printable ASCII) is refused without repeating
     * it: a token is a secret, and Java's refusal of the header would print it.
     */
    private Optional<String> token(Map<String, String> options) {
        Optional<String> token = Optional.ofNullable(options.getOrDefault("token", env.get("SWARMBUS_TOKEN")))
                .map(String::strip);
        if (token.isPresent() && token.get().chars().anyMatch(c -> c <= ' ' || c > '~')) {
            throw new IllegalArgumentException((options.containsKey("token") ? "--token" : "$SWARMBUS_TOKEN")
                    + " holds a character no token has (a space, a line break, a letter past ASCII); "
                    + "give the token alone");
        }
        return token;
    }

    /** Runs {@code command} (one or two words) with {@code options}. */
    void run(String command, Map<String, String> options) {
        check(command, options);
        String server = options.getOrDefault("server", env.getOrDefault("SWARMBUS_SERVER", "http://127.0.0.1:8080"));
        if (!isServerUrl(server)) {
            throw new IllegalArgumentException((options.containsKey("server") ? "--server" : "$SWARMBUS_SERVER")
                    + " must be a URL like http://127.0.0.1:8080, was '" + server + "'");
        }
        Optional<String> token = token(options);
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
                list(body, "capabilities", options.getOrDefault("capabilities", ""));
                call.print(call.post("/api/v1/agents", body), r -> r.path("registration").asText() + " "
                        + r.path("agent_id").asText() + " (" + r.path("role").asText() + ", capabilities "
                        + r.path("capabilities") + ")");
            }
            case "agent list" -> call.print(call.get("/api/v1/agents" + query(options, "capabilities", "status",
                    "available")), r -> {
                StringBuilder text = new StringBuilder(r.path("count").asInt() + " agent(s)");
                String line = "%n  %-" + width(r.path("agents"), "agent_id", 24) + "s %-" + width(r.path("agents"), "role", 12)
                        + "s %-8s load %d/%d  pending %-6d %s";
                r.path("agents").forEach(a -> text.append(String.format(line,
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
            case "ack" -> ack(call, required(options, "agent"), required(options, "id"));
            case "group create" -> {
                ObjectNode body = object().put("group_name", required(options, "name"));
                list(body, "agent_ids", required(options, "members"));
                if (body.get("agent_ids").isEmpty()) {
                    throw new IllegalArgumentException("--members names no agent");
                }
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
                list(body, "required_capabilities", options.getOrDefault("capabilities", ""));
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
                String query = "?limit=" + integer(options, "limit", 20)
                        + Optional.ofNullable(options.get("agent")).map(a -> "&agent=" + path(a)).orElse("");
                call.print(call.get("/api/v1/messages" + query), r -> {
                    StringBuilder text = new StringBuilder(r.path("count").asInt() + " message(s), newest first");
                    r.path("messages").forEach(m -> text.append(String.format("%n  %s  %s -> %s  %s  %s", m.path("id").asText(),
                            m.path("from").asText(), target(m), m.path("type").asText(), m.path("content"))));
                    return text.toString();
                });
            }
            case "network create", "network list", "network execute", "network status", "network optimize" ->
                    network(call, command.substring("network ".length()), options);
            case "swarm join", "swarm list", "swarm status", "swarm coordinate", "swarm consensus", "swarm leave" ->
                    swarm(call, command.substring("swarm ".length()), options);
            case "managed create", "managed list", "managed get", "managed scale", "managed delete" ->
                    managed(call, command.substring("managed ".length()), options);
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
            body.set("content", readJson(content));
        } catch (IOException e) {
            body.put("content", content); // not JSON: send it as a string
        }
        call.print(call.post(path, body), r -> "sent " + r.path("message_id").asText() + " to "
                + r.path("recipients").asInt() + " recipient(s)" + (r.has("not_reached") ? "; "
                + r.path("not_reached").asInt() + " full inbox(es) not reached" : ""));
    }

    /** Acks one message; one the agent holds no lease on is a refusal, since it will be delivered again. */
    private static void ack(Call call, String agent, String id) {
        JsonNode reply = call.post("/api/v1/agents/" + path(agent) + "/ack", object().put("message_id", id));
        if (!reply.path("not_held").isEmpty()) {
            throw new Failure("message " + id + " was not acked: " + agent + " holds no lease on it (it was not "
                    + "received, or was acked already, or its lease ran out)");
        }
        call.print(reply, r -> "acked " + r.path("acked").size() + ", not held " + r.path("not_held").size());
    }

    private void receive(Call call, Map<String, String> options) {
        String agent = required(options, "agent");
        double wait = number(options, "wait", 0);
        ObjectNode body = object().put("max_messages", integer(options, "max", 10)).put("timeout", wait);
        JsonNode reply = call.post("/api/v1/agents/" + path(agent) + "/receive", body, wait);
        call.print(reply, r -> {
            StringBuilder text = new StringBuilder(r.path("count").asInt() + " message(s) for " + agent);
            String line = "%n  %s  from %-" + width(r.path("messages"), "from", 12) + "s %-8s %-"
                    + width(r.path("messages"), "type", 13) + "s attempt %d  %s";
            r.path("messages").forEach(m -> text.append(String.format(line,
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
            JsonNode notHeld = acked.path("not_held");
            if (!notHeld.isEmpty()) { // their leases ran out meanwhile: they will be delivered again
                List<String> lost = new ArrayList<>();
                notHeld.forEach(id -> lost.add(id.asText()));
                throw new Failure(lost.size() + " message(s) not acked, " + agent + " no longer holding their "
                        + "leases (they will be delivered again): " + String.join(", ", lost));
            }
        }
    }

    /**
     * A column's width: {@code least}, or the longest {@code field} of {@code rows} if longer, so that
     * one long id or role does not push the rest of its line out of line with the others.
     */
    private static int width(JsonNode rows, String field, int least) {
        int width = least;
        for (JsonNode row : rows) {
            width = Math.max(width, row.path(field).asText().length());
        }
        return width;
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

    private void network(Call call, String verb, Map<String, String> options) {
        String base = "/api/v1/agents/networks";
        switch (verb) {
            case "create" -> {
                ObjectNode body = object().put("name", required(options, "name"))
                        .put("coordination_strategy", options.getOrDefault("strategy", "round-robin"));
                options.computeIfPresent("description", (k, d) -> {
                    body.put("description", d);
                    return d;
                });
                list(body, "agents", required(options, "agents"));
                if (body.get("agents").isEmpty()) {
                    throw new IllegalArgumentException("--agents names no agent");
                }
                call.print(call.post(base, body), Cli::describeNetwork);
            }
            case "list" -> call.print(call.get(base), r -> {
                StringBuilder text = new StringBuilder(r.path("total_count").asInt() + " network(s)");
                r.path("networks").forEach(n -> text.append("\n  ").append(describeNetwork(n)));
                return text.toString();
            });
            case "execute" -> {
                if (options.containsKey("task") == options.containsKey("objective")) { // neither, or both
                    throw new IllegalArgumentException("give --task or --objective" + (options.containsKey("task")
                            ? ", not both" : ""));
                }
                ObjectNode body = object();
                body.set("task", options.containsKey("task") ? taskJson(options.get("task"))
                        : object().put("objective", required(options, "objective")));
                int wait = integer(options, "wait", 60);
                call.print(call.post(base + "/" + path(networkId(call, options)) + "/execute?wait_seconds=" + wait,
                        body, wait), Cli::describeExecution);
            }
            case "status" -> call.print(call.get(base + "/" + path(networkId(call, options)) + "/status"), r -> {
                JsonNode m = r.path("performance_metrics");
                return String.format("%s (%s): %d agents, %d executions (%d running), %d active tasks; "
                        + "avg %s s, success rate %s, %s executions/min", r.path("name").asText(),
                        r.path("coordination_strategy").asText(), r.path("agent_count").asInt(),
                        r.path("total_executions").asInt(), r.path("running_executions").asInt(),
                        r.path("active_tasks").asInt(), metric(m.path("avg_execution_time"), 2),
                        metric(m.path("success_rate"), 2), metric(m.path("throughput"), 1));
            });
            case "optimize" -> call.print(call.get(base + "/" + path(networkId(call, options)) + "/optimize"), r -> {
                StringBuilder text = new StringBuilder(r.path("recommendations").size() + " recommendation(s) from "
                        + r.path("executions_analyzed").asInt() + " execution(s)");
                r.path("recommendations").forEach(x -> text.append(String.format("%n  [%s] %s: %s",
                        x.path("impact").asText(), x.path("type").asText(), x.path("description").asText())));
                return text.toString();
            });
            default -> throw new IllegalArgumentException("unknown command 'network " + verb + "'");
        }
    }

    /** A metric to {@code decimals} places, or "-" while it is null (before an execution has finished). */
    private static String metric(JsonNode value, int decimals) {
        return value.isNumber() ? String.format("%." + decimals + "f", value.asDouble()) : "-";
    }

    /** Sets {@code field} to the non-blank items of the comma list {@code csv}. */
    private static void list(ObjectNode body, String field, String csv) {
        var items = body.putArray(field);
        for (String item : csv.split(",")) {
            if (!item.isBlank()) {
                items.add(item.trim());
            }
        }
    }

    /** For each (option, field) pair given, sets the field to the option's integer value. */
    private static void integers(ObjectNode body, Map<String, String> options, String... optionFieldPairs) {
        for (int i = 0; i < optionFieldPairs.length; i += 2) {
            if (options.containsKey(optionFieldPairs[i])) {
                body.put(optionFieldPairs[i + 1], integer(options, optionFieldPairs[i], 0));
            }
        }
    }

    /** Managed LLM agent pools. */
    private void managed(Call call, String verb, Map<String, String> options) {
        String base = "/api/v1/managed-agents";
        switch (verb) {
            case "create" -> {
                ObjectNode body = object().put("name", required(options, "name")).put("model", required(options, "model"))
                        .put("system_prompt", options.getOrDefault("system-prompt", ""))
                        .put("replicas", integer(options, "replicas", 1));
                if (options.containsKey("capabilities")) {
                    list(body, "capabilities", options.get("capabilities"));
                }
                integers(body, options, "min", "min_replicas", "max", "max_replicas", "max-tokens", "max_tokens",
                        "max-llm-calls", "max_llm_calls_per_task");
                call.print(call.post(base, body), Cli::describePool);
            }
            case "list" -> call.print(call.get(base), r -> {
                StringBuilder text = new StringBuilder(r.path("total_count").asInt() + " pool(s)");
                r.path("managed_agents").forEach(p -> text.append("\n  ").append(describePool(p)));
                return text.toString();
            });
            case "get" -> call.print(call.get(base + "/" + path(required(options, "name"))), Cli::describePool);
            case "scale" -> {
                ObjectNode body = object();
                integers(body, options, "replicas", "replicas", "min", "min_replicas", "max", "max_replicas");
                if (body.isEmpty()) {
                    throw new IllegalArgumentException("managed scale needs --replicas, --min or --max");
                }
                call.print(call.send("PUT", base + "/" + path(required(options, "name")) + "/replicas", body),
                        Cli::describePool);
            }
            case "delete" -> call.print(call.send("DELETE", base + "/" + path(required(options, "name")), null),
                    r -> "deleted " + r.path("deleted").asText());
            default -> throw new IllegalArgumentException("unknown command 'managed " + verb + "'");
        }
    }

    private static String describePool(JsonNode p) {
        JsonNode u = p.path("usage");
        return String.format("%s: %d replicas (%d to %d) of %s, queue %d; %d LLM calls, %d+%d tokens, %d tasks done, "
                + "%d failed", p.path("name").asText(), p.path("replica_agents").size(), p.path("min_replicas").asInt(),
                p.path("max_replicas").asInt(), p.path("model").asText(), p.path("queue_depth").asInt(),
                u.path("llm_calls").asLong(), u.path("prompt_tokens").asLong(), u.path("completion_tokens").asLong(),
                u.path("tasks_completed").asLong(), u.path("tasks_failed").asLong());
    }

    /** {@code --id}, or the caller's only network. */
    private static String networkId(Call call, Map<String, String> options) {
        if (options.containsKey("id")) {
            return required(options, "id"); // an empty one would name no network, and ask for a path that is none
        }
        JsonNode networks = call.get("/api/v1/agents/networks").path("networks");
        if (networks.size() != 1) {
            throw new IllegalArgumentException("--id is required: you have " + networks.size() + " networks");
        }
        return networks.get(0).path("id").asText();
    }

    /** A task from a file, if {@code value} names one, else from JSON text. */
    private static JsonNode taskJson(String value) {
        java.nio.file.Path file = java.nio.file.Path.of(value);
        if (!value.trim().startsWith("{") && java.nio.file.Files.isRegularFile(file)) {
            try {
                return json(java.nio.file.Files.readString(file), "task");
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot read --task " + value + ": " + e.getMessage());
            }
        }
        if (!value.trim().startsWith("{") && !value.trim().startsWith("[")) { // a path, then, to a file not there
            throw new IllegalArgumentException("--task " + value + ": no such file (give a file of JSON, or JSON text)");
        }
        return json(value, "task");
    }

    private void swarm(Call call, String verb, Map<String, String> options) {
        String base = "/swarm";
        switch (verb) {
            case "join" -> {
                ObjectNode body = object().put("role", required(options, "role"))
                        .put("capability", required(options, "capability"))
                        .put("priority", options.getOrDefault("priority", "normal"));
                for (String[] pair : new String[][] {{"region", "region"}, {"swarm-id", "swarm_id"}, {"agent", "agent_id"}}) {
                    if (options.containsKey(pair[0])) {
                        body.put(pair[1], options.get(pair[0]));
                    }
                }
                call.print(call.post(base + "/join", body), r -> "joined " + r.path("swarm_id").asText() + " as "
                        + r.path("member_id").asText() + " (" + r.path("role").asText() + ")");
            }
            case "list" -> call.print(call.get(base + "/list"), r -> {
                StringBuilder text = new StringBuilder(r.path("total_count").asInt() + " swarm(s)");
                r.path("swarms").forEach(sw -> {
                    text.append("\n  ").append(sw.path("swarm_id").asText()).append("  ")
                            .append(sw.path("coordination_status").asText()).append(':');
                    sw.path("members").forEach(m -> text.append(' ').append(m.path("member_id").asText()).append('(')
                            .append(m.path("role").asText()).append(')'));
                });
                return text.toString();
            });
            case "status" -> call.print(call.get(base + "/status" + query(options, "swarm-id").replace("swarm-id=",
                    "swarm_id=")), r -> {
                StringBuilder text = new StringBuilder();
                r.forEach(sw -> text.append(text.isEmpty() ? "" : "\n").append(String.format("%s: %d member(s), "
                        + "%d active task(s), %s, roles %s", sw.path("swarm_id").asText(), sw.path("member_count").asInt(),
                        sw.path("active_tasks").asInt(), sw.path("coordination_status").asText(), sw.path("roles"))));
                return text.isEmpty() ? "no swarms" : text.toString();
            });
            case "coordinate" -> {
                ObjectNode body = object().put("task_id", required(options, "task-id"))
                        .put("strategy", options.getOrDefault("strategy", "map-reduce"));
                JsonNode given = options.containsKey("parameters") ? json(options.get("parameters"), "parameters")
                        : object();
                if (!(given instanceof ObjectNode parameters)) {
                    throw new IllegalArgumentException("--parameters must be a JSON object");
                }
                options.computeIfPresent("objective", (k, o) -> {
                    parameters.put("objective", o);
                    return o;
                });
                body.set("parameters", parameters);
                options.computeIfPresent("swarm-id", (k, id) -> {
                    body.put("swarm_id", id);
                    return id;
                });
                int wait = integer(options, "wait", 60);
                call.print(call.post(base + "/coordinate?wait_seconds=" + wait, body, wait), Cli::describeExecution);
            }
            case "consensus" -> {
                int timeout = integer(options, "timeout", 300);
                ObjectNode body = object().put("task_id", required(options, "task-id"))
                        .put("consensus_algorithm", options.getOrDefault("algorithm", "majority-vote"))
                        .put("timeout_seconds", timeout);
                call.print(call.post(base + "/consensus", body, timeout), r -> String.format(
                        "%s: %s (confidence %.2f, %s) votes %s from %s", r.path("consensus_algorithm").asText(),
                        r.path("result").path("final_answer").asText("no answer"), r.path("confidence_score").asDouble(),
                        r.path("consensus_reached").asBoolean() ? "reached" : "not reached",
                        r.path("result").path("votes"), r.path("participating_members")));
            }
            case "leave" -> {
                ObjectNode body = object().put("swarm_id", required(options, "swarm-id"));
                options.computeIfPresent("member", (k, m) -> {
                    body.put("member_id", m);
                    return m;
                });
                call.print(call.post(base + "/leave", body), r -> r.path("member_id").asText() + " left "
                        + r.path("swarm_id").asText());
            }
            default -> throw new IllegalArgumentException("unknown command 'swarm " + verb + "'");
        }
    }

    private static String describeNetwork(JsonNode n) {
        return n.path("id").asText() + "  " + n.path("name").asText() + "  " + n.path("coordination_strategy").asText()
                + "  agents " + n.path("agents");
    }

    private static String describeExecution(JsonNode e) {
        StringBuilder text = new StringBuilder(e.path("execution_id").asText() + "  "
                + e.path("coordination_strategy").asText() + "  " + e.path("status").asText());
        if (e.path("results").has("answer")) {
            text.append("\n  answer: ").append(e.path("results").path("answer"));
        }
        e.path("steps").forEach(step -> text.append(String.format("%n  %-11s %-8s %-10s %5d ms%s", step.path("kind")
                .asText(), step.path("agent").asText("-"), step.path("status").asText(), step.path("duration_ms").asLong(),
                step.has("error") ? "  " + step.path("error").asText() : "")));
        return text.toString();
    }

    private static com.fasterxml.jackson.databind.JsonNode json(String text, String option) {
        String refusal = "--" + option + " must be JSON, e.g. '{\"doc\":\"q3.pdf\"}'";
        try {
            JsonNode value = readJson(text);
            if (value.isMissingNode()) { // nothing but white space: not "{}", which the option could be left out for
                throw new IllegalArgumentException(refusal + ", was empty");
            }
            return value;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(refusal);
        }
    }

    /**
     * {@code text} as one JSON value, all of it: {@code 42 apples} is not JSON, where a plain read
     * would take the 42 and drop the rest.
     */
    private static JsonNode readJson(String text) throws com.fasterxml.jackson.core.JsonProcessingException {
        return RequestBody.MAPPER.reader()
                .with(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS).readTree(text);
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
        return option(options, name, fallback, Integer::parseInt, "a whole number");
    }

    private static double number(Map<String, String> options, String name, double fallback) {
        return option(options, name, fallback, Double::parseDouble, "a number");
    }

    /** Option {@code --name} parsed, or {@code fallback} when absent; a one-line refusal when it does not parse. */
    private static <T> T option(Map<String, String> options, String name, T fallback,
            java.util.function.Function<String, T> parse, String what) {
        String value = options.get(name);
        try {
            return value == null ? fallback : parse.apply(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " must be " + what + ", was '" + value + "'");
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
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("missing --" + name + (value == null ? "" : " (it is empty)"));
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

        /** A POST that asks the server to wait up to {@code waitSeconds} before it answers. */
        JsonNode post(String path, JsonNode body, double waitSeconds) {
            // The server refuses a wait past a day; NaN and the negative ones add nothing.
            long waitMillis = (long) (Math.min(Math.max(waitSeconds, 0), 86_400) * 1000);
            return send("POST", path, body, timeout.plusMillis(waitMillis));
        }

        JsonNode send(String method, String path, JsonNode body) {
            return send(method, path, body, timeout);
        }

        private JsonNode send(String method, String path, JsonNode body, Duration callTimeout) {
            HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(server + path))
                    .timeout(callTimeout)
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
            if (response.statusCode() >= 400 && !reply.path("error").isTextual()) {
                throw new Failure("the server at " + server + " answered " + response.statusCode()
                        + " with no Swarmbus error (is it a Swarmbus server?)");
            }
            if (response.statusCode() >= 400) {
                throw new Failure(reply.path("error").asText() + " (" + response.statusCode() + "): "
                        + reply.path("message").asText());
            }
            if (reply.isMissingNode()) { // every Swarmbus route answers with JSON: an empty answer is some other server's
                throw new Failure("the server at " + server + " answered " + response.statusCode()
                        + " with nothing (is it a Swarmbus server?)");
            }
            return reply;
        }

        void print(JsonNode reply, java.util.function.Function<JsonNode, String> readable) {
            out.println(json ? reply.toString() : readable.apply(reply));
        }
    }
}
