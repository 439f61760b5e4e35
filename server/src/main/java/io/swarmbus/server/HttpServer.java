package io.swarmbus.server;

import io.javalin.Javalin;
import io.javalin.config.JavalinConfig;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.BusStats;
import io.swarmbus.messaging.MessageBus;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionException;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP API over a {@link MessageBus}: canonical routes under {@code /api/v1}, health checks,
 * and one error shape, {@code {"error": code, "message": text, "field": optional}}, for every
 * failure. Handlers run on virtual threads; long-polls wait on futures, holding no thread.
 */
public final class HttpServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HttpServer.class);

    private final Javalin app;
    private final Optional<String> generatedAdminPassword;

    private HttpServer(Javalin app, Optional<String> generatedAdminPassword) {
        this.app = app;
        this.generatedAdminPassword = generatedAdminPassword;
    }

    /**
     * Starts serving {@code bus}. Refuses to start outside dev mode without a strong JWT secret.
     * Creates the first admin on first start.
     */
    public static HttpServer start(MessageBus bus, ServerSettings settings) {
        return start(bus, settings, AuditLog.off());
    }

    /** Starts serving {@code bus}, writing audit records to {@code audit}. */
    static HttpServer start(MessageBus bus, ServerSettings settings, AuditLog audit) {
        Tokens tokens = new Tokens(secret(settings), settings.tokenLifetime(), java.time.Clock.systemUTC());
        AccessStore store = AccessStore.open(settings.dataDir());
        Optional<String> generated = bootstrapAdmin(store, settings);
        Auth auth = new Auth(store, tokens, new RateLimiter(settings.rateLimitPerMinute(), System::nanoTime),
                settings.devMode());
        MessageRoutes messages = new MessageRoutes(bus, auth, audit);
        MembershipRoutes members = new MembershipRoutes(bus, auth, audit);
        Metrics metrics = new Metrics(bus);
        Javalin app = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.concurrency.useVirtualThreads = true;
            config.http.maxRequestSize = settings.maxRequestBytes();
            config.routes.before(metrics::start);
            config.routes.before(auth::filter);
            config.routes.after(metrics::finish);
            config.routes.get("/metrics", metrics::scrape);
            config.routes.post("/auth/token", auth::token);
            routes(config, bus, messages, members);
            config.routes.sse("/api/v1/agents/{id}/stream", new StreamRoutes(bus, auth)::stream);
            seedRoutes(config, messages, members);
            errors(config, audit);
        });
        app.start(settings.host(), settings.port());
        return new HttpServer(app, generated);
    }

    private static String secret(ServerSettings settings) {
        if (settings.jwtSecret().isPresent()) {
            String secret = settings.jwtSecret().get();
            if (!settings.devMode() && ServerSettings.KNOWN_DEFAULT_SECRETS.contains(secret.toLowerCase(java.util.Locale.ROOT))) {
                throw new IllegalArgumentException("JWT_SECRET is a well-known example value; set a random one "
                        + "(e.g. openssl rand -hex 32)");
            }
            return secret;
        }
        if (!settings.devMode()) {
            throw new IllegalArgumentException("JWT_SECRET is not set; production mode refuses to start without one "
                    + "(set JWT_SECRET to 32+ random bytes, or run with --dev for a throwaway secret)");
        }
        byte[] random = new byte[32];
        new java.security.SecureRandom().nextBytes(random);
        return java.util.HexFormat.of().formatHex(random);
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

    @Override
    public void close() {
        app.stop();
    }

    private static void routes(JavalinConfig config, MessageBus bus, MessageRoutes messages, MembershipRoutes members) {
        var r = config.routes;
        r.get("/health", ctx -> Http.json(ctx, 200, Map.of("status", "ok")));
        r.get("/healthz", ctx -> Http.json(ctx, 200, Map.of("status", "ok")));
        r.get("/readyz", ctx -> Http.json(ctx, 200, Map.of("status", "ready")));
        r.get("/api/v1/stats", ctx -> Http.json(ctx, 200, stats(bus.stats())));
        r.post("/api/v1/users", members::addUser);
        r.post("/api/v1/api-keys", members::addApiKey);

        r.post("/api/v1/agents", members::register);
        r.get("/api/v1/agents", members::list);
        r.get("/api/v1/agents/{id}", agent(members::get));
        r.delete("/api/v1/agents/{id}", agent(members::delete));
        r.post("/api/v1/agents/{id}/receive", agent(messages::receive));
        r.post("/api/v1/agents/{id}/ack", agent(messages::ack));
        r.post("/api/v1/agents/{id}/nack", agent(messages::nack));
        r.get("/api/v1/agents/{id}/messages", agent(messages::historyOf));
        r.get("/api/v1/agents/{id}/dead-letters", agent(messages::deadLetters));
        r.post("/api/v1/agents/{id}/dead-letters/{message_id}/replay", agent(messages::replay));

        r.post("/api/v1/messages", messages::send);
        r.post("/api/v1/messages/broadcast", messages::broadcast);
        r.post("/api/v1/messages/batch", messages::sendBatch);
        r.get("/api/v1/messages", messages::history);
        r.get("/api/v1/messages/{id}", messages::get);

        r.post("/api/v1/groups", members::createGroup);
        r.get("/api/v1/groups", members::listGroups);
        r.get("/api/v1/groups/{name}", members::getGroup);
        r.delete("/api/v1/groups/{name}", members::deleteGroup);
        r.put("/api/v1/groups/{name}/members/{agent}", members::join);
        r.delete("/api/v1/groups/{name}/members/{agent}", members::leave);
        r.post("/api/v1/groups/{name}/messages", messages::sendToGroup);

        r.get("/api/v1/topics/{topic}", members::getTopic);
        r.post("/api/v1/topics/{topic}/subscribers", members::subscribe);
        r.delete("/api/v1/topics/{topic}/subscribers/{agent}", members::unsubscribe);
        r.post("/api/v1/topics/{topic}/messages", messages::publish);
    }

    /** The seed document's paths, answering exactly as it shows them. */
    private static void seedRoutes(JavalinConfig config, MessageRoutes messages, MembershipRoutes members) {
        var r = config.routes;
        r.post("/agents/register", members::register);
        r.post("/agents/receive", messages::receiveOwn);
        r.delete("/agents/{id}", agent(members::delete));
        r.get("/agents/{id}/messages", agent(messages::historyOf));
        r.post("/messages", messages::send);
        r.post("/messages/broadcast", messages::broadcast);
        r.get("/messages/{id}", messages::get);
        r.put("/messages/{id}/status", messages::setStatus);
        r.post("/groups", members::createGroup);
        r.post("/groups/message", messages::sendToNamedGroup);
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
        view.put("agents", s.inboxes());
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
            audit.record(AuditLog.Stream.ERRORS, e.code().code(), Map.of("status", e.code().httpStatus(),
                    "message", e.getMessage(), "method", ctx.method().name(), "path", ctx.path()));
        };
        r.exception(SwarmbusException.class, (e, ctx) -> error.accept(ctx, e));
        r.exception(CompletionException.class, (e, ctx) -> {
            if (e.getCause() instanceof SwarmbusException cause) {
                error.accept(ctx, cause);
            } else {
                internal(ctx, e.getCause() == null ? e : e.getCause());
            }
        });
        r.exception(HttpResponseException.class, (e, ctx) -> {
            ErrorCode code = switch (e.getStatus()) {
                case 413 -> ErrorCode.REQUEST_TOO_LARGE;
                case 404 -> ErrorCode.NOT_FOUND;
                case 405 -> ErrorCode.METHOD_NOT_ALLOWED;
                default -> ErrorCode.INVALID_ARGUMENT;
            };
            error(ctx, new SwarmbusException(code, e.getMessage()));
        });
        r.exception(Exception.class, (e, ctx) -> internal(ctx, e));
        r.error(404, "*", ctx -> {
            if (ctx.result() == null || !ctx.result().startsWith("{")) {
                error(ctx, new SwarmbusException(ErrorCode.NOT_FOUND, "no route " + ctx.method() + " " + ctx.path()));
            }
        });
        r.error(405, "*", ctx -> error(ctx, new SwarmbusException(ErrorCode.METHOD_NOT_ALLOWED,
                "method " + ctx.method() + " is not allowed on " + ctx.path())));
    }

    static void error(Context ctx, SwarmbusException e) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("error", e.code().code());
        body.put("message", e.getMessage());
        e.field().ifPresent(field -> body.put("field", field));
        if (e.code() == ErrorCode.INBOX_FULL) {
            ctx.header("Retry-After", "1");
        }
        Http.json(ctx, e.code().httpStatus(), body);
    }

    /** Logs the failure with its stack; the client learns only that it happened. */
    private static void internal(Context ctx, Throwable e) {
        LOG.error("internal error on {} {}", ctx.method(), ctx.path(), e);
        error(ctx, new SwarmbusException(ErrorCode.INTERNAL, "internal error; the server logged the details"));
    }
}
