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
 * <p>The handler keeps the selector from every other socket while it runs, so a socket whose
 * frames could hold it long, a large frame or a client whose answers pile up unread, is told
 * {@link #dispatchFromNextRead} and its later reads go to virtual threads as before. One wait
 * stays possible here: a send waits for journal capacity while the journal holds more than its
 * bound unwritten, as a send on a virtual thread would; every sender waits then, on the disk.
 * HTTP connections, and a socket still being upgraded, are untouched; so are reads that come
 * with a write's completion, which Jetty's own callbacks handle.
 */
final class InlineWebSocketEndPoint extends SocketChannelEndPoint {
    /** The socket whose frames the current thread is handling inline, if it is. */
    private static final ThreadLocal<InlineWebSocketEndPoint> HANDLING = new ThreadLocal<>();

    private volatile SelectionKey key;
    private volatile boolean dispatched;

    InlineWebSocketEndPoint(SocketChannel channel, ManagedSelector selector, SelectionKey key, Scheduler scheduler) {
        super(channel, selector, key, scheduler);
        this.key = key;
    }

    /** True while the current thread handles a socket's frames on its selector, and must not wait. */
    static boolean handlingInline() {
        return HANDLING.get() != null;
    }

    /** The socket being handled inline has its later reads handled on virtual threads. */
    static void dispatchFromNextRead() {
        InlineWebSocketEndPoint endPoint = HANDLING.get();
        if (endPoint != null) {
            endPoint.dispatched = true;
        }
    }

    @Override
    public void replaceKey(SelectionKey newKey) {
        super.replaceKey(newKey);
        key = newKey;
    }

    /**
     * Reads nothing more inline once the socket has been told {@link #dispatchFromNextRead}: Jetty
     * reads on while bytes keep coming, and a client that never stops sending would hold the
     * selector. Jetty then watches the socket again, and the bytes waiting go to a virtual thread.
     */
    @Override
    public int fill(ByteBuffer buffer) throws IOException {
        if (dispatched && HANDLING.get() == this) {
            return 0;
        }
        return super.fill(buffer);
    }

    @Override
    public Runnable onSelected() {
        boolean readOnly = key.readyOps() == SelectionKey.OP_READ; // read before Jetty clears it
        Runnable task = super.onSelected();
        if (task == null || !readOnly || dispatched || !(getConnection() instanceof WebSocketConnection)) {
            return task;
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
