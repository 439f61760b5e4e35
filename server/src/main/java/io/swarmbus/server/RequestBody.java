package io.swarmbus.server;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.core.util.JsonRecyclerPools;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.MessageType;
import io.swarmbus.messaging.Priority;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A JSON request body with typed, validated field access. Every problem becomes an
 * {@code invalid_argument} error that names the field, so clients learn exactly what to fix.
 */
final class RequestBody {
    /**
     * Requests and socket frames are handled on virtual threads, each new, so Jackson's default
     * thread-local buffer pool never reuses a buffer: every parse and render allocated fresh 4-16 KB
     * buffers, about 60 KB of garbage per delivered message (docs/benchmarks.md, W3). A shared
     * pool serves every thread.
     */
    static final ObjectMapper MAPPER = JsonMapper.builder(JsonFactory.builder()
            .recyclerPool(JsonRecyclerPools.sharedConcurrentDequePool()).build()).build();

    private final JsonNode root;

    private RequestBody(JsonNode root) {
        this.root = root;
    }

    /** The fields of {@code object}, a JSON object already parsed (a stored task, say), read as a body's are. */
    static RequestBody of(ObjectNode object) {
        return new RequestBody(object);
    }

    /** Parses a body that must be a JSON object; an empty body reads as {@code {}}. */
    static RequestBody parse(byte[] body) {
        if (body.length == 0) {
            return new RequestBody(MAPPER.createObjectNode());
        }
        JsonNode root;
        try {
            root = JsonTree.read(body);
        } catch (StreamConstraintsException e) { // Jackson's limits on depth and lengths; no location
            throw SwarmbusException.invalid("body", "the request body exceeds a JSON limit: "
                    + e.getOriginalMessage().replaceAll(", from `[^`]*`", ""));
        } catch (JacksonException e) {
            JsonLocation at = e.getLocation();
            throw SwarmbusException.invalid("body", "the request body is not valid JSON" + (at == null ? ""
                    : " (at line " + at.getLineNr() + ", column " + at.getColumnNr() + ")"));
        } catch (java.io.IOException e) {
            throw SwarmbusException.invalid("body", "the request body could not be read");
        }
        if (root == null || !root.isObject()) {
            throw SwarmbusException.invalid("body", "the request body must be a JSON object");
        }
        return new RequestBody(root);
    }

    /** The body's first field, if it has any: for routes that take none. */
    Optional<String> anyField() {
        var names = root.fieldNames();
        return names.hasNext() ? Optional.of(names.next()) : Optional.empty();
    }

    boolean has(String field) {
        JsonNode node = root.get(field);
        return node != null && !node.isNull();
    }

    /**
     * Which of a field's names is present, for fields that have a seed alias ({@code from} or
     * {@code sender_id}); refused if more than one is, since one would be dropped unread.
     */
    Optional<String> firstPresent(String... names) {
        String found = null;
        for (String name : names) {
            if (has(name)) {
                if (found != null) {
                    throw SwarmbusException.invalid(name, "give '" + found + "' or its other name '" + name + "', not both");
                }
                found = name;
            }
        }
        return Optional.ofNullable(found);
    }

    String text(String field) {
        return optionalText(field).orElseThrow(() -> SwarmbusException.invalid(field, "'" + field + "' is required"));
    }

    Optional<String> optionalText(String field) {
        if (!has(field)) {
            return Optional.empty();
        }
        JsonNode node = root.get(field);
        if (!node.isTextual()) {
            throw SwarmbusException.invalid(field, "'" + field + "' must be a string");
        }
        return Optional.of(node.asText());
    }

    /** A scalar field as text, whether the client sent it as a number or a string. */
    String optionalNumberOrText(String field) {
        JsonNode node = root.get(field);
        if (!node.isValueNode()) {
            throw SwarmbusException.invalid(field, "'" + field + "' must be a number or a string");
        }
        return node.asText();
    }

    /** A nested JSON object as its own body. */
    RequestBody object(String field) {
        JsonNode node = root.get(field);
        if (node == null || !node.isObject()) {
            throw SwarmbusException.invalid(field, "'" + field + "' must be a JSON object");
        }
        return new RequestBody(node);
    }

    /** The array {@code field}, item by item: a body for each object, empty for anything else. */
    List<Optional<RequestBody>> items(String field) {
        JsonNode node = root.get(field);
        if (node == null || !node.isArray()) {
            throw SwarmbusException.invalid(field, "'" + field + "' must be an array of objects");
        }
        List<Optional<RequestBody>> items = new ArrayList<>();
        for (JsonNode item : node) {
            items.add(item.isObject() ? Optional.of(new RequestBody(item)) : Optional.empty());
        }
        return items;
    }

    /** An agent id from {@code field}; a malformed one is refused naming {@code field}, not {@code agent_id}. */
    AgentId agent(String field) {
        return agentId(field, text(field));
    }

    /**
     * What {@code parse} reads; a value it refuses is refused naming {@code field}, where the value
     * came from (a query parameter, a list), not the field {@code parse} names by default.
     */
    static <T> T from(String field, java.util.function.Supplier<T> parse) {
        return refusedAs(field, "", parse);
    }

    /** As {@link #from}, for a header; the message names it too, for callers that never see {@code field}. */
    static <T> T fromHeader(String header, java.util.function.Supplier<T> parse) {
        return refusedAs(header, header + ": ", parse);
    }

    private static <T> T refusedAs(String field, String prefix, java.util.function.Supplier<T> parse) {
        try {
            return parse.get();
        } catch (SwarmbusException e) {
            throw SwarmbusException.invalid(field, prefix + e.getMessage());
        }
    }

    /** {@code value} as an agent id; a malformed one is refused naming {@code field}, where it came from. */
    static AgentId agentId(String field, String value) {
        return from(field, () -> AgentId.of(value));
    }

    /** {@code value} as a message type; a malformed one is refused naming {@code field}, where it came from. */
    static MessageType messageType(String field, String value) {
        return from(field, () -> MessageType.of(value));
    }

    List<AgentId> agents(String field) {
        return strings(field).stream().map(AgentId::of).toList();
    }

    List<String> strings(String field) {
        JsonNode node = root.get(field);
        if (node == null || !node.isArray()) {
            throw SwarmbusException.invalid(field, "'" + field + "' must be an array of strings");
        }
        List<String> values = new ArrayList<>();
        for (JsonNode item : node) {
            if (!item.isTextual()) {
                throw SwarmbusException.invalid(field, "'" + field + "' must hold only strings");
            }
            values.add(item.asText());
        }
        return values;
    }

    /** A field's JSON as it came; required. */
    JsonNode node(String field) {
        if (!has(field)) {
            throw SwarmbusException.invalid(field, "'" + field + "' is required");
        }
        return root.get(field);
    }

    /** Raw JSON text of any value; required. */
    String json(String field) {
        if (!root.has(field)) {
            throw SwarmbusException.invalid(field, "'" + field + "' is required");
        }
        return JsonTree.text(root.get(field));
    }

    Optional<Double> number(String field) {
        if (!has(field)) {
            return Optional.empty();
        }
        JsonNode node = root.get(field);
        if (!node.isNumber() || !Double.isFinite(node.asDouble())) { // 1e400 parses as infinity
            throw SwarmbusException.invalid(field, "'" + field + "' must be a finite number");
        }
        return Optional.of(node.asDouble());
    }

    Optional<Integer> integer(String field) {
        if (!has(field)) {
            return Optional.empty();
        }
        JsonNode node = root.get(field);
        Integer value = whole(node);
        if (value == null) {
            // Each field's own range is checked where it is read; here only what no field takes.
            boolean tooLarge = node.isNumber() && Math.abs(node.asDouble()) > Integer.MAX_VALUE;
            throw SwarmbusException.invalid(field, "'" + field + "' must be a whole number"
                    + (tooLarge ? " from " + Integer.MIN_VALUE + " to " + Integer.MAX_VALUE : "") + ", was " + node);
        }
        return Optional.of(value);
    }

    /**
     * A JSON number that is a whole {@code int}, written as one ({@code 5}) or not ({@code 5.0},
     * {@code 1e2}); null for anything else, a number out of range among them (never wrapped round).
     */
    private static Integer whole(JsonNode node) {
        if (node.isIntegralNumber()) {
            return node.canConvertToInt() ? node.intValue() : null;
        }
        if (node.isNumber()) {
            double value = node.doubleValue();
            return value == Math.rint(value) && Math.abs(value) <= Integer.MAX_VALUE ? (int) value : null;
        }
        return null;
    }

    boolean flag(String field) {
        if (!has(field)) {
            return false;
        }
        if (!root.get(field).isBoolean()) {
            throw SwarmbusException.invalid(field, "'" + field + "' must be true or false");
        }
        return root.get(field).asBoolean();
    }

    /** A priority given as 0-3 or a name. */
    Optional<Priority> priority(String field) {
        if (!has(field)) {
            return Optional.empty();
        }
        JsonNode node = root.get(field);
        if (node.isNumber()) {
            Integer level = whole(node);
            if (level == null) {
                throw SwarmbusException.invalid(field, "priority " + node + " is invalid: use 0-3 or low, medium, high, critical");
            }
            return Optional.of(Priority.ofLevel(level));
        }
        if (node.isTextual()) {
            return Optional.of(Priority.parse(node.asText()));
        }
        throw SwarmbusException.invalid(field, "priority must be 0-3 or low, medium, high, critical");
    }

    /** String headers. */
    java.util.Map<String, String> headers(String field) {
        return stringMap(field);
    }

    /** An object whose values are all strings; empty if absent. */
    java.util.Map<String, String> stringMap(String field) {
        java.util.Map<String, String> map = new java.util.LinkedHashMap<>();
        for (var entry : entries(field, "an object of strings")) {
            if (!entry.getValue().isTextual()) {
                throw SwarmbusException.invalid(field, "'" + field + "." + entry.getKey() + "' must be a string");
            }
            map.put(entry.getKey(), entry.getValue().asText());
        }
        return map;
    }

    /** An object whose values are all numbers; empty if absent. */
    java.util.Map<String, Double> numberMap(String field) {
        java.util.Map<String, Double> map = new java.util.LinkedHashMap<>();
        for (var entry : entries(field, "an object of numbers")) {
            double value = entry.getValue().asDouble();
            if (!entry.getValue().isNumber() || !Double.isFinite(value)) { // 1e400 parses as infinity
                throw SwarmbusException.invalid(field, "'" + field + "." + entry.getKey() + "' must be a finite number");
            }
            map.put(entry.getKey(), value);
        }
        return map;
    }

    private java.util.Set<java.util.Map.Entry<String, JsonNode>> entries(String field, String what) {
        if (!has(field)) {
            return java.util.Set.of();
        }
        JsonNode node = root.get(field);
        if (!node.isObject()) {
            throw SwarmbusException.invalid(field, "'" + field + "' must be " + what);
        }
        return node.properties();
    }
}
