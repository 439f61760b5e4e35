package io.swarmbus.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.javalin.config.Key;
import io.javalin.http.Context;
import io.swarmbus.SwarmbusException;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Small helpers shared by the route classes: JSON answers and query parameters. */
final class Http {
    /**
     * Where the API continues after the engine answers. Engine futures complete on the journal's
     * writer thread; writing a response there would hold up the next group commit, so every
     * continuation hops to a virtual thread.
     */
    static final java.util.concurrent.Executor AFTER_ENGINE = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor();

    /** The server's request size limit ({@code server.max_request_bytes}), as app data. */
    static final Key<Long> BODY_LIMIT = new Key<>("swarmbus-max-request-bytes");

    private Http() {}

    /**
     * The request's body. Javalin's own reader copies every body through a new 8 KB buffer into a
     * growing one, a quarter of the heap a REST send allocated (docs/benchmarks.md); with a
     * Content-Length within the limit this reads exactly that many bytes. The rest goes through
     * Javalin: chunked bodies, the 413 for an oversized one, and form bodies, whose parameters
     * Javalin parses from its own cached copy. A body is read once, by the route's handler.
     */
    static byte[] body(Context ctx) {
        long length = ctx.req().getContentLengthLong();
        if (length < 0 || length > ctx.appData(BODY_LIMIT) || ctx.isFormUrlencoded() || ctx.isMultipartFormData()) {
            return ctx.bodyAsBytes();
        }
        byte[] body = new byte[(int) length];
        int read;
        try {
            read = ctx.req().getInputStream().readNBytes(body, 0, body.length);
        } catch (IOException e) { // the client went away or stalled mid-body: its fault, not a server error
            read = -1;
        }
        if (read != body.length) {
            throw SwarmbusException.invalid("body", "the request body ended before the " + length
                    + " bytes its Content-Length announced");
        }
        return body;
    }

    /** The same outcome as {@code future}, delivered on a virtual thread rather than the journal's. */
    static <T> java.util.concurrent.CompletableFuture<T> after(java.util.concurrent.CompletableFuture<T> future) {
        return future.whenCompleteAsync((value, error) -> { }, AFTER_ENGINE);
    }

    static void json(Context ctx, int status, Object body) {
        try {
            ctx.status(status).contentType("application/json").result(RequestBody.MAPPER.writeValueAsBytes(body));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot render a response", e);
        }
    }

    /** A query, form or JSON-body parameter; see {@link #param(String, String, RequestBody, String)}. */
    static Optional<String> param(Context ctx, RequestBody body, String name) {
        boolean form = ctx.contentType() != null && ctx.contentType().startsWith("application/x-www-form-urlencoded");
        return param(ctx.queryParam(name), form ? once(name, ctx.formParams(name), "the form") : null, body, name);
    }

    /**
     * Refuses a parameter given more than once in {@code params} with different values
     * ({@code ?timeout=0&timeout=5}): which one the client meant is a guess, and the first was taken
     * without a word. The same value twice is taken.
     */
    static void onceEach(Map<String, List<String>> params, String where) {
        params.forEach((name, values) -> once(name, values, where));
    }

    /** The one value of {@code name} in {@code values}, or null if none; see {@link #onceEach}. */
    static String once(String name, List<String> values, String where) {
        for (String value : values) {
            if (!value.equals(values.getFirst())) {
                throw SwarmbusException.invalid(name, "'" + name + "' is given more than once in " + where
                        + ", differently ('" + values.getFirst() + "' and '" + value + "'); give it once");
            }
        }
        return values.isEmpty() ? null : values.getFirst();
    }

    /**
     * The parameter's value from the query's {@code query}, else the form body's {@code form} (each
     * null if absent), else the JSON body's field. One given in both the query and the body must be
     * the same value there ({@code 5} and {@code 5.0} are): else which one the client meant is a
     * guess, and taking the query's silently left the body's unread.
     */
    static Optional<String> param(String query, String form, RequestBody body, String name) {
        String inBody = form != null ? form : body.has(name) ? body.optionalNumberOrText(name) : null;
        if (query != null && inBody != null && !sameValue(query, inBody)) {
            throw SwarmbusException.invalid(name, "'" + name + "' is given in both the query and the body, "
                    + "differently ('" + query + "' and '" + inBody + "'); give it once");
        }
        return Optional.ofNullable(query != null ? query : inBody);
    }

    /** Whether two texts of a parameter say the same: equal, or equal numbers written apart ({@code 2}, {@code 2.0}). */
    private static boolean sameValue(String a, String b) {
        if (a.equals(b)) {
            return true;
        }
        try {
            return new java.math.BigDecimal(a.strip()).compareTo(new java.math.BigDecimal(b.strip())) == 0;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    static int intParam(Context ctx, RequestBody body, String name, int fallback) {
        return wholeNumber(name, param(ctx, body, name), fallback);
    }

    /** Seconds as a decimal number, e.g. {@code timeout=2.5}. */
    static Optional<Duration> secondsParam(Context ctx, RequestBody body, String name, Duration max) {
        return seconds(name, param(ctx, body, name), max);
    }

    /**
     * Refuses {@code .} and {@code ..} as a name that routes put in a path: a URL path cannot name
     * them ({@code /agents/../receive} is {@code /receive}), so what is made under them could not
     * be reached.
     */
    static void requireNameableInPath(String field, String what, String value) {
        if (value.equals(".") || value.equals("..")) {
            throw SwarmbusException.invalid(field, what + " '" + value + "' cannot be used: a URL path cannot name it");
        }
    }

    /** A yes-or-no query parameter: {@code true} or {@code false}, false when absent; anything else is refused. */
    static boolean flagParam(Context ctx, String name) {
        String value = ctx.queryParam(name);
        if (value == null || value.equals("false")) {
            return false;
        }
        if (value.equals("true")) {
            return true;
        }
        throw SwarmbusException.invalid(name, "'" + name + "' must be true or false, was '" + value + "'");
    }

    /**
     * Parameter {@code name}'s {@code value} as a whole number, or {@code fallback} when absent. As
     * in a JSON body, it may be written {@code 5.0} or {@code 1e2}; a fraction, or a number out of
     * an {@code int}'s range, is refused (never rounded or wrapped round).
     */
    static int wholeNumber(String name, Optional<String> value, int fallback) {
        try {
            return value.map(v -> new java.math.BigDecimal(v).intValueExact()).orElse(fallback);
        } catch (NumberFormatException | ArithmeticException e) {
            throw SwarmbusException.invalid(name, "'" + name + "' must be a whole number, was '" + value.get() + "'");
        }
    }

    /**
     * Parameter {@code name}'s {@code value} as seconds, 0 to {@code max}, in a decimal number. A
     * lease or a nack's delay passes the bus's {@link io.swarmbus.messaging.MessageBus#maxVisibility},
     * so this and the engine's own check name the same limit.
     */
    static Optional<Duration> seconds(String name, Optional<String> value, Duration max) {
        if (value.isEmpty()) {
            return Optional.empty();
        }
        try {
            double seconds = Double.parseDouble(value.get());
            if (seconds < 0 || Double.isNaN(seconds)) {
                throw SwarmbusException.invalid(name, "'" + name + "' must be a number of seconds, 0 or more, was " + value.get());
            }
            if (seconds > max.toSeconds()) {
                throw SwarmbusException.invalid(name, "'" + name + "' must be at most " + max.toSeconds()
                        + " seconds, was " + value.get());
            }
            return Optional.of(Duration.ofNanos((long) (seconds * 1e9)));
        } catch (NumberFormatException e) {
            throw SwarmbusException.invalid(name, "'" + name + "' must be a number of seconds, was '" + value.get() + "'");
        }
    }
}
