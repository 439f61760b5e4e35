package io.swarmbus.server;

import io.javalin.Javalin;
import io.javalin.config.JavalinConfig;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.llm.LlmGateway;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.BusStats;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.registry.AgentInfo;
import io.swarmbus.registry.AgentProfile;
import io.swarmbus.registry.Registry;
import io.swarmbus.storage.DurableTable;
import io.swarmbus.storage.FsyncPolicy;
import io.swarmbus.tasks.TaskCoordinator;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;
import java.util.stream.Collectors;
import org.eclipse.jetty.io.ManagedSelector;
import org.eclipse.jetty.io.SocketChannelEndPoint;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP API over a {@link MessageBus}: canonical routes under {@code /api/v1}, health checks,
 * and one error shape, {@code {"error": code, "message": text, "field": optional}}, for every
 * failure. Handlers run on virtual threads; long-polls wait on futures, holding no thread.
 */
public final class HttpServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HttpServer.class);
    /** Pending connections the kernel may queue for accept; Linux caps it at net.core.somaxconn. */
    private static final int ACCEPT_BACKLOG = 4096;
    /** Where a dev server without a configured JWT secret keeps the one it made ({@link #devSecret}). */
    static final String DEV_SECRET_FILE = "dev-jwt-secret";
    /** How many agents marked offline in one tick the log names; the audit file has them all. */
    private static final int LOST_NAMED = 10;
    /** The coordinator's inbox: task messages come from it, task_response messages go to it. */
    static final AgentId TASK_INBOX = AgentId.of("swarmbus");
    /** One line per request; at DEBUG, so production logs stay quiet unless asked. */
    private static final Logger ACCESS = LoggerFactory.getLogger("io.swarmbus.access");

    private final Javalin app;
    private final Optional<String> generatedAdminPassword;
    private final Registry registry;
    private final TaskCoordinator coordinator;
    private final ScheduledExecutorService timer;
    private final java.util.concurrent.atomic.AtomicBoolean running;
    private final LlmGateway llm;
    private final ManagedAgents managed;
    private final Networks networks;
    private final Swarms swarms;
    private final Optional<ServerConnector> llmConnector;
    private final ReceiveHandler receives;
    private final StreamRoutes streams;
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

    private HttpServer(Javalin app, Optional<String> generatedAdminPassword, Registry registry,
            TaskCoordinator coordinator, ScheduledExecutorService timer,
            java.util.concurrent.atomic.AtomicBoolean running, LlmGateway llm, ManagedAgents managed, Networks networks,
            Swarms swarms, Optional<ServerConnector> llmConnector, ReceiveHandler receives, StreamRoutes streams) {
        this.llmConnector = llmConnector;
        this.receives = receives;
        this.streams = streams;
        this.app = app;
        this.llm = llm;
        this.managed = managed;
        this.networks = networks;
        this.swarms = swarms;
        this.registry = registry;
        this.coordinator = coordinator;
        this.timer = timer;
        this.running = running;
        this.generatedAdminPassword = generatedAdminPassword;
    }

    /**
     * Starts serving {@code bus}. Refuses to start outside dev mode without a strong JWT secret or
     * an RSA key.
     * Creates the first admin on first start.
     */
    public static HttpServer start(MessageBus bus, ServerSettings settings) {
        return start(bus, settings, AuditLog.off());
    }

    /** Starts serving {@code bus}, writing audit records to {@code audit}. */
    static HttpServer start(MessageBus bus, ServerSettings settings, AuditLog audit) {
        java.time.Clock clock = java.time.Clock.systemUTC();
        if (audit.enabled()) { // every send, the server's own (tasks, LLM answers, error reports) with its clients'
            bus.observeSends(audit::sent);
            bus.observeDeadLetters(audit::deadLettered);
        }
        Tokens tokens = settings.jwtPrivateKeyFile().isPresent()
                ? Tokens.rs256(settings.jwtPrivateKeyFile().get(), settings.tokenLifetime(), clock)
                : Tokens.hs256(secret(settings), settings.jwtSecretName(), settings.tokenLifetime(), clock);
        AccessStore store = AccessStore.open(settings.dataDir());
        Registry registry = Registry.open(DurableTable.open(settings.dataDir().resolve("registry"), FsyncPolicy.ALWAYS),
                clock, settings.heartbeatTtl());
        bus.createInbox(TASK_INBOX);
        bus.excludeFromBroadcast(TASK_INBOX);
        reconcile(bus, registry, store);
        TaskWorkers.Outcomes swarmOutcomes = new TaskWorkers.Outcomes();
        TaskCoordinator coordinator = TaskCoordinator.open(DurableTable.open(settings.dataDir().resolve("tasks"),
                FsyncPolicy.ALWAYS), registry, bus, clock, TASK_INBOX, task -> {
                    TaskRoutes.record(audit, task);
                    swarmOutcomes.changed(task);
                });
        Networks networks = new Networks(DurableTable.open(settings.dataDir().resolve("networks"), FsyncPolicy.ALWAYS),
                DurableTable.open(settings.dataDir().resolve("network-executions"), FsyncPolicy.ALWAYS), registry,
                coordinator, swarmOutcomes, clock);
        NetworkRoutes networkRoutes = new NetworkRoutes(networks, coordinator, clock);
        Swarms swarms = new Swarms(DurableTable.open(settings.dataDir().resolve("swarm-members"), FsyncPolicy.ALWAYS),
                registry, bus, clock);
        // Whoever deletes an agent (its user, an admin, a pool stopping a replica), it leaves its
        // swarms and networks: no coordination or execution gives it work again.
        java.util.function.Consumer<AgentId> deleted = agent -> {
            swarms.removeAgent(agent);
            networks.removeAgent(agent);
        };
        Auth auth = new Auth(store, registry, tokens, new RateLimiter(settings.rateLimitPerMinute(), System::nanoTime),
                settings.devMode());
        Metrics metrics = new Metrics(bus);
        if (audit.enabled()) {
            metrics.audit(audit);
        }
        MessageRoutes messages = new MessageRoutes(bus, registry, auth, audit);
        SwarmRoutes swarmRoutes = new SwarmRoutes(swarms, networks, auth, coordinator, clock);
        MembershipRoutes members = new MembershipRoutes(bus, auth);
        AgentRoutes agents = new AgentRoutes(bus, registry, auth, audit, deleted);
        TaskRoutes taskRoutes = new TaskRoutes(coordinator, bus, auth, audit);
        java.util.concurrent.atomic.AtomicBoolean running = new java.util.concurrent.atomic.AtomicBoolean(true);
        Thread.ofVirtual().name("swarmbus-task-inbox").start(() -> taskRoutes.readInbox(running));
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().daemon().name("swarmbus-liveness").factory());
        // Often enough for task timeouts to the second, and for a TTL of a few seconds.
        long tickMillis = Math.max(100, Math.min(1000, settings.heartbeatTtl().toMillis() / 4));
        timer.scheduleAtFixedRate(() -> tick(coordinator, audit), tickMillis, tickMillis, TimeUnit.MILLISECONDS);
        LlmGateway llm = new LlmGateway(settings.llm());
        metrics.llm(llm);
        if (registry.get(LlmBusService.ADDRESS).isEmpty()) {
            LlmBusService llmOverBus = new LlmBusService(bus, llm, registry, auth, taskRoutes, audit);
            Thread.ofVirtual().name("swarmbus-llm-inbox").start(() -> llmOverBus.run(running));
        } else {
            LOG.warn("an agent named '{}' exists, so llm_request messages go to it rather than to the gateway",
                    LlmBusService.ADDRESS);
        }
        LlmRoutes llmRoutes = new LlmRoutes(llm, auth, registry, taskRoutes);
        AtomicReference<ServerConnector> llmConnector = new AtomicReference<>();
        ReceiveHandler receives = new ReceiveHandler(bus, auth, metrics, audit, settings.maxRequestBytes());
        StreamRoutes streams = new StreamRoutes(bus, auth, metrics, audit);
        List<ServerConnector> opened = new java.util.concurrent.CopyOnWriteArrayList<>(); // to close if a start fails
        ManagedAgents managed = new ManagedAgents(DurableTable.open(settings.dataDir().resolve("managed-agents"),
                FsyncPolicy.ALWAYS), registry, auth, bus, coordinator, llm, clock, deleted, audit);
        ManagedAgentRoutes managedRoutes = new ManagedAgentRoutes(managed, clock);
        ScalingRoutes scaling = new ScalingRoutes(llm, registry, bus);
        metrics.scaling(scaling::advice);
        Javalin app = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.concurrency.useVirtualThreads = true;
            config.jetty.threadPool = requestThreads();
            config.http.maxRequestSize = settings.maxRequestBytes();
            config.appData(Http.BODY_LIMIT, settings.maxRequestBytes());
            config.http.prefer405over404 = true; // a known path with the wrong method says so
            // Javalin copies each response through a buffer of this size, new for every response,
            // and defaults it to Jetty's 32 KB output buffer: that was 63% of the heap a REST
            // request allocated (docs/benchmarks.md). Jetty still buffers the response itself;
            // this is only the copy's stride.
            config.http.responseBufferSize = 4096;
            // Jetty keeps a cache of header fields per connection, about 100 KB each: 1 GB of live
            // heap with 10,000 long-pollers, and young GC pauses grew with it (docs/benchmarks.md).
            // Common headers still come from Jetty's shared static cache.
            config.jetty.modifyHttpConfiguration(http -> http.setHeaderCacheSize(0));
            // Thousands of agents connect at once (every long-poller holds a connection); the
            // JDK's default accept backlog of 50 made the kernel drop handshakes, which clients
            // only retry after 1, 3, 7, 15, 31 s (docs/benchmarks.md, long-poll).
            config.jetty.addConnector((server, http) -> listener(server, http, null, settings.host(), settings.port(), opened));
            QueuedThreadPool llmPool = settings.llmPort().map(HttpServer::llmPool).orElse(null);
            settings.llmPort().ifPresent(port -> config.jetty.addConnector((server, http) -> {
                llmConnector.set(listener(server, http, llmPool, settings.host(), port.port(), opened));
                return llmConnector.get();
            }));
            GatewayHandler gateway = new GatewayHandler(llmConnector, llmPool, llmRoutes, auth, metrics, audit,
                    settings.maxRequestBytes());
            // Long-polls too are answered in front of Javalin, so that a waiting receiver holds few objects.
            gateway.setHandler(receives);
            config.jetty.modifyServer(server -> {
                server.setHandler(gateway); // Javalin's goes inside them
                server.setErrorHandler(new JsonErrorHandler(metrics, audit)); // what Jetty refuses itself, in the API's shape
            });
            if (llmPool != null) {
                metrics.llmPort(gateway);
            }
            // The OpenAI-compatible routes and long-polls are answered in front of these filters
            // (GatewayHandler, ReceiveHandler), which do the same for them: a change here belongs there too.
            config.routes.before(metrics::start);
            // Once the route is matched, so a refusal is counted and logged under its route template;
            // a path with no route is a 404 without credentials.
            config.routes.beforeMatched(auth::filter);
            config.routes.beforeMatched(ctx -> Http.onceEach(ctx.queryParamMap(), "the query"));
            config.routes.after(metrics::finish);
            config.routes.after(HttpServer::logAccess);
            ApiCatalog api = new ApiCatalog(config.routes, Auth.PUBLIC);
            api.get("/metrics", "Prometheus metrics", metrics::scrape);
            api.post("/auth/token", "Get a token", auth::token);
            networkRoutes(api, networkRoutes); // before /api/v1/agents/{id}, which would take "networks" for an id
            swarmRoutes(api, swarmRoutes);
            routes(api, bus, new DataDirectoryCheck(settings.dataDir(), System::nanoTime), receives::closing, messages,
                    members, agents);
            taskRoutes(api, taskRoutes);
            api.get(Auth.STREAM_ROUTE, "Push stream of deliveries (SSE)", streams::stream);
            seedRoutes(api, messages, members, agents);
            llmRoutes(api, llmRoutes);
            managedRoutes(api, managedRoutes);
            api.get("/api/v1/scaling", "Backend and agent replica counts the load asks for", scaling::scaling);
            api.get("/openapi.json", "This document", ctx -> Http.json(ctx, 200, api.openApi()));
            api.webSocket(SocketRoutes.ROUTE, "WebSocket: pipelined sends and batches, continuous receive, acks (docs/api.md)",
                    new SocketRoutes(bus, auth, audit, metrics, settings.maxRequestBytes())::configure);
            errors(config, audit);
        });
        Optional<String> generated = bootstrapAdmin(store, settings);
        try {
            app.start();
        } catch (RuntimeException e) { // say, the port is taken: release what was opened
            // A password generated now was never shown: without this the next start would find
            // 'admin' and show none, and no one could sign in as admin.
            generated.ifPresent(password -> store.removeUser("admin"));
            // Those Javalin had not yet handed to Jetty too: the gateway's port failing leaves the main one open.
            opened.forEach(ServerConnector::close);
            running.set(false);
            timer.shutdownNow();
            managed.close();
            networks.close();
            swarms.close();
            coordinator.close();
            registry.close();
            llm.close();
            throw e;
        }
        LOG.info("listening on {}:{} ({} mode)", settings.host(), app.port(), settings.devMode() ? "dev" : "production");
        if (llmConnector.get() != null) {
            LOG.info("the LLM gateway also listens on {}:{} (the OpenAI-compatible API only, platform threads)", settings.host(),
                    llmConnector.get().getLocalPort());
        }
        return new HttpServer(app, generated, registry, coordinator, timer, running, llm, managed, networks, swarms,
                Optional.ofNullable(llmConnector.get()), receives, streams);
    }

    /** A listener with a deep accept backlog, on {@code threads} (null: the server's own), bound and added to {@code opened}. */
    private static ServerConnector listener(Server server, HttpConfiguration http, QueuedThreadPool threads,
            String host, int port, List<ServerConnector> opened) {
        ServerConnector connector = new ServerConnector(server, threads, null, null, -1, -1,
                new HttpConnectionFactory(http)) {
            @Override
            protected SocketChannelEndPoint newEndPoint(SocketChannel channel, ManagedSelector selector, SelectionKey key) {
                SocketChannelEndPoint endPoint = new InlineWebSocketEndPoint(channel, selector, key, getScheduler());
                endPoint.setIdleTimeout(getIdleTimeout());
                return endPoint;
            }
        };
        connector.setHost(host);
        connector.setPort(port);
        connector.setAcceptQueueSize(ACCEPT_BACKLOG);
        // Bound here, before Javalin starts Jetty: Javalin reports every failure to bind as "Port
        // already in use", with a stack trace, even for a host that is no address of this machine.
        try {
            connector.open();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot listen on " + host + ":" + port + ": " + reason(e), e);
        }
        opened.add(connector);
        return connector;
    }

    /** Why binding failed, from the innermost cause: Jetty's own message only says that it did. */
    private static String reason(Throwable failure) {
        Throwable root = failure;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        if (root instanceof java.nio.channels.UnresolvedAddressException) {
            return "the host is not an IP address or a name that resolves";
        }
        return root.getMessage() != null ? root.getMessage() : root.getClass().getSimpleName();
    }

    /**
     * The main port's threads: Jetty's selectors and its non-blocking tasks run on platform threads,
     * and what may block (handlers) on virtual threads. Javalin's own pool runs everything on
     * virtual threads, the selectors too, so each socket event went through the JDK's I/O poller
     * and then a carrier thread before Jetty saw it (docs/benchmarks.md, W3).
     */
    private static QueuedThreadPool requestThreads() {
        QueuedThreadPool pool = new QueuedThreadPool(200, 4);
        pool.setName("swarmbus-http");
        pool.setDaemon(true); // as the virtual threads it replaces: they never held the JVM open
        pool.setVirtualThreadsExecutor(org.eclipse.jetty.util.VirtualThreads.getNamedVirtualThreadsExecutor("swarmbus-handler"));
        return pool;
    }

    /**
     * The gateway port's threads. On them Jetty runs a request on the thread that read it, and a
     * thread blocked on a backend's answer is woken by the kernel directly; on a virtual thread the
     * same call takes two more hand-offs (the JDK's I/O poller, then a carrier thread), which is
     * what the gateway's overhead benchmark measures (docs/benchmarks.md).
     */
    private static QueuedThreadPool llmPool(ServerSettings.LlmPort port) {
        QueuedThreadPool pool = new QueuedThreadPool(port.threads(), Math.min(8, port.threads()));
        pool.setName("swarmbus-llm-port");
        return pool;
    }

    private static String secret(ServerSettings settings) {
        if (settings.jwtSecret().isPresent()) {
            String secret = settings.jwtSecret().get();
            Optional<String> weakness = settings.devMode() ? Optional.empty() : ServerSettings.weakness(secret, settings.jwtSecretName());
            if (weakness.isPresent()) {
                throw new IllegalArgumentException(weakness.get() + "; set a random one (e.g. openssl rand -hex 32)");
            }
            return secret;
        }
        if (!settings.devMode()) {
            throw new IllegalArgumentException(settings.jwtSecretName() + " is not set; production mode refuses to "
                    + "start without one (set it to 32+ random bytes, or run with --dev, which makes one)");
        }
        return devSecret(settings.dataDir());
    }

    /**
     * A dev server's JWT secret when none is set: made at its first start and kept in the data
     * directory, readable by its owner only, so that tokens stay valid across a restart as they
     * do with a configured secret. Production mode never reads it: it needs a secret of its own.
     */
    static String devSecret(Path dataDir) {
        Path file = dataDir.resolve(DEV_SECRET_FILE);
        try {
            if (Files.isRegularFile(file)) {
                String kept = Files.readString(file).strip();
                if (kept.matches("[0-9a-f]{64}")) {
                    return kept;
                }
            }
            byte[] random = new byte[32];
            new java.security.SecureRandom().nextBytes(random);
            String secret = java.util.HexFormat.of().formatHex(random);
            Files.createDirectories(dataDir);
            Path written = dataDir.resolve(DEV_SECRET_FILE + ".tmp");
            Files.deleteIfExists(written);
            if (dataDir.getFileSystem().supportedFileAttributeViews().contains("posix")) {
                Files.createFile(written, PosixFilePermissions.asFileAttribute(
                        PosixFilePermissions.fromString("rw-------")));
            }
            Files.writeString(written, secret + "\n");
            Files.move(written, file, StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
            return secret;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot keep the dev-mode JWT secret in " + file + ": "
                    + e.getMessage(), e);
        }
    }

    /** On first start, creates user 'admin'; returns the password if it was generated. */
    private static Optional<String> bootstrapAdmin(AccessStore store, ServerSettings settings) {
        if (store.hasUsers()) {
            return Optional.empty();
        }
        if (settings.adminPassword().isPresent()) {
            store.addUser("admin", settings.adminPassword().get(), true);
            return Optional.empty();
        }
        byte[] random = new byte[12];
        new java.security.SecureRandom().nextBytes(random);
        String password = java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(random);
        store.addUser("admin", password, true);
        return Optional.of(password);
    }

    /** The admin password generated at this first start, to be shown once. */
    public Optional<String> generatedAdminPassword() {
        return generatedAdminPassword;
    }

    /** The port it listens on. */
    public int port() {
        return app.port();
    }

    /** The LLM gateway's own port, if it has one. */
    public OptionalInt llmPort() {
        return llmConnector.map(c -> OptionalInt.of(c.getLocalPort())).orElse(OptionalInt.empty());
    }

    /** The managed agent pools, for tests that drive them between requests. */
    ManagedAgents managed() {
        return managed;
    }

    /** Sets the connectors' idle timeout (Jetty's default is 30 s), for tests that outwait it. */
    void idleTimeout(java.time.Duration timeout) {
        for (var connector : app.jettyServer().server().getConnectors()) {
            ((ServerConnector) connector).setIdleTimeout(timeout.toMillis());
        }
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        LOG.info("stopping");
        try {
            receives.close(java.time.Duration.ofSeconds(2)); // waiting long-polls get a 503, not a cut connection
            streams.close(java.time.Duration.ofSeconds(2)); // and SSE streams an error event, before Jetty stops
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        app.stop();
        running.set(false);
        timer.shutdownNow();
        try {
            timer.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        managed.close();
        networks.close(); // its runs wait on tasks: before the coordinator
        swarms.close();
        coordinator.close();
        registry.close();
        llm.close();
        LOG.info("stopped");
    }

    /** Swarm membership (seed 003 §2), at /swarm and, as the seed mounts it too, /v1/swarm. */
    private static void swarmRoutes(ApiCatalog api, SwarmRoutes swarms) {
        for (String prefix : java.util.List.of("/swarm", "/v1/swarm")) {
            api.post(prefix + "/join", "Join a swarm in a role", 201, swarms::join);
            api.post(prefix + "/leave", "Leave a swarm", swarms::leave);
            api.get(prefix + "/list", "Your swarms and their members", swarms::list);
            api.get(prefix + "/status", "Your swarms' members, tasks, roles and measured metrics", swarms::status);
            api.post(prefix + "/coordinate", "Run a strategy over a swarm's members", 202, swarms::coordinate);
            api.post(prefix + "/consensus", "Consensus over a coordination's member answers", swarms::consensus);
        }
    }

    /** Managed LLM agent pools. */
    private static void managedRoutes(ApiCatalog api, ManagedAgentRoutes managed) {
        api.post("/api/v1/managed-agents", "Create a pool of managed LLM agents", managed::create);
        api.get("/api/v1/managed-agents", "Your managed agent pools", managed::list);
        api.get("/api/v1/managed-agents/{name}", "A pool: template, replicas, queue, usage, scaling", managed::get);
        api.put("/api/v1/managed-agents/{name}/replicas", "Set a pool's replica count and bounds", managed::scale);
        api.delete("/api/v1/managed-agents/{name}", "Stop a pool's replicas and delete it", managed::delete);
    }

    /** Agent networks (seed 003 §1). */
    private static void networkRoutes(ApiCatalog api, NetworkRoutes networks) {
        api.post("/api/v1/agents/networks", "Create an agent network", networks::create);
        api.get("/api/v1/agents/networks", "List your agent networks", networks::list);
        api.get("/api/v1/agents/networks/{id}", "Get an agent network", networks::get);
        api.post("/api/v1/agents/networks/{id}/execute", "Run a task on a network by its strategy", 202, networks::execute);
        api.get("/api/v1/agents/networks/{id}/executions", "A network's executions", networks::executions);
        api.get("/api/v1/agents/networks/{id}/executions/{execution_id}", "One execution with its steps",
                networks::execution);
        api.get("/api/v1/agents/networks/{id}/status", "A network's measured status", networks::status);
        api.get("/api/v1/agents/networks/{id}/optimize", "Recommendations from a network's measured metrics",
                networks::optimize);
    }

    /** The OpenAI-compatible gateway and its state. */
    private static void llmRoutes(ApiCatalog api, LlmRoutes llm) {
        // Answered by GatewayHandler in front of Javalin, on both ports.
        api.outside("post", "/v1/chat/completions", "OpenAI-compatible chat completion, routed to an LLM backend");
        api.outside("post", "/v1/completions", "OpenAI-compatible text completion");
        api.outside("post", "/v1/embeddings", "OpenAI-compatible embeddings");
        api.outside("get", "/v1/models", "Models the gateway's backends serve");
        api.outside("get", "/v1/models/{model}", "One model the gateway's backends serve; its id may hold slashes");
        api.get("/api/v1/llm/backends", "LLM backends: health, load, latency, tokens, errors", llm::backends);
        api.get("/api/v1/llm/usage", "LLM token usage and cost per agent, task, key, backend and model",
                llm::usage);
    }

    /** Marks agents that stopped heartbeating offline (their tasks go elsewhere), times out tasks, assigns waiting ones. */
    private static void tick(TaskCoordinator coordinator, AuditLog audit) {
        try {
            List<AgentId> lost = coordinator.tick();
            for (AgentId agent : lost) {
                audit.record(AuditLog.Stream.AGENT_ACTIVITY, "status_change", Map.of("agent_id", agent.value(),
                        "new_status", "offline", "reason", "missed heartbeats"));
            }
            if (!lost.isEmpty()) { // one line a tick: thousands of agents may go silent at once
                String named = lost.stream().limit(LOST_NAMED).map(AgentId::value)
                        .collect(Collectors.joining(", "));
                LOG.info("{} agent(s) missed their heartbeats; marked offline: {}{}", lost.size(), named,
                        lost.size() > LOST_NAMED ? " and " + (lost.size() - LOST_NAMED) + " more" : "");
            }
        } catch (RuntimeException e) {
            LOG.error("coordination tick failed", e); // the timer must keep running
        }
    }

    /**
     * Makes every agent both a registry entry and an inbox: agents registered before the registry
     * existed (owners in {@code access.json}) are moved into it, an inbox without an entry becomes
     * an admin-owned worker, an entry without an inbox (a crash between the two writes) gets one.
     */
    private static void reconcile(MessageBus bus, Registry registry, AccessStore store) {
        Map<String, String> legacyOwners = store.takeLegacyAgentOwners();
        for (AgentId inbox : bus.inboxes()) {
            if (registry.get(inbox).isEmpty() && !inbox.equals(TASK_INBOX) && !inbox.equals(LlmBusService.ADDRESS)) {
                registry.register(new AgentProfile(inbox, "", "worker", java.util.Set.of(), 1, Map.of(),
                        legacyOwners.getOrDefault(inbox.value(), "admin")));
            }
        }
        for (AgentInfo agent : registry.list()) {
            bus.createInbox(agent.profile().id());
        }
    }

    private static void routes(ApiCatalog api, MessageBus bus, DataDirectoryCheck dataDir,
            java.util.function.BooleanSupplier closing, MessageRoutes messages, MembershipRoutes members,
            AgentRoutes agents) {
        api.get("/health", "Liveness", ctx -> Http.json(ctx, 200, Map.of("status", "ok")));
        api.get("/healthz", "Liveness", ctx -> Http.json(ctx, 200, Map.of("status", "ok")));
        api.get("/readyz", "Readiness: 503 while the message bus takes no work, the data directory is gone, "
                + "or the server is shutting down", ctx -> ready(ctx, bus, dataDir, closing));
        api.get("/api/v1/stats", "Engine counters", ctx -> Http.json(ctx, 200, stats(bus.stats())));
        api.post("/api/v1/users", "Create a user (admin)", members::addUser);
        api.post("/api/v1/api-keys", "Create an admin API key", members::addApiKey);

        api.post("/api/v1/agents", "Register an agent (or replace its profile)", 201, agents::register);
        api.get("/api/v1/agents", "Your agents; filter by capabilities, status, available", agents::list);
        api.get("/api/v1/agents/{id}", "Get an agent", agent(agents::get));
        api.put("/api/v1/agents/{id}", "Update an agent's profile", agent(agents::update));
        api.delete("/api/v1/agents/{id}", "Delete an agent and its inbox", agent(agents::delete));
        api.post("/api/v1/agents/{id}/heartbeat", "Heartbeat: status, current tasks, health", agent(agents::heartbeat));
        api.get("/api/v1/registry/best", "The best available agent for capabilities, by strategy", agents::best);
        api.get("/api/v1/registry/stats", "Agents by status and role, average load", agents::stats);
        api.post(ReceiveHandler.ROUTE, "Receive (long-poll) with leases", HttpServer::answeredInFront);
        api.post("/api/v1/agents/{id}/ack", "Acknowledge deliveries", agent(messages::ack));
        api.post("/api/v1/agents/{id}/extend", "Extend leases still held", agent(messages::extend));
        api.post("/api/v1/agents/{id}/nack", "Give a delivery back, optionally delayed", agent(messages::nack));
        api.get("/api/v1/agents/{id}/messages", "An agent's history", agent(messages::historyOf));
        api.get("/api/v1/agents/{id}/dead-letters", "An agent's dead letters", agent(messages::deadLetters));
        api.post("/api/v1/agents/{id}/dead-letters/{message_id}/replay", "Replay a dead letter", agent(messages::replay));

        api.post("/api/v1/messages", "Send a message", messages::send);
        api.post("/api/v1/messages/broadcast", "Send to every agent", messages::broadcast);
        api.post("/api/v1/messages/batch", "Send many messages, one result each", 200, messages::sendBatch);
        api.get("/api/v1/messages", "Query history", messages::history);
        api.get("/api/v1/messages/{id}", "Get a message with its delivery states", messages::get);

        api.post("/api/v1/groups", "Create a group", members::createGroup);
        api.get("/api/v1/groups", "List your groups", members::listGroups);
        api.get("/api/v1/groups/{name}", "Get a group", members::getGroup);
        api.delete("/api/v1/groups/{name}", "Delete a group", members::deleteGroup);
        api.put("/api/v1/groups/{name}/members/{agent}", "Add a member", members::join);
        api.delete("/api/v1/groups/{name}/members/{agent}", "Remove a member", members::leave);
        api.post("/api/v1/groups/{name}/messages", "Send to a group", messages::sendToGroup);

        api.get("/api/v1/topics/{topic}", "A topic's subscribers", members::getTopic);
        api.post("/api/v1/topics/{topic}/subscribers", "Subscribe an agent", 201, members::subscribe);
        api.delete("/api/v1/topics/{topic}/subscribers/{agent}", "Unsubscribe an agent", members::unsubscribe);
        api.post("/api/v1/topics/{topic}/messages", "Send to a topic", messages::publish);
    }

    /**
     * 200 while the bus takes work into a data directory that is there; 503 with the reason otherwise,
     * and from the moment the server begins to shut down, as its receives are refused from then on.
     */
    private static void ready(Context ctx, MessageBus bus, DataDirectoryCheck dataDir,
            java.util.function.BooleanSupplier closing) {
        Optional<String> stopping = closing.getAsBoolean()
                ? Optional.of(OpenReceives.shuttingDown().getMessage()) : Optional.empty();
        stopping.or(bus::unavailable).or(dataDir::problem).ifPresent(reason -> {
            throw new SwarmbusException(ErrorCode.UNAVAILABLE, reason);
        });
        Http.json(ctx, 200, Map.of("status", "ready"));
    }

    private static void taskRoutes(ApiCatalog api, TaskRoutes tasks) {
        api.post("/api/v1/tasks", "Create a task; the best capable agent gets it", tasks::create);
        api.get("/api/v1/tasks", "Your tasks; filter by status, assignee, parent_id, type", tasks::list);
        api.get("/api/v1/tasks/stats", "Completion rate, durations, throughput, utilization", tasks::stats);
        api.get("/api/v1/tasks/{id}", "Get a task", tasks::get);
        api.post("/api/v1/tasks/{id}/progress", "The assignee reports progress", tasks::progress);
        api.post("/api/v1/tasks/{id}/complete", "The assignee reports the result", tasks::complete);
        api.post("/api/v1/tasks/{id}/fail", "The assignee reports failure (retried elsewhere)", tasks::fail);
        api.post("/api/v1/tasks/{id}/cancel", "Cancel a task", tasks::cancel);
    }

    /** The seed document's paths, answering exactly as it shows them. */
    private static void seedRoutes(ApiCatalog api, MessageRoutes messages, MembershipRoutes members,
            AgentRoutes agents) {
        api.post("/agents/register", "Register an agent (seed path)", 201, agents::register);
        api.post(ReceiveHandler.SEED_ROUTE, "Receive for your own agent (seed path)", HttpServer::answeredInFront);
        api.delete("/agents/{id}", "Delete an agent (seed path)", agent(agents::delete));
        api.get("/agents/{id}/messages", "An agent's history (seed path)", agent(messages::historyOf));
        api.post("/messages", "Send a message (seed path)", messages::send);
        api.post("/messages/broadcast", "Send to every agent (seed path)", messages::broadcast);
        api.get("/messages/{id}", "Get a message (seed path)", messages::get);
        api.put("/messages/{id}/status", "Ack or fail a message (seed path)", messages::setStatus);
        api.post("/groups", "Create a group (seed path)", members::createGroup);
        api.post("/groups/message", "Send to a group (seed path)", messages::sendToNamedGroup);
    }

    private static void logAccess(Context ctx) {
        if (ACCESS.isDebugEnabled()) {
            Auth.Principal principal = ctx.attribute("swarmbus.principal");
            logAccess(ctx.method().name(), routeOf(ctx), ctx.statusCode(), principal == null ? "-" : principal.name());
        }
    }

    /** The request's route template (never the raw path, so it holds no ids); "unmatched" for unknown paths. */
    static String routeOf(Context ctx) {
        var endpoint = ctx.endpoints().matchedHttpEndpoint();
        return endpoint == null ? "unmatched" : endpoint.path;
    }

    /** One line per request at debug level: method, route template, status and principal. */
    static void logAccess(String method, String route, int status, String principal) {
        if (ACCESS.isDebugEnabled()) {
            ACCESS.debug("method={} route={} status={} principal={}", method, route, status, principal);
        }
    }

    /**
     * The Javalin route of a POST that {@link ReceiveHandler} answers before Javalin sees it. It
     * is registered so that other methods on the path get Javalin's answers (a 405, or another
     * route). A POST reaches it only when its path holds a {@code .} or {@code ..} segment, which
     * Jetty resolves away before {@link ReceiveHandler} reads the path and Javalin does not: no agent
     * is named so (registration refuses it), so the answer is that there is none.
     */
    private static void answeredInFront(Context ctx) {
        throw new SwarmbusException(ErrorCode.NOT_FOUND, "no agent is addressed by '" + ctx.path()
                + "': a path segment of '.' or '..' names no agent");
    }

    /** Adapts a handler that acts for the agent named in the path. */
    private static io.javalin.http.Handler agent(BiConsumer<Context, AgentId> handler) {
        return ctx -> handler.accept(ctx, AgentId.of(ctx.pathParam("id")));
    }

    private static Map<String, Object> stats(BusStats s) {
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("sent", s.sent());
        view.put("delivered", s.delivered());
        view.put("acked", s.acked());
        view.put("nacked", s.nacked());
        view.put("leases_expired", s.leasesExpired());
        view.put("dead_lettered", s.deadLettered());
        view.put("expired", s.expired());
        view.put("duplicates", s.duplicates());
        view.put("agents", s.agentInboxes());
        view.put("retained_messages", s.retainedMessages());
        view.put("journal_fsyncs", s.journal().fsyncs());
        return view;
    }

    // ---------------------------------------------------------------- errors

    /** Installs the error handlers; package-private so a test can prove nothing internal leaks. */
    static void errors(JavalinConfig config, AuditLog audit) {
        var r = config.routes;
        BiConsumer<Context, SwarmbusException> error = (ctx, e) -> {
            error(ctx, e);
            audit.error(e, ctx.method().name(), ctx.path());
        };
        r.exception(SwarmbusException.class, (e, ctx) -> error.accept(ctx, e));
        r.exception(CompletionException.class, (e, ctx) -> {
            if (e.getCause() instanceof SwarmbusException cause) {
                error.accept(ctx, cause);
            } else {
                internal(ctx, e.getCause() == null ? e : e.getCause(), audit);
            }
        });
        r.exception(HttpResponseException.class, (e, ctx) -> {
            if (e.getStatus() == 405) { // Javalin's: it knows the methods the path takes
                String allowed = e.getDetails().getOrDefault("availableMethods", "");
                error.accept(ctx, new NotAllowed(ctx.method().name(), ctx.path(), allowed));
                return;
            }
            ErrorCode code = switch (e.getStatus()) {
                case 413 -> ErrorCode.REQUEST_TOO_LARGE;
                case 404 -> ErrorCode.NOT_FOUND;
                default -> ErrorCode.INVALID_ARGUMENT;
            };
            String message = code == ErrorCode.REQUEST_TOO_LARGE // as the routes answered in front of Javalin say it
                    ? "the request body is larger than the limit of " + ctx.appData(Http.BODY_LIMIT)
                            + " bytes (server.max_request_bytes)"
                    : e.getMessage();
            error.accept(ctx, new SwarmbusException(code, message));
        });
        r.exception(Exception.class, (e, ctx) -> internal(ctx, e, audit));
        r.error(404, "*", ctx -> {
            if (ctx.result() == null || !ctx.result().startsWith("{")) {
                error.accept(ctx, new SwarmbusException(ErrorCode.NOT_FOUND, "no route " + ctx.method() + " " + ctx.path()));
            }
        });
        r.error(405, "*", ctx -> {
            if (ctx.result() == null || !ctx.result().startsWith("{")) { // not answered (and recorded) already
                error.accept(ctx, new SwarmbusException(ErrorCode.METHOD_NOT_ALLOWED,
                        "method " + ctx.method() + " is not allowed on " + ctx.path()));
            }
        });
    }

    static void error(Context ctx, SwarmbusException e) {
        ErrorAnswer answer = ErrorAnswer.of(ctx.path(), e);
        if (e instanceof NotAllowed notAllowed && !notAllowed.allowed().isEmpty()) {
            ctx.header("Allow", notAllowed.allowed());
        }
        if (e instanceof RetryLater later) {
            ctx.header("Retry-After", Long.toString(later.seconds()));
        } else if (answer.retryAfter() && ctx.res().getHeader("Retry-After") == null) {
            ctx.header("Retry-After", "1");
        }
        Http.json(ctx, answer.status(), answer.body());
    }

    /** Logs the failure with its stack; the client learns only that it happened. */
    private static void internal(Context ctx, Throwable e, AuditLog audit) {
        LOG.error("internal error on {} {}", ctx.method(), ctx.path(), e);
        audit.internalError(e, ctx.method().name(), ctx.path());
        error(ctx, ErrorAnswer.internal());
    }
}
