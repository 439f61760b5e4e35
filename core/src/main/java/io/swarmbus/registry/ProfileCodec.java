package io.swarmbus.registry;

import io.swarmbus.messaging.AgentId;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/** The durable form of a profile: a version byte, then the fields in order. */
final class ProfileCodec {
    private static final byte VERSION = 1;

    private ProfileCodec() {}

    record Stored(AgentProfile profile, Instant registeredAt) {}

    static byte[] encode(AgentProfile profile, Instant registeredAt) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(256);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeByte(VERSION);
            out.writeUTF(profile.id().value());
            out.writeUTF(profile.description());
            out.writeUTF(profile.role());
            out.writeInt(profile.capabilities().size());
            for (String capability : profile.capabilities()) {
                out.writeUTF(capability);
            }
            out.writeInt(profile.maxConcurrentTasks());
            out.writeInt(profile.metadata().size());
            for (Map.Entry<String, String> entry : profile.metadata().entrySet()) {
                out.writeUTF(entry.getKey());
                out.writeUTF(entry.getValue());
            }
            out.writeLong(registeredAt.toEpochMilli());
            out.writeUTF(profile.owner());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    static Stored decode(byte[] bytes) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
            byte version = in.readByte();
            if (version != VERSION) {
                throw new IllegalStateException("unknown agent profile version " + version);
            }
            AgentId id = AgentId.of(in.readUTF());
            String description = in.readUTF();
            String role = in.readUTF();
            Set<String> capabilities = new LinkedHashSet<>();
            for (int n = in.readInt(); n > 0; n--) {
                capabilities.add(in.readUTF());
            }
            int max = in.readInt();
            Map<String, String> metadata = new LinkedHashMap<>();
            for (int n = in.readInt(); n > 0; n--) {
                metadata.put(in.readUTF(), in.readUTF());
            }
            Instant registeredAt = Instant.ofEpochMilli(in.readLong());
            String owner = in.readUTF();
            return new Stored(new AgentProfile(id, description, role, capabilities, max, metadata, owner), registeredAt);
        } catch (IOException e) {
            throw new UncheckedIOException("corrupt agent profile", e);
        }
    }
}
