package io.swarmbus.server;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.util.RawValue;
import io.swarmbus.SwarmbusException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * Reads a request body into a JSON tree like {@code ObjectMapper.readTree}, except that a message's
 * {@code content} is kept as the raw JSON text it arrived as (a {@link RawValue} node), not parsed
 * into a tree only to be written back to text for storage. That round trip was a third of the
 * server's CPU for 1 KiB messages (docs/benchmarks.md, W1).
 *
 * <p>A message is the body itself, the object under {@code message}, or an element of
 * {@code messages}; {@code content} anywhere else (say, inside {@code headers}) is parsed as usual.
 */
final class JsonTree {
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private JsonTree() {}

    /** Where an object sits: whether its {@code content} is a message's. */
    private enum Scope { MESSAGE, MESSAGE_LIST, OTHER }

    /** The tree of {@code json}, or null if it is empty. Throws Jackson's exceptions for bad JSON. */
    static JsonNode read(byte[] json) throws IOException {
        try (JsonParser parser = RequestBody.MAPPER.getFactory().createParser(json)) {
            if (parser.nextToken() == null) {
                return null;
            }
            JsonNode root = value(parser, json, Scope.MESSAGE);
            if (parser.nextToken() != null) {
                throw new com.fasterxml.jackson.core.JsonParseException(parser, "unexpected content after the JSON value");
            }
            return root;
        }
    }

    /** The text of a content node: raw as it arrived, or written out if it was parsed. */
    static String text(JsonNode node) {
        if (node.isPojo() && ((com.fasterxml.jackson.databind.node.POJONode) node).getPojo() instanceof RawValue raw) {
            return raw.rawValue().toString();
        }
        return node.toString();
    }

    private static JsonNode value(JsonParser parser, byte[] json, Scope scope) throws IOException {
        JsonToken token = parser.currentToken();
        return switch (token) {
            case START_OBJECT -> {
                ObjectNode object = NODES.objectNode();
                while (parser.nextToken() == JsonToken.FIELD_NAME) {
                    String name = paired(parser.currentName());
                    if (object.has(name)) { // else the last would win and the first be dropped unread
                        throw SwarmbusException.invalid("body", "the request body gives '" + name + "' twice in one object");
                    }
                    parser.nextToken();
                    JsonNode field;
                    if (scope == Scope.MESSAGE && name.equals("content") && parser.currentToken() != JsonToken.VALUE_NULL) {
                        field = raw(parser, json);
                    } else {
                        field = value(parser, json, scope == Scope.MESSAGE && name.equals("message") ? Scope.MESSAGE
                                : scope == Scope.MESSAGE && name.equals("messages") ? Scope.MESSAGE_LIST : Scope.OTHER);
                    }
                    object.set(name, field);
                }
                yield object;
            }
            case START_ARRAY -> {
                ArrayNode array = NODES.arrayNode();
                while (parser.nextToken() != JsonToken.END_ARRAY) {
                    array.add(value(parser, json, scope == Scope.MESSAGE_LIST ? Scope.MESSAGE : Scope.OTHER));
                }
                yield array;
            }
            case VALUE_STRING -> NODES.textNode(paired(parser.getText()));
            case VALUE_NUMBER_INT -> switch (parser.getNumberType()) {
                case INT -> NODES.numberNode(parser.getIntValue());
                case LONG -> NODES.numberNode(parser.getLongValue());
                default -> NODES.numberNode(parser.getBigIntegerValue());
            };
            case VALUE_NUMBER_FLOAT -> {
                double value = parser.getDoubleValue();
                yield Double.isFinite(value) ? NODES.numberNode(value) : new Overflowed(value, parser.getText());
            }
            case VALUE_TRUE -> NODES.booleanNode(true);
            case VALUE_FALSE -> NODES.booleanNode(false);
            case VALUE_NULL -> NODES.nullNode();
            default -> throw new com.fasterxml.jackson.core.JsonParseException(parser, "unexpected " + token);
        };
    }

    /**
     * A number too large for a double ({@code 1e400}): it reads as the infinity it parses to, but
     * shows as the client wrote it, so that a refusal quotes the value as sent, not "Infinity".
     */
    private static final class Overflowed extends com.fasterxml.jackson.databind.node.DoubleNode {
        private static final long serialVersionUID = 1L;
        private final String sent;

        Overflowed(double value, String sent) {
            super(value);
            this.sent = sent;
        }

        @Override
        public String asText() {
            return sent;
        }

        @Override
        public String toString() {
            return sent;
        }

        @Override
        public boolean equals(Object other) {
            return other instanceof Overflowed o && o.sent.equals(sent);
        }

        @Override
        public int hashCode() {
            return sent.hashCode();
        }
    }

    /**
     * {@code text}, refused if it holds half of a UTF-16 surrogate pair. A JSON escape can spell
     * one (backslash, u, d800), Jackson reads it, and no UTF-8 answer could later write it back:
     * a value kept with one would break every answer that shows it.
     */
    private static String paired(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw SwarmbusException.invalid("body", String.format(
                        "the request body holds \\u%04x without the other half of its surrogate pair, which is not text", (int) c));
            }
        }
        return text;
    }

    /** The current value's bytes, as text, with the parser moved past it (and the value checked). */
    private static JsonNode raw(JsonParser parser, byte[] json) throws IOException {
        int start = (int) parser.currentTokenLocation().getByteOffset();
        switch (parser.currentToken()) {
            case START_OBJECT, START_ARRAY -> parser.skipChildren(); // validates the nested JSON too
            case VALUE_STRING -> parser.finishToken();
            default -> { } // numbers and literals are read whole already
        }
        int end = (int) parser.currentLocation().getByteOffset();
        return NODES.pojoNode(new RawValue(pairedEscapes(new String(json, start, end - start, StandardCharsets.UTF_8))));
    }

    /**
     * {@code raw}, refused if one of its strings spells half of a surrogate pair with an escape
     * (backslash, u, d800, not followed by the low half), as {@link #paired} refuses it in any
     * other string of a body: one rule for the whole body. Raw text is checked escape by escape,
     * as Jackson has already checked that each is well formed; text without a backslash costs one
     * vectorized search.
     */
    private static String pairedEscapes(String raw) {
        int i = raw.indexOf('\\');
        while (i >= 0) {
            if (raw.charAt(i + 1) != 'u') {
                i = raw.indexOf('\\', i + 2); // a one-character escape: \" \\ \n and the like
                continue;
            }
            char c = (char) Integer.parseInt(raw, i + 2, i + 6, 16);
            boolean lowFollows = i + 11 < raw.length() && raw.charAt(i + 6) == '\\' && raw.charAt(i + 7) == 'u'
                    && Character.isLowSurrogate((char) Integer.parseInt(raw, i + 8, i + 12, 16));
            if (Character.isHighSurrogate(c) && lowFollows) {
                i = raw.indexOf('\\', i + 12);
            } else if (Character.isSurrogate(c)) {
                throw SwarmbusException.invalid("body", String.format(
                        "the request body holds \\u%04x without the other half of its surrogate pair, which is not text", (int) c));
            } else {
                i = raw.indexOf('\\', i + 6);
            }
        }
        return raw;
    }
}
