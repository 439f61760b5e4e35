package io.swarmbus.server;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import org.eclipse.jetty.io.ManagedSelector;
import org.eclipse.jetty.io.SocketChannelEndPoint;
import org.eclipse.jetty.util.thread.Invocable;
import org.eclipse.jetty.util.thread.Scheduler;
import org.eclipse.jetty.websocket.core.WebSocketConnection;

/**
 * A connection's socket whose WebSocket frames are read and handled on the selector thread that
 * saw them arrive. Jetty hands every read of a WebSocket to another thread (here a virtual one),
 * as a handler may block; a frame on {@link SocketRoutes}' socket does not: a send is parsed,
 * checked and queued for the journal, and its answer comes later on the socket's outbox. The
 * hand-off, and the selector woken again to watch the socket, cost more than that work
 * (docs/benchmarks.md, W3).
 *
 * <p>The handler keeps the selector from every other socket while it runs. So when a socket's
 * frames could hold it long, a turn that brought {@link #TURN_BYTES}, a large frame, answers left
 * unread, its next read goes to a virtual thread as before ({@link #dispatchNextRead}), which
 * reads until the socket is dry or waits for room. The reads stay there while each turn brings
 * that much (a pipelining producer's), and come back to the selector after one that does not:
 * a burst, a pause of the machine's, costs a hand-off or two, not the fast path. One wait
 * stays possible here: a send waits for journal capacity while the journal holds more than its
 * bound unwritten, as a send on a virtual thread would; every sender waits then, on the disk.
 * HTTP connections, and a socket still being upgraded, are untouched; so are reads that come
 * with a write's completion, which Jetty's own callbacks handle.
 */
final class InlineWebSocketEndPoint extends SocketChannelEndPoint {
    /** The socket whose frames the current thread is handling inline, if it is. */
    private static final ThreadLocal<InlineWebSocketEndPoint> HANDLING = new ThreadLocal<>();

    /**
     * Most bytes one turn on the selector reads from the socket. Jetty reads on while bytes keep
     * coming, so a client that keeps sending would hold the selector as long as it sends; one that
     * brings this much at once is busy, a pipelining producer most often, and its frames are better
     * parsed on virtual threads, side by side with other sockets', than in turn on one selector
     * (docs/benchmarks.md).
     */
    static final int TURN_BYTES = 8 * 1024;

    private volatile SelectionKey key;
    /** The next read goes to a virtual thread. */
    private volatile boolean dispatchNext;
    /** Bytes read since the socket was last selected, on the selector or a virtual thread (one reads at a time). */
    private volatile int turnBytes;

    InlineWebSocketEndPoint(SocketChannel channel, ManagedSelector selector, SelectionKey key, Scheduler scheduler) {
        super(channel, selector, key, scheduler);
        this.key = key;
    }

    /** True while the current thread handles a socket's frames on its selector, and must not wait. */
    static boolean handlingInline() {
        return HANDLING.get() != null;
    }

    /**
     * The socket being handled inline reads nothing more in this turn, and its next read goes to a
     * virtual thread; frames already read are still handled here.
     */
    static void dispatchNextRead() {
        InlineWebSocketEndPoint endPoint = HANDLING.get();
        if (endPoint != null) {
            endPoint.dispatchNext = true;
        }
    }

    @Override
    public void replaceKey(SelectionKey newKey) {
        super.replaceKey(newKey);
        key = newKey;
    }

    /**
     * On the selector, reads nothing more once the next read is to be dispatched: Jetty takes the
     * 0 as "nothing to read" and watches the socket again, and the bytes waiting are read on a
     * virtual thread ({@link #onSelected}).
     */
    @Override
    public int fill(ByteBuffer buffer) throws IOException {
        boolean inline = HANDLING.get() == this;
        if (inline && dispatchNext) {
            return 0;
        }
        int filled = super.fill(buffer);
        if (filled > 0) {
            turnBytes = Math.min(TURN_BYTES, turnBytes + filled); // no more is needed, and it cannot overflow
            if (inline && turnBytes >= TURN_BYTES) {
                dispatchNext = true; // what was read is still handled in this turn
            }
        }
        return filled;
    }

    @Override
    public Runnable onSelected() {
        boolean readOnly = key.readyOps() == SelectionKey.OP_READ; // read before Jetty clears it
        Runnable task = super.onSelected();
        if (task == null || !readOnly) {
            return task;
        }
        boolean busy = dispatchNext || turnBytes >= TURN_BYTES;
        dispatchNext = false;
        turnBytes = 0;
        if (busy || !(getConnection() instanceof WebSocketConnection)) {
            return task; // Jetty's own: a WebSocket's read runs on a virtual thread
        }
        return new Inline(task);
    }

    /** The read, declared non-blocking so that the selector runs it itself. */
    private final class Inline implements Invocable.Task, Closeable {
        private final Runnable read;

        Inline(Runnable read) {
            this.read = read;
        }

        @Override
        public void run() {
            HANDLING.set(InlineWebSocketEndPoint.this);
            try {
                read.run();
            } finally {
                HANDLING.remove();
            }
        }

        @Override
        public InvocationType getInvocationType() {
            return InvocationType.NON_BLOCKING;
        }

        @Override
        public void close() throws IOException {
            // Jetty closes a task it will never run (the selector stopping); pass that on.
            if (read instanceof Closeable closeable) {
                closeable.close();
            }
        }
    }
}
