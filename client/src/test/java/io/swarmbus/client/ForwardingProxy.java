package io.swarmbus.client;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.concurrent.Executors;

/**
 * An HTTP proxy in front of a test's server, for what a client does when an answer is lost, late or
 * refused on the way: each request goes to {@link Handler}, which may pass it on and answer with
 * the server's answer, or answer otherwise.
 */
final class ForwardingProxy implements AutoCloseable {
    /** Answers one request; {@code forward} sends it on to the server and returns the server's answer. */
    interface Handler {
        void handle(HttpExchange exchange, Forward forward) throws IOException, InterruptedException;
    }

    /** Sends the request being handled on to the server. */
    interface Forward {
        HttpResponse<byte[]> send() throws IOException, InterruptedException;
    }

    private final HttpServer proxy;
    private final HttpClient forwarder = HttpClient.newHttpClient();

    private ForwardingProxy(String upstream, Handler handler) throws IOException {
        proxy = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        proxy.setExecutor(Executors.newVirtualThreadPerTaskExecutor()); // a long-poll must not hold up the rest
        proxy.createContext("/", exchange -> {
            try {
                handler.handle(exchange, () -> forward(upstream, exchange));
            } catch (InterruptedException e) {
                throw new InterruptedIOException();
            } finally {
                exchange.close();
            }
        });
        proxy.start();
    }

    /** Starts a proxy to {@code upstream} (such as {@code http://127.0.0.1:8080}). */
    static ForwardingProxy start(String upstream, Handler handler) throws IOException {
        return new ForwardingProxy(upstream, handler);
    }

    /** The proxy's own address, for a client to connect to. */
    String url() {
        return "http://127.0.0.1:" + proxy.getAddress().getPort();
    }

    /** Answers {@code exchange} with {@code status} and {@code body}. */
    static void reply(HttpExchange exchange, int status, byte[] body) throws IOException {
        exchange.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        exchange.getResponseBody().write(body);
    }

    /** Answers {@code exchange} as the server answered. */
    static void reply(HttpExchange exchange, HttpResponse<byte[]> answer) throws IOException {
        reply(exchange, answer.statusCode(), answer.body());
    }

    private HttpResponse<byte[]> forward(String upstream, HttpExchange exchange) throws IOException, InterruptedException {
        HttpRequest.Builder forward = HttpRequest.newBuilder(URI.create(upstream + exchange.getRequestURI()))
                .method(exchange.getRequestMethod(),
                        HttpRequest.BodyPublishers.ofByteArray(exchange.getRequestBody().readAllBytes()));
        for (String header : List.of("Authorization", "Content-Type", "Idempotency-Key")) {
            String value = exchange.getRequestHeaders().getFirst(header);
            if (value != null) {
                forward.header(header, value);
            }
        }
        return forwarder.send(forward.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    @Override
    public void close() {
        proxy.stop(0);
        forwarder.close();
    }
}
