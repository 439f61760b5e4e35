package io.swarmbus.llm.upstream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The upstream client against real sockets: a scripted HTTP/1.1 server, and an HTTPS server. */
class UpstreamClientTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(5);
    private final UpstreamClient client = new UpstreamClient(Duration.ofSeconds(2));
    private final List<AutoCloseable> servers = new CopyOnWriteArrayList<>();

    @AfterEach
    void close() throws Exception {
        client.close();
        for (AutoCloseable server : servers) {
            server.close();
        }
    }

    /** Answers each request on a connection with {@code answer}'s bytes; counts connections and requests. */
    private final class ScriptedServer implements AutoCloseable {
        interface Answer {
            void write(String requestHead, byte[] requestBody, OutputStream out) throws IOException;
        }

        final ServerSocket socket = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
        final AtomicInteger connections = new AtomicInteger();
        final List<String> heads = new CopyOnWriteArrayList<>();
        final CountDownLatch clientClosed = new CountDownLatch(1);

        ScriptedServer(Answer answer) throws IOException {
            servers.add(this);
            Thread.ofVirtual().start(() -> {
                while (!socket.isClosed()) {
                    try {
                        Socket connection = socket.accept();
                        connections.incrementAndGet();
                        Thread.ofVirtual().start(() -> serve(connection, answer));
                    } catch (IOException closed) {
                        return;
                    }
                }
            });
        }

        private void serve(Socket connection, Answer answer) {
            try (connection) {
                InputStream in = connection.getInputStream();
                while (true) {
                    String head = readHead(in);
                    if (head == null) {
                        clientClosed.countDown();
                        return;
                    }
                    heads.add(head);
                    int length = 0;
                    for (String line : head.split("\r\n")) {
                        if (line.toLowerCase().startsWith("content-length:")) {
                            length = Integer.parseInt(line.substring(15).trim());
                        }
                    }
                    answer.write(head, in.readNBytes(length), connection.getOutputStream());
                }
            } catch (IOException e) {
                clientClosed.countDown();
            }
        }

        private static String readHead(InputStream in) throws IOException {
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            int b;
            while ((b = in.read()) >= 0) {
                head.write(b);
                if (head.size() >= 4 && head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
                    return head.toString(StandardCharsets.ISO_8859_1);
                }
            }
            return null;
        }

        URI uri(String path) {
            return URI.create("http://127.0.0.1:" + socket.getLocalPort() + path);
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    private static void write(OutputStream out, String text) throws IOException {
        out.write(text.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private UpstreamResponse post(ScriptedServer server, String body) throws IOException {
        return client.send("POST", server.uri("/v1/chat/completions"), Map.of("Content-Type", "application/json"),
                body.getBytes(StandardCharsets.UTF_8), TIMEOUT);
    }

    private static String read(UpstreamResponse response) throws IOException {
        try (response) {
            return new String(response.body().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void send_fixedLengthAnswers_reuseOneConnection() throws Exception {
        ScriptedServer server = new ScriptedServer((head, body, out) -> write(out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n"
                        + new String(body, StandardCharsets.UTF_8)));
        for (int i = 0; i < 3; i++) {
            UpstreamResponse response = post(server, "{\"n\":" + i + "}");
            assertEquals(200, response.status());
            assertEquals("application/json", response.header("content-TYPE").orElseThrow());
            assertEquals("{\"n\":" + i + "}", read(response));
        }
        assertEquals(1, server.connections.get());
        assertTrue(server.heads.get(0).startsWith("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:"));
        assertTrue(server.heads.get(0).contains("Content-Length: 7\r\n"));
    }

    @Test
    void send_fixedLengthAnswerCutShort_failsToBeRead() throws Exception {
        ScriptedServer server = new ScriptedServer((head, body, out) -> {
            write(out, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
            out.close();
        });
        UpstreamResponse response = post(server, "{}");
        assertThrows(java.io.EOFException.class, () -> response.body().readAllBytes());
        response.close();
        assertEquals(0, client.idleCount(server.uri("/")));
    }

    @Test
    void send_chunkedAnswer_isDecodedWithExtensionsAndTrailers_andTheConnectionReused() throws Exception {
        ScriptedServer server = new ScriptedServer((head, body, out) -> {
            write(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            write(out, "5;name=value\r\nhello\r\n");
            write(out, "7\r\n, world\r\n");
            write(out, "0\r\nX-Trailer: yes\r\n\r\n");
        });
        assertEquals("hello, world", read(post(server, "{}")));
        assertEquals("hello, world", read(post(server, "{}")));
        assertEquals(1, server.connections.get());
    }

    @Test
    void send_answerWithoutLength_isReadToTheEnd_andTheConnectionNotReused() throws Exception {
        ScriptedServer server = new ScriptedServer((head, body, out) -> {
            write(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it");
            out.close();
        });
        assertEquals("all of it", read(post(server, "{}")));
        assertEquals("all of it", read(post(server, "{}")));
        assertEquals(2, server.connections.get());
    }

    @Test
    void close_beforeTheBodyEnds_closesTheConnection() throws Exception {
        ScriptedServer server = new ScriptedServer((head, body, out) -> {
            write(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst\n\r\n");
            for (int i = 0; i < 250; i++) { // generating until a write fails, as a backend notices a hang-up
                write(out, "5\r\nmore\n\r\n");
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        });
        UpstreamResponse response = post(server, "{}");
        byte[] first = new byte[6];
        assertEquals(6, response.body().readNBytes(first, 0, 6));
        assertArrayEquals("first\n".getBytes(StandardCharsets.UTF_8), first);
        response.close(); // the client is gone: the backend must see its connection end
        assertTrue(server.clientClosed.await(5, TimeUnit.SECONDS), "the backend saw the connection close");
        assertEquals(0, client.idleCount(server.uri("/")));
    }

    @Test
    void send_onAPooledConnectionTheBackendClosed_retriesOnceOnANewOne() throws Exception {
        ScriptedServer server = new ScriptedServer((head, body, out) -> {
            write(out, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            out.close(); // keep-alive promised, connection closed anyway (as an idle timeout would)
        });
        assertEquals("ok", read(post(server, "{}")));
        Thread.sleep(50); // let the close arrive
        assertEquals("ok", read(post(server, "{}")));
        assertEquals(2, server.connections.get());
    }

    @Test
    void send_toABackendThatNeverAnswers_timesOut() throws Exception {
        ScriptedServer server = new ScriptedServer((head, body, out) -> {
            try {
                Thread.sleep(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        long started = System.nanoTime();
        assertThrows(SocketTimeoutException.class, () -> client.send("POST", server.uri("/"), Map.of(),
                new byte[0], Duration.ofMillis(300)));
        long tookMillis = (System.nanoTime() - started) / 1_000_000;
        assertTrue(tookMillis >= 250 && tookMillis < 3_000, "took " + tookMillis + " ms");
    }

    @Test
    void send_toAClosedPort_isAConnectException() throws Exception {
        int port;
        try (ServerSocket unused = new ServerSocket(0)) {
            port = unused.getLocalPort();
        }
        URI closed = URI.create("http://127.0.0.1:" + port + "/v1/models");
        assertThrows(java.net.ConnectException.class, () -> client.send("GET", closed, Map.of(), new byte[0], TIMEOUT));
    }

    @Test
    void send_whenTheBackendAnswersNonsense_failsWithAReadableMessage() throws Exception {
        ScriptedServer server = new ScriptedServer((head, body, out) -> write(out, "SSH-2.0-OpenSSH_9.6\r\n\r\n"));
        IOException e = assertThrows(IOException.class, () -> post(server, "{}"));
        assertTrue(e.getMessage().contains("did not answer HTTP/1.x: 'SSH-2.0-OpenSSH_9.6'"), e.getMessage());
    }

    @Test
    void send_overTls_verifiesTheCertificateAndTheHostName(@TempDir Path dir) throws Exception {
        SSLContext good = tls(dir, "good", "ip:127.0.0.1");
        SSLContext wrongName = tls(dir, "wrong", "dns:elsewhere.example");
        try (UpstreamClient trusting = new UpstreamClient(Duration.ofSeconds(2), good.getSocketFactory())) {
            URI uri = httpsServer(good);
            UpstreamResponse response = trusting.send("GET", uri, Map.of(), new byte[0], TIMEOUT);
            assertEquals(200, response.status());
            assertEquals("{\"secure\":true}", read(response));
        }
        try (UpstreamClient trusting = new UpstreamClient(Duration.ofSeconds(2), wrongName.getSocketFactory())) {
            URI uri = httpsServer(wrongName); // trusted, but issued for another host
            assertThrows(SSLHandshakeException.class, () -> trusting.send("GET", uri, Map.of(), new byte[0], TIMEOUT));
        }
    }

    private URI httpsServer(SSLContext context) throws IOException {
        HttpsServer server = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setHttpsConfigurator(new HttpsConfigurator(context));
        server.createContext("/v1/models", exchange -> {
            byte[] body = "{\"secure\":true}".getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        server.start();
        servers.add(() -> server.stop(0));
        return URI.create("https://127.0.0.1:" + server.getAddress().getPort() + "/v1/models");
    }

    /** A self-signed certificate naming {@code san}, both served and trusted. */
    private static SSLContext tls(Path dir, String name, String san) throws Exception {
        Path store = dir.resolve(name + ".p12");
        String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
        Process process = new ProcessBuilder(keytool, "-genkeypair", "-alias", name, "-keyalg", "EC", "-groupname",
                "secp256r1", "-dname", "CN=" + name, "-ext", "SAN=" + san, "-validity", "2", "-keystore",
                store.toString(), "-storetype", "PKCS12", "-storepass", "changeit", "-keypass", "changeit")
                .redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, process.waitFor(), output);
        KeyStore keys = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(store)) {
            keys.load(in, "changeit".toCharArray());
        }
        KeyManagerFactory keyManagers = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        keyManagers.init(keys, "changeit".toCharArray());
        TrustManagerFactory trustManagers = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trustManagers.init(keys);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(keyManagers.getKeyManagers(), trustManagers.getTrustManagers(), null);
        return context;
    }
}
