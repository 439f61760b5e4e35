package io.swarmbus.llm.sim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Iterator;
import java.util.List;
import java.util.Random;

/**
 * Structured output for the simulator: a JSON value that fits a request's {@code response_format}
 * schema, as a model with guided decoding (vLLM, OpenAI, Ollama) would produce, made from the
 * simulated words. Choices ({@code enum}) and numbers are drawn from a generator seeded with the
 * prompt, so the same prompt always gets the same answer and different prompts may disagree,
 * which is what swarm votes and judges need to be exercised without a GPU.
 *
 * <p>Handles the schema keywords agents use for answers: {@code type} (object, array, string,
 * number, integer, boolean, null), {@code properties}, {@code items}, {@code enum}, {@code const},
 * {@code minItems}/{@code maxItems}, {@code minimum}/{@code maximum}, {@code anyOf}/{@code oneOf}.
 */
public final class SchemaSample {
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final int MAX_DEPTH = 8;

    private final Random random;
    private final List<String> words;
    private Iterator<String> next;

    private SchemaSample(long seed, List<String> words) {
        this.random = new Random(seed);
        this.words = words.isEmpty() ? List.of("answer") : words;
        this.next = this.words.iterator();
    }

    /** A value fitting {@code schema}; strings take their words from {@code words} in order. */
    public static JsonNode of(JsonNode schema, List<String> words, long seed) {
        return new SchemaSample(seed, words).value(schema, 0);
    }

    /** The value of OpenAI's {@code response_format} {@code json_object}: {@code {"answer": <words>}}. */
    public static JsonNode answerObject(List<String> words) {
        return NODES.objectNode().put("answer", String.join(" ", words));
    }

    private JsonNode value(JsonNode schema, int depth) {
        if (schema.has("const")) {
            return schema.get("const");
        }
        if (schema.path("enum").isArray() && !schema.get("enum").isEmpty()) {
            return schema.get("enum").get(random.nextInt(schema.get("enum").size()));
        }
        for (String either : List.of("anyOf", "oneOf")) {
            if (schema.path(either).isArray() && !schema.get(either).isEmpty()) {
                return value(schema.get(either).get(random.nextInt(schema.get(either).size())), depth);
            }
        }
        if (depth >= MAX_DEPTH) {
            return NODES.nullNode();
        }
        return switch (type(schema)) {
            case "object" -> object(schema, depth);
            case "array" -> array(schema, depth);
            case "number" -> NODES.numberNode(Math.round(number(schema) * 10) / 10.0);
            case "integer" -> NODES.numberNode(Math.round(number(schema)));
            case "boolean" -> NODES.booleanNode(random.nextBoolean());
            case "null" -> NODES.nullNode();
            default -> NODES.textNode(text());
        };
    }

    /** The schema's type; the first non-null of a list; inferred from properties or items when absent. */
    private static String type(JsonNode schema) {
        JsonNode type = schema.path("type");
        if (type.isArray()) {
            for (JsonNode t : type) {
                if (!t.asText().equals("null")) {
                    return t.asText();
                }
            }
        }
        if (type.isTextual()) {
            return type.asText();
        }
        return schema.has("properties") ? "object" : schema.has("items") ? "array" : "string";
    }

    private ObjectNode object(JsonNode schema, int depth) {
        ObjectNode object = NODES.objectNode();
        schema.path("properties").properties().forEach(p -> object.set(p.getKey(), value(p.getValue(), depth + 1)));
        return object;
    }

    private ArrayNode array(JsonNode schema, int depth) {
        int min = Math.max(0, schema.path("minItems").asInt(1));
        int max = Math.max(min, Math.min(schema.path("maxItems").asInt(Math.max(min, 3)), min + 10));
        int count = min + random.nextInt(max - min + 1);
        ArrayNode array = NODES.arrayNode();
        for (int i = 0; i < count; i++) {
            array.add(value(schema.path("items"), depth + 1));
        }
        return array;
    }

    private double number(JsonNode schema) {
        double min = schema.path("minimum").asDouble(0);
        double max = schema.path("maximum").asDouble(Math.max(min, 100));
        return min + random.nextDouble() * (max - min);
    }

    /** Three to eight words, going round the simulated output. */
    private String text() {
        int count = 3 + random.nextInt(6);
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < count; i++) {
            if (!next.hasNext()) {
                next = words.iterator();
            }
            text.append(i == 0 ? "" : " ").append(next.next());
        }
        return text.toString();
    }
}
