package io.swarmbus.server;

import io.javalin.http.Context;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.Address;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.HistoryQuery;
import io.swarmbus.messaging.Message;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.messaging.MessageId;
import io.swarmbus.messaging.MessageRecord;
import io.swarmbus.messaging.MessageType;
import io.swarmbus.messaging.SendRequest;
import io.swarmbus.messaging.Traceparent;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.stream.Stream;

/** Sending, receiving, acking, history and dead letters over HTTP. */
final class MessageRoutes {
    /**
     * The names of a message's sender: ours, the "Swarms DB" seed's and the "Agent Communication
     * System" seed's ({@code AgentMessage.from_agent}), so either seed's bodies send unchanged.
     */
    static final String[] SENDER_FIELDS = {"from", "sender_id", "from_agent"};
    /** The names of a direct message's recipient, as {@link #SENDER_FIELDS}. */
    private static final String[] RECIPIENT_FIELDS = {"to", "receiver_id", "to_agent"};
    /** The fields that say where a message goes, on {@code POST /api/v1/messages}. */
    private static final List<String> ADDRESS_FIELDS = List.of("to", "receiver_id", "to_agent", "group", "group_name",
            "topic", "broadcast");
    /** Paths a GET reaches as a message id that are routes of their own, for POST only. */
    private static final java.util.Set<String> POST_ONLY = java.util.Set.of("/api/v1/messages/batch",
            "/api/v1/messages/broadcast", "/messages/broadcast");

    private final MessageBus bus;
    private final io.swarmbus.registry.Registry registry;
    private final Auth auth;
    private final AuditLog audit;

    MessageRoutes(MessageBus bus, io.swarmbus.registry.Registry registry, Auth auth, AuditLog audit) {
        this.bus = bus;
        this.registry = registry;
        this.auth = auth;
        this.audit = audit;
    }

    /** {@code POST /api/v1/messages}: to one of an agent, a group, a topic or everyone. */
    void send(Context ctx) {
        RequestBody body = RequestBody.parse(Http.body(ctx));
        respondToSend(ctx, request(ctx, body, addressOf(body)));
    }

    /** {@code POST /api/v1/groups/{name}/messages}. */
    void sendToGroup(Context ctx) {
        RequestBody body = RequestBody.parse(Http.body(ctx));
        refuseAddressFields(body, "this route sends to the group its path names");
        respondToSend(ctx, request(ctx, body, Address.group(ctx.pathParam("name"))));
    }

    /** The seed's {@code POST /groups/message}: {@code {"group_name", "content", "message_type"}}. */
    void sendToNamedGroup(Context ctx) {
        RequestBody body = RequestBody.parse(Http.body(ctx));
        refuseAddressFields(body, "this route sends to the group named by 'group_name'", "group_name");
        Address group = RequestBody.from("group_name", () -> Address.group(body.text("group_name")));
        respondToSend(ctx, request(ctx, body, group));
    }

    /** {@code POST /api/v1/topics/{topic}/messages}. */
    void publish(Context ctx) {
        RequestBody body = RequestBody.parse(Http.body(ctx));
        refuseAddressFields(body, "this route publishes to the topic its path names");
        respondToSend(ctx, request(ctx, body, Address.topic(ctx.pathParam("topic"))));
    }

    /**
     * Refuses an address field in the body of a route that already knows where the message goes
     * (but for those {@code kept}): ignoring it would send the message somewhere the caller did not
     * ask for.
     */
    private static void refuseAddressFields(RequestBody body, String where, String... kept) {
        for (String field : ADDRESS_FIELDS) {
            if (body.has(field) && !List.of(kept).contains(field)) {
                throw SwarmbusException.invalid(field, where + "; '" + field + "' has no place in it");
            }
        }
    }

    /**
     * {@code POST /api/v1/messages/broadcast}: to every agent, or with {@code role} and/or
     * {@code capability}, to each of your agents that has that role and capability (one message
     * each; the sender is left out).
     */
    void broadcast(Context ctx) {
        RequestBody body = RequestBody.parse(Http.body(ctx));
        refuseAddressFields(body, "a broadcast goes to every agent, or to those with a 'role' or 'capability'",
                "broadcast");
        if (body.has("broadcast") && !body.flag("broadcast")) {
            throw SwarmbusException.invalid("broadcast", "this route broadcasts; 'broadcast' may only be true here");
        }
        if (!body.has("role") && !body.has("capability")) {
            respondToSend(ctx, request(ctx, body, Address.broadcast()));
            return;
        }
        Auth.Principal principal = Auth.principal(ctx);
        Optional<String> role = body.optionalText("role").map(r -> r.trim().toLowerCase(java.util.Locale.ROOT));
        java.util.Set<String> capability = io.swarmbus.registry.AgentProfile.validCapabilities(
                body.optionalText("capability").map(java.util.Set::of).orElse(java.util.Set.of()), "capability");
        AgentId from = body.firstPresent(SENDER_FIELDS).map(body::agent).orElseGet(() -> AgentId.of(principal.name()));
        List<AgentId> targets = registry.find(principal.admin() ? Optional.empty() : Optional.of(principal.name()),
                capability, java.util.Set.of(), false, Integer.MAX_VALUE).stream()
                .filter(agent -> role.isEmpty() || agent.profile().role().equals(role.get()))
                .map(agent -> agent.profile().id()).filter(agent -> !agent.equals(from)).sorted().toList();
        Optional<String> key = idempotencyKey(ctx.header("Idempotency-Key"), body);
        // Every copy is built and every inbox looked at before one is sent, so that a bad field or a
        // full inbox refuses the broadcast whole, as any other send is refused, and a bad one is
        // refused even when no agent matches.
        auth.requireMaySend(principal, from, Address.broadcast());
        request(body, from, Address.broadcast(), null, ctx.header("traceparent"));
        List<SendRequest> requests = new ArrayList<>();
        for (AgentId target : targets) {
            // One message per target, the key shared by all: the bus dedupes each target's copy on
            // its own, apart from the sender's other keys, so no direct send's key stands for a copy's.
            SendRequest.Builder copy = sendBuilder(body, from, Address.agent(target), ctx.header("traceparent"));
            key.ifPresent(copy::idempotencyKeyPerRecipient);
            requests.add(copy.build());
            bus.requireRoom(target);
        }
        List<CompletableFuture<io.swarmbus.messaging.SendResult>> sends = new ArrayList<>();
        for (SendRequest request : requests) {
            sends.add(bus.sendAsync(request));
        }
        ctx.future(() -> Http.after(CompletableFuture.allOf(sends.toArray(CompletableFuture[]::new))).thenRun(() -> {
            // A repeat of the same key, every copy a duplicate, answers as a repeated send does.
            boolean duplicate = !sends.isEmpty() && sends.stream().allMatch(f -> f.join().duplicate());
            Map<String, Object> view = new LinkedHashMap<>();
            view.put("recipients", targets.size());
            view.put("agent_ids", targets.stream().map(AgentId::value).toList());
            view.put("message_ids", sends.stream().map(f -> f.join().id().toString()).toList());
            view.put("duplicate", duplicate);
            view.put("status", "accepted");
            Http.json(ctx, duplicate ? 200 : 201, view);
        }));
    }

    /**
     * {@code POST /api/v1/messages/batch}: {@code {"messages": [...]}}, up to 1,000 sends in one
     * request, each answered on its own ({@code message_id} or {@code error}) once all are durable.
     */
    void sendBatch(Context ctx) {
        RequestBody body = RequestBody.parse(Http.body(ctx));
        if (ctx.header("Idempotency-Key") != null) {
            // It would key every message alike, and all but the first would be dropped as duplicates.
            throw SwarmbusException.invalid("Idempotency-Key", "a batch takes no Idempotency-Key header; "
                    + "give each message its own idempotency_key");
        }
        List<Optional<RequestBody>> items = body.items("messages");
        if (items.isEmpty() || items.size() > 1000) {
            throw SwarmbusException.invalid("messages", "'messages' must hold 1 to 1000 messages, held " + items.size());
        }
        List<CompletableFuture<Map<String, Object>>> results = new ArrayList<>();
        for (Optional<RequestBody> item : items) {
            results.add(item.map(message -> sendOne(ctx, message)).orElseGet(() -> {
                Map<String, Object> view = new LinkedHashMap<>();
                errorView(view, SwarmbusException.invalid("messages", "each message must be a JSON object"));
                return CompletableFuture.completedFuture(view);
            }));
        }
        ctx.future(() -> CompletableFuture.allOf(results.toArray(CompletableFuture[]::new))
                .thenRun(() -> Http.json(ctx, 200, Views.list("results", results.stream().map(
                        CompletableFuture::join).toList()))));
    }

    private CompletableFuture<Map<String, Object>> sendOne(Context ctx, RequestBody item) {
        try {
            SendRequest request = request(ctx, item, addressOf(item));
            return Http.after(sendAs(Auth.principal(ctx), request)).handle((result, error) -> {
                Map<String, Object> view = new LinkedHashMap<>();
                if (error == null) {
                    view.put("message_id", result.id().toString());
                    view.put("recipients", result.recipients());
                    view.put("duplicate", result.duplicate());
                    putNotReached(view, result, Auth.principal(ctx));
                } else {
                    errorView(view, error instanceof CompletionException ? error.getCause() : error);
                }
                return view;
            });
        } catch (SwarmbusException e) {
            Map<String, Object> view = new LinkedHashMap<>();
            errorView(view, e);
            return CompletableFuture.completedFuture(view);
        }
    }

    /** Sends for the caller; a full inbox it may not learn of goes unnamed ({@link Auth#shownTo}). */
    private CompletableFuture<io.swarmbus.messaging.SendResult> sendAs(Auth.Principal principal, SendRequest request) {
        return sendAs(bus, auth, principal, request);
    }

    /** {@link #sendAs(Auth.Principal, SendRequest)} for the WebSocket's sends too. */
    static CompletableFuture<io.swarmbus.messaging.SendResult> sendAs(MessageBus bus, Auth auth, Auth.Principal principal,
            SendRequest request) {
        try {
            return bus.sendAsync(request);
        } catch (io.swarmbus.messaging.InboxFullException full) {
            throw auth.shownTo(principal, request.to(), full);
        }
    }

    private static void errorView(Map<String, Object> view, Throwable error) {
        SwarmbusException e = error instanceof SwarmbusException s ? s : ErrorAnswer.internal();
        view.put("status", e.code().httpStatus());
        view.put("error", e.code().code());
        view.put("message", e.getMessage());
        e.field().ifPresent(field -> view.put("field", field));
    }

    /** Builds the request; the sender defaults to the caller's own agent and must be owned by it. */
    private SendRequest request(Context ctx, RequestBody body, Address to) {
        Auth.Principal principal = Auth.principal(ctx);
        AgentId from = body.firstPresent(SENDER_FIELDS).map(body::agent).orElseGet(() -> AgentId.of(principal.name()));
        auth.requireMaySend(principal, from, to);
        return request(body, from, to, idempotencyKey(ctx.header("Idempotency-Key"), body).orElse(null),
                ctx.header("traceparent"));
    }

    private void respondToSend(Context ctx, SendRequest request) {
        ctx.future(() -> Http.after(sendAs(Auth.principal(ctx), request)).thenAccept(result -> {
            Map<String, Object> view = new LinkedHashMap<>();
            view.put("message_id", result.id().toString());
            view.put("recipients", result.recipients());
            view.put("duplicate", result.duplicate());
            putNotReached(view, result, Auth.principal(ctx));
            view.put("status", "accepted");
            Http.json(ctx, result.duplicate() ? 200 : 201, view);
        }));
    }

    /**
     * {@code not_reached}: how many full inboxes a group, topic or broadcast send passed over, and
     * {@code not_reached_agent_ids}, those of them the caller owns; absent when there were none.
     */
    private void putNotReached(Map<String, Object> view, io.swarmbus.messaging.SendResult result,
            Auth.Principal principal) {
        if (!result.passedOver().isEmpty()) {
            view.put("not_reached", result.passedOver().size());
            view.put("not_reached_agent_ids", auth.passedOverShownTo(principal, result));
        }
    }

    /**
     * Builds a send from a message body. {@code idempotencyKey}, when given, is the key already
     * settled from the request (header and body checked against each other); otherwise the body's
     * own is used. A valid W3C {@code traceparent} request header travels in the message's headers,
     * so receivers continue the same trace; an invalid one is ignored, as the specification says.
     */
    static SendRequest request(RequestBody body, AgentId from, Address to, String idempotencyKey,
            String traceparent) {
        SendRequest.Builder builder = sendBuilder(body, from, to, traceparent);
        Optional.ofNullable(idempotencyKey).or(() -> body.optionalText("idempotency_key"))
                .ifPresent(builder::idempotencyKey);
        return builder.build();
    }

    /** A send built from a message body, all but its idempotency key. */
    private static SendRequest.Builder sendBuilder(RequestBody body, AgentId from, Address to, String traceparent) {
        String typeField = body.firstPresent("type", "message_type").orElse("type");
        SendRequest.Builder builder = SendRequest.builder(from, to)
                .content(body.json("content"))
                .type(body.optionalText(typeField).map(type -> RequestBody.messageType(typeField, type))
                        .orElse(MessageType.CHAT));
        body.priority("priority").ifPresent(builder::priority);
        body.optionalText("correlation_id").ifPresent(builder::correlationId);
        body.optionalText("reply_to").ifPresent(builder::replyTo);
        body.optionalText("conversation_id").ifPresent(builder::conversationId);
        body.headers("headers").forEach(builder::header);
        Traceparent.parse(traceparent).ifPresent(value -> builder.header("traceparent", value));
        ttl(body).ifPresent(builder::ttl);
        return builder;
    }

    /**
     * How long the message lives: {@code ttl_seconds} (or the design's {@code ttl}), or until
     * {@code expires_at}, the instant a message's view shows; not both.
     */
    private static Optional<Duration> ttl(RequestBody body) {
        Optional<String> field = body.firstPresent("ttl_seconds", "ttl");
        if (body.has("expires_at")) {
            if (field.isPresent()) {
                throw SwarmbusException.invalid("expires_at", "give '" + field.get() + "' or 'expires_at', not both");
            }
            Instant at = instant("expires_at", body.text("expires_at"));
            Duration left = Duration.between(Instant.now(), at);
            if (!left.isPositive() || left.compareTo(SendRequest.MAX_TTL) > 0) {
                throw SwarmbusException.invalid("expires_at", "'expires_at' must be in the future and at most "
                        + SendRequest.MAX_TTL.toDays() + " days away, was " + at);
            }
            return Optional.of(left);
        }
        return field.flatMap(name -> body.number(name).map(seconds -> {
            if (!(seconds > 0) || seconds > SendRequest.MAX_TTL.toSeconds()) {
                throw SwarmbusException.invalid(name, name + " must be positive and at most "
                        + SendRequest.MAX_TTL.toSeconds() + " (" + SendRequest.MAX_TTL.toDays() + " days), was "
                        + java.math.BigDecimal.valueOf(seconds).stripTrailingZeros().toPlainString()); // not 3.1536001E7
            }
            return Duration.ofMillis(Math.max(1, (long) (seconds * 1000)));
        }));
    }

    /** The {@code Idempotency-Key} header or the body's {@code idempotency_key}; two different ones are refused. */
    private static Optional<String> idempotencyKey(String header, RequestBody body) {
        Optional<String> field = body.optionalText("idempotency_key");
        if (header != null && (header.isEmpty() || header.length() > SendRequest.MAX_TOKEN_CHARS)) {
            // Checked here, not only by SendRequest, so that the refusal names the header the client sent.
            throw SwarmbusException.invalid("Idempotency-Key", "the Idempotency-Key header must be 1 to "
                    + SendRequest.MAX_TOKEN_CHARS + " characters, was " + header.length());
        }
        if (header != null && field.isPresent() && !field.get().equals(header)) {
            throw SwarmbusException.invalid("idempotency_key", "the Idempotency-Key header and 'idempotency_key' differ; "
                    + "give one");
        }
        return Optional.ofNullable(header).or(() -> field);
    }

    /**
     * Exactly one of {@code to} (or the seeds' {@code receiver_id}, {@code to_agent}), {@code group},
     * {@code topic}, {@code broadcast}.
     */
    static Address addressOf(RequestBody body) {
        List<Address> given = new ArrayList<>();
        body.firstPresent(RECIPIENT_FIELDS).ifPresent(field -> given.add(Address.agent(body.agent(field))));
        body.firstPresent("group", "group_name").ifPresent(field -> given.add(RequestBody.from(field,
                () -> Address.group(body.text(field)))));
        body.optionalText("topic").ifPresent(topic -> given.add(Address.topic(topic)));
        if (body.flag("broadcast")) {
            for (String narrowing : List.of("role", "capability")) { // ignored, they would widen it to everyone
                if (body.has(narrowing)) {
                    throw SwarmbusException.invalid(narrowing, "'" + narrowing + "' narrows a broadcast only at "
                            + "POST /api/v1/messages/broadcast; here it would reach every agent");
                }
            }
            given.add(Address.broadcast());
        }
        if (given.size() != 1) {
            throw SwarmbusException.invalid("to", "give exactly one of 'to' (or 'receiver_id' or 'to_agent'), 'group', 'topic' "
                    + "or \"broadcast\": true; got " + given.size());
        }
        return given.getFirst();
    }

    /** {@code POST /api/v1/agents/{id}/ack}: {@code {"message_ids": [...]}} or {@code {"message_id": "..."}}. */
    void ack(Context ctx, AgentId agent) {
        auth.requireOwner(Auth.principal(ctx), agent);
        RequestBody body = RequestBody.parse(Http.body(ctx));
        List<MessageId> ids = messageIds(body);
        ctx.future(() -> Http.after(bus.ackAsync(agent, ids)).thenAccept(result -> {
            audit.acked(agent, result.acked());
            Http.json(ctx, 200, Views.leaseOutcome("acked", result));
        }));
    }

    /**
     * {@code POST /api/v1/agents/{id}/extend}: {@code {"message_ids": [...], "visibility_timeout": s}}
     * keeps leases a receiver still needs; attempts do not change. Without a length, a lease ends
     * at least the default from now and never sooner than it did ({@link MessageBus#renewLeaseAsync}).
     */
    void extend(Context ctx, AgentId agent) {
        auth.requireOwner(Auth.principal(ctx), agent);
        RequestBody body = RequestBody.parse(Http.body(ctx));
        List<MessageId> ids = messageIds(body);
        Optional<Duration> visibility = Http.secondsParam(ctx, body, "visibility_timeout", bus.maxVisibility());
        ctx.future(() -> Http.after(extendLeases(bus, agent, ids, visibility))
                .thenAccept(result -> Http.json(ctx, 200, Views.leaseOutcome("extended", result))));
    }

    /** Extends leases for {@code visibility} from now, or without it renews them; REST's and the WebSocket's. */
    static CompletableFuture<io.swarmbus.messaging.AckResult> extendLeases(MessageBus bus, AgentId agent,
            List<MessageId> ids, Optional<Duration> visibility) {
        return visibility.map(length -> bus.extendLeaseAsync(agent, ids, length))
                .orElseGet(() -> bus.renewLeaseAsync(agent, ids));
    }

    /** {@code message_ids} (1 to 10,000) or one {@code message_id}, as the ack, nack and extend routes take them. */
    static List<MessageId> messageIds(RequestBody body) {
        if (body.has("message_id") && body.has("message_ids")) {
            throw SwarmbusException.invalid("message_id", "give 'message_ids' or 'message_id', not both");
        }
        if (body.has("message_id")) {
            return List.of(MessageId.parse(body.text("message_id")));
        }
        if (!body.has("message_ids")) {
            throw SwarmbusException.invalid("message_ids", "give 'message_ids' (an array) or 'message_id'");
        }
        List<MessageId> ids = body.strings("message_ids").stream().map(MessageId::parse).toList();
        if (ids.isEmpty() || ids.size() > 10_000) {
            throw SwarmbusException.invalid("message_ids", "'message_ids' must hold 1 to 10000 ids, held " + ids.size());
        }
        return ids;
    }

    /** {@code POST /api/v1/agents/{id}/nack}: {@code {"message_id": "...", "delay_seconds": 5}}. */
    void nack(Context ctx, AgentId agent) {
        auth.requireOwner(Auth.principal(ctx), agent);
        RequestBody body = RequestBody.parse(Http.body(ctx));
        MessageId id = MessageId.parse(body.text("message_id"));
        Duration delay = Http.secondsParam(ctx, body, "delay_seconds", bus.maxVisibility()).orElse(Duration.ZERO);
        ctx.future(() -> Http.after(bus.nackAsync(agent, id, delay)).thenAccept(after -> {
            audit.nacked(agent, id, delay, after);
            Http.json(ctx, 200, Map.of("message_id", id.toString(), "status", Views.nackOutcome(after)));
        }));
    }

    /** {@code GET /api/v1/messages/{id}}. */
    void get(Context ctx) {
        if (POST_ONLY.contains(ctx.path())) { // the wrong method, not a malformed id
            throw new NotAllowed("GET", ctx.path(), "POST");
        }
        MessageId id = MessageId.parse(ctx.pathParam("id"));
        MessageRecord record = bus.message(id).filter(r -> auth.maySee(Auth.principal(ctx), r))
                .orElseThrow(() -> new SwarmbusException(io.swarmbus.ErrorCode.NOT_FOUND,
                        "message " + id + " does not exist or is past retention"));
        Http.json(ctx, 200, view(Auth.principal(ctx), record));
    }

    /**
     * A message as the caller may see it: its sender's owner sees every delivery, a recipient's
     * owner only those to its own agents, so other users' agents go unnamed.
     */
    private Map<String, Object> view(Auth.Principal principal, MessageRecord record) {
        Instant sent = record.message().createdAt();
        boolean sender = auth.ownedAt(principal, record.message().from(), sent);
        return Views.record(record, recipient -> sender || auth.ownedAt(principal, recipient, sent));
    }

    /**
     * The seed's {@code PUT /messages/{id}/status}: {@code {"status": "acked"|"processed"}} acks it,
     * {@code "failed"|"rejected"} gives it back, for the caller's own agent.
     */
    void setStatus(Context ctx) {
        MessageId id = MessageId.parse(ctx.pathParam("id"));
        RequestBody body = RequestBody.parse(Http.body(ctx));
        AgentId agent = body.optionalText("agent_id").map(AgentId::of)
                .orElseGet(() -> AgentId.of(Auth.principal(ctx).name()));
        auth.requireOwner(Auth.principal(ctx), agent);
        String status = body.text("status");
        switch (status) {
            case "acked", "processed", "completed" -> ctx.future(() -> Http.after(bus.ackAsync(agent, List.of(id))).thenAccept(r -> {
                if (!r.notHeld().isEmpty()) {
                    throw new SwarmbusException(io.swarmbus.ErrorCode.LEASE_NOT_HELD, "agent '" + agent
                            + "' holds no lease on message " + id + " (never received, lease expired, or already acked)");
                }
                audit.acked(agent, r.acked());
                Http.json(ctx, 200, Map.of("message_id", id.toString(), "status", "acked"));
            }));
            case "failed", "rejected" -> ctx.future(() -> Http.after(bus.nackAsync(agent, id, Duration.ZERO)).thenAccept(after -> {
                audit.nacked(agent, id, Duration.ZERO, after);
                Http.json(ctx, 200, Map.of("message_id", id.toString(), "status", Views.nackOutcome(after)));
            }));
            default -> throw SwarmbusException.invalid("status", "status must be acked, processed, completed, "
                    + "failed or rejected, was '" + status + "'");
        }
    }

    /** {@code GET /api/v1/messages?agent=&peer=&type=&conversation_id=&since=&until=&before=&limit=}. */
    void history(Context ctx) {
        HistoryQuery query = filtered(ctx, HistoryQuery.all(), Instant.EPOCH);
        query = optional(ctx, "agent").map(id -> RequestBody.agentId("agent", id)).map(query::withAgent).orElse(query);
        Auth.Principal principal = Auth.principal(ctx);
        // Filtered as the history is searched, so that the page holds `limit` of the caller's own;
        // `involving` lets the search skip stretches of history without the caller's agents unread.
        if (!principal.admin()) {
            query = query.involving(registry.ownedBy(principal.name()));
        }
        List<AgentId> named = Stream.of(query.agent(), query.peer()).flatMap(Optional::stream).toList();
        query = query.shownIf((message, recipients) -> auth.maySee(principal, message, recipients)
                && named.stream().allMatch(agent -> showsInvolvement(principal, message, agent)));
        Http.json(ctx, 200, Views.list("messages", bus.history(query).stream().map(r -> view(principal, r)).toList()));
    }

    /**
     * Whether a message the caller may see shows that {@code agent} took part in it: as its sender,
     * or as a recipient the caller's view names ({@link #view}). Otherwise a filter on another
     * user's agent would match a group message both received and so tell who else is in the group.
     */
    private boolean showsInvolvement(Auth.Principal principal, Message message, AgentId agent) {
        Instant sent = message.createdAt();
        return message.from().equals(agent) || auth.ownedAt(principal, agent, sent)
                || auth.ownedAt(principal, message.from(), sent);
    }

    /**
     * {@code GET /api/v1/agents/{id}/messages}: that agent's history, newest first, with the
     * filters of {@link #history} but {@code agent}.
     */
    void historyOf(Context ctx, AgentId agent) {
        Auth.Principal principal = Auth.principal(ctx);
        auth.requireOwner(principal, agent);
        // The agent's current registration only (Auth#ownedAt), for all but admins.
        Instant from = principal.admin() ? Instant.EPOCH : auth.registeredSince(agent);
        HistoryQuery query = filtered(ctx, HistoryQuery.all().withAgent(agent), from);
        List<Map<String, Object>> views = bus.history(query).stream().map(r -> view(principal, r)).toList();
        Http.json(ctx, 200, Views.list("messages", views));
    }

    /**
     * {@code query} narrowed by the request's {@code peer}, {@code type}, {@code conversation_id},
     * {@code before}, {@code since}, {@code until} and {@code limit} (default 100); nothing older
     * than {@code from}, whatever {@code since} says.
     */
    private static HistoryQuery filtered(Context ctx, HistoryQuery query, Instant from) {
        query = query.withLimit(Http.intParam(ctx, RequestBody.parse(new byte[0]), "limit", 100));
        query = optional(ctx, "peer").map(id -> RequestBody.agentId("peer", id)).map(query::withPeer).orElse(query);
        query = optional(ctx, "type").map(type -> RequestBody.messageType("type", type)).map(query::withType)
                .orElse(query);
        query = optional(ctx, "conversation_id").map(query::withConversation).orElse(query);
        query = optional(ctx, "before").map(id -> messageId("before", id)).map(query::before).orElse(query);
        Optional<Instant> since = optional(ctx, "since").map(v -> instant("since", v));
        Optional<Instant> until = optional(ctx, "until").map(v -> instant("until", v));
        if (since.isPresent() || until.isPresent() || from.isAfter(Instant.EPOCH)) {
            Instant start = since.filter(s -> s.isAfter(from)).orElse(from);
            query = query.between(start, until.orElse(Instant.MAX));
        }
        return query;
    }

    /**
     * {@code GET /api/v1/agents/{id}/dead-letters?limit=&after=}: oldest message first, at most
     * {@code limit} (1 to 1,000, default 100); for the next page pass the last id as {@code after}.
     */
    void deadLetters(Context ctx, AgentId agent) {
        Auth.Principal principal = Auth.principal(ctx);
        auth.requireOwner(principal, agent);
        int limit = Http.intParam(ctx, RequestBody.parse(new byte[0]), "limit", 100);
        if (limit < 1 || limit > 1000) {
            throw SwarmbusException.invalid("limit", "limit must be 1 to 1000, was " + limit);
        }
        Optional<MessageId> after = optional(ctx, "after").map(id -> messageId("after", id));
        Http.json(ctx, 200, Views.list("messages", bus.deadLetters(agent, after, limit).stream()
                .map(r -> view(principal, r)).toList()));
    }

    /** {@code POST /api/v1/agents/{id}/dead-letters/{message_id}/replay}. */
    void replay(Context ctx, AgentId agent) {
        auth.requireOwner(Auth.principal(ctx), agent);
        MessageId id = MessageId.parse(ctx.pathParam("message_id"));
        ctx.future(() -> Http.after(bus.replayAsync(agent, id)).thenRun(() -> Http.json(ctx, 200,
                Map.of("message_id", id.toString(), "status", "replayed"))));
    }

    private static Optional<String> optional(Context ctx, String name) {
        return Optional.ofNullable(ctx.queryParam(name));
    }

    private static MessageId messageId(String field, String text) {
        try {
            return MessageId.parse(text);
        } catch (SwarmbusException e) {
            throw SwarmbusException.invalid(field, "'" + field + "' must be a message id (16 hex digits), was '"
                    + text + "'");
        }
    }

    private static Instant instant(String field, String text) {
        try {
            return Instant.parse(text);
        } catch (DateTimeParseException e) {
            throw SwarmbusException.invalid(field, "'" + field + "' must be an ISO-8601 instant such as "
                    + "2026-11-21T10:00:00Z, was '" + text + "'");
        }
    }
}
