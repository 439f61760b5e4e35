package io.swarmbus.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.llm.CallBody;
import io.swarmbus.llm.LlmGateway;
import io.swarmbus.llm.OpenAiWire;
import io.swarmbus.messaging.Address;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.Delivery;
import io.swarmbus.messaging.Message;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.messaging.MessageType;
import io.swarmbus.messaging.SendRequest;
import io.swarmbus.registry.Registry;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The LLM gateway over the bus (AgentSched's request-reply): an {@code llm_request} message to the
 * {@code llm} address carries an OpenAI request body; the gateway schedules it exactly like an HTTP
 * call (same admission queue, limits and accounting, billed to the sender's owner) and sends an
 * {@code llm_response} to the message's {@code reply_to} (else the sender) with the request's
 * correlation id (else its message id). The response content is the backend's answer, or
 * {@code {"error": {...}, "status": N}}. A {@code task_id} header names the task the call is made
 * for, one the sender's owner may see, as {@code X-Swarmbus-Task} does over HTTP.
 *
 * <p>The inbox is the queue: only as many requests are taken from it as the backends can run plus
 * as many again waiting, so a burst stays durable in the inbox rather than in memory. A request is
 * acknowledged once its response was sent; one taken by a server that crashed is delivered again.
 */
final class LlmBusService {
    static final AgentId ADDRESS = AgentId.of("llm");
    static final MessageType REQUEST = MessageType.of("llm_request");
    static final MessageType RESPONSE = MessageType.of("llm_response");
    /** Header of an {@code llm_request} naming the task the call is made for (accounting). */
    static final String TASK_HEADER = "task_id";
    private static final Logger LOG = LoggerFactory.getLogger(LlmBusService.class);
    private static final Duration LEASE = Duration.ofMinutes(10);

    private final MessageBus bus;
    private final LlmGateway gateway;
    private final Registry registry;
    private final Auth auth;
    private final TaskRoutes tasks;
    private final AuditLog audit;
    private final Semaphore slots;

    LlmBusService(MessageBus bus, LlmGateway gateway, Registry registry, Auth auth, TaskRoutes tasks, AuditLog audit) {
        this.bus = bus;
        this.audit = audit;
        this.gateway = gateway;
        this.registry = registry;
        this.auth = auth;
        this.tasks = tasks;
        int capacity = gateway.backends().stream().mapToInt(b -> b.spec().maxConcurrency()).sum();
        this.slots = new Semaphore(Math.max(16, 2 * capacity));
        bus.createInbox(ADDRESS);
        bus.excludeFromBroadcast(ADDRESS);
    }

    /** Reads the {@code llm} inbox until {@code running} turns false; one virtual thread per request. */
    void run(AtomicBoolean running) {
        while (running.get()) {
            try {
                slots.acquire();
                int taken = 1 + slots.drainPermits();
                List<Delivery> got;
                try {
                    got = bus.receive(ADDRESS, Math.min(taken, 100), LEASE, Duration.ofSeconds(1));
                } finally {
                    slots.release(taken); // each request takes its own permit back below
                }
                audit.delivered(ADDRESS, got);
                for (Delivery delivery : got) {
                    slots.acquire();
                    Thread.ofVirtual().name("swarmbus-llm-request").start(() -> {
                        try {
                            handle(delivery);
                        } finally {
                            slots.release();
                        }
                    });
                }
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                if (running.get()) {
                    LOG.warn("llm inbox reader: {}", e.getMessage());
                    pause();
                }
            }
        }
    }

    /** Answers one request and acknowledges it; a response that cannot be sent leaves it for redelivery. */
    void handle(Delivery delivery) {
        Message message = delivery.message();
        if (message.from().equals(ADDRESS)) { // an answer of its own sent back here: answering it would loop
            ack(delivery);
            return;
        }
        AgentId replyTo = message.replyTo().map(AgentId::of).orElse(message.from());
        String reply;
        if (replyTo.equals(ADDRESS)) {
            replyTo = message.from();
            reply = error(400, "invalid_request_error", "reply_to must be an agent of yours, not the llm address");
        } else if (!message.type().equals(REQUEST)) {
            reply = error(400, "invalid_request_error", "the llm address takes llm_request messages, not '"
                    + message.type().name() + "'");
        } else {
            reply = answer(message);
        }
        Address to = Address.agent(replyTo);
        SendRequest.Builder response = SendRequest.builder(ADDRESS, to).type(RESPONSE).content(reply)
                .priority(message.priority()).correlationId(message.correlationId().orElse(message.id().toString()));
        message.conversationId().ifPresent(response::conversationId);
        try {
            sendResponse(response);
        } catch (SwarmbusException e) {
            if (e.code() != ErrorCode.NOT_FOUND) {
                LOG.info("llm_response to {} for {} not sent: {}", to, message.id(), e.getMessage());
                return; // not acknowledged: delivered again when the lease ends
            }
            // The agent to answer was deleted meanwhile: delivered again, the request would only
            // ask the model and bill its owner once more, with no one to answer still.
            LOG.info("llm_response for {} dropped: {}", message.id(), e.getMessage());
        } catch (RuntimeException e) {
            LOG.info("llm_response to {} for {} not sent: {}", to, message.id(), e.getMessage());
            return; // not acknowledged: delivered again when the lease ends
        }
        ack(delivery);
    }

    private void ack(Delivery delivery) {
        bus.ackAsync(ADDRESS, List.of(delivery.id())).thenAccept(result -> audit.acked(ADDRESS, result.acked()));
    }

    /** Sends the answer; one too large for a message is replaced by an error saying so. */
    private void sendResponse(SendRequest.Builder response) {
        try {
            bus.send(response.build());
        } catch (SwarmbusException e) {
            if (e.code() != ErrorCode.MESSAGE_TOO_LARGE) {
                throw e;
            }
            // Asked again, the model would answer as long, and be paid again: say why instead.
            bus.send(response.content(error(413, "invalid_request_error", "the answer does not fit in a message: "
                    + e.getMessage() + "; ask for fewer max_tokens, or call /v1 over HTTP")).build());
        }
    }

    private String answer(Message message) {
        JsonNode body;
        try {
            body = OpenAiWire.JSON.readTree(message.content());
        } catch (IOException e) {
            return error(400, "invalid_request_error", "the content must be an OpenAI request body (JSON)");
        }
        if (!(body instanceof ObjectNode request)) {
            return error(400, "invalid_request_error", "the content must be a JSON object");
        }
        String path = switch (request.path("endpoint").asText("chat/completions")) {
            case "chat/completions" -> "/v1/chat/completions";
            case "completions" -> "/v1/completions";
            case "embeddings" -> "/v1/embeddings";
            default -> null;
        };
        if (path == null) {
            return error(400, "invalid_request_error", "'endpoint' must be chat/completions, completions or embeddings");
        }
        request.remove("endpoint");
        request.remove(List.of("stream", "stream_options")); // one answer per message
        JsonNode model = request.get("model");
        if (model != null && !model.isTextual()) { // as the HTTP route refuses it (CallBody.parse)
            return invalid("model", "'model' must be a string");
        }
        if (model == null || model.asText().isEmpty()) {
            return invalid("model", "'model' is required");
        }
        String agent = message.from().value();
        String key = registry.ownerOf(message.from()).orElse(agent);
        String task = message.headers().get(TASK_HEADER);
        if (task != null) {
            try {
                LlmRoutes.requireTask(tasks, auth.sender(message.from()), task, TASK_HEADER);
            } catch (SwarmbusException e) {
                return error(e.code().httpStatus(), "invalid_request_error", e.code().code(), e.getMessage()).toString();
            }
        }
        long waitNanos = gateway.settings().queueTimeout().toNanos();
        if (message.expiresAt().isPresent()) {
            waitNanos = Math.min(waitNanos, Math.max(0, Duration.between(Instant.now(), message.expiresAt().get()).toNanos()));
        }
        LlmGateway.Request call = new LlmGateway.Request(path, CallBody.of(request), agent,
                LlmRoutes.registration(registry, message.from(), key), task, key, message.priority().ordinal(),
                System.nanoTime() + waitNanos,
                io.swarmbus.messaging.Traceparent.parse(message.headers().get("traceparent")).orElse(null));
        BufferedAnswer sink = new BufferedAnswer();
        try {
            gateway.handle(call, sink);
        } catch (LlmGateway.Refused refused) {
            ObjectNode error = error(refused.status(), refused.type(), refused.code(), refused.getMessage());
            if (refused.retryAfterSeconds() > 0) {
                error.put("retry_after_seconds", refused.retryAfterSeconds());
            }
            return error.toString();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return error(503, "server_error", "the server is stopping");
        }
        String answer = sink.text();
        if (sink.status() == 200) {
            return answer;
        }
        try {
            ObjectNode failed = (ObjectNode) OpenAiWire.JSON.readTree(answer);
            failed.put("status", sink.status());
            return failed.toString();
        } catch (IOException | ClassCastException e) {
            return error(sink.status(), "server_error", answer);
        }
    }

    private static String error(int status, String type, String message) {
        return error(status, type, null, message).toString();
    }

    /** A refused field, answered as the HTTP route answers it: 400, with the field as {@code param}. */
    private static String invalid(String field, String message) {
        SwarmbusException e = SwarmbusException.invalid(field, message);
        ObjectNode error = error(e.code().httpStatus(), "invalid_request_error", e.code().code(), e.getMessage());
        ((ObjectNode) error.get("error")).put("param", field);
        return error.toString();
    }

    /** OpenAI's error shape plus the HTTP status the same call would have had. */
    private static ObjectNode error(int status, String type, String code, String message) {
        ObjectNode error = OpenAiWire.error(message, type, code);
        error.put("status", status);
        return error;
    }

    private static void pause() {
        try {
            Thread.sleep(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
