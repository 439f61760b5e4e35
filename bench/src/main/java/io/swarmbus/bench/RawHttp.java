package io.swarmbus.bench;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * One keep-alive HTTP/1.1 connection with blocking I/O, for load generation from virtual threads
 * (10,000 of them park cheaply on socket reads). Requests are pre-built bytes; responses are read
 * by Content-Length or chunked encoding. {@code java.net.http.HttpClient} holding 10,000 long-polls
 * used more of the two shared cores than the server did.
 */
final class RawHttp implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;

    RawHttp(String server) throws IOException {
        URI uri = URI.create(server);
        socket = new Socket(uri.getHost(), uri.getPort());
        socket.setTcpNoDelay(true);
        in = new BufferedInputStream(socket.getInputStream(), 16 * 1024);
        out = socket.getOutputStream();
    }

    /** A complete request with a bearer token (none if null) and an optional JSON body. */
    static byte[] request(String method, String server, String path, String token, String body) {
        URI uri = URI.create(server);
        byte[] content = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        String head = method + " " + path + " HTTP/1.1\r\nHost: " + uri.getHost() + ":" + uri.getPort()
                + (token == null ? "" : "\r\nAuthorization: Bearer " + token)
                + "\r\nContent-Type: application/json\r\nContent-Length: " + content.length + "\r\n\r\n";
        byte[] headBytes = head.getBytes(StandardCharsets.US_ASCII);
        byte[] request = new byte[headBytes.length + content.length];
        System.arraycopy(headBytes, 0, request, 0, headBytes.length);
        System.arraycopy(content, 0, request, headBytes.length, content.length);
        return request;
    }

    /** A response: status and body. */
    record Response(int status, String body) {}

    /** Sends {@code request} and reads its response. */
    Response exchange(byte[] request) throws IOException {
        return exchange(request, null);
    }

    /**
     * Sends {@code request} and reads its response; {@code firstByte[0]} gets the
     * {@link System#nanoTime} at which the body's first bytes arrived (for time to first event).
     */
    Response exchange(byte[] request, long[] firstByte) throws IOException {
        Head head = send(request);
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        if (head.chunked()) {
            String first = line();
            if (firstByte != null) {
                firstByte[0] = System.nanoTime();
            }
            for (int size = chunkSize(first); size > 0; size = chunkSize(line())) {
                body.write(in.readNBytes(size));
                line();
            }
            line(); // the empty line after the last chunk
        } else if (head.length() > 0) {
            if (firstByte != null) {
                firstByte[0] = System.nanoTime();
            }
            body.write(in.readNBytes((int) head.length()));
        }
        return new Response(head.status(), body.toString(StandardCharsets.UTF_8));
    }

    /** Receives the {@code data} of server-sent events, each when it arrives. */
    @FunctionalInterface
    interface EventListener {
        /** One event's data ({@code [DONE]} included) and the {@link System#nanoTime} it was read at. */
        void event(String data, long nanoTime) throws IOException;
    }

    /**
     * Sends {@code request} and reads its response as server-sent events, handing each event's
     * data to {@code listener} as soon as its line is in (not when the response is complete), so
     * a caller can time the first token. Returns the status; the body of a response that is not
     * an event stream is read and dropped.
     */
    int events(byte[] request, EventListener listener) throws IOException {
        Head head = send(request);
        BodyLines body = new BodyLines(head);
        for (String line = body.next(); line != null; line = body.next()) {
            if (line.startsWith("data:")) {
                listener.event(line.substring(5).strip(), System.nanoTime());
            }
        }
        return head.status();
    }

    /** A response's status line and the headers that say how long its body is. */
    private record Head(int status, long length, boolean chunked) {}

    private Head send(byte[] request) throws IOException {
        out.write(request);
        out.flush();
        String statusLine = line();
        if (!statusLine.startsWith("HTTP/1.1 ")) {
            throw new IOException("not an HTTP response: " + statusLine);
        }
        int status = Integer.parseInt(statusLine.substring(9, 12));
        long length = -1;
        boolean chunked = false;
        for (String header = line(); !header.isEmpty(); header = line()) {
            String lower = header.toLowerCase(Locale.ROOT);
            if (lower.startsWith("content-length:")) {
                length = Long.parseLong(lower.substring(15).trim());
            } else if (lower.startsWith("transfer-encoding:") && lower.contains("chunked")) {
                chunked = true;
            }
        }
        return new Head(status, length, chunked);
    }

    private static int chunkSize(String line) {
        return Integer.parseInt(line.split(";")[0].trim(), 16);
    }

    /**
     * A body read line by line as it arrives, across chunk boundaries, to its end (so the
     * connection can carry the next request).
     */
    private final class BodyLines {
        private final boolean chunked;
        /** Bytes left in the current chunk, or in the whole body when it has a length. */
        private long left;
        private boolean ended;

        BodyLines(Head head) {
            this.chunked = head.chunked();
            this.left = chunked ? 0 : Math.max(0, head.length());
        }

        /** The next line without its line break, or null at the end of the body. */
        String next() throws IOException {
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            for (int b = read(); b >= 0; b = read()) {
                if (b == '\n') {
                    return line.toString(StandardCharsets.UTF_8);
                }
                if (b != '\r') {
                    line.write(b);
                }
            }
            return line.size() > 0 ? line.toString(StandardCharsets.UTF_8) : null;
        }

        private int read() throws IOException {
            if (ended) {
                return -1;
            }
            if (left == 0) {
                if (!chunked) {
                    ended = true;
                    return -1;
                }
                left = chunkSize(line());
                if (left == 0) {
                    line(); // the empty line after the last chunk
                    ended = true;
                    return -1;
                }
            }
            int b = in.read();
            if (b < 0) {
                throw new EOFException("connection closed inside a response body");
            }
            if (--left == 0 && chunked) {
                line(); // the line break that ends a chunk's data
            }
            return b;
        }
    }

    private String line() throws IOException {
        StringBuilder line = new StringBuilder();
        for (int b = in.read(); b != '\n'; b = in.read()) {
            if (b < 0) {
                throw new EOFException("connection closed");
            }
            if (b != '\r') {
                line.append((char) b);
            }
        }
        return line.toString();
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
