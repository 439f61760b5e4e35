package io.swarmbus.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.storage.StorageException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.security.spec.InvalidKeySpecException;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;

/**
 * Who may do what: user accounts (PBKDF2-hashed passwords), admin API keys (stored as SHA-256
 * hashes), and which user owns each agent and group. Kept in {@code access.json} in the data
 * directory, rewritten atomically (temp file, fsync, rename) on every change; changes are rare.
 */
final class AccessStore {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(AccessStore.class);
    /** What every API key starts with, so a bearer value can be told from a JWT. */
    static final String API_KEY_PREFIX = "sbk_";
    private static final int ITERATIONS = 120_000;
    private static final SecureRandom RANDOM = new SecureRandom();
    /** The salt a password is hashed with when its user does not exist (any will do). */
    private static final byte[] UNKNOWN_USER_SALT = new byte[16];

    /** A user as stored. */
    record User(String name, String salt, String hash, boolean admin) {}

    private final Path file;
    // Read on every request (and every WebSocket frame) without the lock: a sign-in hashes its
    // password (ITERATIONS rounds of PBKDF2), and other requests must not wait behind it. Changes
    // still take the lock, so that each save writes one consistent state.
    private final Map<String, User> users = new java.util.concurrent.ConcurrentHashMap<>();
    private final Map<String, String> apiKeys = new java.util.concurrent.ConcurrentHashMap<>();
    private final Map<String, String> agentOwners = new HashMap<>();
    private final Map<String, String> groupOwners = new HashMap<>();

    private AccessStore(Path file) {
        this.file = file;
    }

    static AccessStore open(Path dataDir) {
        AccessStore store = new AccessStore(dataDir.resolve("access.json"));
        try {
            Files.createDirectories(dataDir);
            if (Files.exists(store.file)) {
                store.load(RequestBody.MAPPER.readTree(Files.readAllBytes(store.file)));
            }
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw store.damaged("it is not valid JSON (line " + e.getLocation().getLineNr() + ", column "
                    + e.getLocation().getColumnNr() + ")");
        } catch (IOException e) {
            throw new SwarmbusException(ErrorCode.STORAGE_FAILURE, "cannot read " + store.file + ": " + e.getMessage(), e);
        }
        return store;
    }

    /**
     * Reads the store. A file that is not what {@link #save} writes is refused: read as no users,
     * the server would make a new admin and write over every user and key.
     */
    private void load(JsonNode root) {
        if (root == null || !root.isObject()) {
            throw damaged("it holds no JSON object");
        }
        for (JsonNode u : root.path("users")) {
            if (!u.path("name").isTextual() || !u.path("salt").isTextual() || !u.path("hash").isTextual()
                    || !u.path("admin").isBoolean()) {
                throw damaged("a user in it lacks its name, salt, hash or admin flag");
            }
            users.put(u.get("name").asText(), new User(u.get("name").asText(), u.get("salt").asText(),
                    u.get("hash").asText(), u.get("admin").asBoolean()));
        }
        root.path("api_keys").properties().forEach(e -> apiKeys.put(e.getKey(), e.getValue().asText()));
        root.path("agent_owners").properties().forEach(e -> agentOwners.put(e.getKey(), e.getValue().asText()));
        root.path("group_owners").properties().forEach(e -> groupOwners.put(e.getKey(), e.getValue().asText()));
    }

    private SwarmbusException damaged(String why) {
        return new SwarmbusException(ErrorCode.STORAGE_FAILURE, "cannot read " + file + ": " + why
                + "; restore it from a backup, or move it away to start with no users but a new admin");
    }

    boolean hasUsers() {
        return !users.isEmpty();
    }

    Optional<User> user(String name) {
        return Optional.ofNullable(users.get(name));
    }

    /** Adds a user; {@code already_exists} if the name is taken. */
    synchronized User addUser(String name, String password, boolean admin) {
        if (users.containsKey(name)) {
            throw new SwarmbusException(ErrorCode.ALREADY_EXISTS, "user '" + name + "' already exists");
        }
        checkPassword(password);
        byte[] salt = new byte[16];
        RANDOM.nextBytes(salt);
        User user = new User(name, Base64.getEncoder().encodeToString(salt), hash(password, salt), admin);
        users.put(name, user);
        saveOrUndo(() -> users.remove(name));
        return user;
    }

    /** Removes a user, if there is one by that name. */
    synchronized void removeUser(String name) {
        User removed = users.remove(name);
        if (removed != null) {
            saveOrUndo(() -> users.put(name, removed));
        }
    }

    static void checkPassword(String password) {
        if (password.length() < 8 || password.length() > 256) {
            throw SwarmbusException.invalid("password", "password must be 8 to 256 characters");
        }
    }

    /** The user if the password is right; comparison in constant time. */
    Optional<User> authenticate(String name, String password) {
        User user = users.get(name);
        if (user == null) {
            hash(password, UNKNOWN_USER_SALT); // as long as a wrong password, so the time tells no user names
            return Optional.empty();
        }
        String candidate = hash(password, Base64.getDecoder().decode(user.salt()));
        boolean ok = MessageDigest.isEqual(candidate.getBytes(StandardCharsets.UTF_8),
                user.hash().getBytes(StandardCharsets.UTF_8));
        return ok ? Optional.of(user) : Optional.empty();
    }

    /** Creates an admin API key for {@code owner}; the key is returned once and stored only hashed. */
    synchronized String newApiKey(String owner) {
        byte[] raw = new byte[32];
        RANDOM.nextBytes(raw);
        String key = API_KEY_PREFIX + HexFormat.of().formatHex(raw);
        apiKeys.put(sha256(key), owner);
        saveOrUndo(() -> apiKeys.remove(sha256(key)));
        return key;
    }

    Optional<User> userForApiKey(String key) {
        return Optional.ofNullable(apiKeys.get(sha256(key))).map(users::get);
    }

    /**
     * Agent owners as older versions kept them here, before the registry held them: moved into
     * the registry once at start, then dropped from this file.
     */
    synchronized Map<String, String> takeLegacyAgentOwners() {
        Map<String, String> owners = new HashMap<>(agentOwners);
        if (!agentOwners.isEmpty()) {
            agentOwners.clear();
            save();
        }
        return owners;
    }

    synchronized Optional<String> ownerOfGroup(String group) {
        return Optional.ofNullable(groupOwners.get(group));
    }

    synchronized void setGroupOwner(String group, String owner) {
        String before = groupOwners.put(group, owner);
        saveOrUndo(() -> {
            if (before == null) {
                groupOwners.remove(group);
            } else {
                groupOwners.put(group, before);
            }
        });
    }

    synchronized void removeGroup(String group) {
        String owner = groupOwners.remove(group);
        if (owner != null) {
            saveOrUndo(() -> groupOwners.put(group, owner));
        }
    }

    private static String hash(String password, byte[] salt) {
        try {
            PBEKeySpec spec = new PBEKeySpec(password.toCharArray(), salt, ITERATIONS, 256);
            byte[] derived = SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).getEncoded();
            return "pbkdf2-sha256$" + ITERATIONS + "$" + Base64.getEncoder().encodeToString(derived);
        } catch (NoSuchAlgorithmException | InvalidKeySpecException e) {
            throw new IllegalStateException("PBKDF2WithHmacSHA256 is part of every JDK", e);
        }
    }

    private static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }

    /**
     * Saves a change made in memory, or takes it back with {@code undo} if it cannot be saved: a
     * change the caller is told failed must not stay in force until the next restart loses it.
     */
    private void saveOrUndo(Runnable undo) {
        try {
            save();
        } catch (RuntimeException e) {
            undo.run();
            throw e;
        }
    }

    /** Writes the whole store to a temp file, fsyncs it, and renames it over the old one. */
    private void save() {
        ObjectNode root = RequestBody.MAPPER.createObjectNode();
        var list = root.putArray("users");
        users.values().forEach(u -> list.addObject().put("name", u.name()).put("salt", u.salt())
                .put("hash", u.hash()).put("admin", u.admin()));
        ObjectNode keys = root.putObject("api_keys");
        apiKeys.forEach(keys::put);
        ObjectNode groups = root.putObject("group_owners");
        groupOwners.forEach(groups::put);
        Path temp = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            Files.write(temp, RequestBody.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(root));
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                channel.force(true);
            }
            Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            try (FileChannel dir = FileChannel.open(file.toAbsolutePath().getParent(), StandardOpenOption.READ)) {
                dir.force(true);
            }
        } catch (IOException e) {
            // The client is told why, not where: the path is the operator's, in the log.
            LOG.error("cannot write {}", file, e);
            throw new SwarmbusException(ErrorCode.STORAGE_FAILURE, "cannot save users, API keys and group owners "
                    + "(access.json in the data directory): " + StorageException.reason(e), e);
        }
    }
}
