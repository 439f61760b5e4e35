package io.swarmbus.messaging;

import io.swarmbus.SwarmbusException;
import java.util.Locale;

/** How urgent a message is; inboxes deliver higher priorities first. */
public enum Priority {
    /** 0. */
    LOW,
    /** 1, the default. */
    MEDIUM,
    /** 2. */
    HIGH,
    /** 3. */
    CRITICAL;

    private static final Priority[] BY_LEVEL = values();

    /** Computed once: every delivery written names its priority. */
    private final String wireName = name().toLowerCase(Locale.ROOT);

    /** The numeric level, 0 (low) to 3 (critical). */
    public int level() {
        return ordinal();
    }

    /** The priority with numeric level 0 to 3. */
    public static Priority ofLevel(int level) {
        if (level < 0 || level >= BY_LEVEL.length) {
            throw SwarmbusException.invalid("priority", "priority " + level
                    + " is invalid: use 0-3 or low, medium, high, critical");
        }
        return BY_LEVEL[level];
    }

    /** Parses a name (any case) or a level written as digits. */
    public static Priority parse(String text) {
        if (text != null && text.length() == 1 && Character.isDigit(text.charAt(0))) {
            return ofLevel(text.charAt(0) - '0');
        }
        try {
            return valueOf(String.valueOf(text).toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw SwarmbusException.invalid("priority", "priority '" + text
                    + "' is invalid: use 0-3 or low, medium, high, critical");
        }
    }

    /** The lower-case name used on the wire. */
    public String wireName() {
        return wireName;
    }
}
