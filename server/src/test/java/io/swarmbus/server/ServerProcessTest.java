package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * End to end: {@code swarmbus serve} as a separate process, used over HTTP, stopped with SIGTERM,
 * started again on the same data directory; what was sent is still there, and is delivered.
 */
class ServerProcessTest {
    private static final Pattern LISTENING = Pattern.compile("listening on (http://\\S+)");

    @TempDir
    Path dir;
    final HttpClient client = HttpClient.newHttpClient();

    record Running(Process process, String base) {}

    Running start() throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process process = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "serve", "--dev", "--port", "0", "--data-dir", dir.toString())
                .redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        for (String line = out.readLine(); line != null; line = out.readLine()) {
            Matcher m = LISTENING.matcher(line);
            if (m.find()) {
                Thread.ofPlatform().daemon().start(() -> out.lines().forEach(l -> { }));
                return new Running(process, m.group(1));
            }
        }
        throw new AssertionError("the server did not say where it listens");
    }

    /** What the server printed after its banner, read as it comes. */
    final java.util.Queue<String> later = new java.util.concurrent.ConcurrentLinkedQueue<>();

    /**
     * Starts {@code serve} in production mode with JSON logs, the access log on and no admin
     * password configured; returns once the banner's last line is out, with every line so far.
     */
    Running startInProduction(java.util.List<String> lines) throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow();
        ProcessBuilder builder = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "serve", "--port", "0", "--data-dir", dir.toString()).redirectErrorStream(true);
        builder.environment().put("JWT_SECRET", "a3f1c9e07b5d42e8a61f0c3b9d7e5a24");
        builder.environment().put("SWARMBUS_LOG_FORMAT", "json");
        builder.environment().put("SWARMBUS_ACCESS_LOG", "debug");
        builder.environment().remove("SWARMBUS_ADMIN_PASSWORD");
        Process process = builder.start();
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        String base = null;
        for (String line = out.readLine(); line != null; line = out.readLine()) {
            lines.add(line);
            Matcher m = LISTENING.matcher(line);
            if (m.find() && line.startsWith("Swarmbus")) {
                base = m.group(1);
            }
            if (line.contains("get a token:")) {
                Thread.ofPlatform().daemon().start(() -> out.lines().forEach(later::add));
                return new Running(process, base);
            }
        }
        throw new AssertionError("the server's banner did not end: " + lines);
    }

    @Test
    void production_printsTheGeneratedAdminPasswordOnce_logsJson_andSignsNobodyUp() throws Exception {
        java.util.List<String> lines = new java.util.ArrayList<>();
        Running first = startInProduction(lines);
        try {
            Matcher generated = Pattern.compile("created user 'admin' with password (\\S+) \\(shown once\\)")
                    .matcher(String.join("\n", lines));
            assertThat(generated.find()).as(String.join("\n", lines)).isTrue();
            String password = generated.group(1);
            assertThat(lines).anySatisfy(line -> assertThat(line).contains("curl -X POST " + first.base() + "/auth/token"));
            JsonNode logged = lines.stream().filter(line -> line.startsWith("{")).findFirst()
                    .map(line -> {
                        try {
                            return RequestBody.MAPPER.readTree(line);
                        } catch (Exception e) {
                            throw new AssertionError("a log line that is not JSON: " + line, e);
                        }
                    }).orElseThrow(() -> new AssertionError("no JSON log line in " + lines));
            assertThat(logged.has("level")).isTrue();
            assertThat(logged.has("formattedMessage")).isTrue();

            assertThat(post(first.base() + "/auth/token", null, "{\"username\":\"admin\",\"password\":\"" + password
                    + "\"}").get("access_token").asText()).isNotBlank();
            HttpResponse<String> stranger = client.send(HttpRequest.newBuilder(URI.create(first.base() + "/auth/token"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                            "{\"username\":\"stranger\",\"password\":\"a-password\"}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(stranger.statusCode()).isEqualTo(401);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (later.stream().noneMatch(line -> line.contains("io.swarmbus.access")) && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertThat(later).as("SWARMBUS_ACCESS_LOG=debug logs each request").anySatisfy(line -> assertThat(line)
                    .contains("io.swarmbus.access").contains("method=POST"));
        } finally {
            first.process().destroy();
            assertThat(first.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
        }

        lines.clear();
        Running second = startInProduction(lines);
        try {
            assertThat(lines).noneSatisfy(line -> assertThat(line).contains("created user 'admin'"));
        } finally {
            second.process().destroy();
            second.process().waitFor(30, TimeUnit.SECONDS);
        }
    }

    JsonNode post(String url, String token, String body) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        HttpResponse<String> response = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(url + " " + response.body()).isLessThan(300);
        return RequestBody.MAPPER.readTree(response.body());
    }

    String token(Running server, String user) throws Exception {
        return post(server.base() + "/auth/token", null,
                "{\"username\":\"" + user + "\",\"password\":\"a-password\"}").get("access_token").asText();
    }

    record Ended(int status, String output) {}

    /**
     * Runs {@code swarmbus serve} with {@code args}, in production mode unless they say {@code --dev},
     * expecting it to end by itself soon.
     */
    Ended serveUntilItEnds(String... args) throws Exception {
        return serveUntilItEnds(java.util.Map.of(), args);
    }

    /** {@link #serveUntilItEnds(String...)} with {@code env} added to its environment. */
    Ended serveUntilItEnds(java.util.Map<String, String> env, String... args) throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<String> command = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "serve"));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().put("JWT_SECRET", "a3f1c9e07b5d42e8a61f0c3b9d7e5a24");
        builder.environment().remove("SWARMBUS_ADMIN_PASSWORD");
        builder.environment().putAll(env);
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(30, TimeUnit.SECONDS)).as(output).isTrue();
        return new Ended(process.exitValue(), output);
    }

    /** Regression: a second server on the same data directory accepted sends that a restart then lost. */
    @Test
    void serve_onADataDirectoryAnotherServerHolds_exitsSayingSo() throws Exception {
        Running first = start();
        try {
            Ended second = serveUntilItEnds("--dev", "--port", "0", "--data-dir", dir.toString());

            assertThat(second.status()).as(second.output()).isEqualTo(1);
            assertThat(second.output()).isEqualTo("swarmbus: storage_failure: --data-dir: data directory " + dir
                    + " is in use by another Swarmbus process\n");
        } finally {
            first.process().destroy();
            assertThat(first.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
        }
    }

    /** Regression: under JSON logs, why the server could not start was the one line on stderr in plain text. */
    @Test
    void serve_thatCannotStart_underJsonLogs_saysWhyInAJsonLine() throws Exception {
        Path file = java.nio.file.Files.createFile(dir.resolve("a-file"));
        Ended refused = serveUntilItEnds(java.util.Map.of("SWARMBUS_LOG_FORMAT", "json"), "--dev", "--port", "0",
                "--data-dir", file.toString());

        assertThat(refused.status()).as(refused.output()).isEqualTo(1);
        List<JsonNode> lines = new ArrayList<>();
        for (String line : refused.output().lines().toList()) {
            try {
                lines.add(RequestBody.MAPPER.readTree(line));
            } catch (Exception e) {
                throw new AssertionError("a line that is not JSON: " + line, e);
            }
        }
        assertThat(lines).hasSize(1);
        assertThat(lines.getFirst().get("level").asText()).isEqualTo("ERROR");
        assertThat(lines.getFirst().get("formattedMessage").asText())
                .isEqualTo("storage_failure: --data-dir: cannot create data directory " + file
                        + ": Not a directory");
    }

    /**
     * Regression: a first start on a port in use stored a generated admin password it never showed,
     * then ended with Javalin's stack trace; the next start showed no password at all.
     */
    @Test
    void serve_onAPortInUse_saysSoInOneLine_andTheNextStartStillShowsTheAdminPassword() throws Exception {
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0)) {
            Ended refused = serveUntilItEnds("--port", String.valueOf(taken.getLocalPort()), "--data-dir",
                    dir.toString());

            assertThat(refused.status()).as(refused.output()).isEqualTo(1);
            assertThat(refused.output()).isEqualTo("swarmbus: cannot listen on 0.0.0.0:" + taken.getLocalPort()
                    + ": Address already in use\n");
        }
        List<String> lines = new ArrayList<>();
        Running next = startInProduction(lines);
        try {
            assertThat(lines).anySatisfy(line -> assertThat(line).contains("created user 'admin' with password"));
        } finally {
            next.process().destroy();
            assertThat(next.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
        }
    }

    @Test
    void serve_asAProcess_keepsMessagesAcrossARestart() throws Exception {
        Running first = start();
        String sent;
        try {
            String token = token(first, "agent1");
            post(first.base() + "/agents/register", token, "{\"agent_id\":\"agent1\"}");
            sent = post(first.base() + "/messages", token, "{\"receiver_id\":\"agent1\",\"content\":\"persisted\"}")
                    .get("message_id").asText();
        } finally {
            first.process().destroy(); // SIGTERM: a clean shutdown
            assertThat(first.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
        }

        Running second = start();
        try {
            // Dev mode makes a new JWT secret per start: old tokens are void, the account is not.
            String token = token(second, "agent1");
            JsonNode got = post(second.base() + "/api/v1/agents/agent1/receive", token, "{\"max_messages\":10}");
            assertThat(got.get("messages").get(0).get("id").asText()).isEqualTo(sent);
            assertThat(got.get("messages").get(0).get("content").asText()).isEqualTo("persisted");
        } finally {
            second.process().destroy();
            second.process().waitFor(30, TimeUnit.SECONDS);
        }
    }
}
