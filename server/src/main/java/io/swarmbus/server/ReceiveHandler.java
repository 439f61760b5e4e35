package io.swarmbus.server;

import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.AckResult;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.Delivery;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.messaging.MessageId;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Fields;
import org.eclipse.jetty.util.UrlEncoded;

/**
 * Long-poll receive, {@code POST /api/v1/agents/{id}/receive} and the seed's
 * {@code POST /agents/receive}, on Jetty's core API in front of Javalin (ADR 0007). A waiting
 * receiver holds Jetty's request, this handler's {@link Poll} and continuation, and the engine's
 * waiter: through the servlet layer and Javalin each one held about a hundred more objects, which
 * every young collection copied while ten thousand receivers waited (docs/benchmarks.md). Same
 * parameters, authentication, rate limit, errors, metrics, access log and audit as Javalin's
 * routes. Only POST is taken here; Javalin keeps the two routes registered, so other methods get
 * its answers (a 405, or another route such as the seed's {@code DELETE /agents/{id}}). These
 * requests never pass Javalin's filters ({@link HttpServer}): what is added there for every
 * request must be added here too. Unlike Javalin, answers are not gzip-compressed.
 *
 * <p>A receive answers only a caller whose credentials still hold when it answers, as the SSE
 * stream and the WebSocket check theirs before each batch: its wait ends when its token expires,
 * and what it leased for a caller no longer allowed (the token expired, the user or key removed,
 * the agent now someone else's) is released to the agent's other receivers, the attempt not
 * counted, and the caller answered 401 (or 404).
 *
 * <p>A receive may carry {@code ack}, the ids of what the previous receive leased: they are acked,
 * durably, before this receive leases anything. A consumer loop then makes one request per batch
 * instead of two, and what it acked leaves the server's heap at once instead of staying leased
 * until the consumer gets round to a separate ack.
 */
final class ReceiveHandler extends Handler.Wrapper {
    static final String ROUTE = "/api/v1/agents/{id}/receive";
    static final String SEED_ROUTE = "/agents/receive";
    private static final String PREFIX = "/api/v1/agents/";
    private static final String SUFFIX = "/receive";
    /** The only method answered here. */
    private static final String METHOD = "POST";
    /** Most ids one {@code ack} may carry, as the ack route takes them. */
    private static final int MAX_ACKS = 10_000;
    /** The longest a receive waits for a first message. */
    private static final Duration MAX_WAIT = Duration.ofDays(1);

    private final MessageBus bus;
    private final Auth auth;
    private final Metrics metrics;
    private final AuditLog audit;
    private final long maxRequestBytes;
    /** Polls under way, so that a closing server answers them rather than cuts them off. */
    private final OpenReceives open = new OpenReceives();

    ReceiveHandler(MessageBus bus, Auth auth, Metrics metrics, AuditLog audit, long maxRequestBytes) {
        this.bus = bus;
        this.auth = auth;
        this.metrics = metrics;
        this.audit = audit;
        this.maxRequestBytes = maxRequestBytes;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
        String path = Request.getPathInContext(request);
        if (path.length() > 1 && path.endsWith("/")) {
            path = path.substring(0, path.length() - 1); // as Javalin, which ignores a trailing slash
        }
        boolean seed = path.equals(SEED_ROUTE);
        String agent = seed ? null : agentOf(path); // the seed's route receives for the caller's own
        if ((!seed && agent == null) || !request.getMethod().equals(METHOD)) {
            return super.handle(request, response, callback); // other methods: Javalin's 405, or another route
        }
        new Poll(request, response, callback, path, agent).start();
        return true;
    }

    /**
     * Answers every poll under way 503 (one that acked first, 200 with its acks' outcome and no
     * messages), withdrawing its wait so that nothing more is leased to it, and refuses new ones;
     * returns once they are answered, or after {@code grace}.
     */
    void close(Duration grace) throws InterruptedException {
        open.close(grace);
    }

    /** Whether {@link #close} has begun: the server is shutting down. */
    boolean closing() {
        return open.closing();
    }

    /** The id in {@code /api/v1/agents/{id}/receive}, or null for any other path. */
    private static String agentOf(String path) {
        if (!path.startsWith(PREFIX) || !path.endsWith(SUFFIX) || path.length() <= PREFIX.length() + SUFFIX.length()) {
            return null;
        }
        String id = path.substring(PREFIX.length(), path.length() - SUFFIX.length());
        return id.indexOf('/') < 0 ? id : null;
    }

    /** One receive, from its request to its answer. */
    private final class Poll {
        private final Request request;
        private final Response response;
        private final Callback callback;
        private final String path;
        /** The path's agent, or null on the seed's route. */
        private final String agent;
        private final long started = System.nanoTime();
        private String principal = "-";
        /** The credentials the request came with, checked again before it answers. */
        private String apiKey;
        private String authorization;
        /** Whether the wait was cut short to end when the token expires. */
        private boolean endsWithToken;
        /** What the request's {@code ack} acked, once it has; null without one. */
        private AckResult acked;

        Poll(Request request, Response response, Callback callback, String path, String agent) {
            this.request = request;
            this.response = response;
            this.callback = callback;
            this.path = path;
            this.agent = agent;
        }

        void start() {
            request.setAttribute(JsonErrorHandler.RECORDED, Boolean.TRUE); // counted by record(), whatever fails
            try {
                open.enter();
                HttpFields headers = request.getHeaders();
                apiKey = headers.get("X-Api-Key");
                authorization = headers.get(HttpHeader.AUTHORIZATION);
                Auth.Principal caller = auth.admit(apiKey, authorization,
                        (name, value) -> response.getHeaders().put(name, value));
                principal = caller.name();
                AgentId receiver = AgentId.of(agent == null ? caller.name() : agent);
                auth.requireOwner(caller, receiver);
                Parameters parameters = parameters(headers.get(HttpHeader.CONTENT_TYPE));
                int max = Http.wholeNumber("max_messages", parameters.get("max_messages"), 10);
                Duration asked = Http.seconds("timeout", parameters.get("timeout"), MAX_WAIT).orElse(Duration.ZERO);
                // Waiting on past the token's expiry would only lease what comes to be handed back.
                Duration tokenLeft = auth.timeLeft(apiKey, authorization).orElse(asked);
                endsWithToken = tokenLeft.compareTo(asked) < 0;
                Duration wait = endsWithToken ? tokenLeft : asked;
                Duration visibility = Http.seconds("visibility_timeout", parameters.get("visibility_timeout"),
                        bus.maxVisibility())
                        .orElse(bus.defaultVisibility());
                List<MessageId> acks = parameters.acks();
                // Jetty fails a request that outlasts the connection's idle timeout unless told
                // otherwise; a receiver waiting for a message is not idle.
                request.addIdleTimeoutListener(timeout -> false);
                CompletableFuture<List<Delivery>> received;
                if (acks == null) {
                    received = open.track(bus.receiveAsync(receiver, max, visibility, wait));
                } else {
                    bus.checkReceive(max, visibility); // refused before anything is acked
                    CompletableFuture<AckResult> ack = acks.isEmpty()
                            ? CompletableFuture.completedFuture(new AckResult(List.of(), List.of()))
                            : bus.ackAsync(receiver, acks);
                    received = ack.thenComposeAsync(result -> {
                        acked = result;
                        audit.acked(receiver, result.acked());
                        return open.track(bus.receiveAsync(receiver, max, visibility, wait));
                    }, Http.AFTER_ENGINE);
                }
                received.whenCompleteAsync((deliveries, failure) -> answer(receiver, deliveries, failure),
                        Http.AFTER_ENGINE);
            } catch (RuntimeException | IOException e) {
                refuseOrAbort(e);
                record();
            }
        }

        /**
         * Query, then form, then JSON-body parameters, as {@link Http#param} reads them. A body that
         * is not a form is read as JSON whatever its Content-Type says, as the other routes read
         * theirs: one sent without {@code application/json} had its {@code ack} and
         * {@code max_messages} dropped unread. So is a "form" that is a JSON object, as
         * {@code curl -d '{...}'} sends one.
         */
        private Parameters parameters(String contentType) throws IOException {
            Fields query = fields(request.getHttpURI().getQuery(), "the query");
            byte[] body = CoreHttp.body(request, maxRequestBytes);
            Fields form = Fields.EMPTY;
            RequestBody json = RequestBody.parse(new byte[0]);
            if (contentType != null && contentType.startsWith("application/x-www-form-urlencoded")
                    && !startsAnObject(body)) {
                form = fields(new String(body, StandardCharsets.ISO_8859_1), "the form");
            } else {
                json = RequestBody.parse(body);
            }
            return new Parameters(query, form, json);
        }

        /** Whether {@code body}'s first character other than white space is an opening brace. */
        private static boolean startsAnObject(byte[] body) {
            for (byte b : body) {
                if (!Character.isWhitespace(b)) {
                    return b == '{';
                }
            }
            return false;
        }

        /**
         * URL-encoded fields, case-sensitive as Javalin's. Not {@code Request.extractQueryParameters},
         * which keeps its result in a new attribute map on the request for as long as the poll waits.
         */
        private static Fields fields(String encoded, String where) {
            if (encoded == null || encoded.isEmpty()) {
                return Fields.EMPTY;
            }
            Fields fields = new Fields(true);
            try {
                UrlEncoded.decodeTo(encoded, fields::add, StandardCharsets.UTF_8);
            } catch (IllegalArgumentException e) { // a bad %-escape, or bytes that are not UTF-8
                throw SwarmbusException.invalid(null, "the parameters are not valid URL encoding: " + e.getMessage());
            }
            for (Fields.Field field : fields) { // as Http.onceEach refuses them on every other route
                Http.once(field.getName(), field.getValues(), where);
            }
            return fields;
        }

        /** Runs on a virtual thread once the engine answers; completes the exchange whatever fails. */
        private void answer(AgentId agent, List<Delivery> deliveries, Throwable failure) {
            try {
                if (failure != null) {
                    Throwable cause = failure instanceof CompletionException && failure.getCause() != null
                            ? failure.getCause() : failure;
                    boolean withdrawn = cause instanceof CancellationException && open.closing();
                    if (!withdrawn || acked == null) {
                        refuseOrAbort(withdrawn ? OpenReceives.shuttingDown() : cause);
                        return;
                    }
                    deliveries = List.of(); // its acks are done: answered, with no messages, as a wait that ended
                } else if (!stillAllowed(agent, deliveries)) {
                    return;
                }
                metrics.delivered(deliveries);
                audit.delivered(agent, deliveries);
                List<Map<String, Object>> views = deliveries.stream().map(Views::delivery).toList();
                Map<String, Object> answer = Views.list("messages", views);
                if (acked != null) {
                    answer.putAll(Views.leaseOutcome("acked", acked));
                }
                CoreHttp.json(response, 200, answer, callback);
            } catch (RuntimeException e) {
                refuseOrAbort(e);
            } finally {
                record();
            }
        }

        /**
         * Whether the caller may still be answered with {@code deliveries}; if not, they are
         * released for the agent's other receivers and the caller is refused. A wait cut short at
         * the token's expiry that got nothing is refused as expired, even if its timer fired a moment early.
         */
        private boolean stillAllowed(AgentId agent, List<Delivery> deliveries) {
            try {
                auth.requireOwner(auth.authenticate(apiKey, authorization), agent);
                if (endsWithToken && deliveries.isEmpty()) {
                    throw Tokens.unauthenticated("the token expired while the receive waited; get a new one from "
                            + "/auth/token");
                }
                return true;
            } catch (SwarmbusException e) {
                if (!deliveries.isEmpty()) {
                    bus.releaseAsync(agent, deliveries);
                }
                refuseOrAbort(e);
                return false;
            }
        }

        /**
         * Completes the exchange with the error answer for {@code e}, or aborts it; never throws,
         * since an exchange left open would stay open (idle timeouts do not end a poll).
         */
        private void refuseOrAbort(Throwable e) {
            try {
                switch (e) {
                    case Throwable any when response.isCommitted() -> callback.failed(any); // too late to answer
                    case SwarmbusException refused -> CoreHttp.refuse(response, METHOD, path, refused, audit, callback);
                    // The body could not be read: the client went away or stalled. Jetty answers if it still can.
                    case IOException unreadable -> callback.failed(unreadable);
                    default -> CoreHttp.internal(response, METHOD, path, e, audit, callback);
                }
            } catch (RuntimeException failed) {
                callback.failed(failed);
            }
        }

        /** The latency metric and access log line, once per request, under the route's template. */
        private void record() {
            open.leave();
            String route = agent == null ? SEED_ROUTE : ROUTE;
            metrics.record(METHOD, route, response.getStatus(), System.nanoTime() - started);
            HttpServer.logAccess(METHOD, route, response.getStatus(), principal);
        }
    }

    /** A receive's parameters: the query's, then a form body's, then a JSON body's. */
    private record Parameters(Fields query, Fields form, RequestBody json) {
        Optional<String> get(String name) {
            return Http.param(query.getValue(name), form.getValue(name), json, name);
        }

        /**
         * The ids to ack first, or null if none was asked for: comma-separated in the query or a
         * form, an array in a JSON body. An empty list is allowed, so that a consumer loop's first
         * receive needs no special case.
         */
        List<MessageId> acks() {
            List<String> inQuery = listed(query.getValue("ack"));
            List<String> inBody = form.getValue("ack") != null ? listed(form.getValue("ack"))
                    : json.has("ack") ? json.strings("ack") : null;
            // As Http.param takes the other parameters: in both, the same ids (in any order) or a 400;
            // the query's alone were acked, the body's left leased without a word.
            if (inQuery != null && inBody != null && !new HashSet<>(inQuery).equals(new HashSet<>(inBody))) {
                throw SwarmbusException.invalid("ack", "'ack' is given in both the query and the body, "
                        + "differently (" + inQuery + " and " + inBody + "); give it once");
            }
            List<String> ids = inQuery != null ? inQuery : inBody;
            if (ids == null) {
                return null;
            }
            if (ids.size() > MAX_ACKS) {
                throw SwarmbusException.invalid("ack", "'ack' may hold at most " + MAX_ACKS + " ids, held " + ids.size());
            }
            return RequestBody.from("ack", () -> ids.stream().map(MessageId::parse).toList());
        }

        /** Comma-separated ids of a query or form, or null if absent. */
        private static List<String> listed(String text) {
            if (text == null) {
                return null;
            }
            return text.isBlank() ? List.of() : Arrays.stream(text.split(",")).map(String::trim).toList();
        }
    }
}
