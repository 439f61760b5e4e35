package io.swarmbus;

import java.util.Objects;
import java.util.Optional;

/**
 * The root of every exception Swarmbus core throws. Its {@link ErrorCode} says what went wrong and
 * whether a retry may help; its message names the thing, the value and the limit or state.
 */
public class SwarmbusException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final ErrorCode code;
    private final String field;

    /** Creates an exception with a code and a readable message. */
    public SwarmbusException(ErrorCode code, String message) {
        this(code, message, null, null);
    }

    /** Creates an exception that blames one request field. */
    public static SwarmbusException invalid(String field, String message) {
        return new SwarmbusException(ErrorCode.INVALID_ARGUMENT, message, field, null);
    }

    /** Creates an exception with a code that blames one request field. */
    public static SwarmbusException of(ErrorCode code, String field, String message) {
        return new SwarmbusException(code, message, field, null);
    }

    /** Creates an exception with a code, message and underlying cause. */
    public SwarmbusException(ErrorCode code, String message, Throwable cause) {
        this(code, message, null, cause);
    }

    private SwarmbusException(ErrorCode code, String message, String field, Throwable cause) {
        super(message, cause);
        this.code = Objects.requireNonNull(code, "code");
        this.field = field;
    }

    /** What went wrong, as a stable code. */
    public ErrorCode code() {
        return code;
    }

    /** The request field at fault, when one is. */
    public Optional<String> field() {
        return Optional.ofNullable(field);
    }

    /** Whether the same call may succeed if retried later. */
    public boolean retriable() {
        return code.retriable();
    }
}
