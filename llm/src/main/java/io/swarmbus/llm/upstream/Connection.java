package io.swarmbus.llm.upstream;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/** One open HTTP/1.1 connection to a backend: a socket with a read buffer, and when it went idle. */
final class Connection implements AutoCloseable {
    static final int MAX_HEAD_LINE = 16 * 1024;

    final String origin;
    final Socket socket;
    final InputStream in;
    final OutputStream out;
    long idleSince;

    Connection(String origin, Socket socket) throws IOException {
        this.origin = origin;
        this.socket = socket;
        this.in = new BufferedInputStream(socket.getInputStream(), 16 * 1024);
        this.out = socket.getOutputStream();
    }

    /** Waits for the first byte of an answer; false if the connection ended instead. */
    boolean awaitAnswer() throws IOException {
        in.mark(1);
        if (in.read() < 0) {
            return false;
        }
        in.reset();
        return true;
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
