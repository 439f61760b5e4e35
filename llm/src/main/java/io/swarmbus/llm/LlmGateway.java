package io.swarmbus.llm;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.llm.route.Admission;
import io.swarmbus.llm.route.Backend;
import io.swarmbus.llm.route.LlmCall;
import io.swarmbus.llm.route.RoutingStrategy;
import io.swarmbus.llm.route.Strategies;
import io.swarmbus.llm.upstream.UpstreamClient;
import io.swarmbus.llm.upstream.UpstreamResponse;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The LLM gateway: takes an OpenAI-style request, admits it to a backend chosen by the route's
 * strategy ({@link Admission}), and passes the answer through, streamed chunk by chunk when asked.
 * A connect error, timeout, 5xx or 429 from a backend counts against it and the request is retried
 * on another backend, then on the model's fallbacks; never once a byte has reached the client.
 * Token usage and cost are recorded per agent (and its registration), task, key, backend and model.
 */
public final class LlmGateway implements AutoCloseable {
    private static final Map<String, String> JSON_CONTENT = Map.of("Content-Type", "application/json");
    private static final byte[] NO_BODY = new byte[0];
    private static final Duration HEALTH_TIMEOUT = Duration.ofSeconds(2);

    /** How often waiting calls are looked at again as backends' rpm/tpm windows move. */
    private static final Duration RATE_WINDOW_TICK = Duration.ofMillis(200);

    private final GatewaySettings settings;
    private final List<Backend> backends = new ArrayList<>();
    private final Admission admission;
    private final UpstreamClient upstream = new UpstreamClient(Duration.ofSeconds(5));
    private final UsageLedger usage = new UsageLedger();
    private final Quotas quotas;
    private final AtomicBoolean open = new AtomicBoolean(true);
    private final Thread healthChecker;
    private volatile long nextCheckNanos; // System.nanoTime() of the next health check
    private volatile boolean dirty; // usage changed since the state file was last written
    /** Model → Unix seconds when the gateway first learned of it: from the configuration or a backend's list. */
    private final Map<String, Long> learnedAt = new ConcurrentHashMap<>();
    /** Model → the {@code created} a backend's {@code /v1/models} gave for it, where one did. */
    private final Map<String, Long> listedCreated = new ConcurrentHashMap<>();

    /** The part of the answer the client sees; the server writes it to its HTTP response. */
    public interface Sink {
        /** Called once, before any bytes: the status and content type to answer with. */
        void start(int status, String contentType) throws IOException;

        /** Writes and flushes; throws if the client went away. */
        void write(byte[] bytes) throws IOException;

        /**
         * The backend broke off an answer already started: the sink must end it as a failure (say,
         * by aborting the connection), so the client cannot take it for a complete answer.
         */
        void cut(String reason);

        /** A whole answer at once, instead of {@link #start} and {@link #write}: sent with its length. */
        default void answer(int status, String contentType, byte[] body) throws IOException {
            start(status, contentType);
            write(body);
        }
    }

    /**
     * One request.
     *
     * @param path {@code /v1/chat/completions}, {@code /v1/completions} or {@code /v1/embeddings}
     * @param body the request body (the gateway may set {@code model} and {@code stream_options})
     * @param agent the calling agent (or principal), for fairness, limits and accounting
     * @param registration the agent id's registration the call is made in (its owner and since
     *     when, or the principal using an id no one registered): an agent's limits and the usage
     *     its owner sees are those of its current registration ({@link UsageLedger#record})
     * @param task the task the call is made for, for accounting; may be null
     * @param key the principal (user or API key) the usage is billed to
     * @param priority 0–3
     * @param deadlineNanos {@link System#nanoTime} by which it must be admitted to a backend
     * @param traceparent the W3C trace the call belongs to, passed on to the backend; may be null
     */
    public record Request(String path, CallBody body, String agent, String registration, String task, String key,
            int priority, long deadlineNanos, String traceparent) {}

    /** A model as {@code GET /v1/models} lists it: {@code created} in Unix seconds. */
    public record Model(String id, long created) {}

    /** A request that could not be answered; nothing was written to the client. */
    public static final class Refused extends Exception {
        private final int status;
        private final String type;
        private final String code;
        private final long retryAfterSeconds;

        public Refused(int status, String type, String code, String message, long retryAfterSeconds) {
            super(message);
            this.status = status;
            this.type = type;
            this.code = code;
            this.retryAfterSeconds = retryAfterSeconds;
        }

        public int status() {
            return status;
        }

        public String type() {
            return type;
        }

        public String code() {
            return code;
        }

        /** Seconds a client should wait before retrying; 0 when retrying would not help. */
        public long retryAfterSeconds() {
            return retryAfterSeconds;
        }
    }

    public LlmGateway(GatewaySettings settings) {
        this.settings = settings;
        this.quotas = new Quotas(settings.quotas(), Clock.systemUTC());
        restoreState();
        for (BackendSpec spec : settings.backends()) {
            backends.add(new Backend(spec, backends.size()));
        }
        Map<String, RoutingStrategy> routes = new java.util.HashMap<>();
        settings.routeStrategies().forEach((model, name) -> routes.put(model, Strategies.named(name)));
        this.admission = new Admission(backends, Strategies.named(settings.strategy()), routes, settings.maxQueue());
        learned(models());
        checkHealth();
        nextCheckNanos = System.nanoTime() + settings.healthInterval().toNanos();
        this.healthChecker = Thread.ofVirtual().name("swarmbus-llm-health").start(this::healthLoop);
    }

    public List<Backend> backends() {
        return List.copyOf(backends);
    }

    public UsageLedger usage() {
        return usage;
    }

    public Quotas quotas() {
        return quotas;
    }

    public int queued() {
        return admission.queued();
    }

    public GatewaySettings settings() {
        return settings;
    }

    /** Every model a backend serves now, and every fallback alias. */
    public Set<String> models() {
        Set<String> models = new TreeSet<>(settings.fallbacks().keySet());
        backends.forEach(b -> models.addAll(b.models()));
        return models;
    }

    /** {@link #models}, each with when it was created, for {@code GET /v1/models}. */
    public List<Model> modelList() {
        return models().stream().map(this::described).toList();
    }

    /**
     * One of {@link #models}, for {@code GET /v1/models/{model}}; refused as a call naming it
     * would be when there is no such model.
     */
    public Model model(String id) throws Refused {
        if (!models().contains(id)) {
            throw notServed(id);
        }
        return described(id);
    }

    /**
     * {@code created}: the backend's own where its list gave one, else when the gateway learned of
     * the model. Never 0, which clients show as 1970.
     */
    private Model described(String id) {
        Long created = listedCreated.get(id);
        return new Model(id, created != null ? created : learnedAt.getOrDefault(id, nowSeconds()));
    }

    private void learned(Set<String> models) {
        long now = nowSeconds();
        models.forEach(id -> learnedAt.putIfAbsent(id, now));
    }

    private static long nowSeconds() {
        return System.currentTimeMillis() / 1000;
    }

    /**
     * Answers {@code request} into {@code sink}. Returns normally once the answer (or a backend's
     * own 4xx) was written, or the client went away mid-answer; throws {@link Refused} when nothing
     * was written.
     */
    public void handle(Request request, Sink sink) throws Refused, InterruptedException {
        CallBody body = request.body();
        String asked = body.model();
        if (asked.isEmpty()) {
            throw new Refused(400, "invalid_request_error", null, "'model' is required", 0);
        }
        List<String> models = new ArrayList<>();
        models.add(asked);
        models.addAll(settings.fallbacks().getOrDefault(asked, List.of()));
        if (models.stream().noneMatch(this::served)) {
            throw notServed(asked);
        }
        quotas.admit(request.agent(), request.registration(), request.key(), System.nanoTime());
        boolean stream = body.stream();
        boolean clientWantsUsage = body.includeUsage();
        boolean usageAdded = stream && !clientWantsUsage;
        if (usageAdded) {
            // Ask every stream for its usage, so it is accounted; strip it again if the client did not ask.
            ObjectNode tree = body.tree();
            JsonNode options = tree.get("stream_options");
            (options instanceof ObjectNode given ? given : tree.putObject("stream_options")).put("include_usage", true);
        }
        boolean readsPrompt = false; // splitting the prompt costs: only for strategies that read the words
        for (String model : models) {
            readsPrompt |= admission.strategyFor(model).readsPrompt();
        }
        LlmCall call = new LlmCall(asked, request.agent(), request.priority(),
                readsPrompt ? PromptText.words(body.tree()) : List.of(), request.deadlineNanos());
        Refused last = null;
        for (String model : models) {
            if (!served(model)) {
                continue;
            }
            byte[] bytes;
            if (body.received() != null && model.equals(asked) && !usageAdded) {
                bytes = body.received(); // unchanged: no need to write it out again
            } else {
                bytes = body.tree().put("model", model).toString().getBytes(StandardCharsets.UTF_8);
            }
            Set<Backend> tried = new HashSet<>();
            for (int attempt = 0; attempt <= settings.retries(); attempt++) {
                Backend backend;
                try {
                    backend = admission.acquire(call.withModel(model), tried);
                } catch (Admission.Rejected r) {
                    Refused refused = refused(r);
                    if (r.reason() == Admission.Rejected.Reason.QUEUE_FULL
                            || r.reason() == Admission.Rejected.Reason.TIMEOUT) {
                        throw refused; // waiting again elsewhere would only wait longer
                    }
                    last = last != null && r.reason() == Admission.Rejected.Reason.NO_BACKEND ? last : refused;
                    break; // next model
                }
                tried.add(backend);
                try {
                    Outcome outcome = attempt(backend, request, model, bytes, stream, clientWantsUsage, sink);
                    if (outcome.answered()) {
                        return;
                    }
                    last = outcome.refused();
                } finally {
                    admission.release(backend);
                }
            }
        }
        throw last != null ? last : new Refused(503, "server_error", null, "no backend could answer", 1);
    }

    private boolean served(String model) {
        return backends.stream().anyMatch(b -> b.models().contains(model));
    }

    /**
     * The refusal of a model no backend lists: 404 once every backend's models are known. A
     * backend given by URL that has not answered {@code /v1/models} yet (down since the gateway
     * started, say) may serve it, so until then 503, to be retried after the next health check,
     * which learns its models as soon as it answers: a client must not take the model for unknown
     * because a backend was late.
     */
    private Refused notServed(String asked) {
        List<String> unknown = backends.stream().filter(b -> !b.modelsKnown()).map(Backend::name).toList();
        if (unknown.isEmpty()) {
            return new Refused(404, "invalid_request_error", "model_not_found", "model '" + asked
                    + "' is not served by any backend; models: " + models(), 0);
        }
        long seconds = Math.max(1, (nextCheckNanos - System.nanoTime() + 999_999_999L) / 1_000_000_000L);
        return new Refused(503, "server_error", "no_healthy_backend", "no backend is available yet for model '"
                + asked + "': no healthy backend lists it, and what " + unknown + " serve is not known until they "
                + "answer GET /v1/models; models: " + models(), seconds);
    }

    /** Either answered (something was written, or need not be retried), or refused and worth retrying. */
    private record Outcome(boolean answered, Refused refused) {}

    private Outcome attempt(Backend backend, Request request, String model, byte[] body, boolean stream,
            boolean clientWantsUsage, Sink sink) {
        long started = System.nanoTime();
        UpstreamResponse response;
        try {
            response = upstream.send("POST", backend.endpoint(request.path()), headers(backend, request.traceparent()), body,
                    settings.requestTimeout());
        } catch (SocketTimeoutException e) {
            backend.failed(System.nanoTime(), false);
            return retry(backend, "timed out");
        } catch (IOException e) {
            if (Thread.currentThread().isInterrupted()) {
                return new Outcome(true, null); // shutting down
            }
            backend.failed(System.nanoTime(), e instanceof ConnectException);
            return retry(backend, "failed: " + e);
        }
        int status = response.status();
        try (response) {
            InputStream in = response.body();
            if (status >= 500 || status == 429) {
                backend.failed(System.nanoTime(), false);
                return retry(backend, "answered " + status + ": " + errorText(in));
            }
            backend.answered(System.nanoTime(), System.nanoTime() - started);
            String contentType = response.header("Content-Type").orElse("application/json");
            if (stream && status == 200) {
                return relayStream(backend, request, model, in, body.length, clientWantsUsage, sink);
            }
            byte[] answer = in.readAllBytes();
            if (status == 200) {
                account(backend, request, model, usageOf(answer));
            }
            try {
                sink.answer(status, contentType, answer);
            } catch (IOException clientGone) {
                // nothing to do: the answer was complete upstream
            }
            return new Outcome(true, null);
        } catch (IOException e) {
            backend.failed(System.nanoTime(), false);
            return retry(backend, "broke off its answer: " + e);
        }
    }

    private static String errorText(InputStream in) {
        try {
            return new String(in.readNBytes(2_000), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(unreadable: " + e.getMessage() + ")";
        }
    }

    /** A call's headers to a backend: its key, and the caller's trace so that the backend's spans join it. */
    private static Map<String, String> headers(Backend backend, String traceparent) {
        Map<String, String> headers = new java.util.HashMap<>(JSON_CONTENT);
        backend.spec().apiKey().ifPresent(key -> headers.put("Authorization", "Bearer " + key));
        if (traceparent != null) {
            headers.put("traceparent", traceparent);
        }
        return headers;
    }

    /**
     * Passes server-sent events through one by one. Until the first event reaches the client a
     * failure is retried elsewhere; after that the stream ends where the backend broke off, and
     * the backend is charged a failure. A client that goes away closes the upstream stream, which
     * cancels the backend's generation.
     */
    private Outcome relayStream(Backend backend, Request request, String model, InputStream in, int bodyBytes,
            boolean clientWantsUsage, Sink sink) {
        boolean started = false;
        boolean done = false;
        int events = 0; // relayed, for an estimate of the usage when the stream ends before its usage chunk
        StringBuilder event = new StringBuilder();
        Tokens usageSeen = null;
        BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        try {
            for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                if (!line.isEmpty()) {
                    event.append(line).append('\n');
                    continue;
                }
                if (event.isEmpty()) {
                    continue;
                }
                String text = event.toString();
                event.setLength(0);
                done |= text.startsWith("data: [DONE]");
                boolean usageOnly = false;
                if (text.contains("\"usage\"")) {
                    JsonNode chunk = parseData(text);
                    if (chunk != null && chunk.path("usage").isObject()) {
                        usageSeen = Tokens.of(chunk.get("usage"));
                        usageOnly = chunk.path("choices").isEmpty();
                    }
                }
                if (usageOnly && !clientWantsUsage) {
                    continue;
                }
                try {
                    if (!started) {
                        sink.start(200, "text/event-stream");
                        started = true;
                    }
                    sink.write((text + "\n").getBytes(StandardCharsets.UTF_8));
                    events++;
                } catch (IOException e) {
                    throw new ClientGone(e);
                }
            }
        } catch (ClientGone e) {
            account(backend, request, model, Tokens.seenOrEstimated(usageSeen, bodyBytes, events));
            return new Outcome(true, null); // closing `in` (by the caller) cancels the upstream request
        } catch (IOException e) {
            backend.failed(System.nanoTime(), false);
            if (!started) {
                return retry(backend, "broke off its stream: " + e);
            }
            account(backend, request, model, Tokens.seenOrEstimated(usageSeen, bodyBytes, events));
            sink.cut("backend '" + backend.name() + "' broke off its stream: " + e);
            return new Outcome(true, null);
        }
        if (!started) {
            account(backend, request, model, usageSeen);
            return retry(backend, "ended its stream without an event");
        }
        account(backend, request, model, Tokens.seenOrEstimated(usageSeen, bodyBytes, events));
        if (!done) {
            backend.failed(System.nanoTime(), false);
            sink.cut("backend '" + backend.name() + "' ended its stream before [DONE]");
        }
        return new Outcome(true, null);
    }

    /** A sink write failed: the client is gone. */
    private static final class ClientGone extends IOException {
        ClientGone(IOException cause) {
            super(cause);
        }
    }

    private static JsonNode parseData(String event) {
        for (String line : event.split("\n")) {
            if (line.startsWith("data:")) {
                try {
                    return OpenAiWire.JSON.readTree(line.substring(5).trim());
                } catch (IOException e) {
                    return null;
                }
            }
        }
        return null;
    }

    /** The tokens a call used, from its answer's {@code usage}. */
    private record Tokens(int prompt, int completion) {
        static Tokens of(JsonNode usage) {
            return usage == null || !usage.isObject() ? null
                    : new Tokens(usage.path("prompt_tokens").asInt(0), usage.path("completion_tokens").asInt(0));
        }

        /**
         * The usage a stream reported, or, for one that ended before its usage chunk (the client
         * hung up, the backend broke off), an estimate: about four bytes of request a prompt token,
         * and a token an event relayed. Counted rather than nothing, or hanging up early would
         * dodge token limits and budgets.
         */
        static Tokens seenOrEstimated(Tokens seen, int requestBytes, int events) {
            return seen != null ? seen : new Tokens((requestBytes + 3) / 4, events);
        }
    }

    /** The answer's top-level {@code usage}, read off the parser without building a tree of anything. */
    private static Tokens usageOf(byte[] answer) {
        try (JsonParser parser = OpenAiWire.JSON.createParser(answer)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String name = parser.currentName();
                JsonToken value = parser.nextToken();
                if (name.equals("usage")) {
                    return value == JsonToken.START_OBJECT ? tokens(parser) : null;
                }
                parser.skipChildren();
            }
            return null;
        } catch (IOException e) {
            return null;
        }
    }

    /** The counts of a {@code usage} object whose start the parser is at. */
    private static Tokens tokens(JsonParser parser) throws IOException {
        int prompt = 0;
        int completion = 0;
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            String name = parser.currentName();
            JsonToken value = parser.nextToken();
            if (value == JsonToken.VALUE_NUMBER_INT && name.equals("prompt_tokens")) {
                prompt = parser.getIntValue();
            } else if (value == JsonToken.VALUE_NUMBER_INT && name.equals("completion_tokens")) {
                completion = parser.getIntValue();
            } else {
                parser.skipChildren();
            }
        }
        return new Tokens(prompt, completion);
    }

    private void account(Backend backend, Request request, String model, Tokens tokens) {
        if (tokens == null) {
            return;
        }
        int prompt = tokens.prompt();
        int completion = tokens.completion();
        backend.used(System.nanoTime(), prompt, completion);
        double cost = (prompt * backend.spec().inputCostPerMillion() + completion * backend.spec().outputCostPerMillion())
                / 1e6;
        usage.record(request.agent(), request.registration(), request.task(), request.key(), backend.name(), model,
                prompt, completion, cost);
        quotas.used(request.agent(), request.registration(), request.key(), prompt, completion, cost, System.nanoTime());
        dirty = true;
    }

    private static Outcome retry(Backend backend, String what) {
        return new Outcome(false, new Refused(502, "server_error", "backend_failed",
                "backend " + backend.name() + " " + what, 1));
    }

    private static Refused refused(Admission.Rejected r) {
        long seconds = Math.max(1, (r.retryAfterNanos() + 999_999_999L) / 1_000_000_000L);
        return switch (r.reason()) {
            case QUEUE_FULL -> new Refused(429, "rate_limit_error", "queue_full", r.getMessage(), seconds);
            case TIMEOUT -> new Refused(503, "server_error", "queue_timeout", r.getMessage(), seconds);
            case UNHEALTHY -> new Refused(503, "server_error", "no_healthy_backend", r.getMessage(), seconds);
            case NO_BACKEND -> new Refused(502, "server_error", "backend_failed", r.getMessage(), 1);
        };
    }

    // ------------------------------------------------------------------ health

    /**
     * Checks health and saves usage every {@code healthInterval}; in between, every 200 ms, hands
     * waiting calls to backends whose minute's window has moved under their rpm or tpm again (no
     * call finishing there would wake them).
     */
    private void healthLoop() {
        while (open.get()) {
            try {
                Thread.sleep(RATE_WINDOW_TICK);
            } catch (InterruptedException e) {
                return;
            }
            if (admission.queued() > 0) {
                admission.dispatch();
            }
            if (System.nanoTime() - nextCheckNanos >= 0) {
                checkHealth();
                saveState();
                nextCheckNanos = System.nanoTime() + settings.healthInterval().toNanos();
            }
        }
    }

    // ------------------------------------------------------------------ saved state

    private void restoreState() {
        Path file = settings.stateFile();
        if (file == null || !Files.exists(file)) {
            return;
        }
        try {
            JsonNode saved = OpenAiWire.JSON.readTree(file.toFile());
            usage.restore(saved.path("usage"));
            quotas.restore(saved.path("quotas"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the LLM usage file " + file + ": " + e.getMessage(), e);
        }
    }

    /** Writes usage and today's budgets when they changed: to a temporary file, then renamed over the old. */
    private synchronized void saveState() {
        Path file = settings.stateFile();
        if (file == null || !dirty) {
            return;
        }
        dirty = false;
        ObjectNode state = OpenAiWire.JSON.createObjectNode();
        state.set("usage", usage.toJson());
        state.set("quotas", quotas.toJson());
        Path temporary = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Files.write(temporary, OpenAiWire.JSON.writeValueAsBytes(state));
            Files.move(temporary, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            dirty = true; // try again next round
            System.getLogger(LlmGateway.class.getName()).log(System.Logger.Level.WARNING,
                    "cannot save LLM usage to " + file + ": " + e.getMessage());
        }
    }

    /**
     * {@code GET /v1/models} on every backend at once, at start and every {@code healthInterval}:
     * up or down, and what it serves, so a backend that was down at start is learned once it is up.
     */
    private void checkHealth() {
        List<Thread> checks = new ArrayList<>();
        for (Backend backend : backends) {
            checks.add(Thread.ofVirtual().start(() -> check(backend)));
        }
        for (Thread check : checks) {
            try {
                check.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        admission.dispatch(); // a backend that came back can take waiting requests
    }

    private void check(Backend backend) {
        Map<String, String> headers = backend.spec().apiKey().map(key -> Map.of("Authorization", "Bearer " + key))
                .orElse(Map.of());
        try (UpstreamResponse response = upstream.send("GET", backend.endpoint("/v1/models"), headers,
                NO_BODY, HEALTH_TIMEOUT)) {
            if (response.status() != 200) {
                backend.checked(false);
                return;
            }
            List<String> ids = new ArrayList<>();
            Map<String, Long> created = new java.util.HashMap<>();
            for (JsonNode model : OpenAiWire.JSON.readTree(response.body()).path("data")) {
                String id = model.path("id").asText();
                ids.add(id);
                long given = model.path("created").asLong(0);
                if (given > 0) {
                    created.put(id, given);
                }
            }
            backend.discovered(ids);
            learned(backend.models());
            for (String id : backend.models()) {
                // The earliest any backend gave: vLLM, for one, gives the time of each listing.
                Long given = created.get(id);
                if (given != null) {
                    listedCreated.merge(id, given, Math::min);
                }
            }
            backend.checked(true);
        } catch (IOException e) {
            backend.checked(false);
        }
    }

    @Override
    public void close() {
        if (open.compareAndSet(true, false)) {
            healthChecker.interrupt();
            saveState();
            upstream.close();
        }
    }
}
