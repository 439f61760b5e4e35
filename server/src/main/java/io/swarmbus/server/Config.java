package io.swarmbus.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * The server's settings: every key declared once below with its type, default, environment
 * variables and meaning. Values come from the defaults, then one YAML file ({@code --config}),
 * then environment variables, then command-line flags; each layer overrides the one before. An
 * invalid value fails at start with a message naming the key. {@code docs/config.md} is generated
 * from these declarations ({@link #markdown()}) and a test keeps it in step.
 */
final class Config {
    /** One setting. */
    record Key<T>(String name, List<String> env, String type, String defaultText, Function<String, T> parse,
            String doc) {}

    private static final List<Key<?>> KEYS = new ArrayList<>();

    static final Key<String> HOST = define("server.host", List.of("HOST"), "string", "0.0.0.0",
            Config::nonEmpty, "Interface to listen on; dev mode (`--dev`, `SWARMBUS_DEV` or `server.dev_mode`) "
                    + "defaults it to 127.0.0.1.");
    static final Key<Integer> PORT = define("server.port", List.of("PORT"), "int", "8080",
            s -> intIn(s, 0, 65_535), "TCP port; 0 picks a free one.");
    static final Key<Boolean> DEV = define("server.dev_mode", List.of("SWARMBUS_DEV"), "bool", "false",
            Config::bool, "Dev mode: `/auth/token` signs up unknown users, and without `auth.jwt_secret` the server "
                    + "makes one and keeps it in the data directory (`dev-jwt-secret`), so tokens outlive a restart.");
    static final Key<Long> MAX_REQUEST_BYTES = define("server.max_request_bytes", List.of(), "long", "2097152",
            s -> longIn(s, 1024, 1L << 30), "Largest request body accepted; larger ones get 413.");
    static final Key<String> DATA_DIR = define("storage.data_dir", List.of("SWARMBUS_DATA_DIR"), "path", "data",
            Config::nonEmpty, "Directory of the journal, snapshots and `access.json`.");
    static final Key<String> FSYNC_POLICY = define("storage.fsync_policy", List.of("SWARMBUS_FSYNC_POLICY"),
            "enum", "always", s -> oneOf(s, Set.of("always", "interval")),
            "`always`: fsync with group commit before answering (power-loss safe). `interval`: answer once written "
                    + "to the OS and fsync every `storage.fsync_interval_ms` (process-crash safe).");
    static final Key<Integer> FSYNC_INTERVAL_MS = define("storage.fsync_interval_ms", List.of(), "int", "50",
            s -> intIn(s, 1, 60_000), "fsync period under `interval`; also the longest a bookkeeping record waits.");
    static final Key<String> JWT_SECRET = define("auth.jwt_secret", List.of("JWT_SECRET"), "string", "",
            s -> s, "HS256 secret, at least 32 bytes. Required outside dev mode, where placeholders (words like `change_me`, `your_secret`, `example`) and repetitive values are refused.");
    static final Key<String> JWT_ALGORITHM = define("auth.jwt_algorithm", List.of("JWT_ALGORITHM"), "enum", "HS256",
            s -> oneOf(s, Set.of("HS256", "RS256")),
            "Token signature algorithm: `HS256` with `auth.jwt_secret`, or `RS256` with `auth.jwt_private_key_file`.");
    static final Key<String> JWT_PRIVATE_KEY_FILE = define("auth.jwt_private_key_file", List.of("JWT_PRIVATE_KEY_FILE"),
            "path", "", s -> s, "RSA private key for RS256, PKCS#8 PEM of 2048+ bits "
                    + "(`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out jwt.pem`).");
    static final Key<Integer> TOKEN_EXPIRE_MINUTES = define("auth.token_expire_minutes",
            List.of("TOKEN_EXPIRE_MINUTES"), "int", "1440", s -> intIn(s, 1, 525_600), "Token lifetime in minutes.");
    static final Key<String> ADMIN_PASSWORD = define("auth.admin_password", List.of("SWARMBUS_ADMIN_PASSWORD"),
            "string", "", Config::adminPassword, "Password of user `admin`, created on first start; 8 to 256 characters, "
                    + "generated and printed once if empty.");
    static final Key<Integer> RATE_LIMIT = define("limits.rate_limit_per_minute", List.of("RATE_LIMIT_PER_MINUTE"),
            "int", "300", s -> intIn(s, 1, 100_000_000), "Requests per principal per minute; beyond it 429 with Retry-After.");
    static final Key<Integer> HEARTBEAT_TTL_SECONDS = define("registry.heartbeat_ttl_seconds",
            List.of("SWARMBUS_HEARTBEAT_TTL_SECONDS"), "int", "30", s -> intIn(s, 1, 86_400),
            "An agent that sends no heartbeat for this long is marked offline and its tasks are released.");
    static final Key<Integer> MAX_MESSAGE_BYTES = define("messaging.max_message_bytes", List.of(), "int", "1048576",
            s -> intIn(s, 1024, 64 << 20), "Largest message (content, headers and metadata).");
    static final Key<Integer> MAX_RECEIVE_BYTES = define("messaging.max_receive_bytes", List.of(), "int",
            "8388608", s -> intIn(s, 1024, 1 << 30),
            "Most bytes of messages one receive leases (a REST receive, a WebSocket `batch` frame, one write "
                    + "of a stream), each measured as `messaging.max_message_bytes` measures it; the rest stay queued, "
                    + "not leased, for the next receive, and the first message always comes. At least "
                    + "`messaging.max_message_bytes`; unset, it rises to that if that is larger. 8 MiB: a full batch "
                    + "of 1,000 messages of up to 8 KiB each (agent messages are mostly a few KiB) still comes in one "
                    + "answer, while messages at the default 1 MiB limit come 8 to an answer rather than 1,000, as "
                    + "the server holds a whole answer in memory while it writes it.");
    static final Key<Integer> MAX_INBOX_DEPTH = define("messaging.max_inbox_depth", List.of(), "int", "100000",
            s -> intIn(s, 1, Integer.MAX_VALUE), "Most undelivered or unacked messages one inbox holds.");
    static final Key<Integer> VISIBILITY_SECONDS = define("messaging.default_visibility_seconds", List.of(), "int",
            "30", s -> intIn(s, 1, 43_200), "Lease length when a receiver names none, 1 to 43200. A receiver's "
                    + "`visibility_timeout` and a nack's `delay_seconds` may be at most 43200 (12 hours).");
    static final Key<Integer> MAX_DELIVERIES = define("messaging.max_deliveries", List.of(), "int", "5",
            s -> intIn(s, 1, 1000), "Leases after which an unacked message moves to the dead-letter queue.");
    static final Key<Integer> DEDUPE_WINDOW_SECONDS = define("messaging.dedupe_window_seconds", List.of(), "int",
            "600", s -> intIn(s, 1, 604_800), "How long an idempotency key is remembered.");
    static final Key<Integer> HISTORY_RETENTION_HOURS = define("messaging.history_retention_hours", List.of(),
            "int", "168", s -> intIn(s, 1, 87_600), "How long finished messages stay queryable.");
    static final Key<Integer> HISTORY_MAX_MESSAGES = define("messaging.history_max_messages", List.of(), "int",
            "100000", s -> intIn(s, 0, Integer.MAX_VALUE), "Most finished messages kept queryable.");
    static final Key<Integer> HISTORY_MAX_MEGABYTES = define("messaging.history_max_megabytes", List.of(), "int",
            "1024", s -> intIn(s, 0, 1 << 20), "Most memory the finished messages kept queryable take. They are "
                    + "kept outside the Java heap, in direct memory, and take at most half of the JVM's limit "
                    + "(`-XX:MaxDirectMemorySize`, by default the heap's maximum) whatever this says.");

    static final Key<String> AUDIT_DIR = define("audit.dir", List.of("MESSAGE_HISTORY_DIR", "SWARMBUS_AUDIT_DIR"),
            "path", "", s -> s, "Directory of the daily JSONL audit files (`agent_activity_`, `message_audit_`, "
                    + "`task_history_`, `performance_`, `errors_`); empty turns auditing off. Made at start if "
                    + "missing; one that cannot be made or written stops the server at start.");
    static final Key<Integer> AUDIT_RETENTION_DAYS = define("audit.retention_days", List.of(), "int", "30",
            s -> intIn(s, 1, 3650), "Audit files older than this many days are deleted.");
    static final Key<Integer> PERFORMANCE_INTERVAL_SECONDS = define("audit.performance_interval_seconds", List.of(),
            "int", "60", s -> intIn(s, 1, 86_400), "How often a `performance_` record is written.");

    static final Key<String> LLM_BACKENDS = define("llm.backends", List.of("LLM_BACKENDS"), "list", "", s -> s,
            "OpenAI-compatible backends of the LLM gateway: a comma list of URLs (each serving every model its "
                    + "`/v1/models` lists; also `--llm-backend URL`, repeatable), or in YAML a list of URLs and objects "
                    + "with `url` and optional `name`, `api_key_env`, `models`, `weight`, `max_concurrency`, `rpm`, "
                    + "`tpm`, `input_cost_per_million`, `output_cost_per_million`. See docs/llm-gateway.md.");
    static final Key<String> LLM_STRATEGY = define("llm.strategy", List.of("LLM_STRATEGY"), "enum",
            "least_outstanding", s -> oneOf(s, io.swarmbus.llm.route.Strategies.NAMES),
            "How the gateway picks a backend: round_robin, weighted, least_outstanding, peak_ewma, power_of_two, "
                    + "prefix_affinity, usage_based, cost_based.");
    static final Key<String> LOAD_BALANCING_STRATEGY = define("load_balancing.strategy", List.of(), "enum", "",
            s -> s.isEmpty() ? s : oneOf(s, io.swarmbus.llm.route.Strategies.NAMES),
            "AgentSched's name for `llm.strategy`; when set, it wins over `llm.strategy` in the file, but not over "
                    + "`LLM_STRATEGY` or `--llm-strategy`.");
    static final Key<Integer> CONNECTION_POOL_MAX = define("connection_pool.max_connections", List.of(), "int", "64",
            s -> intIn(s, 1, 100_000), "Most requests in flight to one LLM backend (unless the backend sets "
                    + "`max_concurrency`); more wait in the gateway's admission queue.");
    static final Key<Integer> CONNECTION_POOL_TIMEOUT = define("connection_pool.timeout", List.of(), "int", "300",
            s -> intIn(s, 1, 86_400), "Seconds to wait for an LLM backend to accept a "
                    + "connection, to answer, and for each next piece of a stream; before the answer starts, another "
                    + "backend is tried.");
    static final Key<Integer> LLM_PORT = define("llm.port", List.of("SWARMBUS_LLM_PORT"), "int", "-1",
            s -> intIn(s, -1, 65_535), "A second port for the LLM gateway (also `--llm-port N`): the "
                    + "OpenAI-compatible API (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, "
                    + "`/v1/models`, `/v1/models/{model}`) only, answered on platform threads, which adds less latency "
                    + "and takes more requests a second than the main port's virtual threads (docs/llm-gateway.md). "
                    + "-1 for none, 0 for any free port.");
    static final Key<Integer> LLM_PORT_THREADS = define("llm.port_threads", List.of(), "int", "200",
            s -> intIn(s, 16, 10_000), "Platform threads of `llm.port`; while more than half of them are busy, "
                    + "further calls on it continue on virtual threads, so slow models never starve the port.");
    static final Key<Integer> LLM_MAX_QUEUE = define("llm.max_queue", List.of(), "int", "10000",
            s -> intIn(s, 0, 10_000_000), "LLM requests that may wait for a backend slot; beyond it 429 with Retry-After.");
    static final Key<Integer> LLM_QUEUE_TIMEOUT = define("llm.queue_timeout_seconds", List.of(), "int", "60",
            s -> intIn(s, 1, 86_400), "Longest an LLM request waits for a backend slot (503 after); "
                    + "`X-Swarmbus-Timeout-Ms` can ask for less.");
    static final Key<Integer> LLM_RETRIES = define("llm.retries", List.of(), "int", "2", s -> intIn(s, 0, 10),
            "Further backends tried after a connect error, timeout, 5xx or 429, before any byte reached the client.");
    static final Key<String> LLM_FALLBACKS = define("llm.fallbacks", List.of(), "map", "", s -> s,
            "Model fallbacks, in YAML a map from a model (or alias) to a model or a list of models tried in order "
                    + "when it cannot be answered, e.g. `gpt-4o: [gpt-4o-mini]`; another shape is refused at start.");
    static final Key<String> LLM_ROUTES = define("llm.routes", List.of(), "map", "", s -> s,
            "Routes with a strategy of their own, in YAML a map from a model (or alias) to `{strategy: name}`, e.g. "
                    + "`sim-model: {strategy: prefix_affinity}`; other models use `llm.strategy`. Another shape is "
                    + "refused at start.");
    static final Key<String> LLM_LIMITS = define("llm.limits", List.of(), "map", "", s -> s,
            "Rate limits and daily budgets of the LLM gateway, in YAML a map with `key` (every principal), `agent` "
                    + "(every agent), `keys` and `agents` (by name), each a quota of `rpm`, `tpm`, `daily_tokens`, "
                    + "`daily_cost` (0 = no limit), e.g. `agent: {rpm: 60, daily_cost: 5}`. Over a limit: 429.");
    static final Key<Integer> SCALING_MIN_AGENTS = define("scaling.min_agents", List.of(), "int", "1",
            s -> intIn(s, 0, 1_000_000), "Fewest agents the scaling signal advises (`GET /api/v1/scaling`).");
    static final Key<Integer> SCALING_MAX_AGENTS = define("scaling.max_agents", List.of(), "int", "10",
            s -> intIn(s, 1, 1_000_000), "Most agents the scaling signal advises.");
    static final Key<Double> SCALING_FACTOR = define("scaling.scaling_factor", List.of(), "number", "1.5",
            s -> numberAbove(s, 1), "Agents are multiplied by it to scale up and divided by it to scale down.");
    static final Key<Integer> SCALING_BACKLOG = define("scaling.target_backlog_per_agent", List.of(), "int", "10",
            s -> intIn(s, 1, 1_000_000), "Messages waiting per agent above which the signal asks for more agents.");
    static final Key<Double> SCALING_UTILIZATION = define("scaling.target_utilization", List.of(), "number", "0.8",
            Config::share, "Share of LLM backend slots busy at the advised backend count (0 to 1).");

    // The seed's Kafka settings: read and checked now, used by the Kafka storage mode, which is not
    // in this release. Brokers set therefore stop the server (Main), rather than leave data on local
    // disk when the operator asked for Kafka.
    static final Key<String> KAFKA_BOOTSTRAP_SERVERS = define("kafka.bootstrap_servers",
            List.of("KAFKA_BOOTSTRAP_SERVERS"), "list", "", Config::hostPorts,
            "Kafka brokers, `host:port`, comma-separated or a YAML list. Storage on Kafka is not in this release: "
                    + "with brokers set the server refuses to start, rather than keep the data on local disk.");
    static final Key<String> KAFKA_TOPIC_PREFIX = define("kafka.topic_prefix", List.of("KAFKA_TOPIC_PREFIX"), "string",
            "swarmbus_", s -> s, "Prefix of the Kafka topics (Kafka storage).");
    static final Key<Integer> KAFKA_NUM_PARTITIONS = define("kafka.num_partitions", List.of("KAFKA_NUM_PARTITIONS"),
            "int", "6", s -> intIn(s, 1, 10_000), "Partitions of each Kafka topic (Kafka storage).");
    static final Key<Integer> KAFKA_REPLICATION_FACTOR = define("kafka.replication_factor",
            List.of("KAFKA_REPLICATION_FACTOR"), "int", "1", s -> intIn(s, 1, 32),
            "Replicas of each Kafka partition (Kafka storage).");
    static final Key<String> KAFKA_TOPICS = define("kafka.topics", List.of(), "list", "", s -> s,
            "AgentSched's list of topics. Swarmbus creates topics as agents use them, so this is read and not used.");

    /** Keys whose YAML value is a list or map, kept as JSON text rather than flattened. */
    private static final Set<String> STRUCTURED = Set.of("llm.backends", "llm.fallbacks", "llm.limits", "llm.routes",
            "kafka.bootstrap_servers", "kafka.topics");

    /** The command-line flags that set a key, and the key each sets. */
    static final Map<String, String> FLAGS = Map.of(
            "port", PORT.name(),
            "host", HOST.name(),
            "data-dir", DATA_DIR.name(),
            "max-request-bytes", MAX_REQUEST_BYTES.name(),
            "llm-backend", LLM_BACKENDS.name(),
            "llm-strategy", LLM_STRATEGY.name(),
            "llm-port", LLM_PORT.name(),
            "dev", DEV.name());

    private final Map<String, Object> values;
    /** Where each value that was given came from: its key in the file, its environment variable, or its flag. */
    private final Map<String, String> origins = new HashMap<>();

    private Config(Map<String, Object> values) {
        this.values = values;
    }

    private static <T> Key<T> define(String name, List<String> env, String type, String defaultText,
            Function<String, T> parse, String doc) {
        Key<T> key = new Key<>(name, env, type, defaultText, parse, doc);
        KEYS.add(key);
        return key;
    }

    /**
     * Reads the layers: defaults, {@code file} if given, {@code env}, then {@code flags} (by key name).
     * Dev mode, however it is switched on, moves the host's default to loopback.
     */
    static Config load(Optional<Path> file, Map<String, String> env, Map<String, String> flags) {
        Map<String, String> later = new HashMap<>(); // the layers after the file
        Map<String, String> origins = new HashMap<>();
        Map<String, String> given = new HashMap<>();
        file.ifPresent(f -> given.putAll(readYaml(f)));
        given.keySet().forEach(name -> origins.put(name, name));
        for (Key<?> key : KEYS) {
            key.env().stream().filter(env::containsKey).findFirst().ifPresent(v -> {
                later.put(key.name(), env.get(v));
                origins.put(key.name(), v);
            });
        }
        later.putAll(flags);
        flags.keySet().forEach(name -> origins.put(name, FLAGS.entrySet().stream()
                .filter(f -> f.getValue().equals(name)).findFirst().map(f -> "--" + f.getKey()).orElse(name)));
        given.putAll(later);
        Map<String, String> raw = new HashMap<>();
        KEYS.forEach(k -> raw.put(k.name(), k.defaultText()));
        raw.putAll(given);
        if (!given.containsKey(HOST.name()) && devMode(raw.get(DEV.name()))) {
            raw.put(HOST.name(), "127.0.0.1");
        }
        Config config = parse(raw, origins);
        config.origins.putAll(origins);
        config.boundReceives(given.containsKey(MAX_RECEIVE_BYTES.name()));
        config.checkScalingBounds();
        config.takeLoadBalancingStrategy(later.containsKey(LLM_STRATEGY.name()));
        return config;
    }

    /** Refuses a scaling range upside down here, where the message can name the key and its value. */
    private void checkScalingBounds() {
        int min = get(SCALING_MIN_AGENTS);
        int max = get(SCALING_MAX_AGENTS);
        if (min > max) {
            throw new IllegalArgumentException("config key '" + SCALING_MIN_AGENTS.name() + "' is invalid: must be "
                    + "at most " + SCALING_MAX_AGENTS.name() + " (" + max + ") (was '" + min + "')");
        }
    }

    /**
     * Makes {@code load_balancing.strategy}, AgentSched's name for {@code llm.strategy} and read from
     * the file only, the strategy: it wins over the file's {@code llm.strategy}, but not over
     * {@code LLM_STRATEGY} or {@code --llm-strategy}, which are later layers.
     */
    private void takeLoadBalancingStrategy(boolean strategyLater) {
        String strategy = get(LOAD_BALANCING_STRATEGY);
        if (!strategy.isEmpty() && !strategyLater) {
            values.put(LLM_STRATEGY.name(), strategy);
        }
    }

    /**
     * Keeps a receive able to hold any message: a bound below the message limit is refused, and
     * the default bound rises to meet a message limit raised past it, so that raising only
     * {@code max_message_bytes}, as a config written before the bound did, still starts.
     */
    private void boundReceives(boolean given) {
        int maxMessage = get(MAX_MESSAGE_BYTES);
        int maxReceive = get(MAX_RECEIVE_BYTES);
        if (maxReceive >= maxMessage) {
            return;
        }
        if (given) {
            throw new IllegalArgumentException("config key '" + MAX_RECEIVE_BYTES.name() + "' is invalid: must be at "
                    + "least " + MAX_MESSAGE_BYTES.name() + " (" + maxMessage + "), so that any message can be "
                    + "received (was '" + maxReceive + "')");
        }
        values.put(MAX_RECEIVE_BYTES.name(), maxMessage);
    }

    /** Whether {@code text} switches dev mode on; an invalid value is reported by {@link #parse}. */
    private static boolean devMode(String text) {
        try {
            return bool(text.trim());
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** Parses every key's text; a value refused is named by its key, and by the variable or flag that gave it. */
    private static Config parse(Map<String, String> raw, Map<String, String> origins) {
        Map<String, Object> values = new HashMap<>();
        for (Key<?> key : KEYS) {
            String text = raw.get(key.name());
            try {
                values.put(key.name(), key.parse().apply(text.trim()));
            } catch (IllegalArgumentException e) {
                String origin = origins.getOrDefault(key.name(), key.name());
                throw new IllegalArgumentException("config key '" + key.name() + "'"
                        + (origin.equals(key.name()) ? "" : " (from " + origin + ")") + " is invalid: " + e.getMessage()
                        + (key == ADMIN_PASSWORD ? "" : " (was '" + text + "')")); // a password is not echoed
            }
        }
        return new Config(values);
    }

    private static Map<String, String> readYaml(Path file) {
        if (file.toString().isEmpty()) { // else read as the current directory: "cannot read config file : Is a directory"
            throw new IllegalArgumentException("--config is empty; give the path of a YAML file");
        }
        JsonNode root;
        Map<String, String> numbers;
        try {
            byte[] bytes = Files.readAllBytes(file);
            root = new ObjectMapper(new YAMLFactory()).enable(
                    com.fasterxml.jackson.core.JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
                    .readTree(bytes);
            numbers = numbersAsWritten(bytes);
        } catch (com.fasterxml.jackson.core.JsonParseException e) {
            if (e.getMessage().startsWith("Duplicate field") && e.getProcessor() != null) {
                // Else the last would win silently, and a section given twice would lose all of the first.
                String key = e.getProcessor().getParsingContext().pathAsPointer().toString().substring(1)
                        .replace('/', '.');
                throw new IllegalArgumentException("config file " + file + " gives the key '" + key + "' twice (line "
                        + e.getLocation().getLineNr() + "); give each key once");
            }
            throw new IllegalArgumentException("cannot read config file " + file + ": " + syntaxError(e));
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IllegalArgumentException("config file " + file + " does not exist");
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read config file " + file + ": "
                    + io.swarmbus.storage.StorageException.reason(e));
        }
        Map<String, String> flat = new LinkedHashMap<>();
        if (root == null || root.isMissingNode() || root.isNull()) {
            return flat; // empty, or only comments: no settings
        }
        if (!root.isObject()) {
            throw new IllegalArgumentException("config file " + file + " holds "
                    + (root.isArray() ? "a list" : "a single value") + " at the top; it must be a map of settings, "
                    + "like 'server:' with 'port: 8080' under it");
        }
        Set<String> lists = new java.util.HashSet<>();
        flatten("", root, flat, lists, numbers);
        Set<String> known = new java.util.HashSet<>();
        KEYS.forEach(k -> known.add(k.name()));
        for (String name : flat.keySet()) {
            if (name.equals("agents") || name.startsWith("agents.")) {
                throw new IllegalArgumentException("config file " + file + " declares 'agents', as AgentSched's "
                        + "config does; Swarmbus does not start agents from its config: register them (POST "
                        + "/api/v1/agents) or run managed LLM agents (POST /api/v1/managed-agents), see docs/swarms.md");
            }
            String value = lists.contains(name) ? flat.get(name) : "'" + flat.get(name) + "'";
            Optional<Key<?>> under = firstKeyUnder(name);
            if (!known.contains(name) && under.isPresent()) {
                // Else "unknown key 'server'", as if the section were misspelled.
                throw new IllegalArgumentException("config key '" + name + "' is invalid: it is a section, a map of "
                        + "keys like '" + under.get().name() + "', not one value (was " + value + ")");
            }
            if (!known.contains(name)) {
                throw new IllegalArgumentException("config file " + file + " has an unknown key '" + name
                        + "'; see docs/config.md");
            }
            if (lists.contains(name)) {
                throw new IllegalArgumentException("config key '" + name + "' is invalid: it takes one value, not a "
                        + (value.startsWith("{") ? "map" : "list") + " (was " + value + ")");
            }
        }
        // A number in a structured key (llm.limits) is read from the tree, not from its text as written:
        // one the environment would refuse (0x10, 1_000) is refused here rather than read as YAML 1.1 reads it.
        numbers.forEach((path, text) -> {
            if (!flat.containsKey(path) && !text.matches(DECIMAL)) {
                throw new IllegalArgumentException("config key '" + path + "' is invalid: expected a number in "
                        + "decimal digits (was '" + text + "')");
            }
        });
        return flat;
    }

    /**
     * Every number in the YAML {@code bytes} by its dotted path, as written. YAML 1.1, which the
     * parser follows, reads {@code 0x4659}, {@code 8_080} and {@code 0777} (octal) as numbers, where
     * the environment's {@code PORT=0x4659} is refused: a key's value from the file is this text, so
     * both sources take the same forms and refuse the others with the same message.
     */
    private static Map<String, String> numbersAsWritten(byte[] bytes) throws IOException {
        Map<String, String> numbers = new HashMap<>();
        try (com.fasterxml.jackson.core.JsonParser parser = new YAMLFactory().createParser(bytes)) {
            for (var token = parser.nextToken(); token != null; token = parser.nextToken()) {
                if (token.isNumeric()) {
                    numbers.put(parser.getParsingContext().pathAsPointer().toString().substring(1).replace('/', '.'),
                            parser.getText());
                }
            }
        }
        return numbers;
    }

    /**
     * What is wrong where, on one line. The parser's own message spans lines and quotes the file,
     * which holds secrets such as {@code auth.jwt_secret}, so neither goes to the log.
     */
    private static String syntaxError(com.fasterxml.jackson.core.JsonParseException e) {
        if (e.getCause() instanceof org.yaml.snakeyaml.error.MarkedYAMLException yaml && yaml.getProblemMark() != null) {
            return "line " + (yaml.getProblemMark().getLine() + 1) + ", column " + (yaml.getProblemMark().getColumn() + 1)
                    + ": " + firstLine(yaml.getProblem());
        }
        return "line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + ": "
                + firstLine(e.getOriginalMessage());
    }

    private static String firstLine(String text) {
        return String.valueOf(text).lines().findFirst().orElse("").strip();
    }

    /**
     * Puts {@code node}'s settings into {@code into}, naming in {@code lists} those that are lists
     * (or maps) where one value belongs; they are refused once unknown keys have been.
     */
    private static void flatten(String prefix, JsonNode node, Map<String, String> into, Set<String> lists,
            Map<String, String> numbers) {
        Optional<Key<?>> key = KEYS.stream().filter(k -> k.name().equals(prefix)).findFirst();
        if (STRUCTURED.contains(prefix) && (node.isObject() || node.isArray())) {
            if (node.isObject() && key.filter(k -> k.type().equals("list")).isPresent()) {
                throw new IllegalArgumentException("config key '" + prefix + "' is invalid: it takes a list, not a "
                        + "map (was " + node + ")");
            }
            putOnce(into, prefix, node.toString());
        } else if (node.isObject() && key.isEmpty()) {
            node.properties().forEach(e -> flatten(prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey(),
                    e.getValue(), into, lists, numbers));
        } else if (node.isNull() && firstKeyUnder(prefix).isPresent()) {
            // A section with nothing under it, or only comments, sets nothing, as such a file does.
        } else if (node.isContainerNode()) {
            lists.add(prefix);
            putOnce(into, prefix, node.toString());
        } else {
            putOnce(into, prefix, node.isNull() ? "" : node.isNumber() ? numbers.getOrDefault(prefix, node.asText())
                    : node.asText());
        }
    }

    /**
     * The parser finds a key given twice under one map; this finds one given both with dots in its
     * name and nested ({@code server.port:} and {@code server:} → {@code port:}), which it cannot.
     */
    private static void putOnce(Map<String, String> into, String key, String value) {
        if (into.putIfAbsent(key, value) != null) {
            throw new IllegalArgumentException("config key '" + key + "' is given twice in the file, once with dots "
                    + "in its name and once nested; give each key once");
        }
    }

    /** The first key in {@code section}, if it is one. */
    private static Optional<Key<?>> firstKeyUnder(String section) {
        return KEYS.stream().filter(k -> k.name().startsWith(section + ".")).findFirst();
    }

    /**
     * What the user set {@code key}'s value with, for messages about the value: the file's key, the
     * environment variable or the flag, whichever gave it; when none did, the key and its
     * environment variables ({@code auth.jwt_secret (JWT_SECRET)}), the ways to set it.
     */
    String origin(Key<?> key) {
        String given = origins.get(key.name());
        if (given != null) {
            return given;
        }
        return key.env().isEmpty() ? key.name() : key.name() + " (" + String.join(", ", key.env()) + ")";
    }

    @SuppressWarnings("unchecked")
    <T> T get(Key<T> key) {
        return (T) values.get(key.name());
    }

    /** The reference table of {@code docs/config.md}. */
    static String markdown() {
        StringBuilder out = new StringBuilder("""
                # Configuration

                Generated from the declarations in `server/src/main/java/io/swarmbus/server/Config.java`
                (`ConfigTest` fails when this file and they differ). Values are read from the defaults,
                then the YAML file given with `swarmbus serve --config FILE`, then environment variables,
                then command-line flags (`--port`, `--host`, `--data-dir`, `--max-request-bytes`,
                `--llm-backend`, `--llm-strategy`, `--llm-port`, `--dev`). A YAML file nests keys by their
                dots (`server:` → `port: 8080`); an empty file or section, or one of comments only, sets nothing. An
                unknown key, a key given twice in the file, or an invalid value (an empty path or host, a
                list where one value belongs) stops the server at start with a message naming the key.
                Where a key has two environment variables (`audit.dir`), the first one set wins. An enum's
                value is taken in any case (`ROUND_ROBIN`, `Interval`, `hs256`). Numbers are written in
                decimal digits, in the file as in the environment: `0x1F90`, `8_080` and a leading zero
                (`0777`, octal to YAML 1.1) are refused.

                Two settings are environment variables only, since the log reads them before anything else:
                `SWARMBUS_LOG_FORMAT=json` writes the server's log as one JSON object a line (level,
                logger, thread, formatted message, timestamp) on stderr, the error that stops the server at
                start included; anything else keeps plain text.
                `SWARMBUS_ACCESS_LOG=debug` logs one line per request (method, route template, status,
                principal) under the logger `io.swarmbus.access`.

                | key | environment | type | default | meaning |
                |---|---|---|---|---|
                """);
        for (Key<?> key : KEYS) {
            out.append("| `").append(key.name()).append("` | ")
                    .append(key.env().isEmpty() ? "" : "`" + String.join("`, `", key.env()) + "`").append(" | ")
                    .append(key.type()).append(" | ")
                    .append(key.defaultText().isEmpty() ? "(none)" : "`" + key.defaultText() + "`").append(" | ")
                    .append(key.doc()).append(" |\n");
        }
        return out.toString();
    }

    /** {@code host:port} entries, from a YAML list or comma-separated text; empty for none. */
    private static String hostPorts(String text) {
        List<String> entries = new ArrayList<>();
        if (text.startsWith("[")) {
            try {
                new ObjectMapper().readTree(text).forEach(entry -> entries.add(entry.asText().trim()));
            } catch (IOException e) {
                throw new IllegalArgumentException("expected a list of host:port");
            }
        } else if (!text.isBlank()) {
            for (String entry : text.split(",")) {
                entries.add(entry.trim());
            }
        }
        for (String entry : entries) {
            if (!entry.matches("[^\\s:/]+:\\d{1,5}")) {
                throw new IllegalArgumentException("'" + entry + "' is not host:port");
            }
        }
        return String.join(",", entries);
    }

    /** Empty (one is generated), or a password {@code POST /api/v1/users} would take. */
    private static String adminPassword(String text) {
        if (!text.isEmpty() && (text.length() < 8 || text.length() > 256)) {
            throw new IllegalArgumentException("must be 8 to 256 characters, or empty to have one generated");
        }
        return text;
    }

    private static String nonEmpty(String text) {
        if (text.isEmpty()) {
            throw new IllegalArgumentException("must not be empty");
        }
        return text;
    }

    /** A number written in decimal digits, as the environment and the file take it. */
    private static final String DECIMAL = "[-+]?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][-+]?[0-9]+)?";

    private static double numberAbove(String text, double floor) {
        // Decimal digits only, as a number in llm.limits: Double.parseDouble also takes 0x1p3, 1.5f,
        // 2d and surrounding blanks, and a leading zero is refused as for whole numbers.
        if (!text.matches(DECIMAL)) {
            throw new IllegalArgumentException("expected a number in decimal digits");
        }
        double value = Double.parseDouble(text);
        if (!(value > floor) || Double.isInfinite(value)) {
            throw new IllegalArgumentException("must be more than " + floor);
        }
        return value;
    }

    /** A share of a whole: more than 0 and at most 1. */
    private static double share(String text) {
        double value = numberAbove(text, 0);
        if (value > 1) {
            throw new IllegalArgumentException("must be more than 0 and at most 1");
        }
        return value;
    }

    private static int intIn(String text, int min, int max) {
        return (int) longIn(text, min, max);
    }

    private static long longIn(String text, long min, long max) {
        if (text.matches("[+-]?0[0-9]+")) { // YAML 1.1 reads 0777 as octal, Long.parseLong as decimal: neither guessed
            throw new IllegalArgumentException("expected a whole number without leading zeros");
        }
        long value;
        try {
            value = Long.parseLong(text);
        } catch (NumberFormatException e) {
            // Digits too many for a long are a whole number out of range, not something else.
            throw new IllegalArgumentException(text.matches("[+-]?\\d+") ? "must be " + min + " to " + max
                    : "expected a whole number");
        }
        if (value < min || value > max) {
            throw new IllegalArgumentException("must be " + min + " to " + max);
        }
        return value;
    }

    private static boolean bool(String text) {
        return switch (text.toLowerCase(Locale.ROOT)) {
            case "true", "yes", "1" -> true;
            case "false", "no", "0" -> false;
            default -> throw new IllegalArgumentException("expected true or false");
        };
    }

    /** The allowed value {@code text} names, in any case ({@code Round_Robin}, {@code hs256}), as declared. */
    private static String oneOf(String text, Set<String> allowed) {
        return allowed.stream().filter(text::equalsIgnoreCase).findFirst().orElseThrow(() ->
                // Sorted: a Set.of's order changes from run to run, and so would the message.
                new IllegalArgumentException("must be one of " + new java.util.TreeSet<>(allowed)));
    }
}
