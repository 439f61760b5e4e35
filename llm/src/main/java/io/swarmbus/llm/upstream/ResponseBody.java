package io.swarmbus.llm.upstream;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.function.Consumer;

/**
 * A response body read off its connection: to a length, in chunks, or to the connection's end.
 * Read to its end, it hands a keep-alive connection back to the pool; closed before that, it
 * closes the connection, the only way HTTP/1.1 has to tell a backend to stop generating.
 */
abstract class ResponseBody extends InputStream {
    final Connection connection;
    private final Consumer<Connection> release; // null: the connection cannot be reused
    private boolean finished;
    private boolean closed;

    ResponseBody(Connection connection, Consumer<Connection> release) {
        this.connection = connection;
        this.release = release;
    }

    /** Reads body bytes into {@code into}, or returns -1 at the body's end. */
    abstract int readBody(byte[] into, int offset, int length) throws IOException;

    @Override
    public final int read(byte[] into, int offset, int length) throws IOException {
        if (closed) {
            throw new IOException("the response body is closed");
        }
        if (finished) {
            return -1;
        }
        if (length == 0) {
            return 0;
        }
        int n = readBody(into, offset, length);
        if (n < 0) {
            finish();
        }
        return n;
    }

    @Override
    public final int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    final void finish() {
        finished = true;
        if (release != null) {
            release.accept(connection);
        } else {
            connection.close();
        }
    }

    @Override
    public final void close() {
        if (!closed) {
            closed = true;
            if (!finished) {
                connection.close();
            }
        }
    }

    /** A body of {@code Content-Length} bytes. */
    static final class Fixed extends ResponseBody {
        private long remaining;

        Fixed(Connection connection, Consumer<Connection> release, long length) {
            super(connection, release);
            this.remaining = length;
            if (length == 0) {
                finish();
            }
        }

        /** The rest of the body in one array of its known length, rather than in growing buffers. */
        @Override
        public byte[] readAllBytes() throws IOException {
            if (remaining > Integer.MAX_VALUE - 8) {
                return super.readAllBytes();
            }
            byte[] all = new byte[(int) remaining];
            int filled = 0;
            while (filled < all.length) {
                filled += read(all, filled, all.length - filled); // throws EOFException if cut short
            }
            read(); // -1 now; reaching the end hands the connection back to the pool
            return all;
        }

        @Override
        int readBody(byte[] into, int offset, int length) throws IOException {
            if (remaining == 0) {
                return -1;
            }
            int n = connection.in.read(into, offset, (int) Math.min(length, remaining));
            if (n < 0) {
                throw new EOFException("the backend closed the connection " + remaining + " bytes before the body's end");
            }
            remaining -= n;
            return n;
        }
    }

    /** A {@code Transfer-Encoding: chunked} body; trailers are read and dropped. */
    static final class Chunked extends ResponseBody {
        private long remainingInChunk;
        private boolean firstChunk = true;

        Chunked(Connection connection, Consumer<Connection> release) {
            super(connection, release);
        }

        @Override
        int readBody(byte[] into, int offset, int length) throws IOException {
            if (remainingInChunk == 0) {
                if (!firstChunk && !connection.readLine().isEmpty()) {
                    throw new IOException("a chunk of the backend's response did not end with CR LF");
                }
                firstChunk = false;
                remainingInChunk = chunkSize(connection.readLine());
                if (remainingInChunk == 0) {
                    while (!connection.readLine().isEmpty()) {
                        // a trailer: not needed
                    }
                    return -1;
                }
            }
            int n = connection.in.read(into, offset, (int) Math.min(length, remainingInChunk));
            if (n < 0) {
                throw new EOFException("the backend closed the connection inside a chunk");
            }
            remainingInChunk -= n;
            return n;
        }

        private static long chunkSize(String line) throws IOException {
            int extension = line.indexOf(';');
            String hex = (extension < 0 ? line : line.substring(0, extension)).trim();
            try {
                long size = Long.parseLong(hex, 16);
                if (size < 0) {
                    throw new NumberFormatException();
                }
                return size;
            } catch (NumberFormatException e) {
                throw new IOException("the backend sent a bad chunk size '" + hex + "'");
            }
        }
    }

    /** A body without a length: it ends when the backend closes the connection. */
    static final class UntilClose extends ResponseBody {
        UntilClose(Connection connection) {
            super(connection, null);
        }

        @Override
        int readBody(byte[] into, int offset, int length) throws IOException {
            return connection.in.read(into, offset, length);
        }
    }
}
