package io.swarmbus.server;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

/** JSON calls to a test server over real HTTP: tokens for dev-mode users, and calls with a bearer token. */
final class TestApi {
    /** A status and the JSON body. */
    record Reply(int status, JsonNode body) {}

    private final HttpClient client = HttpClient.newHttpClient();
    private final HttpServer server;

    TestApi(HttpServer server) {
        this.server = server;
    }

    /** A token for {@code user}, signed up on first use (dev mode). */
    String token(String user) throws Exception {
        return call(null, "POST", "/auth/token", "{\"username\":\"" + user + "\",\"password\":\"password-1\"}").body()
                .get("access_token").asText();
    }

    /** Runs a {@code swarmbus} client command against the server as {@code bearer}: "exit-code output". */
    String cli(String bearer, String... args) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        java.util.List<String> all = new java.util.ArrayList<>(java.util.List.of(args));
        all.addAll(java.util.List.of("--server", "http://127.0.0.1:" + server.port(), "--token", bearer));
        java.io.PrintStream print = new java.io.PrintStream(out, true, java.nio.charset.StandardCharsets.UTF_8);
        int code = new Main(print, print).run(all.toArray(String[]::new));
        return code + " " + out.toString(java.nio.charset.StandardCharsets.UTF_8).strip();
    }

    Reply call(String bearer, String method, String path, String body) throws Exception {
        return call(bearer, method, path, body, java.util.Map.of());
    }

    /** A call with extra request headers. */
    Reply call(String bearer, String method, String path, String body, java.util.Map<String, String> headers)
            throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .header("Content-Type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (bearer != null) {
            request.header("Authorization", "Bearer " + bearer);
        }
        headers.forEach(request::header);
        HttpResponse<String> response = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
        return new Reply(response.statusCode(), RequestBody.MAPPER.readTree(response.body()));
    }

    /** Makes a stand-in backend list {@code model} at {@code /v1/models}, as OpenAI-compatible servers do. */
    static void listsModel(com.sun.net.httpserver.HttpServer backend, String model) {
        backend.createContext("/v1/models", exchange -> {
            byte[] body = ("{\"object\":\"list\",\"data\":[{\"id\":\"" + model + "\",\"object\":\"model\"}]}")
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
    }
}
