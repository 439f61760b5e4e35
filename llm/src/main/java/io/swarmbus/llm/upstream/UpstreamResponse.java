package io.swarmbus.llm.upstream;

import java.io.InputStream;
import java.util.Map;
import java.util.Optional;

/**
 * A backend's answer: status and headers have arrived, the body is read as it comes. Close it
 * when done; closing it before the body's end closes the connection and so cancels the request.
 */
public final class UpstreamResponse implements AutoCloseable {
    private final int status;
    private final Map<String, String> headers;
    private final InputStream body;

    UpstreamResponse(int status, Map<String, String> headers, InputStream body) {
        this.status = status;
        this.headers = headers;
        this.body = body;
    }

    public int status() {
        return status;
    }

    /** A header's value (repeated headers joined with {@code ", "}); names are case-insensitive. */
    public Optional<String> header(String name) {
        return Optional.ofNullable(headers.get(name.toLowerCase(java.util.Locale.ROOT)));
    }

    /** The body, streamed off the connection. */
    public InputStream body() {
        return body;
    }

    @Override
    public void close() {
        try {
            body.close();
        } catch (java.io.IOException ignored) {
            // ResponseBody.close does not throw
        }
    }
}
