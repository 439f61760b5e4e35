package io.swarmbus.messaging;

import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The W3C Trace Context {@code traceparent} header (https://www.w3.org/TR/trace-context/), which
 * travels with a message or task so that one trace follows work across agents.
 */
public final class Traceparent {
    /** The header's name, in HTTP requests and in a message's {@code headers}. */
    public static final String HEADER = "traceparent";
    /** Version, trace id, parent id and flags, lower-case hex; version ff is invalid. */
    private static final Pattern FORMAT = Pattern.compile("(?!ff)[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}");

    private Traceparent() {}

    /**
     * The header's value if it is a valid {@code traceparent}, else empty: the specification has a
     * receiver ignore an invalid one (and start a new trace) rather than refuse the request, and
     * passing it on would only spread it. All-zero trace or parent ids are invalid too.
     */
    public static Optional<String> parse(String header) {
        if (header == null) {
            return Optional.empty();
        }
        String value = header.strip();
        if (!FORMAT.matcher(value).matches() || value.startsWith("00000000000000000000000000000000", 3)
                || value.startsWith("0000000000000000", 36)) {
            return Optional.empty();
        }
        return Optional.of(value);
    }
}
