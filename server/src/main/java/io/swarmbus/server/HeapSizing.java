package io.swarmbus.server;

import com.sun.management.HotSpotDiagnosticMXBean;
import com.sun.management.VMOption;
import java.lang.management.ManagementFactory;

/**
 * What the server does about its own heap at start: it keeps the heap committed ({@link
 * #keepCommitted}) rather than handing it back to the OS, and it promotes what starting left on the
 * heap out of the young generation ({@link #promoteStartupObjects}).
 *
 * <p>Why the heap stays committed: G1 gives memory back when a collection leaves much of the heap
 * free (the JVM's {@code MaxHeapFreeRatio}, 70% by default), and the next time a backlog grows the
 * kernel must zero every page again as the heap re-expands. In W1, whose undrained inboxes grow the heap by a
 * gigabyte a pass, that zeroing was a quarter of the server's CPU samples (docs/benchmarks.md).
 * A server keeps what it once needed, as a database's buffer pool does; the heap's maximum
 * ({@code -Xmx}) still bounds it. Only the default is changed: a {@code -XX:MaxHeapFreeRatio}
 * given to the JVM stands.
 */
final class HeapSizing {
    static final String OPTION = "MaxHeapFreeRatio";

    private HeapSizing() {}

    /** Sets {@value #OPTION} to 100 unless the JVM was given a value; whether it set it. */
    static boolean keepCommitted() {
        HotSpotDiagnosticMXBean hotspot = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
        try {
            if (hotspot == null || hotspot.getVMOption(OPTION).getOrigin() != VMOption.Origin.DEFAULT) {
                return false;
            }
            hotspot.setVMOption(OPTION, "100"); // a manageable flag: G1 reads it at each resize
            return true;
        } catch (RuntimeException e) { // a JVM without the flag: a tuning, not a reason to stop
            return false;
        }
    }

    /**
     * Moves what starting left on the heap out of the young generation, with one full collection.
     *
     * <p>Why: the server starts with about 10 MB of objects that live as long as it does (classes'
     * data on the heap, Jetty's and Jackson's tables, the recovered state). G1 copies every
     * survivor of a young collection from one survivor space to the next until it has survived 15
     * of them, so the first 15 young collections each copy those 10 MB again. Under W3 that made
     * the first 15 pauses 170–190 ms in all, against 75–91 ms after one full collection at start
     * (docs/benchmarks.md). The collection takes a few tens of milliseconds, once, before the
     * server says it is listening; a JVM run with {@code -XX:+DisableExplicitGC} skips it.
     */
    static void promoteStartupObjects() {
        System.gc();
    }
}
