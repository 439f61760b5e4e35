package io.swarmbus.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Handler;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
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
 * routes the server answers: no endpoint can be served yet missing from the document. What each
 * operation takes (body fields, query parameters, headers), and for the most used ones what they
 * answer, is kept in {@value #REQUESTS_RESOURCE}, beside the code, since the handlers read and
 * write their fields one by one and declare none.
 */
final class ApiCatalog {
    static final String REQUESTS_RESOURCE = "/openapi-requests.yaml";
    /** The resource's top-level key for named field sets; every other key names an operation. */
    static final String SHARED = "shared";
    private static final Pattern PATH_PARAM = Pattern.compile("\\{([^}]+)}");
    private static final List<String> PARAMETER_KINDS = List.of("query", "header");

    /** One documented operation. */
    record Operation(String method, String path, String summary, boolean isPublic, int success) {}

    private final RoutesConfig routes;
    private final Set<String> publicPaths;
    private final List<Operation> operations = new ArrayList<>();

    ApiCatalog(RoutesConfig routes, Set<String> publicPaths) {
        this.routes = routes;
        this.publicPaths = publicPaths;
    }

    /**
     * A GET route, and HEAD on the same path answering what GET would (Jetty sends no body for a
     * HEAD). Left to itself Javalin answers HEAD on any GET route with an empty 200, even where
     * GET would answer 404 or 400.
     */
    void get(String path, String summary, Handler handler) {
        routes.get(path, handler);
        routes.head(path, handler);
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
        // A plain request there, without the upgrade, is told what the path wants rather than "no route".
        routes.get(path, ctx -> {
            throw io.swarmbus.SwarmbusException.invalid("Upgrade", "GET " + path
                    + " is a WebSocket: send 'Connection: Upgrade' and 'Upgrade: websocket'");
        });
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
            byPath.computeIfAbsent(op.path(), p -> paths.putObject(p)).set(op.method(), operation(op));
        }
        return doc;
    }

    private static ObjectNode operation(Operation op) {
        ObjectNode operation = RequestBody.MAPPER.createObjectNode();
        operation.put("summary", op.summary());
        operation.put("operationId", op.method() + op.path().replaceAll("[^A-Za-z0-9]+", "_"));
        operation.putArray("tags").add(tag(op.path()));
        ArrayNode parameters = operation.putArray("parameters");
        Matcher m = PATH_PARAM.matcher(op.path());
        while (m.find()) {
            parameters.addObject().put("name", m.group(1)).put("in", "path").put("required", true)
                    .putObject("schema").put("type", "string");
        }
        JsonNode request = Requests.ALL.path(op.method() + " " + op.path());
        for (String in : PARAMETER_KINDS) {
            request.path(in).properties().forEach(field -> parameters.add(parameter(field.getKey(), in, field.getValue())));
        }
        if (request.has("body")) {
            operation.set("requestBody", requestBody(request));
        }
        if (op.isPublic()) {
            operation.putArray("security");
        } else {
            ArrayNode security = operation.putArray("security");
            security.addObject().putArray("bearer");
            security.addObject().putArray("apiKey");
        }
        ObjectNode responses = operation.putObject("responses");
        ObjectNode success = responses.putObject(Integer.toString(op.success())).put("description", "success");
        if (request.has("response")) {
            success.putObject("content").putObject("application/json").set("schema", objectSchema(request.get("response")));
        } else if (request.has("response_items")) { // an answer that is a JSON array of these objects
            success.putObject("content").putObject("application/json").putObject("schema").put("type", "array")
                    .set("items", objectSchema(request.get("response_items")));
        }
        // Other success statuses (a repeated send, a profile replaced) answer in the same shape.
        request.path("also").properties().forEach(other -> {
            ObjectNode response = responses.putObject(other.getKey()).put("description", other.getValue().asText());
            if (success.has("content")) {
                response.set("content", success.get("content").deepCopy());
            }
        });
        responses.putObject("default").put("description", "error")
                .putObject("content").putObject("application/json").putObject("schema")
                .put("$ref", "#/components/schemas/Error");
        return operation;
    }

    private static ObjectNode parameter(String name, String in, JsonNode field) {
        ObjectNode parameter = RequestBody.MAPPER.createObjectNode().put("name", name).put("in", in)
                .put("required", field.path("required").asBoolean());
        ObjectNode schema = schema(field);
        if (schema.has("description")) {
            parameter.set("description", schema.remove("description"));
        }
        return parameter.set("schema", schema);
    }

    /** A JSON body, and where the route also reads a form, the same fields as a form. */
    private static ObjectNode requestBody(JsonNode request) {
        ObjectNode schema = objectSchema(request.get("body"));
        ObjectNode body = RequestBody.MAPPER.createObjectNode().put("required", schema.has("required"));
        ObjectNode content = body.putObject("content");
        content.putObject("application/json").set("schema", schema);
        if (request.path("form").asBoolean()) {
            content.putObject("application/x-www-form-urlencoded").set("schema", schema.deepCopy());
        }
        return body;
    }

    /** The request shapes, read when the document is first asked for: not on every start. */
    private static final class Requests {
        static final ObjectNode ALL = requests();
    }

    /** An object's JSON Schema from its fields: their schemas, and the required ones named. */
    private static ObjectNode objectSchema(JsonNode fields) {
        ObjectNode schema = RequestBody.MAPPER.createObjectNode().put("type", "object");
        ObjectNode properties = schema.putObject("properties");
        ArrayNode required = RequestBody.MAPPER.createArrayNode();
        fields.properties().forEach(field -> {
            properties.set(field.getKey(), schema(field.getValue()));
            if (field.getValue().path("required").asBoolean()) {
                required.add(field.getKey());
            }
        });
        if (!required.isEmpty()) {
            schema.set("required", required);
        }
        return schema;
    }

    /**
     * A field's JSON Schema: the field as written, less {@code required}, with an items type as a
     * schema, and its own {@code fields}, if any, as the object's (or the items') properties.
     */
    private static ObjectNode schema(JsonNode field) {
        ObjectNode schema = field.deepCopy();
        schema.remove("required");
        JsonNode fields = schema.remove("fields");
        if (schema.path("items").isTextual()) {
            schema.set("items", RequestBody.MAPPER.createObjectNode().put("type", schema.get("items").asText()));
        }
        if (fields != null) {
            ObjectNode object = objectSchema(fields);
            if (schema.has("items")) {
                schema.set("items", object);
            } else {
                schema.setAll(object);
            }
        }
        return schema;
    }

    /**
     * The operations' request shapes from {@value #REQUESTS_RESOURCE}, each with its field lists
     * merged into one map and an entry naming another operation replaced by that one's shape.
     */
    static ObjectNode requests() {
        ObjectNode file;
        try (InputStream in = ApiCatalog.class.getResourceAsStream(REQUESTS_RESOURCE)) {
            file = (ObjectNode) new YAMLMapper().readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + REQUESTS_RESOURCE, e);
        }
        JsonNode shared = file.path(SHARED);
        file.remove(SHARED);
        ObjectNode requests = RequestBody.MAPPER.createObjectNode();
        file.properties().forEach(entry -> {
            JsonNode shape = entry.getValue().isTextual() ? file.get(entry.getValue().asText()) : entry.getValue();
            if (shape == null || !shape.isObject()) {
                throw new IllegalStateException(REQUESTS_RESOURCE + ": '" + entry.getKey()
                        + "' is neither a shape nor another operation's key");
            }
            ObjectNode resolved = shape.deepCopy();
            for (String section : List.of("body", "query", "header", "response", "response_items")) {
                if (resolved.has(section)) {
                    resolved.set(section, fields(resolved.get(section), shared));
                }
            }
            requests.set(entry.getKey(), resolved);
        });
        return requests;
    }

    /**
     * A section's fields: a map as it is, or a list's maps and named shared sets merged in order;
     * a field's own {@code fields}, a set's name among them, resolved the same way.
     */
    private static JsonNode fields(JsonNode section, JsonNode shared) {
        ObjectNode fields = RequestBody.MAPPER.createObjectNode();
        for (JsonNode part : section.isArray() ? section : List.of(section)) {
            JsonNode set = part.isTextual() ? shared.path(part.asText()) : part;
            if (set.isArray()) {
                set = fields(set, shared);
            }
            if (!set.isObject()) {
                throw new IllegalStateException(REQUESTS_RESOURCE + ": no shared field set '" + part.asText() + "'");
            }
            set.properties().forEach(field -> {
                JsonNode own = field.getValue().get("fields");
                fields.set(field.getKey(), own == null ? field.getValue()
                        : ((ObjectNode) field.getValue().deepCopy()).set("fields", fields(own, shared)));
            });
        }
        return fields;
    }

    private static String tag(String path) {
        String[] parts = path.split("/");
        String first = parts.length > 3 && parts[1].equals("api") ? parts[3] : parts.length > 1 ? parts[1] : "root";
        return first.isEmpty() ? "root" : first.toLowerCase(Locale.ROOT);
    }
}
