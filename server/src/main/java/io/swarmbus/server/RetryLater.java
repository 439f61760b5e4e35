package io.swarmbus.server;

import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;

/**
 * A 503 {@code unavailable} that knows when to try again: answered with {@code Retry-After} that
 * many seconds, so a client waits as long as the server knows it must rather than guess.
 */
final class RetryLater extends SwarmbusException {
    private static final long serialVersionUID = 1L;

    private final long seconds;

    RetryLater(String message, long seconds) {
        super(ErrorCode.UNAVAILABLE, message);
        this.seconds = Math.max(1, seconds);
    }

    /** Seconds until a retry may succeed; at least 1. */
    long seconds() {
        return seconds;
    }
}
