package io.swarmbus.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;

/** JSON objects as the rows of a {@link io.swarmbus.storage.DurableTable}. */
final class JsonRows {
    private JsonRows() {}

    static byte[] bytes(ObjectNode row) {
        try {
            return RequestBody.MAPPER.writeValueAsBytes(row);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static ObjectNode read(byte[] row) {
        try {
            return (ObjectNode) RequestBody.MAPPER.readTree(row);
        } catch (IOException e) {
            throw new UncheckedIOException("a stored row is not a JSON object: " + e.getMessage(), e);
        }
    }
}
