package io.swarmbus.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the routes answered on Jetty's core API in front of Javalin ({@link GatewayHandler},
 * {@link ReceiveHandler}) share: reading a body within the size limit, and JSON answers and
 * errors shaped as Javalin's routes shape them ({@link HttpServer#errors}).
 */
final class CoreHttp {
    private static final Logger LOG = LoggerFactory.getLogger(CoreHttp.class);
    /** The most of a refused body read and dropped before answering 413. */
    private static final long DRAIN_LIMIT = 64L << 20;

    private CoreHttp() {}

    /** The request's body, up to {@code limit} bytes ({@code server.max_request_bytes}; 413 beyond it). */
    static byte[] body(org.eclipse.jetty.server.Request request, long limit) throws IOException {
        long length = request.getLength(); // Content-Length, which Jetty holds the body to; -1 when chunked
        try (InputStream in = Content.Source.asInputStream(request)) {
            if (length > limit) {
                throw tooLarge(in, limit);
            }
            if (length >= 0) {
                return in.readNBytes((int) length);
            }
            byte[] body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, limit + 1));
            if (body.length > limit) {
                throw tooLarge(in, limit);
            }
            return body;
        }
    }

    /**
     * The 413, after reading what is left of the body (up to {@link #DRAIN_LIMIT}) and dropping
     * it: a connection closed with unread bytes is reset, and the client may lose the answer.
     */
    private static SwarmbusException tooLarge(InputStream body, long limit) throws IOException {
        long dropped = 0;
        while (dropped < DRAIN_LIMIT) {
            long skipped = body.skip(DRAIN_LIMIT - dropped);
            if (skipped <= 0 && body.read() < 0) {
                break; // the end of the body
            }
            dropped += Math.max(1, skipped);
        }
        return new SwarmbusException(ErrorCode.REQUEST_TOO_LARGE, "the request body is larger than the limit of "
                + limit + " bytes (server.max_request_bytes)");
    }

    /** A whole JSON answer, completing the exchange. */
    static void json(Response response, int status, Object body, Callback callback) {
        byte[] bytes;
        try {
            bytes = RequestBody.MAPPER.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            callback.failed(e);
            return;
        }
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.write(true, ByteBuffer.wrap(bytes), callback);
    }

    /** The error answer for {@code e}, recorded in the audit's error file. */
    static void refuse(Response response, String method, String path, SwarmbusException e, AuditLog audit,
            Callback callback) {
        audit.error(e, method, path);
        ErrorAnswer answer = ErrorAnswer.of(path, e);
        if (e instanceof NotAllowed notAllowed && !notAllowed.allowed().isEmpty()) {
            response.getHeaders().put(HttpHeader.ALLOW, notAllowed.allowed());
        }
        if (answer.retryAfter() && !response.getHeaders().contains(HttpHeader.RETRY_AFTER)) {
            response.getHeaders().put(HttpHeader.RETRY_AFTER, 1);
        }
        json(response, answer.status(), answer.body(), callback);
    }

    /** Logs the failure with its stack; the client learns only that it happened. */
    static void internal(Response response, String method, String path, Throwable e, AuditLog audit, Callback callback) {
        LOG.error("internal error on {} {}", method, path, e);
        audit.internalError(e, method, path);
        if (response.isCommitted()) {
            callback.failed(e);
            return;
        }
        json(response, 500, ErrorAnswer.of(path, ErrorAnswer.internal()).body(), callback);
    }
}
