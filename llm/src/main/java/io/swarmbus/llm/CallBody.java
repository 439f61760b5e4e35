package io.swarmbus.llm;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * The body of an OpenAI-style call. The gateway routes on three top-level fields ({@code model},
 * {@code stream}, {@code stream_options}); the prompt, which in an agent's call runs to thousands
 * of words, it only passes on. So a received body is checked and scanned for those fields without
 * decoding the rest, and the whole tree is built only when something needs it: a strategy that
 * reads the prompt, or a change to the body (a fallback model, usage asked of a stream). Decoding
 * the prompt's text was the largest single cost of a long-prompt call (docs/benchmarks.md).
 */
public final class CallBody {
    private final byte[] received;
    private final String model;
    private final boolean stream;
    private final boolean includeUsage;
    private ObjectNode tree;

    private CallBody(byte[] received, ObjectNode tree, JsonNode model, JsonNode stream, JsonNode options) {
        this.received = received;
        this.tree = tree;
        this.model = model == null ? "" : model.asText("");
        this.stream = stream != null && stream.asBoolean(false);
        this.includeUsage = options != null && options.path("include_usage").asBoolean(false);
    }

    /** A body that is not a JSON object as calls must be; {@code field} names what is wrong. */
    public static final class Invalid extends IllegalArgumentException {
        private final String field;

        Invalid(String field, String message) {
            super(message);
            this.field = field;
        }

        public String field() {
            return field;
        }
    }

    /** A body built here rather than received: it is serialized to be sent. */
    public static CallBody of(ObjectNode tree) {
        return new CallBody(null, tree, tree.get("model"), tree.get("stream"), tree.get("stream_options"));
    }

    /**
     * A received body: a JSON object without duplicate keys at any depth (a backend must read the
     * model routed on), whose {@code model}, if present, is a string. It is sent as received while
     * the gateway changes nothing in it.
     *
     * @throws Invalid otherwise
     */
    public static CallBody parse(byte[] bytes) {
        JsonNode model = null;
        JsonNode stream = null;
        JsonNode options = null;
        try (JsonParser parser = OpenAiWire.JSON.createParser(bytes)) {
            parser.enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                throw new Invalid("body", "the body must be a JSON object");
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String name = parser.currentName();
                parser.nextToken();
                switch (name) {
                    case "model" -> model = parser.readValueAsTree();
                    case "stream" -> stream = parser.readValueAsTree();
                    case "stream_options" -> options = parser.readValueAsTree();
                    default -> parser.skipChildren(); // checked, not decoded
                }
            }
            if (parser.nextToken() != null) { // the backend would get it as it was sent
                throw new Invalid("body", "the body has more after its JSON object");
            }
        } catch (JsonProcessingException e) {
            throw new Invalid("body", "the body is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new Invalid("body", "the body could not be read");
        }
        if (model != null && !model.isTextual()) {
            throw new Invalid("model", "'model' must be a string");
        }
        // As OpenAI refuses it: "yes" read as false would answer at once what the client reads as a stream.
        if (stream != null && !stream.isBoolean() && !stream.isNull()) {
            throw new Invalid("stream", "'stream' must be true or false, was " + stream);
        }
        return new CallBody(bytes, null, model, stream, options);
    }

    /** The model asked for; empty if none. */
    public String model() {
        return model;
    }

    /** Whether the answer is to be streamed. */
    public boolean stream() {
        return stream;
    }

    /** Whether the client asked a stream for its usage ({@code stream_options.include_usage}). */
    public boolean includeUsage() {
        return includeUsage;
    }

    /** The bytes received, to send while the gateway changes nothing in the body; null for a body built here. */
    public byte[] received() {
        return received;
    }

    /** The whole body as a tree, parsed on first use; a change to it is what gets sent. */
    public ObjectNode tree() {
        if (tree == null) {
            try {
                tree = (ObjectNode) OpenAiWire.JSON.readTree(received); // checked by parse
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return tree;
    }
}
