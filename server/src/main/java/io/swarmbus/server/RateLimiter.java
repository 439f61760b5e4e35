package io.swarmbus.server;

import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * A token bucket per principal: {@code perMinute} requests a minute, refilled continuously, with a
 * burst of one minute's worth.
 */
final class RateLimiter {
    private final double perNano;
    private final double capacity;
    private final LongSupplier nanoTime;
    private final ConcurrentHashMap<String, Bucket> buckets = new ConcurrentHashMap<>();

    private static final class Bucket {
        double tokens;
        long updated;

        Bucket(double tokens, long updated) {
            this.tokens = tokens;
            this.updated = updated;
        }
    }

    RateLimiter(int perMinute, LongSupplier nanoTime) {
        if (perMinute < 1) {
            throw new IllegalArgumentException("RATE_LIMIT_PER_MINUTE must be at least 1, was " + perMinute);
        }
        this.perNano = perMinute / 60e9;
        this.capacity = perMinute;
        this.nanoTime = nanoTime;
    }

    /** Takes one token; returns 0 if allowed, otherwise the seconds to wait before retrying. */
    long acquire(String principal) {
        return take(principal, true);
    }

    /** Like {@link #acquire}, but takes nothing: whether a token is there now. */
    long check(String principal) {
        return take(principal, false);
    }

    private long take(String principal, boolean consume) {
        long now = nanoTime.getAsLong();
        Bucket bucket = buckets.computeIfAbsent(principal, p -> new Bucket(capacity, now));
        synchronized (bucket) {
            bucket.tokens = Math.min(capacity, bucket.tokens + (now - bucket.updated) * perNano);
            bucket.updated = now;
            if (bucket.tokens >= 1) {
                if (consume) {
                    bucket.tokens -= 1;
                }
                return 0;
            }
            return (long) Math.ceil((1 - bucket.tokens) / perNano / 1e9);
        }
    }
}
