package io.swarmbus.server;

import io.swarmbus.llm.LlmGateway;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** A gateway answer collected whole, for callers inside the server: the bus service and managed agents. */
final class BufferedAnswer implements LlmGateway.Sink {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private int status;

    @Override
    public void start(int code, String contentType) {
        status = code;
    }

    @Override
    public void write(byte[] data) {
        bytes.writeBytes(data);
    }

    /** A broken answer is a failed one: 502, with the reason after what arrived. */
    @Override
    public void cut(String reason) {
        status = 502;
        bytes.writeBytes(("\n" + reason).getBytes(StandardCharsets.UTF_8));
    }

    int status() {
        return status;
    }

    String text() {
        return bytes.toString(StandardCharsets.UTF_8);
    }
}
