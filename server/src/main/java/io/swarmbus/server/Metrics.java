package io.swarmbus.server;

import io.javalin.http.Context;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.BusStats;
import io.swarmbus.messaging.Delivery;
import io.swarmbus.messaging.InboxStats;
import io.swarmbus.messaging.MessageBus;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;
import java.util.function.ToLongFunction;

/**
 * Prometheus metrics at {@code /metrics}: the engine's counters, inbox depths (totals and the
 * deepest inbox, no per-agent labels so cardinality stays bounded), journal fsyncs, and an HTTP
 * latency histogram by method, route and status.
 */
final class Metrics {
    private static final String STARTED = "swarmbus.metrics.started";
    private static final java.util.Set<String> METHODS = java.util.Set.of("GET", "HEAD", "POST", "PUT", "DELETE",
            "PATCH", "OPTIONS", "TRACE", "CONNECT");

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final MessageBus bus;
    /** One per method, route and status: building and registering one per request was 2% of a gateway call. */
    private final Map<TimerKey, Timer> timers = new ConcurrentHashMap<>();

    private record TimerKey(String method, String route, int status) {}
    private final Timer deliveryLatency;
    private volatile InboxTotals totals = new InboxTotals(0, 0, 0, 0, 0);
    private volatile long totalsAt;

    private record InboxTotals(long pending, long leased, long delayed, long deadLetters, long deepest) {}

    Metrics(MessageBus bus) {
        this.bus = bus;
        counter("swarmbus_messages_sent", "messages accepted", BusStats::sent);
        counter("swarmbus_messages_delivered", "leases handed out, redeliveries included", BusStats::delivered);
        counter("swarmbus_messages_acked", "deliveries acknowledged", BusStats::acked);
        counter("swarmbus_messages_nacked", "deliveries given back", BusStats::nacked);
        counter("swarmbus_leases_expired", "leases that ended without an ack", BusStats::leasesExpired);
        counter("swarmbus_messages_dead_lettered", "deliveries moved to a dead-letter queue", BusStats::deadLettered);
        counter("swarmbus_messages_expired", "deliveries dropped at the end of their TTL", BusStats::expired);
        counter("swarmbus_messages_not_reached", "copies of group, topic and broadcast sends that passed over a full inbox",
                BusStats::notReached);
        counter("swarmbus_journal_fsyncs", "journal fsyncs", s -> s.journal().fsyncs());
        counter("swarmbus_journal_fsync_seconds", "time spent in fsync", s -> s.journal().fsyncNanos() / 1e9);
        counter("swarmbus_journal_slow_fsyncs", "fsyncs of 10 ms or more", s -> s.journal().slowFsyncs());
        gauge("swarmbus_inbox_pending", "messages waiting in all inboxes", InboxTotals::pending);
        gauge("swarmbus_inbox_leased", "messages leased and not yet acked", InboxTotals::leased);
        gauge("swarmbus_inbox_delayed", "messages nacked with a delay", InboxTotals::delayed);
        gauge("swarmbus_dead_letters", "messages in dead-letter queues", InboxTotals::deadLetters);
        gauge("swarmbus_inbox_depth_max", "depth of the deepest inbox", InboxTotals::deepest);
        Gauge.builder("swarmbus_agents", bus, b -> b.stats().agentInboxes()).description("agents with an inbox")
                .register(registry);
        deliveryLatency = Timer.builder("swarmbus_delivery_latency").description(
                "from a send's acceptance to its first delivery to a receiver (REST, stream or WebSocket)")
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1))
                .maximumExpectedValue(Duration.ofSeconds(60)).register(registry);
    }

    private void counter(String name, String help, ToDoubleFunction<BusStats> read) {
        FunctionCounter.builder(name, bus, b -> read.applyAsDouble(b.stats())).description(help).register(registry);
    }

    private void gauge(String name, String help, ToLongFunction<InboxTotals> read) {
        Gauge.builder(name, this, m -> read.applyAsLong(m.inboxTotals())).description(help).register(registry);
    }

    /** Sums inbox counts at most once a second, however often gauges are read. */
    private InboxTotals inboxTotals() {
        long now = System.nanoTime();
        if (now - totalsAt > 1_000_000_000L) {
            long pending = 0;
            long leased = 0;
            long delayed = 0;
            long dead = 0;
            long deepest = 0;
            for (AgentId agent : bus.inboxes()) {
                InboxStats s = bus.inboxStats(agent);
                pending += s.pending();
                leased += s.leased();
                delayed += s.delayed();
                dead += s.deadLetters();
                deepest = Math.max(deepest, s.depth());
            }
            totals = new InboxTotals(pending, leased, delayed, dead, deepest);
            totalsAt = now;
        }
        return totals;
    }

    /**
     * Records how long each first delivery waited from its send's acceptance (to the millisecond,
     * as messages are stamped); redeliveries are left out, their wait is a lease's timeout.
     */
    void delivered(List<Delivery> deliveries) {
        if (deliveries.isEmpty()) {
            return;
        }
        long now = System.currentTimeMillis();
        for (Delivery delivery : deliveries) {
            if (delivery.attempt() == 1) {
                deliveryLatency.record(Math.max(0, now - delivery.message().createdAt().toEpochMilli()),
                        TimeUnit.MILLISECONDS);
            }
        }
    }

    void start(Context ctx) {
        ctx.attribute(STARTED, System.nanoTime());
    }

    /** Records the request's latency by method, route template and status. */
    void finish(Context ctx) {
        Long started = ctx.attribute(STARTED);
        if (started == null) {
            return;
        }
        record(ctx.method().name(), HttpServer.routeOf(ctx), ctx.statusCode(), System.nanoTime() - started);
    }

    /**
     * Records one request's latency; {@code route} is a route template or "unmatched". A method
     * outside HTTP's own is counted as "other": a client may send any token there, and each new
     * one would add a histogram.
     */
    void record(String method, String route, int status, long nanos) {
        timers.computeIfAbsent(new TimerKey(METHODS.contains(method) ? method : "other", route, status), this::timer)
                .record(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
    }

    private Timer timer(TimerKey key) {
        return Timer.builder("http_server_requests")
                .description("HTTP requests by method, route and status")
                .tag("method", key.method())
                .tag("route", key.route())
                .tag("status", Integer.toString(key.status()))
                .publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1))
                .maximumExpectedValue(Duration.ofSeconds(60))
                .register(registry);
    }

    /**
     * Per LLM backend: requests, errors, tokens, in flight, latency, health; the admission queue; and
     * usage per model (tagged {@code kind} and {@code name}). Not per agent, task or key: this page
     * answers without credentials, and those names are users' own (their usage is at
     * {@code /api/v1/llm/usage}, for each caller its own).
     */
    void llm(io.swarmbus.llm.LlmGateway gateway) {
        for (io.swarmbus.llm.route.Backend b : gateway.backends()) {
            String name = b.name();
            FunctionCounter.builder("swarmbus_llm_requests", b, io.swarmbus.llm.route.Backend::requests)
                    .description("LLM requests sent to the backend").tag("backend", name).register(registry);
            FunctionCounter.builder("swarmbus_llm_errors", b, io.swarmbus.llm.route.Backend::failures)
                    .description("connect errors, timeouts, 5xx and 429 from the backend").tag("backend", name)
                    .register(registry);
            FunctionCounter.builder("swarmbus_llm_prompt_tokens", b, io.swarmbus.llm.route.Backend::promptTokens)
                    .description("prompt tokens the backend processed").tag("backend", name).register(registry);
            FunctionCounter.builder("swarmbus_llm_completion_tokens", b, io.swarmbus.llm.route.Backend::completionTokens)
                    .description("tokens the backend generated").tag("backend", name).register(registry);
            Gauge.builder("swarmbus_llm_in_flight", b, io.swarmbus.llm.route.Backend::inFlight)
                    .description("LLM requests running on the backend").tag("backend", name).register(registry);
            Gauge.builder("swarmbus_llm_ewma_latency_seconds", b, x -> x.ewmaNanos(System.nanoTime()) / 1e9)
                    .description("peak-EWMA latency to the backend's first byte").tag("backend", name).register(registry);
            Gauge.builder("swarmbus_llm_backend_healthy", b, x -> x.healthy(System.nanoTime()) ? 1 : 0)
                    .description("1 if the backend is up and not ejected").tag("backend", name).register(registry);
        }
        Gauge.builder("swarmbus_llm_queued", gateway, io.swarmbus.llm.LlmGateway::queued)
                .description("LLM requests waiting for a backend slot").register(registry);
        gateway.usage().onNewName((kind, name, usage) -> {
            if (!kind.equals("model")) {
                return; // backends are counted above; agents, tasks and keys belong to users
            }
            FunctionCounter.builder("swarmbus_llm_usage_requests", usage, io.swarmbus.llm.UsageLedger.Usage::requests)
                    .description("answered LLM requests").tag("kind", kind).tag("name", name).register(registry);
            FunctionCounter.builder("swarmbus_llm_usage_prompt_tokens", usage,
                    io.swarmbus.llm.UsageLedger.Usage::promptTokens).description("prompt tokens used")
                    .tag("kind", kind).tag("name", name).register(registry);
            FunctionCounter.builder("swarmbus_llm_usage_completion_tokens", usage,
                    io.swarmbus.llm.UsageLedger.Usage::completionTokens).description("completion tokens used")
                    .tag("kind", kind).tag("name", name).register(registry);
            FunctionCounter.builder("swarmbus_llm_usage_cost", usage, io.swarmbus.llm.UsageLedger.Usage::cost)
                    .description("cost of the tokens used, in the backends' price unit").tag("kind", kind)
                    .tag("name", name).register(registry);
        });
    }

    /** Calls on the gateway's own port that continued on a virtual thread because its pool was busy. */
    void llmPort(GatewayHandler port) {
        FunctionCounter.builder("swarmbus_llm_port_virtual_calls", port, GatewayHandler::movedToVirtualThreads)
                .description("calls on the gateway port that went on on a virtual thread, its platform pool being "
                        + "more than half busy").register(registry);
    }

    /** The scaling signal's advised backend and agent counts, computed at each scrape. */
    void scaling(java.util.function.Supplier<io.swarmbus.llm.Scaling.Advice> advice) {
        Gauge.builder("swarmbus_scaling_desired_backends", advice, a -> a.get().desiredBackends())
                .description("LLM backend replicas the load asks for").strongReference(true).register(registry);
        Gauge.builder("swarmbus_scaling_desired_agents", advice, a -> a.get().desiredAgents())
                .description("agent replicas the load asks for, within scaling.min_agents and max_agents")
                .strongReference(true).register(registry); // the supplier is held nowhere else
    }

    /** Audit records dropped: the operator's sign that the audit files have gaps. */
    void audit(AuditLog audit) {
        FunctionCounter.builder("swarmbus_audit_records_dropped", audit, AuditLog::dropped)
                .description("audit records not written: the writer fell behind, or the directory could not be written")
                .register(registry);
    }

    void scrape(Context ctx) {
        ctx.contentType("text/plain; version=0.0.4; charset=utf-8").result(text());
    }

    /** The page {@code /metrics} answers. */
    String text() {
        return registry.scrape();
    }
}
