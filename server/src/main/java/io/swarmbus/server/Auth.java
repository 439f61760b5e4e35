package io.swarmbus.server;

import io.javalin.http.Context;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.Address;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.DeliveryInfo;
import io.swarmbus.messaging.InboxFullException;
import io.swarmbus.messaging.Message;
import io.swarmbus.messaging.MessageRecord;
import io.swarmbus.messaging.SendResult;
import io.swarmbus.registry.Registry;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.Supplier;

/**
 * Authentication (bearer JWT or admin {@code X-Api-Key}), per-principal rate limits, and the
 * ownership rules: a principal acts only as agents it owns, and sees others' agents, groups and
 * messages as if they did not exist (404). Admins may act for anyone.
 */
final class Auth {
    /** Who is calling. */
    record Principal(String name, boolean admin) {}

    private static final String ATTRIBUTE = "swarmbus.principal";
    /** The SSE stream's route, which also takes {@code ?token=} ({@link #authorization}). */
    static final String STREAM_ROUTE = "/api/v1/agents/{id}/stream";
    /** Paths anyone may call. */
    static final Set<String> PUBLIC = Set.of("/health", "/healthz", "/readyz", "/auth/token", "/metrics",
            "/openapi.json");

    /**
     * Agent ids the server keeps for itself: its task inbox, its LLM gateway's inbox, and the path
     * that lists agent networks ({@code GET /api/v1/agents/networks}).
     */
    private static final Set<String> SERVER_NAMES = Set.of(HttpServer.TASK_INBOX.value(),
            LlmBusService.ADDRESS.value(), AgentRoutes.NETWORKS);

    /** The longest user name, as it is an agent id. */
    private static final int LONGEST_NAME = 128;

    private final AccessStore store;
    private final Registry registry;
    private final Tokens tokens;
    private final RateLimiter limiter;
    private final boolean devMode;
    /**
     * Held while an agent id or a user name is claimed. A user's name is also its default agent id
     * (a send without {@code from} is sent as it), so each claim checks the other namespace, and
     * the check and the claim must be one step.
     */
    private final Object names = new Object();

    Auth(AccessStore store, Registry registry, Tokens tokens, RateLimiter limiter,
            boolean devMode) {
        this.store = store;
        this.registry = registry;
        this.tokens = tokens;
        this.limiter = limiter;
        this.devMode = devMode;
    }

    AccessStore store() {
        return store;
    }

    /** Runs before every matched route: public paths pass; others need credentials and rate-limit room. */
    void filter(Context ctx) {
        // By the route matched, not the path: "/healthz/" is routed to "/healthz" and is as public.
        if (PUBLIC.contains(HttpServer.routeOf(ctx))) {
            return;
        }
        ctx.attribute(ATTRIBUTE, admit(ctx.header("X-Api-Key"), authorization(ctx), ctx::header));
    }

    /**
     * The {@code Authorization} header; on the SSE stream, else {@code ?token=}: a browser's
     * EventSource cannot set headers (the WebSocket's upgrade takes {@code ?token=} for the same reason).
     */
    static String authorization(Context ctx) {
        String header = ctx.header("Authorization");
        if (header == null && ctx.queryParam("token") != null) {
            var endpoint = ctx.endpoints().matchedHttpEndpoint();
            if (endpoint != null && endpoint.path.equals(STREAM_ROUTE)) {
                return "Bearer " + ctx.queryParam("token");
            }
        }
        return header;
    }

    /**
     * Authenticates a request and takes one call from its principal's rate limit.
     *
     * @param apiKey the {@code X-Api-Key} header, or null
     * @param authorization the {@code Authorization} header, or null
     * @param answerHeader sets a header on the answer: {@code WWW-Authenticate} when there were
     *     no credentials, {@code Retry-After} when the rate limit is spent
     */
    Principal admit(String apiKey, String authorization, BiConsumer<String, String> answerHeader) {
        if (apiKey == null && authorization == null) {
            answerHeader.accept("WWW-Authenticate", "Bearer");
        }
        Principal principal = authenticate(apiKey, authorization);
        long wait = limiter.acquire(principal.name());
        if (wait > 0) {
            answerHeader.accept("Retry-After", Long.toString(wait));
            throw new SwarmbusException(ErrorCode.RATE_LIMITED, "rate limit exceeded for '" + principal.name()
                    + "'; retry after " + wait + " s");
        }
        return principal;
    }

    /**
     * Checks an {@code X-Api-Key} value or an {@code Authorization: Bearer} value; either may be
     * null. The bearer value may be an API key too, since that is where OpenAI's client libraries
     * put theirs.
     */
    Principal authenticate(String apiKey, String header) {
        if (apiKey != null) {
            return keyHolder(apiKey);
        }
        String bearer = bearer(header);
        if (bearer.startsWith(AccessStore.API_KEY_PREFIX)) {
            return keyHolder(bearer);
        }
        String subject = tokens.verify(bearer);
        AccessStore.User user = store.user(subject)
                .orElseThrow(() -> Tokens.unauthenticated("the token's user no longer exists"));
        return new Principal(user.name(), user.admin());
    }

    /**
     * How long credentials that {@link #authenticate} accepts stay valid: a token's time left, or
     * empty for an API key, which does not expire.
     */
    Optional<Duration> timeLeft(String apiKey, String header) {
        if (apiKey != null) {
            return Optional.empty();
        }
        String bearer = bearer(header);
        return bearer.startsWith(AccessStore.API_KEY_PREFIX) ? Optional.empty() : Optional.of(tokens.timeLeft(bearer));
    }

    /** The value of an {@code Authorization: Bearer} header. */
    private static String bearer(String header) {
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw Tokens.unauthenticated("send 'Authorization: Bearer <token>' (from POST /auth/token) or an admin 'X-Api-Key'");
        }
        return header.substring(7).trim();
    }

    private Principal keyHolder(String apiKey) {
        return store.userForApiKey(apiKey).filter(AccessStore.User::admin)
                .map(u -> new Principal(u.name(), true))
                .orElseThrow(() -> Tokens.unauthenticated("the API key is not valid"));
    }

    /** Who acts when {@code agent} sends a message: its owner, or the user it is named after if it is not registered. */
    Principal sender(AgentId agent) {
        String name = registry.ownerOf(agent).orElse(agent.value());
        return new Principal(name, store.user(name).map(AccessStore.User::admin).orElse(false));
    }

    static Principal principal(Context ctx) {
        Principal principal = ctx.attribute(ATTRIBUTE);
        if (principal == null) {
            throw Tokens.unauthenticated("not authenticated");
        }
        return principal;
    }

    /** {@code POST /auth/token}: JSON or form {@code username}, {@code password}. */
    void token(Context ctx) {
        if (ctx.queryParam("password") != null) {
            throw SwarmbusException.invalid("password", "send the password in the request body (JSON or form), "
                    + "not in the URL, where proxies and logs keep it");
        }
        RequestBody body = ctx.contentType() != null && ctx.contentType().startsWith("application/json")
                ? RequestBody.parse(Http.body(ctx)) : RequestBody.parse(new byte[0]);
        body.optionalText("username"); // in a JSON body, strings only: a number would sign up "1.0E308"
        body.optionalText("password");
        String username = Http.param(ctx, body, "username")
                .orElseThrow(() -> SwarmbusException.invalid("username", "'username' is required"));
        String password = Http.param(ctx, body, "password")
                .orElseThrow(() -> SwarmbusException.invalid("password", "'password' is required"));
        // Passwords are guessed here, and each guess costs a password hash: wrong passwords are
        // limited like a principal's requests, per client address and user name (no principal's
        // name contains a space). Per both, not per address: behind one proxy, one user's guesser
        // would otherwise lock out every user. Right ones are not counted, so a swarm whose agents
        // all sign in from one host can start.
        String guesses = "address " + ctx.ip() + " user " + username.substring(0, Math.min(username.length(),
                LONGEST_NAME + 1)); // a longer name is no user's; the key must not hold a megabyte
        long wait = limiter.check(guesses);
        if (wait > 0) {
            ctx.header("Retry-After", Long.toString(wait));
            throw new SwarmbusException(ErrorCode.RATE_LIMITED, "too many wrong passwords for this user name "
                    + "from this address; retry after " + wait + " s");
        }
        Optional<AccessStore.User> user;
        if (devMode && store.user(username).isEmpty()) { // signed up: one password hash, not a refused one first
            user = signUp(username, password);
        } else {
            user = store.authenticate(username, password);
        }
        if (user.isEmpty()) {
            limiter.acquire(guesses);
            throw Tokens.unauthenticated("wrong username or password");
        }
        AccessStore.User known = user.get();
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("access_token", tokens.issue(known.name(), known.admin()));
        view.put("token_type", "bearer");
        view.put("expires_in", tokens.lifetime().toSeconds());
        Http.json(ctx, 200, view);
    }

    /**
     * Signs up a new user in dev mode. The agents of a swarm often sign in at once under one new
     * name: all but the first find the user made meanwhile, and are checked against its password.
     */
    private Optional<AccessStore.User> signUp(String username, String password) {
        try {
            return Optional.of(addUser(username, password, false));
        } catch (SwarmbusException e) {
            if (e.code() != ErrorCode.ALREADY_EXISTS || store.user(username).isEmpty()) {
                throw e; // another user's agent holds the name
            }
            return store.authenticate(username, password);
        }
    }

    /**
     * Adds a user. Its name doubles as its default agent id, so it must be a valid agent id, and one
     * that no other user's agent holds: that user would otherwise receive the new user's messages
     * and send as it.
     */
    AccessStore.User addUser(String name, String password, boolean admin) {
        String valid = userName(name);
        synchronized (names) {
            if (registry.ownerOf(AgentId.of(valid)).filter(owner -> !owner.equals(valid)).isPresent()) {
                throw new SwarmbusException(ErrorCode.ALREADY_EXISTS, "user name '" + valid + "' is taken: another "
                        + "user's agent has that id, and a user's name is its default agent id");
            }
            return store.addUser(valid, password, admin);
        }
    }

    /**
     * Claims {@code agent} for user {@code owner} in one step with the check that the id is not
     * another user's name, which is that user's default agent id (admins included: it is not theirs).
     */
    <T> T claimAgentId(String owner, AgentId agent, Supplier<T> claim) {
        synchronized (names) {
            if (anotherUsersName(owner, agent)) {
                throw new SwarmbusException(ErrorCode.ALREADY_EXISTS, "agent id '" + agent + "' is taken: a user "
                        + "has that name, and a user's name is its default agent id");
            }
            return claim.get();
        }
    }

    /** Whether {@code agent} is the name, and so the default agent id, of a user other than {@code owner}. */
    boolean anotherUsersName(String owner, AgentId agent) {
        return !agent.value().equals(owner) && store.user(agent.value()).isPresent();
    }

    /**
     * A new user's name, which doubles as its default agent id, so it must be one an agent may have:
     * not {@code .} or {@code ..}, which a URL path cannot name, nor one of the server's own.
     */
    static String userName(String name) {
        String valid;
        try {
            valid = AgentId.of(name).value();
        } catch (SwarmbusException e) {
            throw SwarmbusException.invalid("username", "a user name must be a valid agent id: " + e.getMessage());
        }
        Http.requireNameableInPath("username", "user name", valid);
        if (SERVER_NAMES.contains(valid)) {
            throw SwarmbusException.of(ErrorCode.ALREADY_EXISTS, "username", "user name '" + valid + "' is taken: it "
                    + "is the server's own agent id, and a user's name is its default agent id");
        }
        return valid;
    }

    /**
     * Fails with 404 unless the caller owns {@code agent} (or is an admin), in the words used for an
     * agent that does not exist: another user's agent must not be told apart from none.
     */
    void requireOwner(Principal principal, AgentId agent) {
        if (!owns(principal, agent)) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "agent '" + agent + "' not found");
        }
    }

    /**
     * {@link #requireOwner}, and the agent must be registered: an admin owns every inbox, the
     * server's own ({@code swarmbus}, {@code llm}) among them, yet those take no tasks or swarm work.
     */
    void requireRegisteredOwner(Principal principal, AgentId agent) {
        if (!owns(principal, agent) || registry.ownerOf(agent).isEmpty()) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "agent '" + agent + "' not found");
        }
    }

    /**
     * Fails with 404 unless the caller may send as {@code from} to {@code to}: it owns the sender,
     * and, for a group, the group (others' groups are as hidden for sending as for reading).
     */
    void requireMaySend(Principal principal, AgentId from, Address to) {
        requireOwner(principal, from);
        if (to instanceof Address.Group group) {
            requireGroupOwner(principal, group.name());
        }
    }

    /**
     * A full inbox as the caller may hear of it. A group, topic or broadcast send is refused when
     * every inbox it would reach is full (ADR 0008), and the one named may be another user's agent,
     * which must go unnamed; the caller's own agents (and, for an admin, anyone's) and a direct
     * send's recipient, which the caller named itself, are named.
     */
    SwarmbusException shownTo(Principal principal, Address to, InboxFullException full) {
        if (to instanceof Address.Direct || owns(principal, full.agent())) {
            return full;
        }
        String send = to instanceof Address.Broadcast ? "broadcast" : to instanceof Address.Group ? "group message"
                : "topic message";
        return new SwarmbusException(ErrorCode.INBOX_FULL, "every inbox this " + send + " would reach is full (limit "
                + "max_inbox_depth=" + full.limit() + "); nothing was sent");
    }

    /**
     * Of the full inboxes a group, topic or broadcast send passed over, those the caller may hear
     * named: its own agents (anyone's, for an admin). Others' are only counted, as {@link #shownTo}
     * leaves them unnamed.
     */
    List<String> passedOverShownTo(Principal principal, SendResult result) {
        List<String> named = new ArrayList<>();
        for (AgentId agent : result.passedOver()) {
            if (owns(principal, agent)) {
                named.add(agent.value());
            }
        }
        return named;
    }

    /** Whether {@code agent} is registered to a user other than the caller (admins included: it is not theirs). */
    boolean ownedByAnother(Principal principal, AgentId agent) {
        return registry.ownerOf(agent).filter(owner -> !owner.equals(principal.name())).isPresent();
    }

    boolean owns(Principal principal, AgentId agent) {
        return principal.admin() || registry.ownerOf(agent).map(principal.name()::equals).orElse(false);
    }

    /** Whether the caller may see a message: it owned the sender or a recipient when the message was sent. */
    boolean maySee(Principal principal, MessageRecord record) {
        return maySee(principal, record.message(), record.deliveries().stream().map(DeliveryInfo::recipient)::iterator);
    }

    /** {@link #maySee(Principal, MessageRecord)} for a message and its recipients, as a history query filters them. */
    boolean maySee(Principal principal, Message message, Iterable<AgentId> recipients) {
        if (principal.admin() || ownedAt(principal, message.from(), message.createdAt())) {
            return true;
        }
        for (AgentId recipient : recipients) {
            if (ownedAt(principal, recipient, message.createdAt())) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether the caller owns {@code agent} in the registration that was current at {@code at}. An
     * agent id deleted and registered again by another user must not show the new owner what the
     * old owner's agent sent and received; to keep one rule, a new registration by the same user
     * starts afresh too.
     */
    boolean ownedAt(Principal principal, AgentId agent, Instant at) {
        if (principal.admin()) {
            return true;
        }
        return registry.ownership(agent).filter(o -> o.owner().equals(principal.name())
                && !at.isBefore(since(o))).isPresent();
    }

    /** When the agent's current registration began, to the millisecond as messages are stamped; far future if none. */
    Instant registeredSince(AgentId agent) {
        return registry.ownership(agent).map(Auth::since).orElse(Instant.MAX);
    }

    private static Instant since(Registry.Ownership ownership) {
        return ownership.since().truncatedTo(ChronoUnit.MILLIS);
    }

    void requireGroupOwner(Principal principal, String group) {
        if (!ownsGroup(principal, group)) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "group '" + group + "' does not exist");
        }
    }

    boolean ownsGroup(Principal principal, String group) {
        return principal.admin() || store.ownerOfGroup(group).map(principal.name()::equals).orElse(false);
    }

    static void requireAdmin(Principal principal) {
        if (!principal.admin()) {
            throw new SwarmbusException(ErrorCode.FORBIDDEN, "only an admin may do this");
        }
    }
}
