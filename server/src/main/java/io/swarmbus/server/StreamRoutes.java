package io.swarmbus.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.javalin.http.Context;
import io.javalin.http.sse.SseClient;
import io.javalin.http.sse.SseHandler;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.Delivery;
import io.swarmbus.messaging.MessageBus;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * {@code GET /api/v1/agents/{id}/stream}: a Server-Sent Events push stream of deliveries under the
 * same lease and ack rules as receive. Each event is a leased delivery ({@code event: message},
 * {@code id:} the message id); the client acks through {@code POST .../ack}, and what it does not
 * ack is delivered again when its lease ends, on this stream or another. Clients must send
 * {@code Accept: text/event-stream}, as EventSource does.
 */
final class StreamRoutes {
    private static final Duration WAIT = Duration.ofSeconds(15);
    /** Open streams, ended before Jetty stops (see {@link #close}). */
    private final OpenReceives open = new OpenReceives();

    private final MessageBus bus;
    private final Auth auth;
    private final Metrics metrics;
    private final AuditLog audit;

    StreamRoutes(MessageBus bus, Auth auth, Metrics metrics, AuditLog audit) {
        this.bus = bus;
        this.auth = auth;
        this.metrics = metrics;
        this.audit = audit;
    }

    /**
     * Checks the request before the stream starts, so an error answers with its status and the
     * usual JSON body; once the stream has started, its status is 200 for good.
     */
    void stream(Context ctx) {
        if (open.closing()) {
            throw OpenReceives.shuttingDown();
        }
        AgentId agent = AgentId.of(ctx.pathParam("id"));
        auth.requireOwner(Auth.principal(ctx), agent);
        RequestBody none = RequestBody.parse(new byte[0]);
        int max = Http.intParam(ctx, none, "max_messages", 100);
        Duration visibility = Http.secondsParam(ctx, none, "visibility_timeout", bus.maxVisibility())
                .orElse(bus.defaultVisibility());
        bus.checkReceive(max, visibility);
        String accept = ctx.header("Accept");
        if (accept == null || !accept.contains("text/event-stream")) {
            throw SwarmbusException.invalid("Accept", "a push stream needs 'Accept: text/event-stream'");
        }
        if (ctx.method() == io.javalin.http.HandlerType.HEAD) { // what the stream would answer, without leasing anything
            ctx.status(200).contentType("text/event-stream");
            return;
        }
        String apiKey = ctx.header("X-Api-Key");
        String authorization = Auth.authorization(ctx);
        new SseHandler(0, client -> stream(client, () -> auth.requireOwner(auth.authenticate(apiKey, authorization), agent),
                agent, max, visibility)).handle(ctx);
    }

    /**
     * Streams until the client goes or its credentials stop holding ({@code stillAllowed} throws:
     * a token expired, a user or key removed, the agent now someone else's), checked before every
     * batch is written, as the WebSocket checks per receive. Deliveries that cannot be written,
     * for either reason, are released: ready for the agent's other receivers at once, the
     * attempt not counted. One whose write seemed to succeed to a client that had already gone
     * comes back when its lease ends, as over REST.
     */
    private void stream(SseClient client, Runnable stillAllowed, AgentId agent, int max, Duration visibility) {
        try {
            open.enter();
            client.sendComment("streaming deliveries for " + agent);
            while (!client.terminated()) {
                List<Delivery> got = receive(agent, max, visibility);
                try {
                    stillAllowed.run();
                } catch (SwarmbusException e) {
                    release(agent, got);
                    throw e;
                }
                if (got.isEmpty()) {
                    client.sendComment("keep-alive");
                }
                int written = 0;
                while (written < got.size() && !client.terminated()) {
                    Delivery delivery = got.get(written);
                    client.sendEvent("message", json(Views.delivery(delivery)), delivery.id().toString());
                    if (!client.terminated()) { // a failed write ends the client, so this one did not go out whole
                        written++;
                    }
                }
                metrics.delivered(got.subList(0, written));
                audit.delivered(agent, got.subList(0, written));
                release(agent, got.subList(written, got.size()));
            }
        } catch (SwarmbusException e) { // the agent deleted, the server closing, the credentials gone
            client.sendEvent("error", json(Map.of("error", e.code().code(), "message", e.getMessage())));
        } finally {
            client.close();
            open.leave();
        }
    }

    /** The next deliveries, waiting up to {@link #WAIT}; refused once the server is closing. */
    private List<Delivery> receive(AgentId agent, int max, Duration visibility) {
        try {
            return MessageBus.await(open.track(bus.receiveAsync(agent, max, visibility, WAIT)));
        } catch (java.util.concurrent.CancellationException e) {
            throw OpenReceives.shuttingDown();
        }
    }

    /**
     * Ends every open stream with {@code event: error} (503 {@code unavailable}), withdrawing its
     * wait so that nothing more is leased to it; returns once they have ended, or after {@code grace}.
     * Streams must end before Jetty stops: one ending after it left Javalin handling its completion
     * in a loop that never ended, on every core.
     */
    void close(Duration grace) throws InterruptedException {
        open.close(grace);
    }

    private void release(AgentId agent, List<Delivery> unwritten) {
        if (!unwritten.isEmpty()) {
            bus.releaseAsync(agent, unwritten);
        }
    }

    private static String json(Object view) {
        try {
            return RequestBody.MAPPER.writeValueAsString(view);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot render an event", e);
        }
    }
}
