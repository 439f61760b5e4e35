package io.swarmbus.server;

import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;

/**
 * A 405 {@code method_not_allowed} that names the methods the path takes, in the message and in
 * the {@code Allow} header that HTTP asks every 405 to carry.
 */
final class NotAllowed extends SwarmbusException {
    private static final long serialVersionUID = 1L;

    private final String allowed;

    /** {@code allowed}: the path's methods, comma-separated ({@code "GET, HEAD"}). */
    NotAllowed(String method, String path, String allowed) {
        super(ErrorCode.METHOD_NOT_ALLOWED, "method " + method + " is not allowed on " + path
                + (allowed.isEmpty() ? "" : "; it takes " + allowed));
        this.allowed = allowed;
    }

    /** The value of the {@code Allow} header. */
    String allowed() {
        return allowed;
    }
}
