package io.swarmbus.server;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * A token bucket per principal: {@code perMinute} requests a minute, refilled continuously, with a
 * burst of one minute's worth. A bucket left alone for a minute is full again, no different from
 * none, so buckets idle that long are dropped (looked for at most once a minute): the map holds
 * only the keys seen lately, however many addresses and users a server sees over its life.
 */
final class RateLimiter {
    /** An empty bucket refills whole in this long, whatever the rate. */
    private static final long REFILL_NANOS = 60_000_000_000L;

    private final double perNano;
    private final double capacity;
    private final LongSupplier nanoTime;
    private final ConcurrentHashMap<String, Bucket> buckets = new ConcurrentHashMap<>();
    /** When idle buckets were last dropped. */
    private final AtomicLong lastSweep;

    private static final class Bucket {
        double tokens;
        long updated;
        /** Dropped from the map: a caller that got it just before must take from its successor. */
        boolean dropped;

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
        this.lastSweep = new AtomicLong(nanoTime.getAsLong());
    }

    /** Takes one token; returns 0 if allowed, otherwise the seconds to wait before retrying. */
    long acquire(String principal) {
        return take(principal, true);
    }

    /** Like {@link #acquire}, but takes nothing: whether a token is there now. */
    long check(String principal) {
        return take(principal, false);
    }

    /** How many keys have a bucket now. */
    int size() {
        return buckets.size();
    }

    private long take(String principal, boolean consume) {
        long now = nanoTime.getAsLong();
        sweepIfDue(now);
        while (true) {
            Bucket bucket = buckets.computeIfAbsent(principal, p -> new Bucket(capacity, now));
            synchronized (bucket) {
                if (bucket.dropped) {
                    continue; // swept since it was looked up: a token taken from it would be forgotten
                }
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

    /** Drops the buckets that have refilled whole, once a minute at most, on the call that finds it due. */
    private void sweepIfDue(long now) {
        long last = lastSweep.get();
        if (now - last < REFILL_NANOS || !lastSweep.compareAndSet(last, now)) {
            return;
        }
        for (Map.Entry<String, Bucket> entry : buckets.entrySet()) {
            Bucket bucket = entry.getValue();
            synchronized (bucket) {
                if (now - bucket.updated >= REFILL_NANOS) {
                    bucket.dropped = true;
                    buckets.remove(entry.getKey(), bucket);
                }
            }
        }
    }
}
