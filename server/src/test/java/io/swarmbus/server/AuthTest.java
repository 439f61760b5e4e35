package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.PlainJWT;
import com.nimbusds.jwt.SignedJWT;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Authentication, ownership and rate limits over real HTTP. */
class AuthTest {
    static final String SECRET = "0123456789abcdef0123456789abcdef-test-secret";

    @TempDir
    Path dir;
    MessageBus bus;
    HttpServer server;
    final HttpClient client = HttpClient.newHttpClient();

    record Reply(int status, JsonNode body, HttpResponse<String> raw) {}

    void start(boolean dev, int ratePerMinute) {
        start(dev, ratePerMinute, Duration.ofMinutes(60));
    }

    /** The bus's settings, which a test may change before it starts the server. */
    UnaryOperator<BusConfig.Builder> busSettings = UnaryOperator.identity();

    void start(boolean dev, int ratePerMinute, Duration tokenLifetime) {
        bus = MessageBus.open(busSettings.apply(BusConfig.builder(dir)).build());
        server = HttpServer.start(bus, new ServerSettings(dir, "127.0.0.1", 0, 1 << 20, dev, Optional.of(SECRET),
                tokenLifetime, ratePerMinute, Optional.of("the-admin-password")));
    }

    /**
     * Regression: a dev server without a configured secret made a new one at every start, so a
     * restart logged everyone out.
     */
    @Test
    void aDevServerWithoutASecret_keepsItsTokensAcrossARestart_inAFileOnlyItsOwnerReads() throws Exception {
        bus = MessageBus.open(BusConfig.builder(dir).build());
        server = HttpServer.start(bus, ServerSettings.forTests(dir));
        HttpResponse<String> issued = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                + "/auth/token")).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                "{\"username\":\"dev\",\"password\":\"password-1\"}")).build(), HttpResponse.BodyHandlers.ofString());
        String token = RequestBody.MAPPER.readTree(issued.body()).get("access_token").asText();
        stop();

        bus = MessageBus.open(BusConfig.builder(dir).build());
        server = HttpServer.start(bus, ServerSettings.forTests(dir));
        HttpResponse<String> agents = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                + "/api/v1/agents")).header("Authorization", "Bearer " + token).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(agents.statusCode()).as(agents.body()).isEqualTo(200);
        Path kept = dir.resolve(HttpServer.DEV_SECRET_FILE);
        assertThat(java.nio.file.Files.getPosixFilePermissions(kept)).containsExactlyInAnyOrder(
                java.nio.file.attribute.PosixFilePermission.OWNER_READ,
                java.nio.file.attribute.PosixFilePermission.OWNER_WRITE);
        assertThat(HttpServer.devSecret(dir)).as("the same secret, read back").isEqualTo(
                java.nio.file.Files.readString(kept).strip()).hasSize(64);
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        if (bus != null) {
            bus.close();
        }
    }

    Reply call(String method, String path, String body, Map<String, String> headers) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json");
        headers.forEach(request::header);
        HttpResponse<String> response = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
        return new Reply(response.statusCode(), RequestBody.MAPPER.readTree(response.body()), response);
    }

    String token(String user, String password) throws Exception {
        Reply reply = call("POST", "/auth/token", "{\"username\":\"" + user + "\",\"password\":\"" + password + "\"}",
                Map.of());
        assertThat(reply.status()).as(reply.body().toString()).isEqualTo(200);
        return reply.body().get("access_token").asText();
    }

    /**
     * Starts a dev-mode server and signs up alice and bob, with an agent each named like them if
     * {@code withAgents}; their tokens.
     */
    String[] aliceAndBob(boolean withAgents) throws Exception {
        start(true, 300);
        String alice = token("alice", "alice-password");
        String bob = token("bob", "bob-password");
        if (withAgents) {
            call("POST", "/agents/register", "{\"agent_id\":\"alice\"}", bearer(alice));
            call("POST", "/agents/register", "{\"agent_id\":\"bob\"}", bearer(bob));
        }
        return new String[] {alice, bob};
    }

    Map<String, String> bearer(String token) {
        return Map.of("Authorization", "Bearer " + token);
    }

    @Test
    void productionMode_withoutASecret_refusesToStart() {
        bus = MessageBus.open(BusConfig.builder(dir).build());
        assertThatThrownBy(() -> HttpServer.start(bus, new ServerSettings(dir, "127.0.0.1", 0, 1 << 20, false,
                Optional.empty(), Duration.ofMinutes(60), 300, Optional.of("pw-pw-pw-pw"))))
                .hasMessageContaining("auth.jwt_secret (JWT_SECRET) is not set");
        assertThatThrownBy(() -> HttpServer.start(bus, new ServerSettings(dir, "127.0.0.1", 0, 1 << 20, false,
                Optional.of("your_secret_key_here"), Duration.ofMinutes(60), 300, Optional.of("pw-pw-pw-pw"))))
                .hasMessageContaining("well-known");
        Map<String, String> refused = Map.of(
                "your-secret-key-change-in-production", "JWT_SECRET looks like a well-known example value",
                "CHANGE_ME_to_a_long_random_string_0123", "JWT_SECRET looks like a well-known example value",
                "a".repeat(40), "JWT_SECRET has fewer than 8 different characters",
                "abababababababababababababababababababab", "JWT_SECRET has fewer than 8 different characters",
                // Regression: enough different characters let a repeated value through.
                "0123456789".repeat(4), "JWT_SECRET is a shorter value over and over",
                "abcdefgh".repeat(4), "JWT_SECRET is a shorter value over and over",
                "my-jwt-signing-key-".repeat(2) + "my", "JWT_SECRET is a shorter value over and over",
                // Regression: a short secret was called a placeholder.
                "k3Xq9v", "JWT_SECRET is 6 bytes; HS256 needs at least 32");
        refused.forEach((secret, why) -> assertThat(ServerSettings.weakness(secret, "JWT_SECRET")).as(secret).hasValueSatisfying(
                reason -> assertThat(reason).startsWith(why)));
        assertThat(ServerSettings.weakness(java.util.HexFormat.of().formatHex(new byte[] {
                0x3f, 0x1a, 0x5c, (byte) 0x9e, 0x27, 0x41, (byte) 0xd8, 0x6b, 0x02, (byte) 0xf3, 0x7c, 0x55, (byte) 0xb1,
                0x0e, (byte) 0x96, 0x4d}), "JWT_SECRET")).isEmpty();
        assertThatThrownBy(() -> HttpServer.start(bus, new ServerSettings(dir, "127.0.0.1", 0, 1 << 20, false,
                Optional.of("your-secret-key-change-in-production"), Duration.ofMinutes(60), 300, Optional.of("pw-pw-pw-pw"))))
                .hasMessageContaining("well-known");
    }

    @Test
    void aPasswordInTheUrl_isRefused_andIssuesNoToken() throws Exception {
        start(false, 300);

        Reply inUrl = call("POST", "/auth/token?username=admin&password=the-admin-password", "{}", Map.of());

        assertThat(inUrl.status()).isEqualTo(400);
        assertThat(inUrl.body().get("field").asText()).isEqualTo("password");
        assertThat(inUrl.body().has("access_token")).isFalse();
        assertThat(token("admin", "the-admin-password")).as("the body still works").isNotBlank();
    }

    static Path rsaKeyPem(Path dir, String name, int bits) throws Exception {
        java.security.KeyPairGenerator generator = java.security.KeyPairGenerator.getInstance("RSA");
        generator.initialize(bits);
        byte[] pkcs8 = generator.generateKeyPair().getPrivate().getEncoded();
        String pem = "-----BEGIN PRIVATE KEY-----\n"
                + java.util.Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(pkcs8)
                + "\n-----END PRIVATE KEY-----\n";
        return java.nio.file.Files.writeString(dir.resolve(name), pem);
    }

    @Test
    void rs256_issuesAndVerifiesWithTheKeyPair_andRefusesOtherKeysAndAlgorithms() throws Exception {
        bus = MessageBus.open(BusConfig.builder(dir).build());
        Path key = rsaKeyPem(dir, "jwt.pem", 2048);
        server = HttpServer.start(bus, new ServerSettings(dir, "127.0.0.1", 0, 1 << 20, false, Optional.empty(),
                Duration.ofMinutes(60), 300, Optional.of("the-admin-password")).withJwtPrivateKey(key));

        String token = token("admin", "the-admin-password");
        Reply listed = call("GET", "/api/v1/agents", null, bearer(token));
        String foreign = Tokens.rs256(rsaKeyPem(dir, "other.pem", 2048), Duration.ofMinutes(5),
                java.time.Clock.systemUTC()).issue("admin", true);
        SignedJWT hs = new SignedJWT(new JWSHeader(JWSAlgorithm.HS256), new JWTClaimsSet.Builder().subject("admin")
                .expirationTime(Date.from(Instant.now().plusSeconds(600))).build());
        hs.sign(new MACSigner(java.nio.file.Files.readAllBytes(key))); // alg confusion: the key file as an HMAC secret

        assertThat(SignedJWT.parse(token).getHeader().getAlgorithm()).isEqualTo(JWSAlgorithm.RS256);
        assertThat(listed.status()).isEqualTo(200);
        assertThat(call("GET", "/api/v1/agents", null, bearer(foreign)).status()).isEqualTo(401);
        assertThat(call("GET", "/api/v1/agents", null, bearer(hs.serialize())).status()).isEqualTo(401);
    }

    @Test
    void rs256_refusesToStartWithAMissingWeakOrMalformedKey() throws Exception {
        bus = MessageBus.open(BusConfig.builder(dir).build());
        ServerSettings base = new ServerSettings(dir, "127.0.0.1", 0, 1 << 20, false, Optional.empty(),
                Duration.ofMinutes(60), 300, Optional.of("pw-pw-pw-pw"));
        Path garbage = java.nio.file.Files.writeString(dir.resolve("garbage.pem"),
                "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");

        assertThatThrownBy(() -> HttpServer.start(bus, base.withJwtPrivateKey(dir.resolve("missing.pem"))))
                .hasMessageContaining("auth.jwt_private_key_file").hasMessageContaining("cannot read");
        assertThatThrownBy(() -> HttpServer.start(bus, base.withJwtPrivateKey(rsaKeyPem(dir, "weak.pem", 1024))))
                .hasMessageContaining("at least 2048 bits");
        assertThatThrownBy(() -> HttpServer.start(bus, base.withJwtPrivateKey(garbage)))
                .hasMessageContaining("is not an RSA private key");
        assertThatThrownBy(() -> HttpServer.start(bus, base.withJwtPrivateKey(
                java.nio.file.Files.writeString(dir.resolve("public.pem"), "-----BEGIN PUBLIC KEY-----\nAA==\n"))))
                .hasMessageContaining("not a PKCS#8 PEM private key");
    }

    @Test
    void productionMode_doesNotSignUpUnknownUsers_butAdminsCreateThem() throws Exception {
        start(false, 300);
        Reply unknown = call("POST", "/auth/token", "{\"username\":\"eve\",\"password\":\"whatever-pw\"}", Map.of());
        String admin = token("admin", "the-admin-password");
        Reply created = call("POST", "/api/v1/users", "{\"username\":\"bob\",\"password\":\"bob-password\"}",
                bearer(admin));
        Reply byNonAdmin = call("POST", "/api/v1/users", "{\"username\":\"mallory\",\"password\":\"mallory-pw\"}",
                bearer(token("bob", "bob-password")));

        assertThat(unknown.status()).isEqualTo(401);
        assertThat(created.status()).isEqualTo(201);
        assertThat(byNonAdmin.status()).isEqualTo(403);
        assertThat(call("POST", "/auth/token", "{\"username\":\"bob\",\"password\":\"wrong-password\"}", Map.of())
                .status()).isEqualTo(401);
    }

    /**
     * Regression: a wrong password for a user that exists cost a password hash and one for a user
     * that does not cost nothing, so the answer's time told which user names exist.
     */
    @Test
    void productionMode_anUnknownUser_takesAsLongToRefuseAsAWrongPassword() throws Exception {
        start(false, 300);
        long known = Long.MAX_VALUE;
        long unknown = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) { // the fastest of five: the least disturbed by the machine's other work
            known = Math.min(known, timedRefusal("admin"));
            unknown = Math.min(unknown, timedRefusal("no-such-user"));
        }
        assertThat(unknown).as("nanoseconds to refuse an unknown user, against %s for a known one", known)
                .isGreaterThan(known / 2);
    }

    private long timedRefusal(String user) throws Exception {
        long started = System.nanoTime();
        Reply reply = call("POST", "/auth/token", "{\"username\":\"" + user + "\",\"password\":\"wrong-password\"}",
                Map.of());
        long took = System.nanoTime() - started;
        assertThat(reply.status()).isEqualTo(401);
        return took;
    }

    @Test
    void badTokens_areRejectedWith401() throws Exception {
        start(true, 300);
        String good = token("alice", "alice-password");
        String tampered = good.substring(0, good.length() - 4) + (good.endsWith("AAAA") ? "BBBB" : "AAAA");
        String none = new PlainJWT(new JWTClaimsSet.Builder().subject("alice")
                .expirationTime(Date.from(Instant.now().plusSeconds(600))).build()).serialize();
        SignedJWT expired = new SignedJWT(new JWSHeader(JWSAlgorithm.HS256), new JWTClaimsSet.Builder()
                .subject("alice").expirationTime(Date.from(Instant.now().minusSeconds(5))).build());
        expired.sign(new MACSigner(SECRET.getBytes(StandardCharsets.UTF_8)));

        assertThat(call("GET", "/api/v1/agents", null, bearer(good)).status()).isEqualTo(200);
        for (String bad : new String[] {tampered, none, expired.serialize(), "garbage"}) {
            Reply reply = call("GET", "/api/v1/agents", null, bearer(bad));
            assertThat(reply.status()).as(bad).isEqualTo(401);
            assertThat(reply.body().get("error").asText()).isEqualTo("unauthenticated");
        }
        assertThat(call("GET", "/api/v1/agents", null, Map.of()).status()).isEqualTo(401);
    }

    @Test
    void ownership_othersAgentsAndMessagesAre404() throws Exception {
        String[] users = aliceAndBob(true);
        String alice = users[0];
        String bob = users[1];
        String id = call("POST", "/messages", "{\"receiver_id\":\"bob\",\"content\":\"hi\"}", bearer(alice))
                .body().get("message_id").asText();

        Reply sendAsBob = call("POST", "/api/v1/messages", "{\"from\":\"bob\",\"to\":\"alice\",\"content\":1}",
                bearer(alice));
        Reply receiveForBob = call("POST", "/api/v1/agents/bob/receive", "{}", bearer(alice));
        Reply takeover = call("POST", "/agents/register", "{\"agent_id\":\"bob\"}", bearer(alice));
        Reply seenByBob = call("GET", "/messages/" + id, null, bearer(bob));
        String carol = token("carol", "carol-password");
        Reply seenByCarol = call("GET", "/messages/" + id, null, bearer(carol));

        assertThat(sendAsBob.status()).isEqualTo(404);
        assertThat(receiveForBob.status()).isEqualTo(404);
        assertThat(takeover.status()).isEqualTo(409);
        assertThat(seenByBob.status()).isEqualTo(200);
        assertThat(seenByCarol.status()).isEqualTo(404);
        assertThat(call("GET", "/api/v1/agents", null, bearer(alice)).body().get("count").asInt()).isEqualTo(1);
    }

    /**
     * Regression: a user's name is its default agent id, yet bob could register agent id `carol`
     * before or after user carol existed, receiving what was sent to her and sending as her.
     */
    @Test
    void anotherUsersName_cannotBeClaimedAsAnAgentId_norAnotherUsersAgentIdAsAUserName() throws Exception {
        start(false, 300);
        String admin = token("admin", "the-admin-password");
        for (String user : List.of("bob", "carol")) {
            assertThat(call("POST", "/api/v1/users", "{\"username\":\"" + user + "\",\"password\":\"" + user
                    + "-password\"}", bearer(admin)).status()).isEqualTo(201);
        }
        String bob = token("bob", "bob-password");

        Reply squatUser = call("POST", "/agents/register", "{\"agent_id\":\"carol\"}", bearer(bob));
        Reply squatAdmin = call("POST", "/api/v1/agents", "{\"agent_id\":\"admin\"}", bearer(bob));
        Reply byAdmin = call("POST", "/api/v1/agents", "{\"agent_id\":\"carol\"}", bearer(admin));
        Reply own = call("POST", "/agents/register", "{\"agent_id\":\"bob\"}", bearer(bob));
        Reply other = call("POST", "/agents/register", "{\"agent_id\":\"dave\"}", bearer(bob));
        Reply userOverAgent = call("POST", "/api/v1/users", "{\"username\":\"dave\",\"password\":\"dave-password\"}",
                bearer(admin));

        assertThat(squatUser.status()).as(squatUser.body().toString()).isEqualTo(409);
        assertThat(squatUser.body().get("message").asText()).contains("a user has that name");
        assertThat(squatAdmin.status()).isEqualTo(409);
        assertThat(byAdmin.status()).as("not the admin's either").isEqualTo(409);
        assertThat(own.status()).isEqualTo(201);
        assertThat(other.status()).isEqualTo(201);
        assertThat(userOverAgent.status()).as(userOverAgent.body().toString()).isEqualTo(409);
        assertThat(userOverAgent.body().get("message").asText()).contains("another user's agent has that id");
        assertThat(call("POST", "/auth/token", "{\"username\":\"dave\",\"password\":\"dave-password\"}", Map.of())
                .status()).isEqualTo(401);
        // carol's own default agent is still hers to register.
        assertThat(call("POST", "/agents/register", "{\"agent_id\":\"carol\"}", bearer(token("carol",
                "carol-password"))).status()).isEqualTo(201);
    }

    /** Regression: dev mode signed up a user whose name was another user's agent id. */
    @Test
    void devMode_doesNotSignUpAUserNamedLikeAnotherUsersAgent() throws Exception {
        String[] users = aliceAndBob(false);
        assertThat(call("POST", "/agents/register", "{\"agent_id\":\"carol\"}", bearer(users[1])).status())
                .isEqualTo(201);

        Reply signUp = call("POST", "/auth/token", "{\"username\":\"carol\",\"password\":\"carol-password\"}",
                Map.of());

        assertThat(signUp.status()).as(signUp.body().toString()).isEqualTo(409);
        assertThat(signUp.body().has("access_token")).isFalse();
        assertThat(call("GET", "/api/v1/agents/carol", null, bearer(users[1])).status()).isEqualTo(200);
    }

    /**
     * Regression: a user could be named like an agent id no agent may have ({@code .}, {@code ..}, or
     * the server's own), and so have a default agent it could never register.
     */
    @Test
    void aUserNameNoAgentMayHave_isRefused_atSignUpAndByAnAdmin() throws Exception {
        start(true, 300);
        Map<String, Integer> refused = Map.of(".", 400, "..", 400, "swarmbus", 409, "llm", 409, "networks", 409);
        refused.forEach((name, status) -> {
            try {
                Reply signUp = call("POST", "/auth/token", "{\"username\":\"" + name + "\",\"password\":\"a-password\"}",
                        Map.of());
                assertThat(signUp.status()).as(name + ": " + signUp.body()).isEqualTo(status);
                assertThat(signUp.body().get("field").asText()).isEqualTo("username");
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        Reply added = call("POST", "/api/v1/users", "{\"username\":\"llm\",\"password\":\"a-password\"}",
                bearer(token("admin", "the-admin-password")));

        assertThat(added.status()).as(added.body().toString()).isEqualTo(409);
    }

    /** Regression: all but one of several first sign-ins under a new name at once were refused 409. */
    @Test
    void devMode_manySignInsAtOnceUnderANewName_allGetAToken() throws Exception {
        start(true, 300);
        String body = "{\"username\":\"swarm\",\"password\":\"swarm-password\"}";
        List<java.util.concurrent.Callable<Reply>> signIns = java.util.Collections.nCopies(8,
                () -> call("POST", "/auth/token", body, Map.of()));
        List<Integer> statuses = new java.util.ArrayList<>();
        try (var threads = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            for (var reply : threads.invokeAll(signIns)) {
                statuses.add(reply.get().status());
            }
        }

        assertThat(statuses).containsOnly(200);
        assertThat(call("POST", "/auth/token", "{\"username\":\"swarm\",\"password\":\"other-password\"}",
                Map.of()).status()).isEqualTo(401);
    }

    @Test
    void anAgentIdDeletedAndRegisteredByAnotherUser_showsThemNothingOfItsPast() throws Exception {
        String[] users = aliceAndBob(false);
        String alice = users[0];
        String bob = users[1];
        call("POST", "/api/v1/agents", "{\"agent_id\":\"a1\"}", bearer(alice));
        call("POST", "/api/v1/agents", "{\"agent_id\":\"tmp1\",\"capabilities\":[\"secret-work\"]}", bearer(alice));
        String id = call("POST", "/api/v1/messages", "{\"from\":\"a1\",\"to\":\"tmp1\",\"content\":\"secret\","
                + "\"conversation_id\":\"c1\"}", bearer(alice)).body().get("message_id").asText();
        String fromTmp = call("POST", "/api/v1/messages", "{\"from\":\"tmp1\",\"to\":\"a1\",\"content\":\"reply\"}",
                bearer(alice)).body().get("message_id").asText();
        String task = call("POST", "/api/v1/tasks", "{\"type\":\"x\",\"required_capabilities\":[\"secret-work\"]}",
                bearer(alice)).body().get("task_id").asText();
        assertThat(call("POST", "/api/v1/tasks/" + task + "/complete", "{\"agent_id\":\"tmp1\",\"result\":1}",
                bearer(alice)).status()).isEqualTo(200);
        assertThat(call("GET", "/api/v1/tasks/" + task, null, bearer(alice)).body().get("assignee").asText())
                .isEqualTo("tmp1");
        String running = call("POST", "/api/v1/tasks", "{\"type\":\"y\",\"required_capabilities\":[\"secret-work\"],"
                + "\"parameters\":{\"api_secret\":\"s3cr3t\"}}", bearer(alice)).body().get("task_id").asText();
        assertThat(call("GET", "/api/v1/tasks/" + running, null, bearer(alice)).body().get("assignee").asText())
                .isEqualTo("tmp1");
        assertThat(call("DELETE", "/api/v1/agents/tmp1", null, bearer(alice)).status()).isEqualTo(200);
        assertThat(call("POST", "/api/v1/agents", "{\"agent_id\":\"tmp1\",\"capabilities\":[\"secret-work\"]}",
                bearer(bob)).status()).isEqualTo(201);
        // Bob's tmp1 is not the agent alice's task went to: it may neither see nor report on it.
        for (String report : List.of("progress", "complete", "fail")) {
            Reply reply = call("POST", "/api/v1/tasks/" + running + "/" + report, "{\"agent_id\":\"tmp1\","
                    + "\"progress\":5,\"result\":\"taken\"}", bearer(bob));
            assertThat(reply.status()).as(report + " " + reply.body()).isEqualTo(404);
            assertThat(reply.body().toString()).doesNotContain("s3cr3t").doesNotContain("alice");
        }
        assertThat(call("GET", "/api/v1/tasks/" + running, null, bearer(alice)).body().get("status").asText())
                .isNotEqualTo("completed");
        String after = call("POST", "/api/v1/messages", "{\"from\":\"a1\",\"to\":\"tmp1\",\"content\":\"new\"}",
                bearer(alice)).body().get("message_id").asText();

        assertThat(call("GET", "/api/v1/messages/" + id, null, bearer(bob)).status()).isEqualTo(404);
        assertThat(call("GET", "/api/v1/messages/" + fromTmp, null, bearer(bob)).status()).isEqualTo(404);
        assertThat(call("GET", "/api/v1/tasks/" + task, null, bearer(bob)).status()).isEqualTo(404);
        JsonNode history = call("GET", "/api/v1/agents/tmp1/messages", null, bearer(bob)).body();
        assertThat(history.get("count").asInt()).as(history.toString()).isEqualTo(1);
        assertThat(history.get("messages").get(0).get("id").asText()).isEqualTo(after);
        assertThat(call("GET", "/api/v1/messages?conversation_id=c1", null, bearer(bob)).body().get("count").asInt())
                .isZero();
        // The old owner still sees its own message, through the sender it still owns.
        assertThat(call("GET", "/api/v1/messages/" + id, null, bearer(alice)).status()).isEqualTo(200);
    }

    @Test
    void anAgentIdDeletedAndRegisteredByAnotherUser_doesNotInheritItsIdempotencyKeys() throws Exception {
        String[] users = aliceAndBob(true);
        String alice = users[0];
        String bob = users[1];
        call("POST", "/api/v1/agents", "{\"agent_id\":\"shared-id\"}", bearer(alice));
        Reply first = call("POST", "/api/v1/messages", "{\"from\":\"shared-id\",\"to\":\"alice\",\"content\":\"a\","
                + "\"idempotency_key\":\"order-1\"}", bearer(alice));
        assertThat(call("DELETE", "/api/v1/agents/shared-id", null, bearer(alice)).status()).isEqualTo(200);
        assertThat(call("POST", "/api/v1/agents", "{\"agent_id\":\"shared-id\"}", bearer(bob)).status()).isEqualTo(201);

        Reply bobs = call("POST", "/api/v1/messages", "{\"from\":\"shared-id\",\"to\":\"bob\",\"content\":\"b\","
                + "\"idempotency_key\":\"order-1\"}", bearer(bob));

        assertThat(bobs.status()).as(bobs.body().toString()).isEqualTo(201);
        assertThat(bobs.body().get("duplicate").asBoolean()).isFalse();
        assertThat(bobs.body().get("message_id").asText()).isNotEqualTo(first.body().get("message_id").asText());
        JsonNode received = call("POST", "/api/v1/agents/bob/receive", "{}", bearer(bob)).body();
        assertThat(received.get("count").asInt()).as(received.toString()).isEqualTo(1);
    }

    @Test
    void anAgentPutInAnotherUsersGroup_canBeTakenOutByItsOwner_whoSeesNoOtherMember() throws Exception {
        String[] users = aliceAndBob(true);
        String alice = users[0];
        String bob = users[1];
        assertThat(call("POST", "/groups", "{\"group_name\":\"team\",\"agent_ids\":[\"alice\",\"bob\"]}", bearer(alice))
                .status()).as("as the seed's walk-through does: a group of several users' agents").isEqualTo(201);

        Reply mine = call("DELETE", "/api/v1/groups/team/members/bob", null, bearer(bob));
        Reply notMine = call("DELETE", "/api/v1/groups/team/members/alice", null, bearer(bob));
        Reply again = call("DELETE", "/api/v1/groups/team/members/bob", null, bearer(bob));

        assertThat(mine.status()).as(mine.body().toString()).isEqualTo(200);
        assertThat(mine.body().get("changed").asBoolean()).isTrue();
        assertThat(mine.body().has("agent_ids")).as("alice's agents go unnamed").isFalse();
        assertThat(notMine.status()).isEqualTo(404);
        assertThat(again.status()).as("no longer a member: the group is not bob's to see").isEqualTo(404);
        assertThat(call("GET", "/api/v1/groups/team", null, bearer(alice)).body().get("agent_ids").toString())
                .isEqualTo("[\"alice\"]");
    }

    /**
     * A full inbox is passed over by a broadcast or topic message, which reaches the rest (one agent
     * that stopped receiving once refused everyone's broadcasts), and goes unnamed to whoever may
     * not know the agent; a send every inbox of which is full is refused.
     */
    @Test
    void aFullInboxOfAnotherUsersAgent_isPassedOverUnnamed_byABroadcastOrTopicMessage_thatReachesTheRest()
            throws Exception {
        busSettings = b -> b.maxInboxDepth(2);
        String[] users = aliceAndBob(true);
        String alice = users[0];
        String bob = users[1];
        call("POST", "/api/v1/agents", "{\"agent_id\":\"secret-agent-of-bob\"}", bearer(bob));
        for (String agent : List.of("secret-agent-of-bob", "bob")) {
            call("POST", "/api/v1/topics/news/subscribers", "{\"agent_id\":\"" + agent + "\"}", bearer(bob));
        }
        for (int i = 0; i < 2; i++) {
            assertThat(call("POST", "/api/v1/messages", "{\"to\":\"secret-agent-of-bob\",\"content\":\"fills it\"}",
                    bearer(alice)).status()).isEqualTo(201);
        }
        String admin = token("admin", "the-admin-password");

        Reply broadcast = call("POST", "/api/v1/messages/broadcast", "{\"content\":1}", bearer(alice));
        Reply published = call("POST", "/api/v1/topics/news/messages", "{\"content\":1}", bearer(alice));
        Reply byOwner = call("POST", "/api/v1/messages/broadcast", "{\"content\":1}", bearer(bob));
        // bob's own inbox now holds two: every inbox a broadcast from alice reaches is full.
        Reply allFull = call("POST", "/api/v1/messages/batch", "{\"messages\":[{\"broadcast\":true,\"content\":1}]}",
                bearer(alice));
        Reply byAdmin = call("POST", "/api/v1/messages/broadcast", "{\"from\":\"alice\",\"content\":1}", bearer(admin));
        Reply direct = call("POST", "/api/v1/messages", "{\"to\":\"secret-agent-of-bob\",\"content\":1}", bearer(alice));

        for (Reply passedOver : List.of(broadcast, published)) {
            assertThat(passedOver.status()).as(passedOver.body().toString()).isEqualTo(201);
            assertThat(passedOver.body().get("recipients").asInt()).isEqualTo(1);
            assertThat(passedOver.body().get("not_reached").asInt()).isEqualTo(1);
            assertThat(passedOver.body().get("not_reached_agent_ids").size()).isZero();
            assertThat(passedOver.raw().body()).doesNotContain("secret-agent-of-bob");
        }
        assertThat(byOwner.status()).isEqualTo(201);
        assertThat(byOwner.body().get("not_reached_agent_ids").toString()).isEqualTo("[\"secret-agent-of-bob\"]");
        JsonNode inBatch = allFull.body().get("results").get(0);
        assertThat(inBatch.get("status").asInt()).as(inBatch.toString()).isEqualTo(429);
        assertThat(inBatch.get("message").asText()).doesNotContain("secret-agent-of-bob").contains("would reach is full");
        // Named to whoever may know the agent: an admin, the one who named it.
        assertThat(byAdmin.status()).as(byAdmin.body().toString()).isEqualTo(429);
        assertThat(byAdmin.body().get("message").asText()).contains("inbox 'bob' is full");
        assertThat(direct.status()).isEqualTo(429);
        assertThat(direct.body().get("message").asText()).contains("inbox 'secret-agent-of-bob' is full");
        assertThat(call("POST", "/api/v1/agents/bob/receive", "{}", bearer(bob)).body().get("count").asInt())
                .as("the broadcast and the topic message").isEqualTo(2);
        String metrics = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                .build(), HttpResponse.BodyHandlers.ofString()).body();
        assertThat(metrics).contains("swarmbus_messages_not_reached_total 3.0");
    }

    @Test
    void aRoleBroadcastWithAFullInbox_sendsNoCopy_andABadOneIsRefusedEvenWhenNoAgentMatches() throws Exception {
        busSettings = b -> b.maxInboxDepth(1);
        String alice = aliceAndBob(true)[0];
        for (String agent : List.of("w-a", "w-b", "w-c")) {
            call("POST", "/api/v1/agents", "{\"agent_id\":\"" + agent + "\",\"role\":\"worker\"}", bearer(alice));
        }
        call("POST", "/api/v1/messages", "{\"to\":\"w-b\",\"content\":\"fills it\"}", bearer(alice));

        Reply refused = call("POST", "/api/v1/messages/broadcast", "{\"role\":\"worker\",\"content\":1}", bearer(alice));
        Reply noneMatch = call("POST", "/api/v1/messages/broadcast", "{\"role\":\"judge\",\"priority\":9,\"content\":1}",
                bearer(alice));
        Reply notTheirs = call("POST", "/api/v1/messages/broadcast", "{\"from\":\"bob\",\"role\":\"judge\",\"content\":1}",
                bearer(alice));

        assertThat(refused.status()).as(refused.body().toString()).isEqualTo(429);
        assertThat(call("GET", "/api/v1/agents/w-a", null, bearer(alice)).body().get("pending").asInt())
                .as("refused whole: w-a, sorted before the full w-b, got no copy").isZero();
        assertThat(noneMatch.status()).as(noneMatch.body().toString()).isEqualTo(400);
        assertThat(noneMatch.body().get("field").asText()).isEqualTo("priority");
        assertThat(notTheirs.status()).as(notTheirs.body().toString()).isEqualTo(404);
    }

    @Test
    void historyPages_holdTheCallersOwnMessages_howeverBusyOtherUsersAre() throws Exception {
        String[] users = aliceAndBob(true);
        String alice = users[0];
        String bob = users[1];
        String bobs = call("POST", "/api/v1/messages", "{\"to\":\"bob\",\"content\":\"mine\"}", bearer(bob))
                .body().get("message_id").asText();
        for (int i = 0; i < 5; i++) {
            call("POST", "/api/v1/messages", "{\"to\":\"alice\",\"content\":" + i + "}", bearer(alice));
        }

        JsonNode page = call("GET", "/api/v1/messages?limit=1", null, bearer(bob)).body();

        assertThat(page.get("count").asInt()).as(page.toString()).isEqualTo(1); // was 0: the limit came first
        assertThat(page.get("messages").get(0).get("id").asText()).isEqualTo(bobs);
        assertThat(call("GET", "/api/v1/messages?limit=3", null, bearer(alice)).body().get("count").asInt()).isEqualTo(3);
    }

    /**
     * Regression: a history filter on another user's agent matched a topic message both users'
     * agents received, so bob could learn which topics (or groups) alice's agent is in.
     */
    @Test
    void historyFiltersOnAnotherUsersAgent_showOnlyWhatTheCallerCouldSeeOfIt() throws Exception {
        String[] users = aliceAndBob(true);
        String alice = users[0];
        String bob = users[1];
        call("POST", "/agents/register", "{\"agent_id\":\"alice-news\"}", bearer(alice));
        call("POST", "/api/v1/topics/news/subscribers", "{\"agent_id\":\"alice\"}", bearer(alice));
        call("POST", "/api/v1/topics/news/subscribers", "{\"agent_id\":\"bob\"}", bearer(bob));
        call("POST", "/api/v1/messages", "{\"from\":\"alice-news\",\"topic\":\"news\",\"content\":\"n\"}",
                bearer(alice));
        String toAlice = call("POST", "/api/v1/messages", "{\"from\":\"bob\",\"to\":\"alice\",\"content\":\"hi\"}",
                bearer(bob)).body().get("message_id").asText();

        for (String filter : new String[] {"agent=alice", "peer=alice"}) {
            JsonNode page = call("GET", "/api/v1/messages?" + filter, null, bearer(bob)).body();
            assertThat(page.findValues("id")).as(filter + ": " + page).extracting(JsonNode::asText)
                    .containsExactly(toAlice); // not the topic message, which alice's agent received too
        }
        assertThat(call("GET", "/api/v1/messages?agent=alice-news", null, bearer(bob)).body().get("count").asInt())
                .as("its sender is shown to every recipient").isEqualTo(1);
        assertThat(call("GET", "/api/v1/messages?agent=bob&peer=alice", null, bearer(bob)).body().get("count").asInt())
                .isEqualTo(1);
        assertThat(call("GET", "/api/v1/messages?agent=alice", null, bearer(alice)).body().get("count").asInt())
                .as("alice sees her own agent's whole history").isEqualTo(2);
    }

    @Test
    void adminApiKey_authenticates() throws Exception {
        start(false, 300);
        String admin = token("admin", "the-admin-password");
        String key = call("POST", "/api/v1/api-keys", "{}", bearer(admin)).body().get("api_key").asText();

        assertThat(call("GET", "/api/v1/agents", null, Map.of("X-Api-Key", key)).status()).isEqualTo(200);
        assertThat(call("GET", "/api/v1/agents", null, Map.of("X-Api-Key", key + "x")).status()).isEqualTo(401);
        assertThat(call("GET", "/api/v1/agents", null, Map.of("Authorization", "Bearer " + key)).status())
                .as("a key where OpenAI's clients send theirs").isEqualTo(200);
        assertThat(call("GET", "/api/v1/agents", null, Map.of("Authorization", "Bearer " + key + "x")).status())
                .isEqualTo(401);
        // Keys have no scopes: asking for one must not quietly make an unscoped admin key.
        Reply scoped = call("POST", "/api/v1/api-keys", "{\"name\":\"ci\",\"scopes\":[\"read\"]}", bearer(admin));
        assertThat(scoped.status()).isEqualTo(400);
        assertThat(scoped.body().get("field").asText()).isEqualTo("name");
        assertThat(call("POST", "/api/v1/api-keys", "[1]", bearer(admin)).status()).isEqualTo(400);
    }

    /**
     * Regression: a user, key or group owner that access.json could not take (say, a full disk)
     * was answered 503 yet kept in memory: the user could sign in, a retry was a 409, and the next
     * restart lost it. The answer named the file's path too.
     */
    @Test
    void aChangeAccessJsonCannotTake_isRefusedAndNotKept_andTheAnswerNamesNoPath() throws Exception {
        start(false, 300);
        String admin = token("admin", "the-admin-password");
        Path blocker = java.nio.file.Files.createDirectory(dir.resolve("access.json.tmp")); // the save's temp file

        Reply user = call("POST", "/api/v1/users", "{\"username\":\"carol\",\"password\":\"carol-password\"}",
                bearer(admin));
        assertThat(user.status()).isEqualTo(503);
        assertThat(user.body().get("error").asText()).isEqualTo("storage_failure");
        assertThat(user.raw().body()).contains("access.json").doesNotContain(dir.toString());
        assertThat(call("POST", "/auth/token", "{\"username\":\"carol\",\"password\":\"carol-password\"}",
                Map.of()).status()).as("carol was not created").isEqualTo(401);
        assertThat(call("POST", "/api/v1/groups", "{\"group_name\":\"team\",\"agent_ids\":[]}", bearer(admin))
                .status()).isEqualTo(503);
        assertThat(call("GET", "/api/v1/groups/team", null, bearer(admin)).status()).isEqualTo(404);

        java.nio.file.Files.delete(blocker);
        assertThat(call("POST", "/api/v1/users", "{\"username\":\"carol\",\"password\":\"carol-password\"}",
                bearer(admin)).status()).as("not 409: the failed attempt left nothing behind").isEqualTo(201);
        assertThat(call("POST", "/api/v1/groups", "{\"group_name\":\"team\",\"agent_ids\":[]}", bearer(admin))
                .status()).isEqualTo(201);
        assertThat(AccessStore.open(dir).user("carol")).isPresent();
    }

    /**
     * Regression: an access.json that was empty or no JSON object was read as no users, so the
     * server made a new admin and wrote over it; one with a user lacking a field ended the start
     * with a NullPointerException's stack.
     */
    @Test
    void aDamagedAccessJson_stopsTheStartNamingIt_andIsNotWrittenOver() throws Exception {
        Path file = dir.resolve("access.json");
        for (String damaged : List.of("", "[]", "{\"users\":[{\"name\":\"x\"}]}", "{\"users\":[")) {
            java.nio.file.Files.writeString(file, damaged);
            assertThatThrownBy(() -> AccessStore.open(dir)).as(damaged)
                    .isInstanceOf(io.swarmbus.SwarmbusException.class)
                    .hasMessageStartingWith("cannot read " + file + ": ")
                    .hasMessageContaining("restore it from a backup");
            assertThat(java.nio.file.Files.readString(file)).isEqualTo(damaged);
        }
    }

    /** Regression: with a trailing slash, which routes them all the same, they asked for credentials (401). */
    @Test
    void thePublicPaths_withATrailingSlash_needNoCredentialsEither() throws Exception {
        start(false, 300);
        for (String path : List.of("/healthz/", "/readyz/", "/health/", "/metrics/", "/openapi.json/")) {
            HttpResponse<String> response = client.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + server.port() + path)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).as(path).isEqualTo(200);
        }
        Reply token = call("POST", "/auth/token/", "{\"username\":\"admin\",\"password\":\"the-admin-password\"}",
                Map.of());
        assertThat(token.status()).isEqualTo(200);
        assertThat(call("GET", "/api/v1/agents/", null, Map.of()).status()).isEqualTo(401);
    }

    @Test
    void rateLimit_answers429WithRetryAfter() throws Exception {
        start(true, 5);
        String alice = token("alice", "alice-password");
        Reply last = null;
        for (int i = 0; i < 6; i++) {
            last = call("GET", "/api/v1/agents", null, bearer(alice));
        }
        assertThat(last.status()).isEqualTo(429);
        assertThat(last.body().get("error").asText()).isEqualTo("rate_limited");
        assertThat(last.raw().headers().firstValue("Retry-After")).isPresent();
    }

    @Test
    void rateLimit_countsAWebSocketUpgrade_andRefusesOneWhenSpent() throws Exception {
        start(true, 2);
        String alice = token("alice", "alice-password");
        call("GET", "/api/v1/agents", null, bearer(alice));
        WebSocketTest.Frames first = new WebSocketTest.Frames();
        WebSocket open = client.newWebSocketBuilder().header("Authorization", "Bearer " + alice)
                .buildAsync(URI.create("ws://127.0.0.1:" + server.port() + "/api/v1/ws"), first).join();
        // Its answer to a frame shows that its upgrade was counted (upgrades are handled concurrently).
        open.sendText("{\"op\":\"nope\"}", true).join();
        assertThat(first.next().get("field").asText()).isEqualTo("op");
        // A request and an upgrade spent the limit of two: this upgrade finds it spent.
        WebSocketTest.Frames refused = new WebSocketTest.Frames();
        client.newWebSocketBuilder().header("Authorization", "Bearer " + alice)
                .buildAsync(URI.create("ws://127.0.0.1:" + server.port() + "/api/v1/ws"), refused).join();

        JsonNode error = refused.next();
        assertThat(error.get("error").asText()).isEqualTo("rate_limited");
        assertThat(error.get("message").asText()).contains("retry after");
        assertThat(refused.closeCode()).isEqualTo(4429);
        assertThat(first.received).as("the first socket was refused nothing").isEmpty();
        open.sendClose(WebSocket.NORMAL_CLOSURE, "done").join();
    }

    @Test
    void aSocketWhoseTokenExpires_isRefusedItsNextFrame_andClosed() throws Exception {
        start(true, 300, Duration.ofSeconds(2));
        String alice = token("alice", "alice-password");
        call("POST", "/api/v1/agents", "{\"agent_id\":\"alice\"}", bearer(alice));
        WebSocketTest.Frames frames = new WebSocketTest.Frames();
        WebSocket socket = client.newWebSocketBuilder().header("Authorization", "Bearer " + alice)
                .buildAsync(URI.create("ws://127.0.0.1:" + server.port() + "/api/v1/ws"), frames).join();
        socket.sendText("{\"op\":\"nope\"}", true).join();
        assertThat(frames.next().get("field").asText()).as("answered while the token is good").isEqualTo("op");

        Thread.sleep(2_500);
        socket.sendText("{\"op\":\"send\",\"ref\":\"late\",\"message\":{\"from\":\"alice\",\"to\":\"alice\","
                + "\"content\":1}}", true).join();

        JsonNode refused = frames.next();
        assertThat(refused.get("error").asText()).isEqualTo("unauthenticated");
        assertThat(refused.get("message").asText()).contains("expired");
        assertThat(frames.closeCode()).isEqualTo(4401);
        assertThat(bus.inboxStats(io.swarmbus.messaging.AgentId.of("alice")).pending()).as("the late send was not taken")
                .isZero();
    }

    @Test
    void aStreamWhoseTokenExpires_endsWithAnError_andHandsBackWhatCameAfter() throws Exception {
        start(true, 300, Duration.ofSeconds(2));
        String alice = token("alice", "alice-password");
        call("POST", "/api/v1/agents", "{\"agent_id\":\"alice\"}", bearer(alice));
        HttpResponse<java.util.stream.Stream<String>> stream = client.send(HttpRequest.newBuilder(URI.create(
                "http://127.0.0.1:" + server.port() + "/api/v1/agents/alice/stream")).header("Authorization", "Bearer " + alice)
                .header("Accept", "text/event-stream").build(), HttpResponse.BodyHandlers.ofLines());
        assertThat(stream.statusCode()).isEqualTo(200);

        Thread.sleep(2_500);
        String fresh = token("alice", "alice-password");
        assertThat(call("POST", "/api/v1/messages", "{\"from\":\"alice\",\"to\":\"alice\",\"content\":1}",
                bearer(fresh)).status()).isEqualTo(201);

        java.util.Iterator<String> lines = stream.body().iterator();
        String event = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            while (lines.hasNext()) {
                String line = lines.next();
                if (line.startsWith("event:")) {
                    return line + " " + lines.next();
                }
            }
            return "the end of the stream";
        }).get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(event).startsWith("event: error").contains("unauthenticated").contains("expired");
        stream.body().close();
        io.swarmbus.messaging.InboxStats inbox = bus.inboxStats(io.swarmbus.messaging.AgentId.of("alice"));
        assertThat(inbox.pending()).as("handed back, not left leased to the stream").isEqualTo(1);
        assertThat(inbox.leased()).isZero();
    }

    /**
     * Regression: a long-poll waited on past its token's expiry, and answered whatever came then to
     * a caller no longer authenticated.
     */
    @Test
    void aLongPollWhoseTokenExpires_endsThen_with401_andLeasesNothingAfter() throws Exception {
        start(true, 300, Duration.ofSeconds(2));
        String alice = token("alice", "alice-password");
        call("POST", "/api/v1/agents", "{\"agent_id\":\"alice\"}", bearer(alice));
        long started = System.nanoTime();

        Reply poll = call("POST", "/api/v1/agents/alice/receive", "{\"timeout\":8}", bearer(alice));

        Duration waited = Duration.ofNanos(System.nanoTime() - started);
        assertThat(poll.status()).as(poll.body().toString()).isEqualTo(401);
        assertThat(poll.body().get("error").asText()).isEqualTo("unauthenticated");
        assertThat(poll.body().get("message").asText()).contains("expired");
        assertThat(waited).as("ended when the token did, not at its timeout").isLessThan(Duration.ofSeconds(5));
        String fresh = token("alice", "alice-password");
        assertThat(call("POST", "/api/v1/messages", "{\"from\":\"alice\",\"to\":\"alice\",\"content\":1}",
                bearer(fresh)).status()).isEqualTo(201);
        io.swarmbus.messaging.InboxStats inbox = bus.inboxStats(io.swarmbus.messaging.AgentId.of("alice"));
        assertThat(inbox.pending()).as("left for the next receiver").isEqualTo(1);
        assertThat(inbox.leased()).isZero();
        Reply next = call("POST", "/api/v1/agents/alice/receive", "{\"timeout\":1}", bearer(fresh));
        assertThat(next.body().get("messages")).hasSize(1);
    }

    @Test
    void passwordGuesses_areRateLimitedByAddressAndUser_rightPasswordsAreNot() throws Exception {
        start(false, 5);
        String admin = token("admin", "the-admin-password");
        assertThat(call("POST", "/api/v1/users", "{\"username\":\"alice\",\"password\":\"alice-password\"}",
                bearer(admin)).status()).isEqualTo(201);
        for (int i = 0; i < 8; i++) {
            assertThat(call("POST", "/auth/token", "{\"username\":\"admin\",\"password\":\"the-admin-password\"}",
                    Map.of()).status()).as("sign-in " + i).isEqualTo(200);
        }
        Reply last = null;
        for (int i = 0; i < 6; i++) {
            last = call("POST", "/auth/token", "{\"username\":\"admin\",\"password\":\"guess-" + i + "\"}", Map.of());
            assertThat(last.status()).as("guess " + i).isEqualTo(i < 5 ? 401 : 429);
        }
        assertThat(last.body().get("error").asText()).isEqualTo("rate_limited");
        assertThat(last.raw().headers().firstValue("Retry-After")).isPresent();
        Reply right = call("POST", "/auth/token", "{\"username\":\"admin\",\"password\":\"the-admin-password\"}", Map.of());
        assertThat(right.status()).as("the right password for that user, from the same address, waits too")
                .isEqualTo(429);

        // Regression: another user behind the same address (a proxy) was locked out as well.
        assertThat(token("alice", "alice-password")).isNotEmpty();
        assertThat(call("POST", "/auth/token", "{\"username\":\"alice\",\"password\":\"guess\"}", Map.of()).status())
                .as("her own guesses are counted apart").isEqualTo(401);
    }

    @Test
    void internalErrors_neverLeakDetails_butTheOperatorsErrorFileHasThem() throws Exception {
        AuditLog audit = AuditLog.start(dir.resolve("audit"), 30, java.time.Clock.systemUTC());
        io.javalin.Javalin app = io.javalin.Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.routes.get("/boom", ctx -> {
                throw new IllegalStateException("secret detail: jdbc:postgres://db/prod password=hunter2");
            });
            HttpServer.errors(config, audit);
        }).start("127.0.0.1", 0);
        try {
            HttpResponse<String> response = client.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + app.port() + "/boom")).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).isEqualTo(500);
            JsonNode body = RequestBody.MAPPER.readTree(response.body());
            assertThat(body.get("error").asText()).isEqualTo("internal");
            assertThat(response.body()).doesNotContain("secret", "hunter2", "IllegalStateException", "at io.");
        } finally {
            app.stop();
            audit.close();
        }
        java.nio.file.Path errors = dir.resolve("audit").resolve("errors_" + java.time.LocalDate.now(java.time.ZoneOffset.UTC)
                + ".jsonl");
        JsonNode line = RequestBody.MAPPER.readTree(java.nio.file.Files.readAllLines(errors).getFirst());
        assertThat(line.get("event").asText()).isEqualTo("internal");
        assertThat(line.get("status").asInt()).isEqualTo(500);
        assertThat(line.get("message").asText()).contains("IllegalStateException", "secret detail");
    }
}
