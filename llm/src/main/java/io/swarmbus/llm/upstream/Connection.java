package io.swarmbus.llm.upstream;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/** One open HTTP/1.1 connection to a backend: a socket with a read buffer, and when it went idle. */
final class Connection implements AutoCloseable {
    static final int MAX_HEAD_LINE = 16 * 1024;

    final String origin;
    final Socket socket;
    final Input in;
    final OutputStream out;
    long idleSince;

    Connection(String origin, Socket socket) throws IOException {
        this.origin = origin;
        this.socket = socket;
        this.in = new Input(socket.getInputStream());
        this.out = socket.getOutputStream();
    }

    /** Waits for the first byte of an answer; false if the connection ended instead. */
    boolean awaitAnswer() throws IOException {
        return in.fill();
    }

    /**
     * The socket's bytes through a buffer, without {@link java.io.BufferedInputStream}'s lock: a
     * connection serves one thread at a time, and response heads and chunk sizes are read a byte
     * at a time, where taking that lock per byte was 5% of the gateway port's CPU (async-profiler,
     * {@code bench/llm-bench.sh}).
     */
    static final class Input extends InputStream {
        private final InputStream socket;
        private final byte[] buffer = new byte[16 * 1024];
        private int position;
        private int limit;

        Input(InputStream socket) {
            this.socket = socket;
        }

        /** Waits until a byte is buffered; false at the end of the stream. */
        boolean fill() throws IOException {
            if (position < limit) {
                return true;
            }
            int read = socket.read(buffer, 0, buffer.length);
            if (read < 0) {
                return false;
            }
            position = 0;
            limit = read;
            return true;
        }

        @Override
        public int read() throws IOException {
            return fill() ? buffer[position++] & 0xff : -1;
        }

        @Override
        public int read(byte[] into, int offset, int length) throws IOException {
            Objects.checkFromIndexSize(offset, length, into.length);
            if (length == 0) {
                return 0;
            }
            if (position == limit && length >= buffer.length) {
                return socket.read(into, offset, length); // nothing buffered: a large read skips the copy
            }
            if (!fill()) {
                return -1;
            }
            int n = Math.min(length, limit - position);
            System.arraycopy(buffer, position, into, offset, n);
            position += n;
            return n;
        }

        @Override
        public int available() throws IOException {
            return position < limit ? limit - position : socket.available();
        }
    }

    /**
     * One line of a response head or of chunk framing, without its CR LF; throws
     * {@link EOFException} at the end of the stream.
     */
    String readLine() throws IOException {
        byte[] line = new byte[128];
        int length = 0;
        while (true) {
            int b = in.read();
            if (b < 0) {
                throw new EOFException("the backend closed the connection mid-response");
            }
            if (b == '\n') {
                break;
            }
            if (length == line.length) {
                if (length >= MAX_HEAD_LINE) {
                    throw new IOException("a response line is longer than " + MAX_HEAD_LINE + " bytes");
                }
                line = java.util.Arrays.copyOf(line, length * 2);
            }
            line[length++] = (byte) b;
        }
        if (length > 0 && line[length - 1] == '\r') {
            length--;
        }
        return new String(line, 0, length, StandardCharsets.ISO_8859_1);
    }

    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing is all that is left to do with it
        }
    }
}
