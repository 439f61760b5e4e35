package io.swarmbus.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.zip.CRC32C;

/**
 * The on-disk frame shared by journal segments and snapshots:
 * {@code [int length][int crc32c][long seq][payload: length bytes]}, big-endian, where the CRC
 * covers the sequence number and the payload. A header of zeros is where nothing was written yet
 * (a preallocated segment's tail): no frame has one, since sequence numbers start at 1.
 */
final class Frames {
    static final int HEADER = 16;
    /** Larger lengths can only come from garbage: no record is this big. */
    static final int MAX_PAYLOAD = 256 << 20;

    private Frames() {}

    /** Appends one frame to {@code out}, which must have room for {@code HEADER + payload}. */
    static void write(ByteBuffer out, long seq, ByteBuffer payload) {
        int start = out.position();
        int length = payload.remaining();
        out.putInt(length).putInt(0).putLong(seq).put(payload);
        out.putInt(start + 4, crc(out, start + 8, length + 8));
    }

    static int crc(ByteBuffer buffer, int offset, int length) {
        CRC32C crc = new CRC32C();
        crc.update(buffer.slice(offset, length));
        return (int) crc.getValue();
    }

    /** Outcome of reading one frame: {@code UNWRITTEN} is a header of zeros. */
    enum Status { OK, END, TORN, CORRUPT, UNWRITTEN }

    /**
     * Reads frames one after another from a channel through a growable buffer. After {@link #next}
     * returns {@code OK}, {@link #seq()} and {@link #payload()} describe the frame and
     * {@link #frameStart()} is its file offset; otherwise {@code frameStart()} is where good data
     * ends.
     */
    static final class Reader {
        private final FileChannel channel;
        private ByteBuffer buffer = ByteBuffer.allocate(4 << 20).limit(0);
        private long bufferFileOffset;
        private long frameStart;
        private long seq;
        private int length;
        private ByteBuffer payload;

        Reader(FileChannel channel) throws IOException {
            this.channel = channel;
            this.bufferFileOffset = channel.position();
        }

        Status next() throws IOException {
            frameStart = bufferFileOffset + buffer.position();
            if (!fill(HEADER)) {
                return buffer.hasRemaining() ? Status.TORN : Status.END;
            }
            int at = buffer.position();
            length = buffer.getInt(at);
            int storedCrc = buffer.getInt(at + 4);
            if (length == 0 && storedCrc == 0 && buffer.getLong(at + 8) == 0) {
                return Status.UNWRITTEN;
            }
            if (length < 0 || length > MAX_PAYLOAD) {
                return Status.CORRUPT;
            }
            if (!fill(HEADER + length)) {
                return Status.TORN;
            }
            at = buffer.position(); // fill() may have moved the bytes
            if (crc(buffer, at + 8, length + 8) != storedCrc) {
                return Status.CORRUPT;
            }
            seq = buffer.getLong(at + 8);
            payload = buffer.slice(at + HEADER, length);
            buffer.position(at + HEADER + length);
            return Status.OK;
        }

        long frameStart() {
            return frameStart;
        }

        long seq() {
            return seq;
        }

        /** The payload length the last frame's header announced, whole or not. */
        int length() {
            return length;
        }

        ByteBuffer payload() {
            return payload;
        }

        /** Makes at least {@code needed} bytes readable; false at end of file. */
        private boolean fill(int needed) throws IOException {
            if (buffer.remaining() >= needed) {
                return true;
            }
            bufferFileOffset += buffer.position();
            if (buffer.capacity() < needed) {
                ByteBuffer bigger = ByteBuffer.allocate(Math.max(needed, buffer.capacity() * 2));
                bigger.put(buffer).flip();
                buffer = bigger;
            } else {
                buffer.compact().flip();
            }
            while (buffer.remaining() < needed) {
                buffer.compact();
                int read = channel.read(buffer);
                buffer.flip();
                if (read < 0) {
                    return false;
                }
            }
            return true;
        }
    }
}
