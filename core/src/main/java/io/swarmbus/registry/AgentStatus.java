package io.swarmbus.registry;

import io.swarmbus.SwarmbusException;
import java.util.Locale;

/** Where an agent stands. Only {@link #ACTIVE} and {@link #IDLE} agents are given new work. */
public enum AgentStatus {
    /** Heartbeating and taking work. */
    ACTIVE,
    /** Heartbeating but, by its own report, taking no new work. */
    BUSY,
    /** Heartbeating with nothing to do. */
    IDLE,
    /** Missed heartbeats for longer than the registry's TTL, or said it is leaving. */
    OFFLINE;

    /** The lower-case name used on the wire. */
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Whether an agent in this status may be given a new task. */
    public boolean takesWork() {
        return this == ACTIVE || this == IDLE;
    }

    /** Parses a wire name, case-insensitively. */
    public static AgentStatus parse(String text) {
        try {
            return valueOf(text.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw SwarmbusException.invalid("status", "status must be active, busy, idle or offline, was '" + text + "'");
        }
    }
}
