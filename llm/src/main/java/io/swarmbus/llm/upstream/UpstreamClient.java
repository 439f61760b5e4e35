package io.swarmbus.llm.upstream;

import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;

/**
 * A small blocking HTTP/1.1 client for the gateway's calls to its backends, meant for virtual
 * threads: one request per connection at a time, idle keep-alive connections pooled per origin
 * (most recently used first), bodies read by length, in chunks or to the connection's end, TLS
 * through {@link SSLSocket} with the host name verified. Why not the JDK's HttpClient: ADR 0004.
 *
 * <p>A pooled connection the backend closed while it sat idle fails on first use; such a failure,
 * before any byte of an answer, is retried once on a new connection (as most HTTP clients do). A
 * connection idle for longer than {@link #MAX_IDLE} is not used again.
 */
public final class UpstreamClient implements AutoCloseable {
    static final long MAX_IDLE = Duration.ofSeconds(30).toNanos();
    static final int MAX_IDLE_PER_ORIGIN = 512;
    private static final int MAX_HEADERS = 256;

    private final int connectTimeoutMillis;
    private final SSLSocketFactory tls;
    private final Map<String, Deque<Connection>> idle = new ConcurrentHashMap<>();
    private volatile boolean closed;

    /** A client trusting the JDK's default certificate authorities. */
    public UpstreamClient(Duration connectTimeout) {
        this(connectTimeout, (SSLSocketFactory) SSLSocketFactory.getDefault());
    }

    public UpstreamClient(Duration connectTimeout, SSLSocketFactory tls) {
        this.connectTimeoutMillis = Math.toIntExact(connectTimeout.toMillis());
        this.tls = tls;
    }

    /**
     * Sends a request and returns once the answer's status and headers have arrived.
     *
     * @param url an {@code http} or {@code https} URL
     * @param headers extra request headers ({@code Host}, {@code Content-Length} and
     *     {@code Connection} are set here)
     * @param body the body, empty for none
     * @param timeout the longest wait for the connection, the answer's head, and each read of its body
     * @throws SocketTimeoutException when the backend took longer than {@code timeout}
     * @throws java.net.ConnectException when the backend refused the connection
     */
    public UpstreamResponse send(String method, URI url, Map<String, String> headers, byte[] body, Duration timeout)
            throws IOException {
        if (closed) {
            throw new IOException("the upstream client is closed");
        }
        String origin = origin(url);
        byte[] request = request(method, url, headers, body);
        int timeoutMillis = (int) Math.min(Integer.MAX_VALUE, Math.max(1, timeout.toMillis()));
        Connection pooled = takeIdle(origin);
        if (pooled != null) {
            try {
                return exchange(pooled, request, timeoutMillis, true);
            } catch (StaleConnection stale) {
                // closed by the backend while idle: once more, on a new connection
            }
        }
        return exchange(connect(url, origin), request, timeoutMillis, false);
    }

    /** The backend closed a pooled connection before answering on it. */
    private static final class StaleConnection extends IOException {
        StaleConnection(IOException cause) {
            super(cause);
        }
    }

    private UpstreamResponse exchange(Connection connection, byte[] request, int timeoutMillis, boolean reused)
            throws IOException {
        try {
            connection.socket.setSoTimeout(timeoutMillis);
            try {
                connection.out.write(request);
                connection.out.flush();
                if (!connection.awaitAnswer()) {
                    throw new EOFException("the backend closed the connection without answering");
                }
            } catch (SocketTimeoutException e) {
                throw e;
            } catch (IOException e) {
                if (reused && !Thread.currentThread().isInterrupted()) {
                    throw new StaleConnection(e);
                }
                throw e;
            }
            return readResponse(connection);
        } catch (IOException | RuntimeException e) {
            connection.close();
            throw e;
        }
    }

    private UpstreamResponse readResponse(Connection connection) throws IOException {
        String statusLine;
        int status;
        Map<String, String> headers;
        do {
            statusLine = connection.readLine();
            status = status(statusLine);
            headers = headers(connection);
        } while (status >= 100 && status < 200); // interim answers (100 Continue, 103 Early Hints)
        boolean keepAlive = statusLine.startsWith("HTTP/1.1")
                && !headers.getOrDefault("connection", "").toLowerCase(Locale.ROOT).contains("close");
        java.util.function.Consumer<Connection> release = keepAlive ? this::release : null;
        ResponseBody body;
        String transferEncoding = headers.getOrDefault("transfer-encoding", "").toLowerCase(Locale.ROOT);
        if (status == 204 || status == 304) {
            body = new ResponseBody.Fixed(connection, release, 0);
        } else if (transferEncoding.contains("chunked")) {
            body = new ResponseBody.Chunked(connection, release);
        } else if (headers.containsKey("content-length")) {
            body = new ResponseBody.Fixed(connection, release, contentLength(headers.get("content-length")));
        } else {
            body = new ResponseBody.UntilClose(connection);
        }
        return new UpstreamResponse(status, headers, body);
    }

    private static int status(String line) throws IOException {
        if (!line.startsWith("HTTP/1.") || line.length() < 12 || line.charAt(8) != ' ') {
            throw new IOException("the backend did not answer HTTP/1.x: '" + abbreviate(line) + "'");
        }
        try {
            return Integer.parseInt(line.substring(9, 12));
        } catch (NumberFormatException e) {
            throw new IOException("the backend answered a bad status line: '" + abbreviate(line) + "'");
        }
    }

    private static Map<String, String> headers(Connection connection) throws IOException {
        Map<String, String> headers = new HashMap<>();
        for (String line = connection.readLine(); !line.isEmpty(); line = connection.readLine()) {
            int colon = line.indexOf(':');
            if (colon <= 0 || headers.size() >= MAX_HEADERS) {
                throw new IOException("the backend sent a bad or excessive header: '" + abbreviate(line) + "'");
            }
            String name = line.substring(0, colon).trim().toLowerCase(Locale.ROOT);
            String value = line.substring(colon + 1).trim();
            headers.merge(name, value, (first, next) -> first + ", " + next);
        }
        return headers;
    }

    private static long contentLength(String value) throws IOException {
        try {
            long length = Long.parseLong(value.trim());
            if (length >= 0) {
                return length;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IOException("the backend sent a bad Content-Length '" + abbreviate(value) + "'");
    }

    private static String abbreviate(String text) {
        return text.length() <= 100 ? text : text.substring(0, 100) + "…";
    }

    private static byte[] request(String method, URI url, Map<String, String> headers, byte[] body) {
        String path = url.getRawPath() == null || url.getRawPath().isEmpty() ? "/" : url.getRawPath();
        StringBuilder head = new StringBuilder(256).append(method).append(' ').append(path);
        if (url.getRawQuery() != null) {
            head.append('?').append(url.getRawQuery());
        }
        head.append(" HTTP/1.1\r\nHost: ").append(url.getRawAuthority()).append("\r\n");
        headers.forEach((name, value) -> head.append(name).append(": ").append(value).append("\r\n"));
        if (body.length > 0 || !method.equals("GET")) {
            head.append("Content-Length: ").append(body.length).append("\r\n");
        }
        head.append("\r\n");
        byte[] headBytes = head.toString().getBytes(StandardCharsets.UTF_8);
        byte[] request = new byte[headBytes.length + body.length];
        System.arraycopy(headBytes, 0, request, 0, headBytes.length);
        System.arraycopy(body, 0, request, headBytes.length, body.length);
        return request; // one write: head and body leave in the same segment
    }

    private static String origin(URI url) {
        return url.getScheme() + "://" + url.getRawAuthority();
    }

    private Connection connect(URI url, String origin) throws IOException {
        boolean secure = "https".equals(url.getScheme());
        if (!secure && !"http".equals(url.getScheme())) {
            throw new IOException("not an http:// or https:// URL: " + url);
        }
        String host = url.getHost();
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1); // an IPv6 literal
        }
        int port = url.getPort() >= 0 ? url.getPort() : secure ? 443 : 80;
        Socket socket = new Socket();
        try {
            socket.setTcpNoDelay(true);
            socket.connect(new InetSocketAddress(host, port), connectTimeoutMillis);
            if (secure) {
                socket.setSoTimeout(connectTimeoutMillis);
                SSLSocket ssl = (SSLSocket) tls.createSocket(socket, host, port, true);
                SSLParameters parameters = ssl.getSSLParameters();
                parameters.setEndpointIdentificationAlgorithm("HTTPS"); // check the certificate names the host
                ssl.setSSLParameters(parameters);
                ssl.startHandshake();
                socket = ssl;
            }
            return new Connection(origin, socket);
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    private Connection takeIdle(String origin) {
        Deque<Connection> pool = idle.get(origin);
        if (pool == null) {
            return null;
        }
        long now = System.nanoTime();
        synchronized (pool) {
            Connection newest = pool.pollFirst();
            if (newest != null && now - newest.idleSince > MAX_IDLE) {
                newest.close(); // and every other, idle longer still
                pool.forEach(Connection::close);
                pool.clear();
                return null;
            }
            return newest;
        }
    }

    private void release(Connection connection) {
        Deque<Connection> pool = idle.computeIfAbsent(connection.origin, o -> new ArrayDeque<>());
        connection.idleSince = System.nanoTime();
        Connection surplus = null;
        synchronized (pool) {
            pool.addFirst(connection);
            if (pool.size() > MAX_IDLE_PER_ORIGIN) {
                surplus = pool.pollLast();
            }
        }
        if (surplus != null) {
            surplus.close();
        }
        if (closed) {
            closeIdle();
        }
    }

    /** How many idle connections are pooled for the origin of {@code url}. */
    int idleCount(URI url) {
        Deque<Connection> pool = idle.get(origin(url));
        if (pool == null) {
            return 0;
        }
        synchronized (pool) {
            return pool.size();
        }
    }

    private void closeIdle() {
        for (Deque<Connection> pool : idle.values()) {
            synchronized (pool) {
                pool.forEach(Connection::close);
                pool.clear();
            }
        }
    }

    /** Closes the idle connections; connections still answering close when their answer ends. */
    @Override
    public void close() {
        closed = true;
        closeIdle();
    }
}
