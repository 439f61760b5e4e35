package io.swarmbus.tasks;

import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.Priority;
import io.swarmbus.registry.SelectionStrategy;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** The durable form of a task: a version byte, then the fields in order; long texts length-prefixed. */
final class TaskCodec {
    private static final byte VERSION = 3; // 3 added the traceparent, 2 candidates; 1 and 2 are still read

    private TaskCodec() {}

    static byte[] encode(Task task) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(512);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            TaskSpec spec = task.spec();
            // Untraced tasks keep the older form, which the builds before the traceparent can read.
            out.writeByte(spec.traceparent().isPresent() ? VERSION : 2);
            out.writeUTF(task.id());
            out.writeUTF(spec.type());
            text(out, spec.description());
            text(out, spec.parameters());
            out.writeInt(spec.requiredCapabilities().size());
            for (String capability : spec.requiredCapabilities()) {
                out.writeUTF(capability);
            }
            out.writeByte(spec.priority().level());
            out.writeLong(spec.timeout().toMillis());
            out.writeInt(spec.maxRetries());
            optional(out, spec.parentId());
            optional(out, spec.createdBy().map(AgentId::value));
            out.writeUTF(spec.strategy().name());
            out.writeUTF(spec.owner());
            out.writeUTF(task.status().name());
            optional(out, task.assignee().map(AgentId::value));
            out.writeInt(task.attempts());
            out.writeInt(task.failedBy().size());
            for (AgentId agent : task.failedBy()) {
                out.writeUTF(agent.value());
            }
            out.writeInt(task.progress());
            out.writeBoolean(task.result().isPresent());
            if (task.result().isPresent()) {
                text(out, task.result().get());
            }
            out.writeBoolean(task.error().isPresent());
            if (task.error().isPresent()) {
                text(out, task.error().get());
            }
            out.writeLong(task.createdAt().toEpochMilli());
            out.writeLong(task.assignedAt().map(Instant::toEpochMilli).orElse(-1L));
            out.writeLong(task.finishedAt().map(Instant::toEpochMilli).orElse(-1L));
            out.writeInt(spec.candidates().size());
            for (AgentId candidate : spec.candidates()) {
                out.writeUTF(candidate.value());
            }
            if (spec.traceparent().isPresent()) {
                optional(out, spec.traceparent());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    static Task decode(byte[] bytes) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
            byte version = in.readByte();
            if (version < 1 || version > VERSION) {
                throw new IllegalStateException("unknown task record version " + version);
            }
            String id = in.readUTF();
            String type = in.readUTF();
            String description = text(in);
            String parameters = text(in);
            Set<String> capabilities = new LinkedHashSet<>();
            for (int n = in.readInt(); n > 0; n--) {
                capabilities.add(in.readUTF());
            }
            Priority priority = Priority.ofLevel(in.readByte());
            Duration timeout = Duration.ofMillis(in.readLong());
            int maxRetries = in.readInt();
            Optional<String> parent = optional(in);
            Optional<AgentId> createdBy = optional(in).map(AgentId::of);
            SelectionStrategy strategy = SelectionStrategy.valueOf(in.readUTF());
            String owner = in.readUTF();
            TaskStatus status = TaskStatus.valueOf(in.readUTF());
            Optional<AgentId> assignee = optional(in).map(AgentId::of);
            int attempts = in.readInt();
            List<AgentId> failedBy = new ArrayList<>();
            for (int n = in.readInt(); n > 0; n--) {
                failedBy.add(AgentId.of(in.readUTF()));
            }
            int progress = in.readInt();
            Optional<String> result = in.readBoolean() ? Optional.of(text(in)) : Optional.empty();
            Optional<String> error = in.readBoolean() ? Optional.of(text(in)) : Optional.empty();
            Instant createdAt = Instant.ofEpochMilli(in.readLong());
            long assignedAt = in.readLong();
            long finishedAt = in.readLong();
            Set<AgentId> candidates = new LinkedHashSet<>();
            if (version >= 2) {
                for (int n = in.readInt(); n > 0; n--) {
                    candidates.add(AgentId.of(in.readUTF()));
                }
            }
            Optional<String> traceparent = version >= 3 ? optional(in) : Optional.empty();
            TaskSpec spec = new TaskSpec(type, description, parameters, capabilities, priority, timeout, maxRetries,
                    parent, createdBy, strategy, owner, candidates, traceparent);
            return new Task(id, spec, status, assignee, attempts, List.copyOf(failedBy), progress, result, error,
                    createdAt, assignedAt < 0 ? Optional.empty() : Optional.of(Instant.ofEpochMilli(assignedAt)),
                    finishedAt < 0 ? Optional.empty() : Optional.of(Instant.ofEpochMilli(finishedAt)));
        } catch (IOException e) {
            throw new UncheckedIOException("corrupt task record", e);
        }
    }

    private static void text(DataOutputStream out, String text) throws IOException {
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        out.writeInt(utf8.length);
        out.write(utf8);
    }

    private static String text(DataInputStream in) throws IOException {
        byte[] utf8 = new byte[in.readInt()];
        in.readFully(utf8);
        return new String(utf8, StandardCharsets.UTF_8);
    }

    private static void optional(DataOutputStream out, Optional<String> value) throws IOException {
        out.writeBoolean(value.isPresent());
        if (value.isPresent()) {
            out.writeUTF(value.get());
        }
    }

    private static Optional<String> optional(DataInputStream in) throws IOException {
        return in.readBoolean() ? Optional.of(in.readUTF()) : Optional.empty();
    }
}
