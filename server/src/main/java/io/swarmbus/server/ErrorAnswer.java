package io.swarmbus.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.llm.OpenAiWire;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How an error is answered, the same on every port: its status and JSON body, and whether it
 * tells the client to retry after a second (when nothing more precise was said).
 *
 * @param body {@code {"error": code, "message": text, "field": optional}}, or on the
 *     OpenAI-compatible {@code /v1/...} routes the shape OpenAI answers with (ADR 0003)
 */
record ErrorAnswer(int status, Object body, boolean retryAfter) {
    /** The error a client sees for a failure the server logged: no details of it. */
    static SwarmbusException internal() {
        return new SwarmbusException(ErrorCode.INTERNAL, "internal error; the server logged the details");
    }

    static ErrorAnswer of(String path, SwarmbusException e) {
        int status = e.code().httpStatus();
        if (path.startsWith("/v1/")) {
            String type = status == 401 ? "authentication_error" : status == 429 ? "rate_limit_error"
                    : status >= 500 ? "server_error" : "invalid_request_error";
            ObjectNode body = OpenAiWire.error(e.getMessage(), type, e.code().code());
            e.field().ifPresent(field -> ((ObjectNode) body.get("error")).put("param", field));
            return new ErrorAnswer(status, body,
                    e.code() == ErrorCode.RATE_LIMITED || e.code() == ErrorCode.INBOX_FULL);
        }
        return new ErrorAnswer(status, body(e), e.code() == ErrorCode.INBOX_FULL);
    }

    /** {@code {"error": code, "message": text, "field": optional}}, the API's shape of an error. */
    static Map<String, Object> body(SwarmbusException e) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("error", e.code().code());
        body.put("message", e.getMessage());
        e.field().ifPresent(field -> body.put("field", field));
        return body;
    }
}
