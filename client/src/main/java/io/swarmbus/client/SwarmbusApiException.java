package io.swarmbus.client;

import java.util.Optional;

/** The server refused a request: its HTTP status and its JSON error. */
public final class SwarmbusApiException extends RuntimeException {
    private final int status;
    private final String code;
    private final String field;

    public SwarmbusApiException(int status, String code, String message, String field) {
        super(code + " (" + status + "): " + message);
        this.status = status;
        this.code = code;
        this.field = field;
    }

    /** The HTTP status, e.g. 404; 0 when the server could not be reached. */
    public int status() {
        return status;
    }

    /** The error code, e.g. {@code not_found}, {@code invalid_argument}, {@code unavailable}. */
    public String code() {
        return code;
    }

    /** The request field at fault, when the server names one (a bad or oversized field, say). */
    public Optional<String> field() {
        return Optional.ofNullable(field);
    }
}
