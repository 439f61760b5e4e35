package io.swarmbus.server;

import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

/**
 * Jetty's own refusals in the API's error shape. Some requests are refused by Jetty before any
 * handler of ours sees them: a path with a bad escape or one that is not UTF-8, a URI or header
 * block over Jetty's limits, a malformed {@code Content-Length}, a control character in a header.
 * Jetty answered those with an HTML page; a client of a JSON API should not have to parse one.
 * The message is Jetty's reason for a client error (say, "Bad UTF-8 encoding"), which names no
 * internals; for a server error only the status's name, and a cause is never shown.
 */
final class JsonErrorHandler extends ErrorHandler {
    /**
     * Set on a request a handler of ours has counted already: one that fails its exchange before
     * answering (the client went away) comes here too, and must not be counted twice.
     */
    static final String RECORDED = "swarmbus.recorded";

    private final Metrics metrics;
    private final AuditLog audit;

    /**
     * Counts each refusal in {@code metrics} (route {@code unmatched}), {@code audit}'s errors and the
     * access log, as a route's.
     */
    JsonErrorHandler(Metrics metrics, AuditLog audit) {
        this.metrics = metrics;
        this.audit = audit;
    }

    /** Every method gets a body: Jetty's default leaves one out for all but GET, POST and HEAD. */
    @Override
    public boolean errorPageForMethod(String method) {
        return true;
    }

    @Override
    protected void generateResponse(Request request, Response response, int status, String message, Throwable cause,
            Callback callback) {
        // A server error's message could name what failed inside: only its status's reason is told.
        String reason = message == null || message.isBlank() || status >= 500 ? HttpStatus.getMessage(status) : message;
        SwarmbusException error = new SwarmbusException(codeFor(status), reason);
        // The raw path: a refused one may not decode. It only tells the OpenAI-compatible routes apart.
        String path = request == null || request.getHttpURI() == null ? null : request.getHttpURI().getPath();
        String method = request == null ? "-" : request.getMethod();
        if (request == null || request.getAttribute(RECORDED) == null) {
            metrics.record(method, "unmatched", status, 0); // refused before any route: no time of its own to speak of
            audit.error(error, status, method, path == null ? "/" : path);
            HttpServer.logAccess(method, "unmatched", status, "-");
        }
        CoreHttp.json(response, status, ErrorAnswer.of(path == null ? "/" : path, error).body(), callback);
    }

    /** The API's code for a status Jetty chose; the status itself is kept as Jetty set it. */
    private static ErrorCode codeFor(int status) {
        return switch (status) {
            case 404 -> ErrorCode.NOT_FOUND;
            case 405 -> ErrorCode.METHOD_NOT_ALLOWED;
            case 413, 414, 431 -> ErrorCode.REQUEST_TOO_LARGE;
            case 503 -> ErrorCode.UNAVAILABLE;
            default -> status >= 500 ? ErrorCode.INTERNAL : ErrorCode.INVALID_ARGUMENT;
        };
    }
}
