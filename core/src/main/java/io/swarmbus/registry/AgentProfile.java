package io.swarmbus.registry;

import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.AgentId;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * What an agent says about itself when it registers: the durable part of its registry entry.
 *
 * @param id the agent's name, also the name of its inbox
 * @param description free text for people, at most 1,024 characters
 * @param role what it does in a swarm: {@code supervisor}, {@code worker}, {@code coordinator},
 *     {@code monitor} or any other lower-case word
 * @param capabilities what it can do, kept sorted; tasks name the capabilities they require
 * @param maxConcurrentTasks how many tasks it takes at once, 1 to 10,000
 * @param metadata string pairs for the agent's own use, at most 64
 * @param owner the user the agent belongs to; empty for the server's own agents
 */
public record AgentProfile(
        AgentId id,
        String description,
        String role,
        Set<String> capabilities,
        int maxConcurrentTasks,
        Map<String, String> metadata,
        String owner) {
    private static final Pattern ROLE = Pattern.compile("[a-z][a-z0-9_-]{0,63}");
    private static final Pattern CAPABILITY = Pattern.compile("[A-Za-z0-9_.:/+-]{1,64}");
    public static final int MAX_CAPABILITIES = 128;
    public static final int MAX_METADATA = 64;

    /** Validates every field; capabilities and metadata are kept sorted and unmodifiable. */
    public AgentProfile {
        Objects.requireNonNull(id, "id");
        description = description == null ? "" : description;
        if (description.length() > 1024) {
            throw SwarmbusException.invalid("description", "description must be at most 1024 characters");
        }
        String given = role;
        role = role == null ? "worker" : role.trim().toLowerCase(java.util.Locale.ROOT);
        if (!ROLE.matcher(role).matches()) { // quoted as given, not as lower-cased for the check
            throw SwarmbusException.invalid("role", "role must be a word of lower-case letters, digits, _ or -, "
                    + "such as supervisor, worker, coordinator or monitor; was '" + given + "'");
        }
        capabilities = java.util.Collections.unmodifiableSortedSet(
                new TreeSet<>(validCapabilities(capabilities, "capabilities")));
        if (maxConcurrentTasks < 1 || maxConcurrentTasks > 10_000) {
            throw SwarmbusException.invalid("max_concurrent_tasks", "max_concurrent_tasks must be 1 to 10000, was "
                    + maxConcurrentTasks);
        }
        metadata = metadata == null ? Map.of() : metadata;
        if (metadata.size() > MAX_METADATA) {
            throw SwarmbusException.invalid("metadata", "at most " + MAX_METADATA + " metadata entries");
        }
        metadata.forEach((key, value) -> {
            if (key == null || key.isEmpty() || key.length() > 64 || value == null || value.length() > 1024) {
                throw SwarmbusException.invalid("metadata", "metadata keys must be 1 to 64 characters and values "
                        + "strings of at most 1024");
            }
        });
        metadata = java.util.Collections.unmodifiableMap(new TreeMap<>(metadata));
        owner = owner == null ? "" : owner;
    }

    /** This profile with another owner. */
    public AgentProfile withOwner(String newOwner) {
        return new AgentProfile(id, description, role, capabilities, maxConcurrentTasks, metadata, newOwner);
    }

    /** Checks a set of capability names, as given by an agent or required by a task. */
    public static Set<String> validCapabilities(Set<String> capabilities, String field) {
        if (capabilities == null) {
            return Set.of();
        }
        if (capabilities.size() > MAX_CAPABILITIES) {
            throw SwarmbusException.invalid(field, "at most " + MAX_CAPABILITIES + " capabilities");
        }
        for (String capability : capabilities) {
            if (capability == null || !CAPABILITY.matcher(capability).matches()) {
                throw SwarmbusException.invalid(field, "capability '" + capability + "' is invalid: use 1 to 64 "
                        + "letters, digits or _ . : / + -");
            }
        }
        return capabilities;
    }
}
