package io.swarmbus.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.Delivery;
import io.swarmbus.messaging.MessageId;
import io.swarmbus.messaging.SendRequest;
import io.swarmbus.messaging.SendResult;
import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Daily JSONL audit files, off unless a directory is configured ({@code MESSAGE_HISTORY_DIR}):
 * {@code agent_activity_}, {@code message_audit_}, {@code task_history_}, {@code performance_} and
 * {@code errors_} followed by the UTC date, one JSON object a line. Request threads only enqueue;
 * one writer thread appends, so auditing never slows a request. Files older than the retention are
 * deleted at start and at each day's first write. When the queue is full, records are dropped and
 * counted rather than blocking the API; so are records that cannot be written (the directory
 * deleted or not writable), and writing resumes once it can, the directory made again if need be.
 * Once a second at most the writer looks for its open files, and opens again one that was moved
 * or deleted: records written to it in between are lost with it.
 */
final class AuditLog implements AutoCloseable {
    /** The five files. */
    enum Stream {
        AGENT_ACTIVITY("agent_activity_"),
        MESSAGE_AUDIT("message_audit_"),
        TASK_HISTORY("task_history_"),
        PERFORMANCE("performance_"),
        ERRORS("errors_");

        final String prefix;

        Stream(String prefix) {
            this.prefix = prefix;
        }
    }

    private record Entry(Stream stream, Map<String, Object> fields) {}

    private static final Logger LOG = LoggerFactory.getLogger(AuditLog.class);
    private static final Entry STOP = new Entry(Stream.ERRORS, Map.of());
    private static final AuditLog OFF = new AuditLog(null, 0, Clock.systemUTC());

    private final Path dir;
    private final int retentionDays;
    private final Clock clock;
    private final BlockingQueue<Entry> queue = new ArrayBlockingQueue<>(65_536);
    private final Map<Stream, OpenFile> files = new java.util.EnumMap<>(Stream.class);
    /** Records taken since the last flush: lost with the buffers if writing fails. */
    private int unflushed;
    private LocalDate day;
    private Thread writer;
    private final java.util.concurrent.atomic.LongAdder dropped = new java.util.concurrent.atomic.LongAdder();
    private long filesCheckedAt;
    /** Whether writing fails, until a flush succeeds: the failure is logged once, not for every record. */
    private boolean failing;

    /** An open audit file; its stream is closed without a flush when writing fails. */
    private record OpenFile(Writer writer, java.io.OutputStream out) {}

    private AuditLog(Path dir, int retentionDays, Clock clock) {
        this.dir = dir;
        this.retentionDays = retentionDays;
        this.clock = clock;
    }

    /** An audit log that records nothing. */
    static AuditLog off() {
        return OFF;
    }

    /** Starts writing into {@code dir}, keeping {@code retentionDays} days of files. */
    static AuditLog start(Path dir, int retentionDays, Clock clock) throws IOException {
        Files.createDirectories(dir);
        if (!Files.isWritable(dir)) {
            throw new java.nio.file.AccessDeniedException(dir.toString(), null, "not writable");
        }
        AuditLog log = new AuditLog(dir, retentionDays, clock);
        log.deleteExpired();
        log.writer = Thread.ofPlatform().name("swarmbus-audit").daemon().start(log::writeLoop);
        return log;
    }

    boolean enabled() {
        return dir != null;
    }

    /** Records an error answered to {@code method path}. */
    void error(io.swarmbus.SwarmbusException e, String method, String path) {
        error(e, e.code().httpStatus(), method, path);
    }

    /** Records an error answered with {@code status}, which Jetty may have chosen (431 for headers too large). */
    void error(io.swarmbus.SwarmbusException e, int status, String method, String path) {
        error(e.code().code(), status, e.getMessage(), method, path);
    }

    /** Records an error answered with {@code status} under {@code code}, as the LLM gateway's refusals are. */
    void error(String code, int status, String message, String method, String path) {
        record(Stream.ERRORS, code, Map.of("status", status, "message", message, "method", method, "path", path));
    }

    /**
     * Records a failure the client was told only "internal error" about: the operator's file gets
     * the exception, the stack goes to the log.
     */
    void internalError(Throwable cause, String method, String path) {
        record(Stream.ERRORS, io.swarmbus.ErrorCode.INTERNAL.code(), Map.of("status", 500, "message", String.valueOf(cause),
                "method", method, "path", path));
    }

    /**
     * An agent registered: {@code registered} when new, {@code updated} when registered again, by
     * its user or by a managed pool for its replicas.
     */
    void agentRegistered(String event, io.swarmbus.registry.AgentProfile profile) {
        record(Stream.AGENT_ACTIVITY, event, Map.of("agent_id", profile.id().value(), "owner", profile.owner(),
                "agent_role", profile.role(), "capabilities", List.copyOf(profile.capabilities()),
                "description", profile.description()));
    }

    /** An agent deleted by the user {@code by}, or by the pool of {@code by} that ran it. */
    void agentDeleted(AgentId agent, String by) {
        record(Stream.AGENT_ACTIVITY, "deleted", Map.of("agent_id", agent.value(), "by", by));
    }

    // The message_audit_ lines, whichever path (REST, the seed's, SSE, WebSocket) the message took.
    // Each checks enabled() before it builds anything: they are on the hot paths.

    /** An accepted send; a duplicate is not a new message. */
    void sent(SendRequest request, SendResult result) {
        if (!enabled() || result.duplicate()) {
            return;
        }
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("message_id", result.id().toString());
        fields.put("from_agent", request.from().value());
        Views.putAddress(fields, request.to(), "to_agent");
        fields.put("message_type", request.type().name());
        fields.put("priority", request.priority().wireName());
        fields.put("recipients", result.recipients());
        if (!result.passedOver().isEmpty()) { // full inboxes a fan-out send did not reach
            fields.put("not_reached", result.passedOver().stream().map(AgentId::value).toList());
        }
        record(Stream.MESSAGE_AUDIT, "sent", fields);
    }

    /** Each of {@code deliveries}, leased to {@code agent}. */
    void delivered(AgentId agent, List<Delivery> deliveries) {
        if (enabled()) {
            deliveries.forEach(d -> record(Stream.MESSAGE_AUDIT, "delivered", Map.of("message_id", d.id().toString(),
                    "from_agent", d.message().from().value(), "to_agent", agent.value(),
                    "message_type", d.message().type().name(), "attempt", d.attempt())));
        }
    }

    /** Each message {@code agent} acked. */
    void acked(AgentId agent, List<MessageId> acked) {
        if (enabled()) {
            acked.forEach(id -> record(Stream.MESSAGE_AUDIT, "acked", Map.of("message_id", id.toString(),
                    "agent_id", agent.value())));
        }
    }

    /**
     * A message {@code agent} gave back, to be delivered again after {@code delay}, or dead-lettered
     * as it was its last delivery ({@code after}).
     */
    void nacked(AgentId agent, MessageId id, Duration delay, io.swarmbus.messaging.DeliveryStatus after) {
        if (enabled()) {
            record(Stream.MESSAGE_AUDIT, "nacked", Map.of("message_id", id.toString(), "agent_id", agent.value(),
                    "delay_seconds", delay.toMillis() / 1000.0));
            if (after == io.swarmbus.messaging.DeliveryStatus.DEAD_LETTERED) {
                deadLettered(agent, id);
            }
        }
    }

    /** A message moved to {@code agent}'s dead-letter queue after its last delivery, nacked or run out. */
    void deadLettered(AgentId agent, MessageId id) {
        if (enabled()) {
            record(Stream.MESSAGE_AUDIT, "dead_lettered", Map.of("message_id", id.toString(), "agent_id", agent.value()));
        }
    }

    /** Records one event; never blocks. */
    void record(Stream stream, String event, Map<String, Object> fields) {
        if (!enabled()) {
            return;
        }
        Map<String, Object> line = new LinkedHashMap<>(fields);
        line.put("event", event);
        line.put("timestamp", clock.instant().toString());
        if (!queue.offer(new Entry(stream, line))) {
            dropped.increment();
        }
    }

    long dropped() {
        return dropped.sum();
    }

    private void writeLoop() {
        try {
            for (Entry entry = queue.take(); entry != STOP; entry = queue.take()) {
                try {
                    unflushed++;
                    write(entry);
                    if (queue.isEmpty()) {
                        for (OpenFile f : files.values()) {
                            f.writer().flush();
                        }
                        unflushed = 0;
                        if (failing) {
                            failing = false;
                            LOG.info("audit log writes to {} again", dir);
                        }
                    }
                } catch (IOException e) {
                    dropped.add(unflushed); // this record and every one buffered with it
                    unflushed = 0;
                    discardFiles();
                    if (!failing) {
                        failing = true;
                        LOG.error("audit log cannot write to {}; records are dropped until it can", dir, e);
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            try {
                closeFiles();
            } catch (IOException e) {
                LOG.warn("cannot close the audit files", e);
            }
        }
    }

    private void write(Entry entry) throws IOException {
        LocalDate today = LocalDate.now(clock.withZone(ZoneOffset.UTC));
        if (!today.equals(day)) {
            closeFiles();
            day = today;
            deleteExpired();
        }
        if (clock.millis() - filesCheckedAt >= 1000) {
            filesCheckedAt = clock.millis();
            if (files.keySet().stream().anyMatch(stream -> !Files.exists(file(stream)))) {
                closeFiles(); // moved or deleted, the directory perhaps with them: opened again below
            }
        }
        OpenFile open = files.get(entry.stream());
        if (open == null) {
            open = open(entry.stream());
            files.put(entry.stream(), open);
        }
        Writer w = open.writer();
        try {
            w.write(RequestBody.MAPPER.writeValueAsString(entry.fields()));
        } catch (JsonProcessingException e) {
            throw new IOException(e);
        }
        w.write('\n');
    }

    private Path file(Stream stream) {
        return dir.resolve(stream.prefix + day + ".jsonl");
    }

    private OpenFile open(Stream stream) throws IOException {
        Files.createDirectories(dir);
        Path path = file(stream);
        boolean torn = Files.isRegularFile(path) && Files.size(path) > 0 && lastByte(path) != '\n';
        java.io.OutputStream out = Files.newOutputStream(path, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        Writer writer = new java.io.BufferedWriter(new java.io.OutputStreamWriter(out, StandardCharsets.UTF_8));
        if (torn) {
            writer.write('\n'); // a line cut short by a failed write ends there, not inside the next record
        }
        return new OpenFile(writer, out);
    }

    private static int lastByte(Path path) throws IOException {
        try (java.nio.channels.SeekableByteChannel channel = Files.newByteChannel(path)) {
            java.nio.ByteBuffer last = java.nio.ByteBuffer.allocate(1);
            channel.position(channel.size() - 1).read(last);
            return last.get(0);
        }
    }

    /** Flushes and closes the open files. */
    private void closeFiles() throws IOException {
        try {
            for (OpenFile f : files.values()) {
                f.writer().close();
            }
        } finally {
            discardFiles(); // whatever the flush above did not write
        }
    }

    /** Closes the open files without writing what their buffers hold: writing them just failed. */
    private void discardFiles() {
        for (OpenFile f : files.values()) {
            try {
                f.out().close();
            } catch (IOException e) {
                // already failing; the failure is logged once by the write loop
            }
        }
        files.clear();
    }

    /** Deletes audit files whose date is older than the retention. */
    void deleteExpired() {
        LocalDate oldest = LocalDate.now(clock.withZone(ZoneOffset.UTC)).minusDays(retentionDays);
        try (java.util.stream.Stream<Path> files = Files.list(dir)) {
            files.filter(f -> dateOf(f).map(d -> d.isBefore(oldest)).orElse(false)).forEach(f -> {
                try {
                    Files.deleteIfExists(f);
                } catch (IOException e) {
                    LOG.warn("cannot delete old audit file {}", f, e);
                }
            });
        } catch (IOException e) {
            LOG.warn("cannot list audit directory {}", dir, e);
        }
    }

    private static java.util.Optional<LocalDate> dateOf(Path file) {
        String name = file.getFileName().toString();
        for (Stream stream : Stream.values()) {
            if (name.startsWith(stream.prefix) && name.endsWith(".jsonl")) {
                try {
                    return java.util.Optional.of(LocalDate.parse(name.substring(stream.prefix.length(),
                            name.length() - ".jsonl".length())));
                } catch (java.time.format.DateTimeParseException e) {
                    return java.util.Optional.empty();
                }
            }
        }
        return java.util.Optional.empty();
    }

    /** Writes what is queued and closes the files. */
    @Override
    public void close() {
        if (writer == null) {
            return;
        }
        try {
            queue.put(STOP);
            writer.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
