package io.swarmbus.server;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.databind.util.RawValue;
import io.swarmbus.messaging.AckResult;
import io.swarmbus.messaging.Address;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.Delivery;
import io.swarmbus.messaging.DeliveryInfo;
import io.swarmbus.messaging.DeliveryStatus;
import io.swarmbus.messaging.InboxStats;
import io.swarmbus.messaging.Message;
import io.swarmbus.messaging.MessageId;
import io.swarmbus.messaging.MessageRecord;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The JSON shapes the API answers with, as ordered maps. */
final class Views {
    private Views() {}

    static Map<String, Object> message(Message m) {
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("id", m.id().toString());
        view.put("from", m.from().value());
        putAddress(view, m.to(), "to");
        view.put("type", m.type().name());
        view.put("content", content(m.content()));
        view.put("priority", m.priority().wireName());
        m.correlationId().ifPresent(v -> view.put("correlation_id", v));
        m.replyTo().ifPresent(v -> view.put("reply_to", v));
        m.conversationId().ifPresent(v -> view.put("conversation_id", v));
        if (!m.headers().isEmpty()) {
            view.put("headers", m.headers());
        }
        view.put("created_at", m.createdAt().toString());
        m.expiresAt().ifPresent(v -> view.put("expires_at", v.toString()));
        m.idempotencyKey().ifPresent(v -> view.put("idempotency_key", v));
        return view;
    }

    static Map<String, Object> delivery(Delivery d) {
        Map<String, Object> view = message(d.message());
        view.put("attempt", d.attempt());
        view.put("lease_expires_at", d.leaseExpiresAt().toString());
        return view;
    }

    /**
     * {@link #delivery} written straight to JSON text, field for field the same: the WebSocket
     * stream writes one per delivery, and building and serializing the map cost more than the
     * delivery itself (docs/benchmarks.md, W2). {@code ViewsTest} holds the two to the same output.
     */
    static StringBuilder writeDelivery(StringBuilder json, Delivery d) {
        Message m = d.message();
        json.append("{\"id\":\"").append(m.id()).append("\",\"from\":");
        quote(json, m.from().value());
        switch (m.to()) {
            case Address.Direct to -> quote(json.append(",\"to\":"), to.agent().value());
            case Address.Group g -> quote(json.append(",\"group\":"), g.name());
            case Address.Topic t -> quote(json.append(",\"topic\":"), t.name());
            case Address.Broadcast b -> json.append(",\"broadcast\":true");
        }
        quote(json.append(",\"type\":"), m.type().name());
        json.append(",\"content\":");
        if (isJson(m.content())) {
            json.append(m.content());
        } else {
            quote(json, m.content());
        }
        quote(json.append(",\"priority\":"), m.priority().wireName());
        m.correlationId().ifPresent(v -> quote(json.append(",\"correlation_id\":"), v));
        m.replyTo().ifPresent(v -> quote(json.append(",\"reply_to\":"), v));
        m.conversationId().ifPresent(v -> quote(json.append(",\"conversation_id\":"), v));
        if (!m.headers().isEmpty()) {
            json.append(",\"headers\":{");
            boolean first = true;
            for (Map.Entry<String, String> header : m.headers().entrySet()) {
                quote(json.append(first ? "" : ","), header.getKey()).append(':');
                quote(json, header.getValue());
                first = false;
            }
            json.append('}');
        }
        quote(json.append(",\"created_at\":"), m.createdAt().toString());
        m.expiresAt().ifPresent(v -> quote(json.append(",\"expires_at\":"), v.toString()));
        m.idempotencyKey().ifPresent(v -> quote(json.append(",\"idempotency_key\":"), v));
        json.append(",\"attempt\":").append(d.attempt());
        return quote(json.append(",\"lease_expires_at\":"), d.leaseExpiresAt().toString()).append('}');
    }

    /**
     * About how long {@link #writeDelivery} makes {@code d}: its content and headers, plus room for
     * the other fields. A builder sized so is not regrown and copied while it is written; a fixed
     * 1,280 chars was regrown for every 1 KiB message (docs/benchmarks.md, W3's allocation).
     */
    static int jsonLength(Delivery d) {
        Message m = d.message();
        int length = 512 + m.content().length();
        for (Map.Entry<String, String> header : m.headers().entrySet()) {
            length += header.getKey().length() + header.getValue().length() + 6;
        }
        return length;
    }

    private static StringBuilder quote(StringBuilder json, String text) {
        if (!needsEscape(text, 0, text.length())) { // ids, names and timestamps: the usual case
            return json.append('"').append(text).append('"');
        }
        return json.append('"').append(JsonStringEncoder.getInstance().quoteAsString(text)).append('"');
    }

    /** Whether JSON needs an escape for a character of {@code text[from, to)}: a quote, backslash or control. */
    private static boolean needsEscape(String text, int from, int to) {
        for (int i = from; i < to; i++) {
            char c = text.charAt(i);
            if (c < 0x20 || c == '"' || c == '\\') {
                return true;
            }
        }
        return false;
    }

    /** A message with its deliveries to the recipients {@code shown}. */
    static Map<String, Object> record(MessageRecord r, java.util.function.Predicate<AgentId> shown) {
        Map<String, Object> view = message(r.message());
        view.put("deliveries", r.deliveries().stream().filter(d -> shown.test(d.recipient()))
                .map(Views::deliveryInfo).toList());
        return view;
    }

    static Map<String, Object> deliveryInfo(DeliveryInfo d) {
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("agent_id", d.recipient().value());
        view.put("status", d.status().wireName());
        view.put("attempts", d.attempts());
        return view;
    }

    /** A task with what it asks for and where it stands. */
    static Map<String, Object> task(io.swarmbus.tasks.Task t) {
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("task_id", t.id());
        view.put("type", t.spec().type());
        view.put("description", t.spec().description());
        view.put("parameters", content(t.spec().parameters()));
        view.put("required_capabilities", List.copyOf(t.spec().requiredCapabilities()));
        view.put("priority", t.spec().priority().wireName());
        view.put("timeout_seconds", t.spec().timeout().toMillis() / 1000.0);
        view.put("max_retries", t.spec().maxRetries());
        view.put("strategy", t.spec().strategy().wireName());
        if (!t.spec().candidates().isEmpty()) {
            view.put("candidates", t.spec().candidates().stream().map(io.swarmbus.messaging.AgentId::value).toList());
        }
        t.spec().parentId().ifPresent(parent -> view.put("parent_id", parent));
        t.spec().createdBy().ifPresent(agent -> view.put("created_by", agent.value()));
        view.put("status", t.status().wireName());
        view.put("assignee", t.assignee().map(io.swarmbus.messaging.AgentId::value).orElse(null));
        view.put("attempts", t.attempts());
        view.put("failed_by", t.failedBy().stream().map(io.swarmbus.messaging.AgentId::value).toList());
        view.put("progress", t.progress());
        t.result().ifPresent(result -> view.put("result", content(result)));
        t.error().ifPresent(error -> view.put("error", error));
        view.put("created_at", t.createdAt().toString());
        t.assignedAt().ifPresent(at -> view.put("assigned_at", at.toString()));
        t.finishedAt().ifPresent(at -> view.put("finished_at", at.toString()));
        t.duration().ifPresent(d -> view.put("duration_ms", d.toMillis()));
        return view;
    }

    /** A registry entry: profile, liveness, load and measured performance. */
    static Map<String, Object> agent(io.swarmbus.registry.AgentInfo a) {
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("agent_id", a.profile().id().value());
        view.put("description", a.profile().description());
        view.put("role", a.profile().role());
        view.put("capabilities", List.copyOf(a.profile().capabilities()));
        view.put("max_concurrent_tasks", a.profile().maxConcurrentTasks());
        view.put("metadata", a.profile().metadata());
        view.put("owner", a.profile().owner());
        view.put("status", a.status().wireName());
        view.put("current_tasks", a.load());
        view.put("assigned_tasks", a.assignedTasks());
        view.put("available", a.available());
        view.put("last_heartbeat", a.lastHeartbeat().toString());
        view.put("registered_at", a.registeredAt().toString());
        view.put("health", a.health());
        Map<String, Object> performance = new LinkedHashMap<>();
        performance.put("completed", a.completed());
        performance.put("failed", a.failed());
        performance.put("success_rate", a.successRate());
        performance.put("mean_task_ms", a.meanTaskMillis());
        view.put("performance", performance);
        return view;
    }

    static Map<String, Object> inbox(InboxStats s) {
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("agent_id", s.agent().value());
        view.put("pending", s.pending());
        view.put("leased", s.leased());
        view.put("delayed", s.delayed());
        view.put("dead_letters", s.deadLetters());
        view.put("waiting_receivers", s.waitingReceivers());
        return view;
    }

    /** Where a message went: {@code agentField} (an agent), {@code group}, {@code topic} or {@code broadcast}. */
    static void putAddress(Map<String, Object> view, Address to, String agentField) {
        switch (to) {
            case Address.Direct d -> view.put(agentField, d.agent().value());
            case Address.Group g -> view.put("group", g.name());
            case Address.Topic t -> view.put("topic", t.name());
            case Address.Broadcast b -> view.put("broadcast", true);
        }
    }

    /** Message ids as the API writes them. */
    static List<String> ids(List<MessageId> ids) {
        return ids.stream().map(MessageId::toString).toList();
    }

    /**
     * What a nack did, as its answers' {@code status} says it: {@code requeued}, {@code delayed},
     * or {@code dead_lettered} when it used up the message's last delivery.
     */
    static String nackOutcome(DeliveryStatus after) {
        return after == DeliveryStatus.PENDING ? "requeued" : after.wireName();
    }

    /**
     * An ack's or a lease extension's outcome: {@code {doneField: [...], "not_held": [...]}}, with
     * {@code doneField} {@code acked} or {@code extended}.
     */
    static Map<String, Object> leaseOutcome(String doneField, AckResult result) {
        Map<String, Object> view = new LinkedHashMap<>();
        view.put(doneField, ids(result.acked()));
        view.put("not_held", ids(result.notHeld()));
        return view;
    }

    static Map<String, Object> list(String name, List<?> items) {
        Map<String, Object> view = new LinkedHashMap<>();
        view.put(name, items);
        view.put("count", items.size());
        return view;
    }

    /**
     * Stored JSON text (message content, task parameters and results), written out as it is:
     * parsing it into a tree only to write it back was a fifth of the server's CPU when
     * delivering 1 KiB messages (docs/benchmarks.md, W2). Everything the server stores arrived as
     * checked JSON; a scan without building anything still guards against text that is not JSON
     * (from an embedding application), which is sent as a JSON string instead.
     */
    private static Object content(String json) {
        return isJson(json) ? new RawValue(json) : json;
    }

    private static boolean isJson(String text) {
        int n = text.length();
        if (n >= 2 && text.charAt(0) == '"' && text.charAt(n - 1) == '"' && !needsEscape(text, 1, n - 1)) {
            return true; // a string without escapes, as agents' text mostly is: no parser needed
        }
        try (JsonParser parser = RequestBody.MAPPER.getFactory().createParser(text)) {
            if (parser.nextToken() == null) {
                return false;
            }
            parser.skipChildren();
            return parser.nextToken() == null;
        } catch (IOException e) {
            return false;
        }
    }
}
