package io.swarmbus;

/**
 * The catalogue of Swarmbus errors: a stable code, the HTTP status an adapter should answer with,
 * and whether retrying the same call later may succeed.
 *
 * <p>Codes are never reused or renamed: clients match on them.
 */
public enum ErrorCode {
    /** A request field is missing, malformed or out of range. */
    INVALID_ARGUMENT("invalid_argument", 400, false),
    /** No valid credentials: missing, malformed, tampered or expired token, or a wrong password. */
    UNAUTHENTICATED("unauthenticated", 401, false),
    /** The caller is known but may not do this. */
    FORBIDDEN("forbidden", 403, false),
    /** The caller sent more requests than its rate limit allows; retry after the given time. */
    RATE_LIMITED("rate_limited", 429, true),
    /** The named agent, group, topic or message does not exist (or is not visible to the caller). */
    NOT_FOUND("not_found", 404, false),
    /** The thing being created already exists. */
    ALREADY_EXISTS("already_exists", 409, false),
    /**
     * The thing exists but is not in a state that allows this: a finished task cancelled, a task
     * completed, failed or updated by an agent that no longer runs it.
     */
    INVALID_STATE("invalid_state", 409, false),
    /** The operation needs a lease the caller does not hold (never leased, expired or acked). */
    LEASE_NOT_HELD("lease_not_held", 409, false),
    /** A request body is larger than the server accepts. */
    REQUEST_TOO_LARGE("request_too_large", 413, false),
    /** The HTTP method is not allowed on this path. */
    METHOD_NOT_ALLOWED("method_not_allowed", 405, false),
    /** A message is larger than {@code max_message_bytes}. */
    MESSAGE_TOO_LARGE("message_too_large", 413, false),
    /** A recipient's inbox holds {@code max_inbox_depth} undelivered messages already. */
    INBOX_FULL("inbox_full", 429, true),
    /** The engine is closed or shutting down. */
    UNAVAILABLE("unavailable", 503, true),
    /** The storage could not persist or read data. */
    STORAGE_FAILURE("storage_failure", 503, true),
    /** Something failed inside the server; details are logged, never sent. */
    INTERNAL("internal", 500, true);

    private final String code;
    private final int httpStatus;
    private final boolean retriable;

    ErrorCode(String code, int httpStatus, boolean retriable) {
        this.code = code;
        this.httpStatus = httpStatus;
        this.retriable = retriable;
    }

    /** The stable, lower-case code sent to clients. */
    public String code() {
        return code;
    }

    /** The HTTP status that an HTTP adapter answers with for this error. */
    public int httpStatus() {
        return httpStatus;
    }

    /** Whether the same call may succeed if retried later without change. */
    public boolean retriable() {
        return retriable;
    }
}
