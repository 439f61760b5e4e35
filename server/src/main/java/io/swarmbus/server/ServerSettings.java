package io.swarmbus.server;

import io.swarmbus.llm.GatewaySettings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * How the HTTP server runs.
 *
 * @param dataDir where the engine and {@code access.json} live
 * @param host the interface to bind
 * @param port the port, 0 for any free one
 * @param maxRequestBytes the largest request body accepted (413 beyond)
 * @param devMode sign up unknown users at {@code /auth/token}; make and keep a JWT secret if none is set
 * @param jwtSecret the HS256 secret ({@code JWT_SECRET}); required outside dev mode
 * @param tokenLifetime how long tokens live ({@code TOKEN_EXPIRE_MINUTES})
 * @param rateLimitPerMinute requests per principal per minute ({@code RATE_LIMIT_PER_MINUTE})
 * @param adminPassword the first admin's password ({@code SWARMBUS_ADMIN_PASSWORD}); generated if absent
 * @param jwtPrivateKeyFile an RSA private key (PKCS#8 PEM): tokens are then RS256 and the secret unused
 * @param heartbeatTtl how long an agent may go without a heartbeat before it is marked offline
 * @param llm the LLM gateway's backends and routing (no backends: the gateway answers 404 for every model)
 * @param llmPort a second port serving only the OpenAI-compatible API, on platform threads
 * @param jwtSecretName what the secret was set with, for messages about it: {@code JWT_SECRET} or
 *     {@code auth.jwt_secret}, or both ({@link #JWT_SECRET_NAMES}) when that is not known
 */
public record ServerSettings(
        Path dataDir,
        String host,
        int port,
        long maxRequestBytes,
        boolean devMode,
        Optional<String> jwtSecret,
        Duration tokenLifetime,
        int rateLimitPerMinute,
        Optional<String> adminPassword,
        Optional<Path> jwtPrivateKeyFile,
        Duration heartbeatTtl,
        GatewaySettings llm,
        Optional<LlmPort> llmPort,
        String jwtSecretName) {

    /**
     * The gateway's own port: the OpenAI-compatible API only, answered on a pool of {@code threads} platform
     * threads instead of virtual threads (docs/llm-gateway.md, "The gateway's own port").
     *
     * @param port the port, 0 for any free one
     * @param threads the pool's size; past half of it busy, further calls continue on virtual threads
     */
    public record LlmPort(int port, int threads) {}

    /** A gateway without backends. */
    public static final GatewaySettings NO_LLM = GatewaySettings.of(java.util.List.of(), "least_outstanding");

    /** The ways to set the secret, named when it is not known which one was used. */
    public static final String JWT_SECRET_NAMES = "auth.jwt_secret (JWT_SECRET)";

    /** The default heartbeat TTL. */
    public static final Duration DEFAULT_HEARTBEAT_TTL = Duration.ofSeconds(30);

    /** Settings whose secret was set one way or the other. */
    public ServerSettings(Path dataDir, String host, int port, long maxRequestBytes, boolean devMode,
            Optional<String> jwtSecret, Duration tokenLifetime, int rateLimitPerMinute, Optional<String> adminPassword,
            Optional<Path> jwtPrivateKeyFile, Duration heartbeatTtl, GatewaySettings llm, Optional<LlmPort> llmPort) {
        this(dataDir, host, port, maxRequestBytes, devMode, jwtSecret, tokenLifetime, rateLimitPerMinute, adminPassword,
                jwtPrivateKeyFile, heartbeatTtl, llm, llmPort, JWT_SECRET_NAMES);
    }

    /** HS256 settings: no key pair. */
    public ServerSettings(Path dataDir, String host, int port, long maxRequestBytes, boolean devMode,
            Optional<String> jwtSecret, Duration tokenLifetime, int rateLimitPerMinute, Optional<String> adminPassword) {
        this(dataDir, host, port, maxRequestBytes, devMode, jwtSecret, tokenLifetime, rateLimitPerMinute, adminPassword,
                Optional.empty(), DEFAULT_HEARTBEAT_TTL, NO_LLM, Optional.empty());
    }

    /** Settings without LLM backends. */
    public ServerSettings(Path dataDir, String host, int port, long maxRequestBytes, boolean devMode,
            Optional<String> jwtSecret, Duration tokenLifetime, int rateLimitPerMinute, Optional<String> adminPassword,
            Optional<Path> jwtPrivateKeyFile, Duration heartbeatTtl) {
        this(dataDir, host, port, maxRequestBytes, devMode, jwtSecret, tokenLifetime, rateLimitPerMinute, adminPassword,
                jwtPrivateKeyFile, heartbeatTtl, NO_LLM, Optional.empty());
    }

    /** These settings with tokens signed RS256 by the key in {@code pemFile}. */
    public ServerSettings withJwtPrivateKey(Path pemFile) {
        return new ServerSettings(dataDir, host, port, maxRequestBytes, devMode, jwtSecret, tokenLifetime,
                rateLimitPerMinute, adminPassword, Optional.of(pemFile), heartbeatTtl, llm, llmPort, jwtSecretName);
    }

    /** These settings with another heartbeat TTL. */
    public ServerSettings withHeartbeatTtl(Duration ttl) {
        return new ServerSettings(dataDir, host, port, maxRequestBytes, devMode, jwtSecret, tokenLifetime,
                rateLimitPerMinute, adminPassword, jwtPrivateKeyFile, ttl, llm, llmPort, jwtSecretName);
    }

    /** These settings with the LLM gateway routing over {@code gateway}'s backends. */
    public ServerSettings withLlm(GatewaySettings gateway) {
        return new ServerSettings(dataDir, host, port, maxRequestBytes, devMode, jwtSecret, tokenLifetime,
                rateLimitPerMinute, adminPassword, jwtPrivateKeyFile, heartbeatTtl, gateway, llmPort, jwtSecretName);
    }

    /** These settings with the gateway also listening on its own port. */
    public ServerSettings withLlmPort(LlmPort port) {
        return new ServerSettings(dataDir, host, this.port, maxRequestBytes, devMode, jwtSecret, tokenLifetime,
                rateLimitPerMinute, adminPassword, jwtPrivateKeyFile, heartbeatTtl, llm, Optional.of(port),
                jwtSecretName);
    }

    /** These settings with the secret named {@code name} in messages about it, as it was set. */
    public ServerSettings withJwtSecretName(String name) {
        return new ServerSettings(dataDir, host, port, maxRequestBytes, devMode, jwtSecret, tokenLifetime,
                rateLimitPerMinute, adminPassword, jwtPrivateKeyFile, heartbeatTtl, llm, llmPort, name);
    }

    /** Words of the placeholders example files ship as secrets ("your-secret-key-change-in-production"). */
    private static final List<String> PLACEHOLDER_WORDS = List.of("your_secret", "secret_key", "jwt_secret",
            "change_me", "changeme", "change_this", "change_in_production", "example", "placeholder");

    /**
     * Why production mode refuses a secret, if it does: copied from an example, too short for HS256,
     * or too repetitive to be random, however long. {@code name} is what it was set with.
     */
    static Optional<String> weakness(String secret, String name) {
        int bytes = secret.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        String words = secret.toLowerCase(java.util.Locale.ROOT).replaceAll("[^a-z0-9]+", "_");
        if (PLACEHOLDER_WORDS.stream().anyMatch(words::contains)) {
            return Optional.of(name + " looks like a well-known example value or a placeholder");
        } else if (bytes < Tokens.MIN_SECRET_BYTES) {
            return Optional.of(name + " is " + bytes + " bytes; HS256 needs at least " + Tokens.MIN_SECRET_BYTES);
        } else if (secret.chars().distinct().count() < 8) {
            return Optional.of(name + " has fewer than 8 different characters, too few to be random");
        } else if (repeatsAShorterValue(secret)) {
            return Optional.of(name + " is a shorter value over and over, too repetitive to be random");
        }
        return Optional.empty();
    }

    /** Whether {@code text} is a shorter value repeated ("0123456789" four times), the last copy perhaps cut short. */
    private static boolean repeatsAShorterValue(String text) {
        for (int period = 1; period <= text.length() / 2; period++) {
            if (text.regionMatches(period, text, 0, text.length() - period)) {
                return true;
            }
        }
        return false;
    }

    /** Defaults for tests and embedding: dev mode, loopback, any port. */
    public static ServerSettings forTests(Path dataDir) {
        return new ServerSettings(dataDir, "127.0.0.1", 0, 2L << 20, true, Optional.empty(), Duration.ofMinutes(1440),
                300, Optional.of("admin-password-for-tests"));
    }
}
