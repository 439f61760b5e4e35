package io.swarmbus.messaging;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The W3C Trace Context {@code traceparent} header (https://www.w3.org/TR/trace-context/), which
 * travels with a message or task so that one trace follows work across agents.
 */
public final class Traceparent {
    /** The header's name, in HTTP requests and in a message's {@code headers}. */
    public static final String HEADER = "traceparent";
    /**
     * Version, trace id, parent id and flags, lower-case hex. A version after {@code 00} may add
     * fields after another dash, which a receiver that knows only {@code 00} skips.
     */
    private static final Pattern FORMAT =
            Pattern.compile("([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?");

    private Traceparent() {}

    /**
     * The header as version {@code 00} if it is a valid {@code traceparent}, else empty: the
     * specification has a receiver ignore an invalid one (and start a new trace) rather than refuse
     * the request, and passing it on would only spread it. Version {@code ff}, all-zero trace or
     * parent ids, and a {@code 00} with more fields are invalid. A later version is read for its
     * trace id, parent id and flags, and passed on as {@code 00}, as the specification asks of a
     * receiver that knows only {@code 00}.
     */
    public static Optional<String> parse(String header) {
        if (header == null) {
            return Optional.empty();
        }
        Matcher fields = FORMAT.matcher(header.strip());
        if (!fields.matches()) {
            return Optional.empty();
        }
        String version = fields.group(1);
        String traceId = fields.group(2);
        String parentId = fields.group(3);
        if (version.equals("ff") || version.equals("00") && fields.group(5) != null
                || traceId.equals("0".repeat(32)) || parentId.equals("0".repeat(16))) {
            return Optional.empty();
        }
        return Optional.of("00-" + traceId + "-" + parentId + "-" + fields.group(4));
    }
}
