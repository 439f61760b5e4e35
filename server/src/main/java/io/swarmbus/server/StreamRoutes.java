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
        AgentId agent = AgentId.of(ctx.pathParam("id"));
        auth.requireOwner(Auth.principal(ctx), agent);
        RequestBody none = RequestBody.parse(new byte[0]);
        int max = Http.intParam(ctx, none, "max_messages", 100);
        Duration visibility = Http.secondsParam(ctx, none, "visibility_timeout").orElse(bus.defaultVisibility());
        bus.checkReceive(max, visibility);
        String accept = ctx.header("Accept");
        if (accept == null || !accept.contains("text/event-stream")) {
            throw SwarmbusException.invalid("Accept", "a push stream needs 'Accept: text/event-stream'");
        }
        if (ctx.method() == io.javalin.http.HandlerType.HEAD) { // what the stream would answer, without leasing anything
            ctx.status(200).contentType("text/event-stream");
            return;
        }
        new SseHandler(0, client -> stream(client, agent, max, visibility)).handle(ctx);
    }

    private void stream(SseClient client, AgentId agent, int max, Duration visibility) {
        try {
            client.sendComment("streaming deliveries for " + agent);
            while (!client.terminated()) {
                List<Delivery> got = bus.receive(agent, max, visibility, WAIT);
                metrics.delivered(got);
                audit.delivered(agent, got);
                if (got.isEmpty()) {
                    client.sendComment("keep-alive");
                }
                for (Delivery delivery : got) {
                    client.sendEvent("message", json(Views.delivery(delivery)), delivery.id().toString());
                }
            }
        } catch (SwarmbusException e) { // the agent deleted, the server closing
            client.sendEvent("error", json(Map.of("error", e.code().code(), "message", e.getMessage())));
        } finally {
            client.close();
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
