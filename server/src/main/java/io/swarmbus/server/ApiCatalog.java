package io.swarmbus.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Handler;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Registers routes and remembers them, so that {@code /openapi.json} is generated from the very
 * routes the server answers: no endpoint can be served yet missing from the document.
 */
final class ApiCatalog {
    private static final Pattern PATH_PARAM = Pattern.compile("\\{([^}]+)}");

    /** One documented operation. */
    record Operation(String method, String path, String summary, boolean isPublic, int success) {}

    private final RoutesConfig routes;
    private final Set<String> publicPaths;
    private final List<Operation> operations = new ArrayList<>();

    ApiCatalog(RoutesConfig routes, Set<String> publicPaths) {
        this.routes = routes;
        this.publicPaths = publicPaths;
    }

    void get(String path, String summary, Handler handler) {
        routes.get(path, handler);
        add("get", path, summary, 200);
    }

    void post(String path, String summary, Handler handler) {
        post(path, summary, summary.startsWith("Create") || summary.startsWith("Send") ? 201 : 200, handler);
    }

    /** A POST whose success status the summary does not tell. */
    void post(String path, String summary, int success, Handler handler) {
        routes.post(path, handler);
        add("post", path, summary, success);
    }

    void put(String path, String summary, Handler handler) {
        routes.put(path, handler);
        add("put", path, summary, 200);
    }

    void delete(String path, String summary, Handler handler) {
        routes.delete(path, handler);
        add("delete", path, summary, 200);
    }

    /** A WebSocket endpoint: its upgrade is a GET answered 101. */
    void webSocket(String path, String summary, java.util.function.Consumer<io.javalin.websocket.WsConfig> ws) {
        routes.ws(path, ws);
        add("get", path, summary, 101);
    }

    /** A route answered in front of Javalin ({@link GatewayHandler}), documented with the rest. */
    void outside(String method, String path, String summary) {
        add(method, path, summary, 200);
    }

    private void add(String method, String path, String summary, int success) {
        operations.add(new Operation(method, path, summary, publicPaths.contains(path), success));
    }

    List<Operation> operations() {
        return List.copyOf(operations);
    }

    /** The OpenAPI 3.1 document of every registered route. */
    ObjectNode openApi() {
        ObjectNode doc = RequestBody.MAPPER.createObjectNode();
        doc.put("openapi", "3.1.0");
        doc.putObject("info").put("title", "Swarmbus API").put("version", "0.1.0")
                .put("description", "Messaging for swarms of LLM agents. Reference: docs/api.md.");
        ObjectNode schemes = doc.putObject("components").putObject("securitySchemes");
        schemes.putObject("bearer").put("type", "http").put("scheme", "bearer").put("bearerFormat", "JWT");
        schemes.putObject("apiKey").put("type", "apiKey").put("in", "header").put("name", "X-Api-Key");
        ObjectNode error = ((ObjectNode) doc.get("components")).putObject("schemas").putObject("Error");
        error.put("type", "object");
        error.putArray("required").add("error").add("message");
        ObjectNode props = error.putObject("properties");
        props.putObject("error").put("type", "string");
        props.putObject("message").put("type", "string");
        props.putObject("field").put("type", "string");
        ObjectNode paths = doc.putObject("paths");
        Map<String, ObjectNode> byPath = new LinkedHashMap<>();
        for (Operation op : operations) {
            ObjectNode item = byPath.computeIfAbsent(op.path(), p -> paths.putObject(p));
            ObjectNode operation = item.putObject(op.method());
            operation.put("summary", op.summary());
            operation.put("operationId", op.method() + op.path().replaceAll("[^A-Za-z0-9]+", "_"));
            operation.putArray("tags").add(tag(op.path()));
            ArrayNode parameters = operation.putArray("parameters");
            Matcher m = PATH_PARAM.matcher(op.path());
            while (m.find()) {
                parameters.addObject().put("name", m.group(1)).put("in", "path").put("required", true)
                        .putObject("schema").put("type", "string");
            }
            if (op.isPublic()) {
                operation.putArray("security");
            } else {
                ArrayNode security = operation.putArray("security");
                security.addObject().putArray("bearer");
                security.addObject().putArray("apiKey");
            }
            ObjectNode responses = operation.putObject("responses");
            responses.putObject(Integer.toString(op.success())).put("description", "success");
            responses.putObject("default").put("description", "error")
                    .putObject("content").putObject("application/json").putObject("schema")
                    .put("$ref", "#/components/schemas/Error");
        }
        return doc;
    }

    private static String tag(String path) {
        String[] parts = path.split("/");
        String first = parts.length > 3 && parts[1].equals("api") ? parts[3] : parts.length > 1 ? parts[1] : "root";
        return first.isEmpty() ? "root" : first.toLowerCase(Locale.ROOT);
    }
}
