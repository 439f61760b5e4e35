package io.swarmbus.messaging;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.IntFunction;
import java.util.function.Predicate;

/**
 * The finished messages kept for history (every delivery acked, expired or discarded), as encoded
 * records in direct memory rather than as objects on the heap.
 *
 * <p>Why off the heap: a message kept as history outlives several young collections, and each one
 * copies it until it is promoted. With the default 100,000 kept and 1 KiB bodies, G1's young pauses
 * grew to 20-50 ms on two cores and decided the tail latency of every send (docs/benchmarks.md).
 * Here a finished message costs the collector nothing.
 *
 * <p>Messages enter in the order they finish and leave in the same order, oldest first, so the
 * store is a queue of chunks: records are appended to the newest chunk and dropped from the oldest,
 * and a chunk whose records are all dropped is reused. A record is the message's id, its acceptance
 * time (epoch ms), the payload's length and the payload, which the engine makes the snapshot's
 * encoding of the message so that a snapshot can copy it as it is.
 *
 * <p>Guarded by the engine lock. A snapshot {@link #pin pins} the chunks it reads, so that it can
 * write their records outside the lock while new ones are appended and old ones dropped.
 */
final class HistoryLog {
    private static final int CHUNK_BYTES = 4 << 20;
    private static final int HEADER_BYTES = 8 + 8 + 4;
    /** Emptied chunks kept for reuse; more than this are left to the collector. */
    private static final int SPARE_CHUNKS = 2;

    private final int chunkBytes;
    private final IntFunction<ByteBuffer> directMemory;
    private final ArrayDeque<Chunk> chunks = new ArrayDeque<>();
    private final ArrayDeque<ByteBuffer> spare = new ArrayDeque<>();
    private int size;
    private long bytes;

    HistoryLog() {
        this(CHUNK_BYTES, ByteBuffer::allocateDirect);
    }

    /**
     * With chunks of {@code chunkBytes} taken from {@code directMemory}: tests use small chunks to
     * cross chunk boundaries, and a limited supply to run out of memory.
     */
    HistoryLog(int chunkBytes, IntFunction<ByteBuffer> directMemory) {
        this.chunkBytes = chunkBytes;
        this.directMemory = directMemory;
    }

    /** Records kept. */
    int size() {
        return size;
    }

    /** Bytes the kept records take, headers included. */
    long bytes() {
        return bytes;
    }

    /**
     * Appends a record; {@code payload} is copied from its position to its limit. When the JVM's
     * direct memory runs out (its limit, {@code -XX:MaxDirectMemorySize}, is the heap's maximum
     * unless set), history gives way: the oldest records are dropped until a chunk is free, and if
     * none can be, this one is not kept. Returns whether it was.
     */
    boolean add(long id, long acceptedAt, ByteBuffer payload, AgentId sender, Collection<AgentId> recipients) {
        int recordBytes = HEADER_BYTES + payload.remaining();
        Chunk tail = chunks.peekLast();
        if (tail == null || tail.free() < recordBytes) {
            ByteBuffer memory = allocate(recordBytes);
            while (memory == null && !chunks.isEmpty()) {
                dropOldestChunk();
                memory = allocate(recordBytes);
            }
            if (memory == null) {
                return false;
            }
            tail = new Chunk(memory);
            chunks.addLast(tail);
        }
        tail.append(id, acceptedAt, payload);
        tail.agents.add(sender);
        recipients.forEach(tail.agents::add);
        size++;
        bytes += recordBytes;
        return true;
    }

    private void dropOldestChunk() {
        Chunk head = chunks.getFirst();
        while (chunks.peekFirst() == head) {
            dropOldest();
        }
    }

    /** The acceptance time of the oldest record; only when {@link #size} is not zero. */
    long oldestAcceptedAt() {
        Chunk head = chunks.getFirst();
        return head.memory.getLong(head.starts[head.first] + 8);
    }

    /** Drops the oldest record; only when {@link #size} is not zero. */
    void dropOldest() {
        Chunk head = chunks.getFirst();
        bytes -= head.recordBytes(head.first);
        size--;
        if (++head.first == head.count) {
            chunks.removeFirst();
            retire(head);
        }
    }

    /** Drops every record. */
    void clear() {
        chunks.forEach(this::retire);
        chunks.clear();
        size = 0;
        bytes = 0;
    }

    /** The payload of the record with this id, or null; a view valid until the next change. */
    ByteBuffer find(long id) {
        for (var it = chunks.descendingIterator(); it.hasNext(); ) {
            Chunk chunk = it.next();
            if (id >= chunk.minId && id <= chunk.maxId) {
                for (int i = chunk.count - 1; i >= chunk.first; i--) {
                    if (chunk.id(i) == id) {
                        return chunk.payload(i);
                    }
                }
            }
        }
        return null;
    }

    /**
     * Up to {@code limit} records whose payload {@code matches} accepts, highest id first; views valid
     * until the next change. Records sit in the order their messages finished, which is close to
     * id order but not the same, so this reads the newest chunks first and stops at the first
     * chunk older than which no record can beat the {@code limit} found so far. Chunks that hold
     * no message of one of {@code parties} (a sender or recipient every match must have), or none
     * of any of {@code anyOf} (one of which every match must have), are skipped unread: asking for
     * a quiet agent's or a quiet user's history does not decode everyone else's.
     */
    List<Entry> newest(int limit, Collection<AgentId> parties, Optional<Set<AgentId>> anyOf, Predicate<ByteBuffer> matches) {
        Chunk[] order = chunks.toArray(Chunk[]::new);
        long[] highestUpTo = new long[order.length];
        long highest = Long.MIN_VALUE;
        for (int c = 0; c < order.length; c++) {
            highest = Math.max(highest, order[c].maxId);
            highestUpTo[c] = highest;
        }
        PriorityQueue<Entry> best = new PriorityQueue<>(Comparator.comparingLong(Entry::id));
        for (int c = order.length - 1; c >= 0; c--) {
            if (best.size() == limit && best.peek().id() > highestUpTo[c]) {
                break;
            }
            Chunk chunk = order[c];
            if (!chunk.agents.mayHoldAll(parties) || anyOf.isPresent() && !chunk.agents.mayHoldAny(anyOf.get())) {
                continue;
            }
            for (int i = chunk.count - 1; i >= chunk.first; i--) {
                long id = chunk.id(i);
                if (best.size() == limit && id < best.peek().id()) {
                    continue;
                }
                ByteBuffer payload = chunk.payload(i);
                if (matches.test(payload.duplicate())) {
                    best.add(new Entry(id, payload));
                    if (best.size() > limit) {
                        best.poll();
                    }
                }
            }
        }
        Entry[] found = best.toArray(Entry[]::new);
        Arrays.sort(found, Comparator.comparingLong(Entry::id).reversed());
        return List.of(found);
    }

    /** A record found: its message's id and its payload. */
    record Entry(long id, ByteBuffer payload) {}

    /**
     * The records as they are now, readable outside the lock until {@link #release} is called with
     * the result: until then their chunks are not reused. Takes time in the number of chunks, not
     * of records, as it runs under the engine lock; the records are read later, and never change.
     */
    Pinned pin() {
        List<Range> ranges = new ArrayList<>(chunks.size());
        for (Chunk chunk : chunks) {
            chunk.pins++;
            // The starts array is only ever replaced by a longer copy, so this one stays valid.
            ranges.add(new Range(chunk, chunk.starts, chunk.first, chunk.count));
        }
        return new Pinned(ranges);
    }

    /** Lets the chunks of {@code pinned} be reused again. */
    void release(Pinned pinned) {
        for (Range range : pinned.ranges) {
            Chunk chunk = range.chunk;
            if (--chunk.pins == 0 && chunk.retired) {
                recycle(chunk.memory);
            }
        }
    }

    /** Records pinned for reading outside the engine lock until released. */
    static final class Pinned {
        private final List<Range> ranges;

        private Pinned(List<Range> ranges) {
            this.ranges = ranges;
        }

        /** Hands each pinned record's payload to {@code sink}, oldest first. */
        void forEachPayload(Consumer<ByteBuffer> sink) {
            for (Range range : ranges) {
                for (int i = range.from; i < range.to; i++) {
                    int start = range.starts[i];
                    sink.accept(range.chunk.memory.slice(start + HEADER_BYTES, range.chunk.memory.getInt(start + 16)));
                }
            }
        }
    }

    private record Range(Chunk chunk, int[] starts, int from, int to) {}

    private ByteBuffer allocate(int recordBytes) {
        if (recordBytes <= chunkBytes && !spare.isEmpty()) {
            return spare.removeFirst().clear();
        }
        try {
            // A record larger than a chunk gets a chunk of its own size.
            return directMemory.apply(Math.max(chunkBytes, recordBytes));
        } catch (OutOfMemoryError e) {
            return null; // "Cannot reserve ... bytes of direct buffer memory": a limit, not a broken heap
        }
    }

    private void retire(Chunk chunk) {
        chunk.retired = true;
        if (chunk.pins == 0) {
            recycle(chunk.memory);
        }
    }

    private void recycle(ByteBuffer memory) {
        if (memory.capacity() == chunkBytes && spare.size() < SPARE_CHUNKS) {
            spare.addLast(memory);
        }
    }

    /** A block of direct memory holding records back to back, and where each starts. */
    private static final class Chunk {
        private final ByteBuffer memory;
        private int[] starts = new int[256];
        private int count;
        /** The first record not dropped. */
        private int first;
        private int end;
        private long minId = Long.MAX_VALUE;
        private long maxId = Long.MIN_VALUE;
        private int pins;
        private boolean retired;
        /** Every sender and recipient of the chunk's records, and likely a few others. */
        private final AgentFilter agents = new AgentFilter();

        private Chunk(ByteBuffer memory) {
            this.memory = memory;
        }

        private int free() {
            return memory.capacity() - end;
        }

        private void append(long id, long acceptedAt, ByteBuffer payload) {
            if (count == starts.length) {
                starts = Arrays.copyOf(starts, count * 2);
            }
            starts[count++] = end;
            int length = payload.remaining();
            memory.putLong(end, id).putLong(end + 8, acceptedAt).putInt(end + 16, length)
                    .put(end + HEADER_BYTES, payload, payload.position(), length);
            end += HEADER_BYTES + length;
            minId = Math.min(minId, id);
            maxId = Math.max(maxId, id);
        }

        private long id(int record) {
            return memory.getLong(starts[record]);
        }

        private int recordBytes(int record) {
            return HEADER_BYTES + memory.getInt(starts[record] + 16);
        }

        private ByteBuffer payload(int record) {
            int start = starts[record];
            return memory.slice(start + HEADER_BYTES, memory.getInt(start + 16));
        }
    }

    /**
     * A Bloom filter of agent ids: 8,192 bits, two probes. Never says no to an agent that was
     * added; says yes to one that was not only when the chunk held thousands of distinct agents.
     */
    private static final class AgentFilter {
        private final long[] bits = new long[128];

        void add(AgentId agent) {
            int hash = agent.hashCode();
            set(hash & 8191);
            set(spread(hash));
        }

        boolean mayHoldAll(Collection<AgentId> agents) {
            for (AgentId agent : agents) {
                int hash = agent.hashCode();
                if (!isSet(hash & 8191) || !isSet(spread(hash))) {
                    return false;
                }
            }
            return true;
        }

        boolean mayHoldAny(Collection<AgentId> agents) {
            for (AgentId agent : agents) {
                int hash = agent.hashCode();
                if (isSet(hash & 8191) && isSet(spread(hash))) {
                    return true;
                }
            }
            return false;
        }

        /** A second probe from the hash's high bits after mixing, independent of the first's low ones. */
        private static int spread(int hash) {
            return (hash * 0x9E3779B9) >>> 19;
        }

        private void set(int bit) {
            bits[bit >>> 6] |= 1L << bit;
        }

        private boolean isSet(int bit) {
            return (bits[bit >>> 6] & 1L << bit) != 0;
        }
    }
}
