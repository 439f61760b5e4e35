package io.swarmbus.messaging;

/**
 * The character rule shared by agent ids and group and topic names, checked with a loop rather
 * than a regular expression: every message names at least two of them, and the regular
 * expression was 4% of the server's CPU under load (docs/benchmarks.md, W2).
 */
final class Names {
    private Names() {}

    /** Whether {@code value} has 1 to 128 letters, digits, {@code _ . : @ -}, and the {@code extra} characters. */
    static boolean valid(String value, String extra) {
        if (value == null || value.isEmpty() || value.length() > 128) {
            return false;
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            boolean allowed = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
                    || "_.:@-".indexOf(c) >= 0 || extra.indexOf(c) >= 0;
            if (!allowed) {
                return false;
            }
        }
        return true;
    }
}
