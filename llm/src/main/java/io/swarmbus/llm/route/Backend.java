package io.swarmbus.llm.route;

import io.swarmbus.llm.BackendSpec;
import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * A backend as the router sees it now: what it serves, what runs on it, how fast it has been, and
 * whether it is healthy. Counters are updated by the gateway; decisions read them without locks.
 */
public final class Backend {
    /** Failures in a row that eject a backend. */
    static final int EJECT_AFTER_FAILURES = 3;
    static final long BASE_COOLDOWN_NANOS = 2_000_000_000L;
    static final long MAX_COOLDOWN_NANOS = 60_000_000_000L;
    /** Peak-EWMA decay time: an old latency counts e⁻¹ as much after this long. */
    static final double EWMA_DECAY_NANOS = 1_000_000_000.0;

    private final BackendSpec spec;
    private final int index;
    private volatile Set<String> models;
    /** Whether {@link #models} is what it serves: configured, or listed by it once. */
    private volatile boolean modelsKnown;
    private final Map<String, URI> endpoints = new ConcurrentHashMap<>();
    final AtomicInteger inFlight = new AtomicInteger();
    private final WindowCounter requestsPerMinute = new WindowCounter();
    private final WindowCounter tokensPerMinute = new WindowCounter();
    final LongAdder requests = new LongAdder();
    final LongAdder failures = new LongAdder();
    final LongAdder promptTokens = new LongAdder();
    final LongAdder completionTokens = new LongAdder();

    // Guarded by this.
    private double ewmaNanos;
    private long ewmaStamp;
    private int failuresInARow;
    private int ejections;
    private long ejectedUntil;
    /** After an ejection: the in-flight allowance, doubled by every success up to the maximum. */
    private int probation;
    private volatile boolean checkedUp = true;

    public Backend(BackendSpec spec, int index) {
        this.spec = spec;
        this.index = index;
        this.models = Set.copyOf(spec.models());
        this.modelsKnown = !spec.models().isEmpty();
    }

    public BackendSpec spec() {
        return spec;
    }

    public String name() {
        return spec.name();
    }

    /** The URL of {@code path} ({@code /v1/...}) on this backend; made once per path, not per call. */
    public URI endpoint(String path) {
        return endpoints.computeIfAbsent(path, p -> URI.create(spec.url() + p));
    }

    /** Position in the configuration, for stable tie-breaking. */
    public int index() {
        return index;
    }

    public Set<String> models() {
        return models;
    }

    /** Models discovered at {@code /v1/models}, used when the configuration names none. */
    public void discovered(List<String> listed) {
        if (spec.models().isEmpty()) {
            models = Set.copyOf(listed);
            modelsKnown = true;
        }
    }

    /**
     * False for a backend given by URL alone that has not yet answered {@code /v1/models}: it may
     * serve any model, so a model no other backend serves is not yet known to be unserved.
     */
    public boolean modelsKnown() {
        return modelsKnown;
    }

    public int inFlight() {
        return inFlight.get();
    }

    /** Requests in the last minute. */
    public long recentRequests(long now) {
        return requestsPerMinute.sum(now);
    }

    /** Tokens in the last minute. */
    public long recentTokens(long now) {
        return tokensPerMinute.sum(now);
    }

    /** Smoothed latency to the first response byte, in nanoseconds; 0 before the first response. */
    public synchronized double ewmaNanos(long now) {
        if (ewmaStamp == 0) {
            return 0;
        }
        // Without new samples the estimate decays: a backend that was slow once gets tried again.
        return ewmaNanos * Math.exp(-(now - ewmaStamp) / (EWMA_DECAY_NANOS * 10));
    }

    /**
     * Whether it may take another request now: healthy, not ejected, under its (probation) limit,
     * and under its {@code rpm} and {@code tpm} for the last minute, so a provider's rate limit is
     * waited for in the queue rather than met as its 429.
     */
    public synchronized boolean available(long now) {
        return checkedUp && now >= ejectedUntil && inFlight.get() < allowance()
                && (spec.rpm() == 0 || requestsPerMinute.sum(now) < spec.rpm())
                && (spec.tpm() == 0 || tokensPerMinute.sum(now) < spec.tpm());
    }

    /** Whether it is up at all (may still be busy). */
    public synchronized boolean healthy(long now) {
        return checkedUp && now >= ejectedUntil;
    }

    private int allowance() {
        return probation > 0 ? Math.min(probation, spec.maxConcurrency()) : spec.maxConcurrency();
    }

    /** Nanoseconds until an ejected backend returns; 0 when it is not ejected. */
    public synchronized long ejectedFor(long now) {
        return Math.max(0, ejectedUntil - now);
    }

    void started(long now) {
        inFlight.incrementAndGet();
        requests.increment();
        requestsPerMinute.add(now, 1);
    }

    /** The response's first byte arrived {@code latency} after the request left: a success. */
    public synchronized void answered(long now, long latencyNanos) {
        if (ewmaStamp == 0 || latencyNanos > ewmaNanos) {
            ewmaNanos = latencyNanos; // peak: jump up at once
        } else {
            double w = Math.exp(-(now - ewmaStamp) / EWMA_DECAY_NANOS);
            ewmaNanos = ewmaNanos * w + latencyNanos * (1 - w); // fast decay down
        }
        ewmaStamp = now;
        failuresInARow = 0;
        if (probation > 0) {
            probation *= 2;
            if (probation >= spec.maxConcurrency()) {
                probation = 0;
                ejections = 0;
            }
        }
    }

    /** A connect error, timeout, 5xx or 429: enough in a row eject it, each time for longer. */
    public synchronized void failed(long now, boolean hard) {
        failures.increment();
        failuresInARow++;
        if (hard || failuresInARow >= EJECT_AFTER_FAILURES) {
            long cooldown = Math.min(MAX_COOLDOWN_NANOS, BASE_COOLDOWN_NANOS << Math.min(ejections, 5));
            ejectedUntil = now + cooldown;
            ejections++;
            failuresInARow = 0;
            probation = 1;
        }
    }

    /** Tokens used by a finished request, for rpm/tpm headroom and accounting. */
    public void used(long now, int prompt, int completion) {
        promptTokens.add(prompt);
        completionTokens.add(completion);
        tokensPerMinute.add(now, prompt + completion);
    }

    void finished() {
        inFlight.decrementAndGet();
    }

    /** The outcome of an active health check. */
    public void checked(boolean up) {
        checkedUp = up;
    }

    public long requests() {
        return requests.sum();
    }

    public long failures() {
        return failures.sum();
    }

    public long promptTokens() {
        return promptTokens.sum();
    }

    public long completionTokens() {
        return completionTokens.sum();
    }
}
