package io.swarmbus.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.javalin.websocket.WsConfig;
import io.javalin.websocket.WsContext;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.Address;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.Delivery;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.messaging.MessageId;
import io.swarmbus.messaging.SendRequest;
import io.swarmbus.messaging.SendResult;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code /api/v1/ws}: one persistent connection on which a producer keeps many sends in flight and
 * a consumer receives and acks continuously, with the REST API's durability, leases and auth.
 * Frames are JSON, in text frames or binary frames of UTF-8. Client to server, each with an optional {@code ref} echoed in the answer:
 * <ul>
 *   <li>{@code {"op":"send","ref":..,"message":{...same body as POST /api/v1/messages...}}} →
 *       {@code {"op":"sent","ref":..,"message_id":..,"recipients":..}} once durable;</li>
 *   <li>{@code {"op":"send_batch","ref":..,"messages":[{...},..]}} (1 to 1,000) → one
 *       {@code {"op":"sent_batch","ref":..,"results":[..]}} once all are durable, each result
 *       {@code {"message_id","recipients","duplicate"}} or {@code {"status","error","message"}}, in
 *       order;</li>
 *   <li>{@code {"op":"subscribe","agent":"b","max_messages":100,"visibility_timeout":30}} →
 *       {@code {"op":"subscribed","ref":..,"agent":"b"}}, then a stream of
 *       {@code {"op":"message","delivery":{...}}} until the connection closes or an unsubscribe; with
 *       {@code "batch":true}, {@code {"op":"messages","deliveries":[..]}} frames instead, each
 *       carrying what one receive leased (up to {@code max_messages}, and no more bytes of messages
 *       than {@code messaging.max_receive_bytes} unless one alone is); one subscription per agent
 *       and socket;</li>
 *   <li>{@code {"op":"unsubscribe","agent":"b"}} → {@code {"op":"unsubscribed","ref":..,"agent":"b"}},
 *       after the frames already queued for it;</li>
 *   <li>{@code {"op":"ack","agent":"b","message_ids":[..]}} → {@code {"op":"acked",..}};</li>
 *   <li>{@code {"op":"nack","agent":"b","message_id":..,"delay_seconds":..}} → {@code {"op":"nacked",..}};</li>
 *   <li>{@code {"op":"extend","agent":"b","message_ids":[..],"visibility_timeout":..}} → {@code {"op":"extended",..}};</li>
 * </ul>
 * and {@code {"op":"error","ref":..,"error":..,"message":..}} for anything refused. Authenticate on
 * connect with {@code Authorization: Bearer}, {@code X-Api-Key}, or {@code ?token=}.
 */
final class SocketRoutes {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(SocketRoutes.class);
    private static final String CREDENTIALS = "swarmbus.ws.credentials";
    /** How often an open socket is pinged: well inside Jetty's 30 s idle timeout. */
    static final Duration PING_INTERVAL = Duration.ofSeconds(10);
    /** The route's path. */
    static final String ROUTE = "/api/v1/ws";
    private static final int MAX_BATCH = 1000;
    /**
     * The largest frame handled on the selector thread that read it ({@link InlineWebSocketEndPoint}):
     * a few messages' worth. After a larger one, a batch most often, the socket's next read is
     * handled on a virtual thread, so that parsing batches does not hold the selector from the others.
     */
    static final int INLINE_FRAME_BYTES = 8 * 1024;

    private final MessageBus bus;
    private final Auth auth;
    private final AuditLog audit;
    private final Metrics metrics;
    /** The largest frame taken, {@code server.max_request_bytes}; a larger one closes the socket (1009). */
    private final long maxFrameBytes;
    private final Map<String, AtomicBoolean> open = new ConcurrentHashMap<>();
    private final Map<String, Outbox> outboxes = new ConcurrentHashMap<>();
    /** Each open session's subscriptions, whose waiting receives end when it closes. */
    private final Map<String, Set<Subscription>> subscriptions = new ConcurrentHashMap<>();

    SocketRoutes(MessageBus bus, Auth auth, AuditLog audit, Metrics metrics, long maxFrameBytes) {
        this.maxFrameBytes = maxFrameBytes;
        this.bus = bus;
        this.auth = auth;
        this.audit = audit;
        this.metrics = metrics;
    }

    /** Jetty's buffer for the frames a session writes together (Outbox.write). */
    private static final int OUTPUT_BUFFER_BYTES = 16 << 10;

    void configure(WsConfig ws) {
        ws.onConnect(ctx -> {
            // A frame may be as large as a request body may be elsewhere: Jetty's own limit, 64 KiB,
            // would close the socket on a message the REST route takes.
            ctx.session.setMaxTextMessageSize(maxFrameBytes);
            ctx.session.setMaxBinaryMessageSize(maxFrameBytes);
            // Jetty keeps a frame to write with the next one only if it is under a quarter of this
            // (Outbox.write): 16 KiB lets a delivery of a 1 KiB message be kept, where the default
            // 4 KiB would not. 64 KiB kept more but was behind on W1 with batches (docs/benchmarks.md).
            ctx.session.setOutputBufferSize(OUTPUT_BUFFER_BYTES);
            String principal = "-";
            try {
                String token = ctx.queryParam("token");
                String header = ctx.header("Authorization") != null ? ctx.header("Authorization")
                        : token == null ? null : "Bearer " + token;
                Credentials credentials = new Credentials(ctx.header("X-Api-Key"), header);
                // The upgrade is one request against the principal's rate limit; frames on the open
                // socket are not counted (docs/api.md), as the socket is the high-throughput path.
                principal = auth.admit(credentials.apiKey(), credentials.authorization(), (name, value) -> { }).name();
                ctx.attribute(CREDENTIALS, credentials);
                open.put(ctx.sessionId(), new AtomicBoolean(true));
                // Jetty closes a socket idle for 30 s: a subscription on a quiet inbox is not idle.
                // The pings (and the client's pongs) keep it open, and keep NATs and proxies from
                // dropping it; a client that is gone stops ponging and the idle timeout ends it.
                ctx.enableAutomaticPings(PING_INTERVAL.toSeconds(), java.util.concurrent.TimeUnit.SECONDS);
            } catch (SwarmbusException e) {
                upgraded(principal);
                // Written and waited for here: queued, it could lose the race with the close.
                var written = new org.eclipse.jetty.websocket.api.Callback.Completable();
                ctx.session.sendText(render(error(null, e)), written);
                try {
                    written.get(5, java.util.concurrent.TimeUnit.SECONDS);
                } catch (Exception ignored) {
                    // the client is gone or slow; it is being closed anyway
                }
                if (e.code() == ErrorCode.RATE_LIMITED) {
                    ctx.closeSession(4429, "rate limited");
                } else {
                    ctx.closeSession(4401, "unauthenticated");
                }
                return;
            }
            upgraded(principal);
        });
        ws.onMessage(ctx -> handle(ctx, ctx.message().getBytes(StandardCharsets.UTF_8)));
        // Binary frames carrying the same UTF-8 JSON skip Jetty's byte-by-byte text decoding,
        // the largest single cost of a text frame (docs/benchmarks.md).
        ws.onBinaryMessage(ctx -> {
            java.nio.ByteBuffer data = ctx.data();
            byte[] bytes = new byte[data.remaining()];
            data.get(bytes);
            handle(ctx, bytes);
        });
        ws.onClose(ctx -> stop(ctx));
        ws.onError(ctx -> stop(ctx));
    }

    /**
     * Counts and logs the upgrade, answered 101, as every other request is counted and logged by
     * after-handlers, which Javalin does not run for it. A refusal follows in a frame and a close code.
     */
    private void upgraded(String principal) {
        metrics.record("GET", ROUTE, 101, 0);
        HttpServer.logAccess("GET", ROUTE, 101, principal);
    }

    /** What the upgrade authenticated with: checked again for every frame. */
    private record Credentials(String apiKey, String authorization) {}

    /**
     * The principal the socket's credentials stand for now, or null when they no longer do (the
     * token expired, the user or key is gone): the socket then gets an {@code unauthenticated}
     * frame and is closed with 4401. Checked per frame and per receive, so an open socket keeps no
     * rights its credentials lost; a token seen before costs two map lookups ({@link Tokens}).
     */
    private Auth.Principal principal(WsContext ctx) {
        Credentials credentials = ctx.attribute(CREDENTIALS);
        try {
            if (credentials == null) {
                throw Tokens.unauthenticated("not authenticated");
            }
            return auth.authenticate(credentials.apiKey(), credentials.authorization());
        } catch (SwarmbusException e) {
            outbox(ctx).closeAfter(render(error(null, e)), 4401, "unauthenticated");
            return null;
        }
    }

    private void stop(WsContext ctx) {
        outboxes.remove(ctx.sessionId());
        AtomicBoolean flag = open.remove(ctx.sessionId());
        if (flag != null) {
            flag.set(false);
        }
        Set<Subscription> ended = subscriptions.remove(ctx.sessionId());
        if (ended != null) {
            ended.forEach(Subscription::stop);
        }
    }

    private void handle(WsContext ctx, byte[] json) {
        Outbox outbox = outbox(ctx);
        if (!InlineWebSocketEndPoint.handlingInline()) {
            outbox.awaitRoom();
        } else if (json.length > INLINE_FRAME_BYTES || !outbox.hasRoom()) {
            // This frame is still handled here; the socket's next read, on a virtual thread that
            // may wait for room without holding the selector from other sockets.
            InlineWebSocketEndPoint.dispatchNextRead();
        }
        String ref = null;
        try {
            RequestBody frame = RequestBody.parse(json);
            ref = frame.optionalText("ref").orElse(null);
            Auth.Principal principal = principal(ctx);
            if (principal == null) {
                return; // the session is being closed
            }
            switch (frame.text("op")) {
                case "send" -> send(ctx, principal, ref, frame.object("message"));
                case "send_batch" -> sendBatch(ctx, principal, ref, frame.items("messages"));
                case "subscribe" -> subscribe(ctx, principal, ref, frame);
                case "unsubscribe" -> unsubscribe(ctx, principal, ref, frame);
                case "ack" -> ack(ctx, principal, ref, frame);
                case "nack" -> nack(ctx, principal, ref, frame);
                case "extend" -> extend(ctx, principal, ref, frame);
                default -> throw SwarmbusException.invalid("op",
                        "op must be send, send_batch, subscribe, unsubscribe, ack, nack or extend");
            }
        } catch (RuntimeException e) { // anything else too: an error frame, not a close carrying its text
            send(ctx, error(ref, refusal(e)));
        }
    }

    private void send(WsContext ctx, Auth.Principal principal, String ref, RequestBody message) {
        SendRequest request = request(principal, message);
        Outbox outbox = outbox(ctx);
        // Completes on the journal's writer thread: only queue the answer there; the outbox's own
        // thread renders and writes it, so group commit is not kept waiting.
        MessageRoutes.sendAs(bus, auth, principal, request).whenComplete((result, failure) -> outbox.add(() -> {
            if (failure != null) {
                return render(error(ref, refusal(failure)));
            }
            StringBuilder answer = new StringBuilder(128).append("{\"op\":\"sent\"");
            if (ref != null) {
                answer.append(",\"ref\":").append(quote(ref));
            }
            return sent(answer.append(','), result, principal).append('}').toString();
        }));
    }

    /**
     * Many sends in one frame, answered by one frame once every send is durable: the cost of a
     * frame, its parse and its answer is shared by the batch (docs/benchmarks.md, W1).
     */
    private void sendBatch(WsContext ctx, Auth.Principal principal, String ref,
            List<java.util.Optional<RequestBody>> messages) {
        if (messages.isEmpty() || messages.size() > MAX_BATCH) {
            throw SwarmbusException.invalid("messages", "'messages' must hold 1 to " + MAX_BATCH
                    + " messages, held " + messages.size());
        }
        List<CompletableFuture<SendResult>> results = new java.util.ArrayList<>(messages.size());
        for (java.util.Optional<RequestBody> item : messages) {
            try {
                // Refused on its own, as over REST: the others in the batch still go.
                RequestBody message = item.orElseThrow(() -> SwarmbusException.invalid("messages",
                        "each message must be a JSON object"));
                results.add(MessageRoutes.sendAs(bus, auth, principal, request(principal, message)));
            } catch (SwarmbusException e) {
                results.add(CompletableFuture.failedFuture(e));
            }
        }
        Outbox outbox = outbox(ctx);
        CompletableFuture.allOf(results.toArray(CompletableFuture<?>[]::new))
                .whenComplete((ignored, failure) -> outbox.add(() -> batchAnswer(principal, ref, results)));
    }

    /** {@code sent_batch}: one result per message, in order; rendered on the outbox's thread. */
    private String batchAnswer(Auth.Principal principal, String ref, List<CompletableFuture<SendResult>> results) {
        StringBuilder answer = new StringBuilder(64 + 96 * results.size()).append("{\"op\":\"sent_batch\"");
        if (ref != null) {
            answer.append(",\"ref\":").append(quote(ref));
        }
        answer.append(",\"results\":[");
        for (int i = 0; i < results.size(); i++) {
            answer.append(i > 0 ? "," : "").append('{');
            try {
                SendResult result = results.get(i).join();
                sent(answer, result, principal);
            } catch (java.util.concurrent.CompletionException e) {
                SwarmbusException refused = refusal(e);
                answer.append("\"status\":").append(refused.code().httpStatus()).append(",\"error\":")
                        .append(quote(refused.code().code())).append(",\"message\":").append(quote(refused.getMessage()));
                refused.field().ifPresent(field -> answer.append(",\"field\":").append(quote(field)));
            }
            answer.append('}');
        }
        return answer.append("]}").toString();
    }

    private SendRequest request(Auth.Principal principal, RequestBody message) {
        AgentId from = message.firstPresent(MessageRoutes.SENDER_FIELDS).map(message::agent)
                .orElseGet(() -> AgentId.of(principal.name()));
        Address to = MessageRoutes.addressOf(message);
        auth.requireMaySend(principal, from, to);
        return MessageRoutes.request(message, from, to, null, null);
    }

    /**
     * The fields of an accepted send, written by hand: rendering a map through Jackson cost more
     * than the send itself.
     */
    private StringBuilder sent(StringBuilder json, SendResult result, Auth.Principal principal) {
        json.append("\"message_id\":\"").append(result.id()).append("\",\"recipients\":")
                .append(result.recipients()).append(",\"duplicate\":").append(result.duplicate());
        if (!result.passedOver().isEmpty()) { // as MessageRoutes answers it
            json.append(",\"not_reached\":").append(result.passedOver().size()).append(",\"not_reached_agent_ids\":[");
            List<String> named = auth.passedOverShownTo(principal, result);
            for (int i = 0; i < named.size(); i++) {
                json.append(i > 0 ? "," : "").append(quote(named.get(i)));
            }
            json.append(']');
        }
        return json;
    }

    /** What to tell the client about a failed send or ack; internal details stay in the log. */
    private static SwarmbusException refusal(Throwable failure) {
        Throwable cause = failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null
                ? failure.getCause() : failure;
        if (cause instanceof SwarmbusException s) {
            return s;
        }
        LOG.error("websocket call failed", cause);
        return ErrorAnswer.internal();
    }

    private void subscribe(WsContext ctx, Auth.Principal principal, String ref, RequestBody frame) {
        AgentId agent = frame.agent("agent");
        auth.requireOwner(principal, agent);
        // Read as REST reads it: a number or a numeric string.
        int max = Http.wholeNumber("max_messages", Http.param(null, null, frame, "max_messages"), 100);
        Duration visibility = seconds(frame, "visibility_timeout").orElse(bus.defaultVisibility());
        bus.checkReceive(max, visibility);
        AtomicBoolean running = open.get(ctx.sessionId());
        if (running != null) {
            Subscription subscription = new Subscription(ctx, ref, agent, max, visibility, frame.flag("batch"), running);
            Set<Subscription> session = subscriptions.computeIfAbsent(ctx.sessionId(), id -> ConcurrentHashMap.newKeySet());
            synchronized (session) { // one per agent, so that unsubscribe names it
                if (session.stream().anyMatch(s -> s.agent.equals(agent))) {
                    throw new SwarmbusException(io.swarmbus.ErrorCode.ALREADY_EXISTS, "this socket is already "
                            + "subscribed to '" + agent + "'; unsubscribe first to change its settings");
                }
                session.add(subscription);
            }
            if (!running.get()) { // closed meanwhile, perhaps after stop() took the session's set: none is kept
                subscriptions.remove(ctx.sessionId());
                return;
            }
            // Ahead of any delivery: the client knows from here on that the subscription is live.
            Map<String, Object> subscribed = answer("subscribed", ref);
            subscribed.put("agent", agent.value());
            outbox(ctx).add(() -> render(subscribed));
            subscription.receive();
        }
    }

    /**
     * {@code {"op":"unsubscribe","agent":"b"}}: ends the socket's subscription to {@code b}. Frames
     * already queued for it are written first; {@code {"op":"unsubscribed"}} comes after them, and
     * nothing of that subscription after it. A receive still waiting is withdrawn.
     */
    private void unsubscribe(WsContext ctx, Auth.Principal principal, String ref, RequestBody frame) {
        AgentId agent = frame.agent("agent");
        auth.requireOwner(principal, agent);
        Set<Subscription> session = subscriptions.get(ctx.sessionId());
        Subscription ended = null;
        if (session != null) {
            synchronized (session) {
                ended = session.stream().filter(s -> s.agent.equals(agent)).findFirst().orElse(null);
                if (ended != null) {
                    session.remove(ended);
                }
            }
        }
        if (ended == null) {
            throw new SwarmbusException(io.swarmbus.ErrorCode.NOT_FOUND, "this socket has no subscription to '"
                    + agent + "'");
        }
        Map<String, Object> unsubscribed = answer("unsubscribed", ref);
        unsubscribed.put("agent", agent.value());
        ended.cancel(() -> render(unsubscribed));
    }

    /**
     * A subscribed agent's deliveries, streamed to the socket until it closes. It holds no thread:
     * each receive is a long-poll whose completion queues the frame, and the frame's rendering, on
     * the session's outbox, asks for the next. A delivery thus reaches the socket with one thread
     * handoff after its fsync (journal to outbox) instead of two (journal to a receiving thread,
     * then to the outbox), and a client that stops reading holds at most one receive's deliveries
     * leased behind the frame being written; the rest stay in the inbox for the agent's other
     * receivers.
     */
    private final class Subscription {
        /** How long one receive waits before the next; only re-checks the credentials and the socket. */
        private static final Duration WAIT = Duration.ofSeconds(5);
        private final WsContext ctx;
        /** The subscribe frame's {@code ref}, which the error frame that ends the subscription carries. */
        private final String ref;
        private final AgentId agent;
        private final int max;
        private final Duration visibility;
        private final boolean batch;
        private final AtomicBoolean running;
        private final Outbox outbox;
        /** The receive waiting now, if one is. */
        private volatile CompletableFuture<List<Delivery>> waiting;
        /** Set by an unsubscribe; guarded by this, as is queueing what a receive returned. */
        private boolean cancelled;

        Subscription(WsContext ctx, String ref, AgentId agent, int max, Duration visibility, boolean batch,
                AtomicBoolean running) {
            this.ctx = ctx;
            this.ref = ref;
            this.agent = agent;
            this.max = max;
            this.visibility = visibility;
            this.batch = batch;
            this.running = running;
            this.outbox = outbox(ctx);
        }

        /**
         * Receives until a receive has to wait, queueing what each returned; the wait's completion
         * (on the journal's thread, or the timer's) queues its deliveries, or receives again if none.
         */
        void receive() {
            while (live()) {
                Auth.Principal principal = principal(ctx);
                if (principal == null) {
                    return; // the session is being closed
                }
                CompletableFuture<List<Delivery>> next;
                try {
                    // Still the caller's: an agent deleted and registered again by another user is not.
                    auth.requireOwner(principal, agent);
                    next = bus.receiveAsync(agent, max, visibility, WAIT);
                } catch (SwarmbusException e) { // the agent deleted, the server closing
                    refuse(e);
                    return;
                }
                if (!next.isDone()) {
                    waiting = next;
                    if (!live()) { // an unsubscribe or a close came before `waiting` was set, so it withdrew the one before
                        next.cancel(false);
                    }
                    next.whenComplete(this::received);
                    return;
                }
                List<Delivery> got = next.getNow(List.of());
                if (!got.isEmpty()) {
                    queueIfLive(got); // the last frame's rendering receives again
                    return;
                }
            }
        }

        private synchronized boolean live() {
            return running.get() && !cancelled;
        }

        /** Queues {@code got}'s frames, or hands them back if the subscription has ended meanwhile. */
        private synchronized void queueIfLive(List<Delivery> got) {
            if (live()) {
                queue(got);
            } else {
                release(got);
            }
        }

        /**
         * Ends the subscription on an unsubscribe: nothing more is queued, a waiting receive is
         * withdrawn, and {@code answer} is queued after the frames already queued.
         */
        synchronized void cancel(java.util.function.Supplier<String> answer) {
            cancelled = true;
            stop();
            outbox.add(answer);
        }

        /** The socket closed: a receive still waiting is withdrawn, so nothing more is leased to it. */
        void stop() {
            CompletableFuture<List<Delivery>> pending = waiting;
            if (pending != null) {
                pending.cancel(false);
            }
        }

        private void received(List<Delivery> got, Throwable failure) {
            if (!live()) { // the socket closed, or an unsubscribe came, while this receive waited
                if (got != null) {
                    release(got);
                }
                return;
            }
            if (failure != null) {
                refuse(refusal(failure));
            } else if (got.isEmpty()) {
                receive();
            } else {
                queueIfLive(got);
            }
        }

        /**
         * Queues {@code got}'s frames. The outbox's thread counts and audits them with the first
         * and receives again with the last, so the journal's thread only queues.
         */
        private void queue(List<Delivery> got) {
            if (batch) {
                outbox.add(() -> {
                    recordDelivered(got);
                    return thenReceive(deliveries(got));
                }, () -> release(got));
                return;
            }
            for (Delivery delivery : got) {
                outbox.add(() -> {
                    if (delivery == got.getFirst()) {
                        recordDelivered(got);
                    }
                    return delivery == got.getLast() ? thenReceive(message(delivery)) : message(delivery);
                }, () -> release(List.of(delivery)));
            }
        }

        /**
         * Hands back deliveries the socket closed before they were written (or while one was):
         * ready again for the agent's other receivers at once, not after the lease.
         */
        private void release(List<Delivery> got) {
            bus.releaseAsync(agent, got);
        }

        /** Ends the subscription with an error frame, on this session's outbox even if it has closed since. */
        private void refuse(SwarmbusException e) {
            subscriptions.computeIfPresent(ctx.sessionId(), (id, open) -> {
                open.remove(this);
                return open;
            });
            outbox.add(() -> render(error(ref, e)));
        }

        private void recordDelivered(List<Delivery> got) {
            metrics.delivered(got);
            audit.delivered(agent, got);
        }

        private String thenReceive(String frame) {
            receive();
            return frame;
        }
    }

    /** {@code {"op":"message","delivery":{..}}}: one delivery. */
    private static String message(Delivery delivery) {
        return Views.writeDelivery(new StringBuilder(32 + Views.jsonLength(delivery))
                .append("{\"op\":\"message\",\"delivery\":"), delivery).append('}').toString();
    }

    /** {@code {"op":"messages","deliveries":[..]}}: everything one receive returned, in one frame. */
    private static String deliveries(List<Delivery> got) {
        int length = 64;
        for (Delivery delivery : got) {
            length += Views.jsonLength(delivery) + 1;
        }
        StringBuilder json = new StringBuilder(length).append("{\"op\":\"messages\",\"deliveries\":[");
        for (int i = 0; i < got.size(); i++) {
            Views.writeDelivery(json.append(i > 0 ? "," : ""), got.get(i));
        }
        return json.append("]}").toString();
    }

    private void ack(WsContext ctx, Auth.Principal principal, String ref, RequestBody frame) {
        AgentId agent = frame.agent("agent");
        auth.requireOwner(principal, agent);
        List<MessageId> ids = MessageRoutes.messageIds(frame);
        answerWhenDone(ctx, ref, bus.ackAsync(agent, ids), result -> {
            audit.acked(agent, result.acked());
            Map<String, Object> answer = answer("acked", ref);
            answer.put("acked", result.acked().size());
            answer.put("not_held", Views.ids(result.notHeld()));
            return answer;
        });
    }

    /** Gives a leased message back, at once or after {@code delay_seconds}, as REST's nack. */
    private void nack(WsContext ctx, Auth.Principal principal, String ref, RequestBody frame) {
        AgentId agent = frame.agent("agent");
        auth.requireOwner(principal, agent);
        MessageId id = MessageId.parse(frame.text("message_id"));
        Duration delay = seconds(frame, "delay_seconds").orElse(Duration.ZERO);
        answerWhenDone(ctx, ref, bus.nackAsync(agent, id, delay), after -> {
            audit.nacked(agent, id, delay, after);
            Map<String, Object> answer = answer("nacked", ref);
            answer.put("message_id", id.toString());
            answer.put("status", Views.nackOutcome(after));
            return answer;
        });
    }

    /** Renews leases for {@code visibility_timeout} from now, or without it as REST's extend does. */
    private void extend(WsContext ctx, Auth.Principal principal, String ref, RequestBody frame) {
        AgentId agent = frame.agent("agent");
        auth.requireOwner(principal, agent);
        List<MessageId> ids = MessageRoutes.messageIds(frame);
        java.util.Optional<Duration> visibility = seconds(frame, "visibility_timeout");
        answerWhenDone(ctx, ref, MessageRoutes.extendLeases(bus, agent, ids, visibility), result -> {
            Map<String, Object> answer = answer("extended", ref);
            answer.putAll(Views.leaseOutcome("extended", result));
            return answer;
        });
    }

    /**
     * Once {@code call} is durable, queues {@code answer}'s frame, or the refusal if it failed.
     * Completes on the journal's writer thread, which only queues: the outbox's thread makes the
     * answer and renders it, as for {@code sent}.
     */
    private <T> void answerWhenDone(WsContext ctx, String ref, CompletableFuture<T> call,
            java.util.function.Function<T, Map<String, Object>> answer) {
        Outbox outbox = outbox(ctx);
        call.whenComplete((result, failure) -> outbox.add(() ->
                render(failure == null ? answer.apply(result) : error(ref, refusal(failure)))));
    }

    /** A lease's or a nack delay's number of seconds, 0 to the bus's longest lease, as the REST routes take it. */
    private java.util.Optional<Duration> seconds(RequestBody frame, String name) {
        // Read as REST reads its parameters: a number or a numeric string, quoted as sent.
        return Http.seconds(name, Http.param(null, null, frame, name), bus.maxVisibility());
    }

    private static Map<String, Object> answer(String op, String ref) {
        Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("op", op);
        if (ref != null) {
            answer.put("ref", ref);
        }
        return answer;
    }

    private static Map<String, Object> error(String ref, SwarmbusException e) {
        Map<String, Object> answer = answer("error", ref);
        answer.put("error", e.code().code());
        answer.put("message", e.getMessage());
        e.field().ifPresent(field -> answer.put("field", field));
        return answer;
    }

    /** Queues {@code frame} for the session, rendered as JSON. */
    private void send(WsContext ctx, Map<String, Object> frame) {
        String text = render(frame);
        outbox(ctx).add(() -> text);
    }

    private static String render(Map<String, Object> frame) {
        try {
            return RequestBody.MAPPER.writeValueAsString(frame);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot render a frame", e);
        }
    }

    private static String quote(String text) {
        try {
            return RequestBody.MAPPER.writeValueAsString(text);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot quote a string", e);
        }
    }

    /**
     * A frame to write, rendered when its turn comes, and what to do if it never is written;
     * {@code answer} if it answers one of the client's frames (not a subscription's delivery).
     */
    private record Frame(java.util.function.Supplier<String> render, Runnable dropped, boolean answer) {}

    private Outbox outbox(WsContext ctx) {
        return outboxes.computeIfAbsent(ctx.sessionId(), id -> new Outbox(ctx.session));
    }

    /**
     * Frames waiting for one session. Jetty takes one outgoing frame at a time per session and
     * refuses a second while one is pending, and answers are ready on many threads: so each
     * session has a queue, drained by one virtual thread at a time that writes frame after frame
     * and ends when the queue is empty. Frames are rendered by that thread, not by the thread
     * that queued them (often the journal's writer). Answers waiting are bounded
     * ({@link #awaitRoom}); deliveries are bounded by their subscriptions, one receive each.
     */
    private static final class Outbox {
        /** Answers that may wait to be written before the session's reader waits for them. */
        static final int MAX_ANSWERS = 1024;
        final org.eclipse.jetty.websocket.api.Session session;
        /** The session's frame layer: it takes "more frames follow", which the session's own API does not. */
        private final org.eclipse.jetty.websocket.core.CoreSession core;
        final java.util.concurrent.ConcurrentLinkedQueue<Frame> frames = new java.util.concurrent.ConcurrentLinkedQueue<>();
        final AtomicBoolean draining = new AtomicBoolean();
        final java.util.concurrent.atomic.AtomicInteger answers = new java.util.concurrent.atomic.AtomicInteger();
        /** The session's reader while it waits in {@link #awaitRoom}, woken as answers are written. */
        private volatile Thread waiting;

        Outbox(org.eclipse.jetty.websocket.api.Session session) {
            this.session = session;
            this.core = ((org.eclipse.jetty.websocket.common.WebSocketSession) session).getCoreSession();
        }

        /** Sends {@code frame}, then closes the session with {@code code}; nothing queued later is sent. */
        void closeAfter(String frame, int code, String reason) {
            add(() -> frame);
            add(() -> {
                session.close(code, reason, org.eclipse.jetty.websocket.api.Callback.NOOP);
                return null; // ends the drain (below)
            });
        }

        /** Queues the answer to one of the client's frames. */
        void add(java.util.function.Supplier<String> frame) {
            answers.incrementAndGet();
            add(new Frame(frame, () -> { }, true));
        }

        /** Queues a delivery's frame; {@code dropped} runs if the session closes or fails before it is written. */
        void add(java.util.function.Supplier<String> frame, Runnable dropped) {
            add(new Frame(frame, dropped, false));
        }

        /** Whether fewer than {@link #MAX_ANSWERS} answers wait to be written. */
        boolean hasRoom() {
            return answers.get() < MAX_ANSWERS;
        }

        /**
         * Waits, on the session's reader, while {@link #MAX_ANSWERS} answers wait to be written: a
         * client that sends faster than it reads is then read no faster, held back by TCP, instead
         * of its answers piling up in memory without limit. Returns once the session has closed.
         * A frame handled on the selector does not wait: the socket's next read does, on a virtual
         * thread ({@link #handle}), so the answers exceed the bound by at most what one turn on the
         * selector read.
         */
        void awaitRoom() {
            while (!hasRoom() && session.isOpen()) {
                waiting = Thread.currentThread();
                if (!hasRoom() && session.isOpen()) { // checked again: a wake-up may have come first
                    java.util.concurrent.locks.LockSupport.parkNanos(java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(100));
                }
                waiting = null;
            }
        }

        private void add(Frame frame) {
            frames.add(frame);
            if (draining.compareAndSet(false, true)) {
                // Always on a thread of its own, even when the caller is a virtual thread that could
                // wait for the write: the caller may be this session's reader, and a reader blocked
                // on a write while the client blocks on its own writes stalls both (tried: W3's
                // median went from 0.25 ms to seconds).
                Thread.startVirtualThread(this::drain);
            }
        }

        private void drain() {
            do {
                Frame next = poll();
                while (next != null) {
                    if (!session.isOpen()) {
                        next.dropped().run();
                        dropAll();
                        break;
                    }
                    String text = next.render().get(); // null once the session was closed (closeAfter)
                    Frame following = text == null ? null : poll();
                    if (text == null || !write(text, following != null)) {
                        if (text != null) {
                            next.dropped().run();
                        }
                        if (following != null) {
                            following.dropped().run();
                        }
                        dropAll();
                        break;
                    }
                    next = following;
                }
                draining.set(false);
                // A frame queued after the last poll but before the flag fell needs a drainer.
            } while (!frames.isEmpty() && draining.compareAndSet(false, true));
        }

        private void dropAll() {
            for (var frame = poll(); frame != null; frame = poll()) {
                frame.dropped().run();
            }
        }

        /** The next frame, if any; taking an answer may make room for a waiting reader. */
        private Frame poll() {
            Frame next = frames.poll();
            if (next != null && next.answer() && answers.decrementAndGet() < MAX_ANSWERS) {
                Thread reader = waiting;
                if (reader != null) {
                    java.util.concurrent.locks.LockSupport.unpark(reader);
                }
            }
            return next;
        }

        /**
         * Writes one frame and waits for it; false if the session failed. With {@code more}, a
         * frame of the queue follows at once, and Jetty may keep this one to write with it: when
         * one fsync completes a delivery and the answer to an ack for the same socket, both go out
         * in one system call, and the client reads them in one (docs/benchmarks.md).
         */
        private boolean write(String text, boolean more) {
            var done = new org.eclipse.jetty.util.Callback.Completable();
            core.sendFrame(new org.eclipse.jetty.websocket.core.Frame(org.eclipse.jetty.websocket.core.OpCode.TEXT)
                    .setPayload(text), done, more);
            try {
                done.get();
                return true;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            } catch (java.util.concurrent.ExecutionException e) {
                // A client that went away is routine; anything else is worth a warning.
                if (session.isOpen()) {
                    LOG.warn("websocket write failed; dropping {} queued frames", frames.size(), e.getCause());
                } else {
                    LOG.debug("websocket closed with {} frames queued", frames.size());
                }
                return false;
            }
        }
    }
}
