package io.swarmbus.bench;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A minimal RFC 6455 client for load generation: blocking socket, no extensions, frames built by
 * hand. Java's {@code java.net.http.WebSocket} spent more CPU than the server it was measuring on
 * these two cores; this client lets a producer write a frame built once (see {@link #frame}) over
 * and over, so nearly all of the CPU it measures is the server's.
 */
final class RawWebSocket implements AutoCloseable {
    private static final int OP_CONTINUATION = 0;
    private static final int OP_TEXT = 1;
    private static final int OP_BINARY = 2;
    private static final int OP_CLOSE = 8;
    private static final int OP_PING = 9;

    private final Socket socket;
    private final DataInputStream in;
    private final OutputStream out;

    private RawWebSocket(Socket socket) throws IOException {
        this.socket = socket;
        socket.setTcpNoDelay(true);
        this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 64 * 1024));
        this.out = new BufferedOutputStream(socket.getOutputStream(), 64 * 1024);
    }

    /** Opens {@code wsUrl} (ws://host:port/path) with a bearer token and completes the upgrade. */
    static RawWebSocket connect(String wsUrl, String token) throws IOException {
        URI uri = URI.create(wsUrl);
        RawWebSocket ws = new RawWebSocket(new Socket(uri.getHost(), uri.getPort()));
        byte[] nonce = new byte[16];
        ThreadLocalRandom.current().nextBytes(nonce);
        String request = "GET " + uri.getRawPath() + " HTTP/1.1\r\nHost: " + uri.getHost() + ":" + uri.getPort()
                + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
                + Base64.getEncoder().encodeToString(nonce) + "\r\nAuthorization: Bearer " + token + "\r\n\r\n";
        ws.out.write(request.getBytes(StandardCharsets.US_ASCII));
        ws.out.flush();
        String head = readHead(ws.in);
        if (!head.startsWith("HTTP/1.1 101")) {
            ws.close();
            throw new IOException("upgrade refused: " + head.lines().findFirst().orElse(head));
        }
        return ws;
    }

    private static String readHead(DataInputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        while (matched < 4) {
            int b = in.read();
            if (b < 0) {
                throw new EOFException("connection closed during the upgrade");
            }
            head.write(b);
            matched = (b == (matched % 2 == 0 ? '\r' : '\n')) ? matched + 1 : (b == '\r' ? 1 : 0);
        }
        return head.toString(StandardCharsets.US_ASCII);
    }

    /**
     * A complete client frame carrying {@code payload}, masked as RFC 6455 requires of clients.
     * The mask exists to stop proxies caching attacker-chosen bytes; a load generator on loopback
     * can build a frame once and send it many times.
     */
    static byte[] frame(byte[] payload, boolean binary) {
        int length = payload.length;
        int headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
        byte[] frame = new byte[headerLength + 4 + length];
        frame[0] = (byte) (0x80 | (binary ? OP_BINARY : OP_TEXT));
        if (length < 126) {
            frame[1] = (byte) (0x80 | length);
        } else if (length < 65_536) {
            frame[1] = (byte) (0x80 | 126);
            frame[2] = (byte) (length >>> 8);
            frame[3] = (byte) length;
        } else {
            frame[1] = (byte) (0x80 | 127);
            for (int i = 0; i < 8; i++) {
                frame[2 + i] = (byte) ((long) length >>> (56 - 8 * i));
            }
        }
        byte[] mask = new byte[4];
        ThreadLocalRandom.current().nextBytes(mask);
        System.arraycopy(mask, 0, frame, headerLength, 4);
        for (int i = 0; i < length; i++) {
            frame[headerLength + 4 + i] = (byte) (payload[i] ^ mask[i & 3]);
        }
        return frame;
    }

    /** Writes a frame from {@link #frame}; {@code flush} false lets several frames share a write. */
    void write(byte[] frame, boolean flush) throws IOException {
        synchronized (out) {
            out.write(frame);
            if (flush) {
                out.flush();
            }
        }
    }

    /** Writes out frames written without a flush. */
    void flush() throws IOException {
        synchronized (out) {
            out.flush();
        }
    }

    /** Sends {@code json} as one binary frame and flushes. */
    void send(String json) throws IOException {
        write(frame(json.getBytes(StandardCharsets.UTF_8), true), true);
    }

    /** Whether bytes from the server are waiting to be read, so {@link #read} would not block on the socket. */
    boolean buffered() throws IOException {
        return in.available() > 0;
    }

    /** The next data message's payload as text, or null once the server closed. Answers pings. */
    String read() throws IOException {
        ByteArrayOutputStream message = null;
        while (true) {
            int first;
            try {
                first = in.readUnsignedByte();
            } catch (EOFException e) {
                return null;
            }
            int second = in.readUnsignedByte();
            long length = second & 0x7f;
            if (length == 126) {
                length = in.readUnsignedShort();
            } else if (length == 127) {
                length = in.readLong();
            }
            byte[] payload = new byte[(int) length]; // server frames are never masked
            in.readFully(payload);
            int opcode = first & 0x0f;
            boolean fin = (first & 0x80) != 0;
            switch (opcode) {
                case OP_CLOSE -> {
                    return null;
                }
                case OP_PING -> {
                    byte[] pong = frame(payload, true);
                    pong[0] = (byte) 0x8A;
                    write(pong, true);
                }
                case OP_TEXT, OP_BINARY, OP_CONTINUATION -> {
                    if (fin && message == null) {
                        return new String(payload, StandardCharsets.UTF_8);
                    }
                    if (message == null) {
                        message = new ByteArrayOutputStream();
                    }
                    message.write(payload);
                    if (fin) {
                        return message.toString(StandardCharsets.UTF_8);
                    }
                }
                default -> { } // pong and reserved opcodes carry nothing we need
            }
        }
    }

    @Override
    public void close() throws IOException {
        try {
            byte[] close = frame(new byte[] {0x03, (byte) 0xE8}, true); // 1000, normal closure
            close[0] = (byte) 0x88;
            write(close, true);
        } catch (IOException ignored) {
            // already gone
        }
        socket.close();
    }
}
