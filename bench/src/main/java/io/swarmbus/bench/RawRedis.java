package io.swarmbus.bench;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A minimal RESP2 client for the Redis peer benchmarks, built like {@link RawWebSocket}: one
 * blocking socket, commands encoded once and written over and over, pipelined by the caller (write
 * without flushing, read the replies in order). So the generator spends as little CPU on Redis as
 * it does on Swarmbus, and the two are measured alike.
 */
final class RawRedis implements AutoCloseable {
    /** A {@code -ERR ...} reply: returned, not thrown, so a pipelined producer can count refusals. */
    record Error(String message) {}

    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;

    RawRedis(String host, int port) throws IOException {
        socket = new Socket(host, port);
        socket.setTcpNoDelay(true);
        in = new BufferedInputStream(socket.getInputStream(), 64 * 1024);
        out = new BufferedOutputStream(socket.getOutputStream(), 64 * 1024);
    }

    /** A command as a RESP array of bulk strings, ready to write. */
    static byte[] command(String... args) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(64 + 16 * args.length);
        bytes.writeBytes(("*" + args.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
        for (String arg : args) {
            byte[] value = arg.getBytes(StandardCharsets.UTF_8);
            bytes.writeBytes(("$" + value.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
            bytes.writeBytes(value);
            bytes.writeBytes(new byte[] {'\r', '\n'});
        }
        return bytes.toByteArray();
    }

    /** Queues a command; it leaves with the next {@link #flush} or when the buffer fills. */
    void write(byte[] command) throws IOException {
        out.write(command);
    }

    void flush() throws IOException {
        out.flush();
    }

    /** Sends one command and waits for its reply. */
    Object call(String... args) throws IOException {
        write(command(args));
        flush();
        return read();
    }

    /** Whether a reply has already arrived, so reading it will not block. */
    boolean buffered() throws IOException {
        return in.available() > 0;
    }

    /**
     * The next reply: a {@code String} (simple or bulk), a {@code Long}, a {@code List} of
     * replies, {@code null} for a null bulk or array, or an {@link Error}.
     */
    Object read() throws IOException {
        int type = in.read();
        if (type < 0) {
            throw new EOFException("redis closed the connection");
        }
        String line = readLine();
        return switch (type) {
            case '+' -> line;
            case '-' -> new Error(line);
            case ':' -> Long.parseLong(line);
            case '$' -> bulk(Integer.parseInt(line));
            case '*' -> array(Integer.parseInt(line));
            default -> throw new IOException("not a RESP reply: " + (char) type + line);
        };
    }

    private String bulk(int length) throws IOException {
        if (length < 0) {
            return null;
        }
        byte[] value = in.readNBytes(length);
        if (value.length < length || in.read() != '\r' || in.read() != '\n') {
            throw new EOFException("redis closed the connection inside a reply");
        }
        return new String(value, StandardCharsets.UTF_8);
    }

    private List<Object> array(int length) throws IOException {
        if (length < 0) {
            return null;
        }
        List<Object> items = new ArrayList<>(length);
        for (int i = 0; i < length; i++) {
            items.add(read());
        }
        return items;
    }

    private String readLine() throws IOException {
        StringBuilder line = new StringBuilder(16);
        for (int c = in.read(); c != '\r'; c = in.read()) {
            if (c < 0) {
                throw new EOFException("redis closed the connection inside a reply");
            }
            line.append((char) c);
        }
        if (in.read() != '\n') {
            throw new IOException("a RESP line must end with CRLF");
        }
        return line.toString();
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
